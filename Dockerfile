# syntax=docker/dockerfile:1
# Production image: `safeground serve` against SAFEGROUND_DATABASE_URL (see docker-compose.yml).

FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund --omit=dev

FROM python:3.11-slim-bookworm AS build
WORKDIR /build
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY app app
COPY geo geo
COPY survey survey
COPY clearance clearance
COPY tasks tasks
COPY migrations migrations
RUN pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
RUN useradd --system --create-home --home-dir /srv/safeground safeground
COPY --from=build /opt/venv /opt/venv
COPY --from=assets /build/node_modules /srv/safeground/node_modules
COPY migrations /srv/safeground/migrations
ENV PATH=/opt/venv/bin:$PATH \
    SAFEGROUND_HOST=0.0.0.0 \
    SAFEGROUND_PORT=8000 \
    SAFEGROUND_ASSETS_DIR=/srv/safeground/node_modules
WORKDIR /srv/safeground
USER safeground
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
CMD ["safeground", "serve", "--workers", "2"]
