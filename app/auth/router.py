"""Login, logout and "who am I" — the browser side of authentication."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.auth import service
from app.auth.service import Principal
from app.deps import SESSION_COOKIE, CurrentPrincipal, get_public_db, optional_principal
from app.pages import page_principal, render
from app.settings import get_settings

router = APIRouter(tags=["auth"])


class Me(BaseModel):
    username: str
    role: str
    programme_ids: list[int]
    via: str
    csrf_token: str | None = None


@router.get("/api/v1/me", response_model=Me)
def me(principal: CurrentPrincipal) -> Me:
    return Me(
        username=principal.username,
        role=principal.role,
        programme_ids=sorted(principal.programme_ids),
        via=principal.via,
        csrf_token=principal.csrf_token,
    )


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never redirect a login to another host.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/map"


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request, principal: Annotated[Principal, Depends(page_principal)]) -> Response:
    return render(request, "home.html", {"principal": principal, "csrf_token": principal.csrf_token})


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    db: Annotated[Session, Depends(get_public_db)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    settings = get_settings()
    result = service.login(db, username, password, settings.session_hours)
    if result is None:
        return render(
            request, "login.html", {"next": _safe_next(next), "error": "Wrong username or password."}, 401
        )
    db.commit()
    session_id, _ = result
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    return response


@router.post("/logout", include_in_schema=False)
def logout(
    request: Request,
    db: Annotated[Session, Depends(get_public_db)],
    _: Annotated[object, Depends(optional_principal)],
) -> Response:
    # optional_principal enforces the CSRF header for a logged-in browser.
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        service.logout(db, session_id)
        db.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
