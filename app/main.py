"""The application factory: routers, error handlers, static assets, health."""

from __future__ import annotations

import importlib
import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__, openapi_bodies
from app.db import get_engine
from app.errors import install_handlers, problem_response
from app.pages import LoginRequired, login_redirect
from app.settings import get_settings

log = logging.getLogger("safeground")

# Every domain package exposes ``router``; adding a package means adding one line here.
ROUTER_MODULES = [
    "app.auth.router",
    "app.reference.router",
    "survey.router",
    "tasks.router",
    "clearance.router",
    "clearance.reports.router",
    "geo.router",
    "app.ogc.router",
]

# Paths whose request bodies may be as large as an upload; every other body is small.
UPLOAD_PATHS = ("/api/v1/imports",)


class BodyLimit:
    """Refuse oversized request bodies with 413 before they are read into memory."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = get_settings()
        path: str = scope["path"]
        limit = (
            settings.max_upload_bytes if path.startswith(UPLOAD_PATHS) else settings.max_request_body_bytes
        )
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, receive, send, limit)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(scope, receive, send, limit)


class _BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = problem_response(
        413, f"The request body is larger than the limit of {limit:,} bytes.", instance=scope["path"]
    )
    await response(scope, receive, send)


# Text PostgreSQL cannot store: NUL characters, and UTF-16 surrogates that pair with nothing
# (JSON can spell both, as \u0000 and a lone \ud800). Sent on, psycopg2 refuses them with a
# ValueError that would surface as a 500.
_NUL_OR_SURROGATE = re.compile(r"[\x00\ud800-\udfff]")
_JSON_HINT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_JSON_TYPES = (b"application/json", b"application/merge-patch+json", b"application/geo+json")


def _bad_text_at(value: Any, path: str) -> str | None:
    """The path (``programme``, ``outcomes[0].note``…) of the first text in a parsed JSON value
    holding a NUL or a lone surrogate, or None."""
    if isinstance(value, str):
        return (path or "body") if _NUL_OR_SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _NUL_OR_SURROGATE.search(str(key)):
                return where
            found = _bad_text_at(item, where)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _bad_text_at(item, f"{path}[{index}]")
            if found:
                return found
    return None


class TextGuard:
    """Refuse, with 422 and where, text PostgreSQL cannot store (NUL characters, lone
    surrogates) in the path, the query string and JSON or form bodies, before any handler sees
    it. Uploads (multipart) are left to the import's checks and the database's refusal."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = self._in_url(scope)
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        replay = receive
        if where is None and content_type in (*_JSON_TYPES, b"application/x-www-form-urlencoded"):
            chunks: list[bytes] = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if message["type"] != "http.request" or not message.get("more_body"):
                    break
            body = b"".join(chunks)
            where = self._in_body(body, content_type)
            replay = _replaying(body, receive)
        if where is None:
            await self.app(scope, replay, send)
            return
        response = problem_response(
            422,
            f"{where}: text may not contain NUL characters (\\u0000) or unpaired UTF-16 surrogates.",
            instance=scope["path"],
            errors=[{"field": where, "message": "NUL character or unpaired surrogate"}],
        )
        await response(scope, receive, send)

    @staticmethod
    def _in_url(scope: Scope) -> str | None:
        if _NUL_OR_SURROGATE.search(scope["path"]):
            return "path"
        query: bytes = scope.get("query_string") or b""
        if b"%00" in query or b"\x00" in query:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if "\x00" in name or "\x00" in value:
                    return f"query parameter {name.strip(chr(0)) or '(unnamed)'}"
            return "query string"
        return None

    @staticmethod
    def _in_body(body: bytes, content_type: bytes) -> str | None:
        if content_type == b"application/x-www-form-urlencoded":
            if b"%00" in body or b"\x00" in body:
                for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
                    if "\x00" in name or "\x00" in value:
                        return f"form field {name.strip(chr(0)) or '(unnamed)'}"
                return "form body"
            return None
        if not _JSON_HINT.search(body):
            return None  # the common case: nothing to parse twice
        try:
            return _bad_text_at(json.loads(body), "")
        except (ValueError, RecursionError):
            return None  # not JSON, or nested too deep to walk: the handler says so


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then waits on the client as
    ``receive`` does (a streamed answer listens for the disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="SafeGround",
        version=__version__,
        description="Mine-action operations and hazard tracking: hazard areas, surveys, tasks, "
        "land release, QA/QC, and a partner API (GeoJSON, OGC API Features and Tiles).",
    )
    install_handlers(app)
    app.add_exception_handler(LoginRequired, login_redirect)
    app.add_middleware(TextGuard)
    app.add_middleware(BodyLimit)

    @app.get("/health", tags=["health"])
    def health() -> Response:
        try:
            with get_engine().connect() as conn:
                version = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
        except Exception as exc:  # any failure to reach the database is "unavailable"
            log.warning("health check: database unreachable: %s", exc)
            return problem_response(503, "The database is unreachable.", instance="/health")
        body: dict[str, Any] = {"status": "ok", "database": "ok", "postgis": version}
        return JSONResponse(body)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        # Browsers ask for it on every page; answering keeps their consoles free of 404s.
        icon = Path(__file__).parent / "static" / "favicon.svg"
        return Response(
            icon.read_bytes(), media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
        )

    for module_name in ROUTER_MODULES:
        module = importlib.import_module(module_name)
        app.include_router(module.router)
    openapi_bodies.install(app)

    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    assets = settings.assets_dir.resolve()
    if assets.is_dir():
        # Front-end libraries installed by npm at set-up, served by SafeGround (no CDN).
        app.mount("/assets", StaticFiles(directory=assets), name="assets")
    return app
