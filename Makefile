# SafeGround: `make demo` runs the platform with demo data, `make test` runs the test suite.
# Both install what is missing first (system packages, the Python environment, front-end assets).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Parallel test workers; 2 fits the 2-core CI machine.
TEST_WORKERS ?= 2

SYSTEM ?= system

.PHONY: system system-test setup setup-test demo serve test lint bench bench-quick bench-tools fuzz db-start db-stop clean

system:
	bash scripts/setup-system.sh

system-test:
	bash scripts/setup-system.sh --test

$(BIN)/safeground: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# System packages first: npm and PostgreSQL may be what is missing.
setup: system $(BIN)/safeground node_modules/.package-lock.json

setup-test: system-test $(BIN)/safeground node_modules/.package-lock.json

demo: setup
	$(BIN)/safeground serve --demo

serve: setup
	$(BIN)/safeground serve

test: setup-test
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -q

lint: $(BIN)/safeground
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The throughput scenario drives the servers with wrk (Debian package); without it that
# scenario reports "not installed" and the rest still runs.
bench-tools:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" -eq 0 ]; then apt=apt-get; else apt="sudo -n apt-get"; fi; \
	  DEBIAN_FRONTEND=noninteractive $$apt update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$apt install -y -qq --no-install-recommends wrk; \
	} || echo "bench: could not install wrk; the throughput scenario will be skipped"

bench-quick: setup-test bench-tools
	$(BIN)/python -m bench --quick

bench: setup-test bench-tools
	$(BIN)/python -m bench

# schemathesis against a running server (minutes; not part of `make test`): scripts/fuzz.py.
fuzz: setup-test
	$(BIN)/python scripts/fuzz.py

db-start: $(BIN)/safeground
	$(BIN)/safeground db start

db-stop: $(BIN)/safeground
	$(BIN)/safeground db stop

clean: db-stop
	rm -rf .safeground
