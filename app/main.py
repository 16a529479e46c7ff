"""The application factory: routers, error handlers, static assets, health."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__
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

    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    assets = settings.assets_dir.resolve()
    if assets.is_dir():
        # Front-end libraries installed by npm at set-up, served by SafeGround (no CDN).
        app.mount("/assets", StaticFiles(directory=assets), name="assets")
    return app
