"""Pieces shared by the OGC API routers: the 400-for-bad-parameters route class, links, formats,
and resolving a collection and the caller's access to it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.engine import Connection

from app.db import get_engine
from app.errors import Problem, problem_response
from app.ogc import access as access_mod
from app.ogc import collections as registry
from app.ogc.access import Access
from app.ogc.collections import Collection
from app.pages import render

JSON = "application/json"
HTML = "text/html"
CSV = "text/csv"


class OGCRoute(APIRoute):
    """OGC API answers invalid parameters with 400 (the rest of the API uses 422)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = [
                    {"parameter": str(e.get("loc", ("", ""))[-1]), "message": e.get("msg", "")}
                    for e in exc.errors()
                ]
                detail = "; ".join(f"{e['parameter']}: {e['message']}" for e in errors) or "invalid request"
                return problem_response(400, detail, "Invalid parameter", request.url.path, errors=errors)

        return route


# --- helpers ------------------------------------------------------------------------------------


def wants_html(request: Request, f: str | None, allowed: tuple[str, ...] = ("json", "html")) -> bool:
    if f is not None:
        if f not in allowed:
            raise Problem(400, f"f must be one of {', '.join(allowed)}.", "Invalid parameter", parameter="f")
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def json_response(body: Any, media_type: str = JSON, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), media_type=media_type, headers=headers)


def html_page(request: Request, title: str, **context: Any) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    context.setdefault("description", None)
    context.setdefault("facts", None)
    context.setdefault("table", None)
    context.setdefault("links", None)
    context["csrf_token"] = principal.csrf_token if principal else None
    return render(request, "ogc.html", {"title": title, **context})


def get_collection(collection_id: str) -> Collection:
    collection = registry.get(collection_id)
    if collection is None:
        raise Problem(404, f"No collection {collection_id!r}.", available=sorted(registry.COLLECTIONS))
    return collection


def collection_access(request: Request, collection_id: str, conn: Connection | None = None) -> Access:
    """The collection and what this caller may read of it (the caller and the programmes are
    read on ``conn`` when given, so that the data query follows on the same connection)."""
    collection = get_collection(collection_id)
    principal = access_mod.caller(request, conn)
    if conn is not None:
        programmes = access_mod.load_programmes(conn)
    else:
        with get_engine().connect() as own:
            programmes = access_mod.load_programmes(own)
    return access_mod.resolve(principal, collection, programmes)
