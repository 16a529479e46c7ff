"""RFC 9457 problem details for every error the service returns.

Raise :class:`Problem` from services and routers; the handlers below turn it, FastAPI's
validation errors, Starlette's HTTP errors and anything unexpected into
``application/problem+json``. No stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.exc import DBAPIError, OperationalError

if TYPE_CHECKING:  # the web framework is imported by what serves HTTP: the command line never needs it
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

log = logging.getLogger("safeground.errors")

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An error a client can act on: status, a short title and a detail saying what and where.

    ``extra`` members (e.g. ``errors`` with feature index and field, ``allowed``) are added to
    the problem body as RFC 9457 extension members.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}
        self.extra = extra


def unstorable_text(exc: BaseException) -> bool:
    """Whether psycopg2 refused to send a text PostgreSQL cannot store (a NUL character, or an
    unpaired UTF-16 surrogate that has no UTF-8 form)."""
    if isinstance(exc, UnicodeEncodeError):
        return "surrogates not allowed" in str(exc)
    return isinstance(exc, ValueError) and "cannot contain NUL (0x00)" in str(exc)


def is_refusal(exc: DBAPIError) -> bool:
    """Whether the database refused the data it was given (a bad value, SQLSTATE class 22, or a
    broken rule, class 23: unique keys, checks, the area accounting): the sender's to fix, not a
    fault of the service."""
    code = getattr(exc.orig, "pgcode", None) or ""
    return code.startswith(("22", "23"))


def problem_response(
    status: int,
    detail: str,
    title: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    from fastapi.responses import Response

    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return Response(
        orjson.dumps(body, default=str), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def install_handlers(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(exc.status, exc.detail, exc.title, request.url.path, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": _field_path(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
        return problem_response(422, detail, "Invalid request", request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No resource at {request.url.path}"
        return problem_response(exc.status_code, detail, None, request.url.path, dict(exc.headers or {}))

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> Response:
        log.warning("database unavailable: %s", exc.orig)
        return problem_response(
            503, "The database is unavailable; try again shortly.", None, request.url.path
        )

    @app.exception_handler(DBAPIError)
    async def _db_error(request: Request, exc: DBAPIError) -> Response:
        # Data errors the database caught (bad geometry text, numeric overflow…): the client's.
        if is_refusal(exc):
            code = getattr(exc.orig, "pgcode", None) or ""
            message = str(exc.orig).split("\n")[0]
            status = 409 if code.startswith("23") else 422
            return problem_response(status, message, None, request.url.path)
        log.exception("database error", exc_info=exc)
        return problem_response(500, "Internal error; it has been logged.", None, request.url.path)

    @app.exception_handler(ValueError)
    async def _value_error(request: Request, exc: ValueError) -> Response:
        if unstorable_text(exc):
            # Text the request guard cannot see (a multipart form field, a file's attribute)
            # that psycopg2 refused to send: the client's to fix, and nothing was written.
            return problem_response(
                422,
                "Text may not contain NUL characters (\\u0000) or unpaired UTF-16 surrogates.",
                None,
                request.url.path,
            )
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "Internal error; it has been logged.", None, request.url.path)
