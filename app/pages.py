"""HTML pages: templates, and the rule that a page needs a logged-in browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from app.auth.service import Principal
from app.deps import optional_principal

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


class LoginRequired(Exception):
    """Raised by :func:`page_principal`; answered with a redirect to /login."""

    def __init__(self, target: str) -> None:
        self.target = target


def page_principal(request: Request) -> Principal:
    """The logged-in user of a page; visitors without a session go to /login."""
    principal = optional_principal(request)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return principal


def login_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.target)}", status_code=303)
