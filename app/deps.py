"""FastAPI dependencies shared by every router: database session, caller, roles, scope.

The programme scope is the one mechanism that keeps a user inside their programmes: every
query of programme-owned records goes through :meth:`Scope.filter` or :meth:`Scope.check`.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.auth import service as auth
from app.auth.service import Principal
from app.db import new_session
from app.errors import Problem
from app.reference.models import Programme

SESSION_COOKIE = "sg_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

access_log = logging.getLogger("safeground.access")


def _authenticate(request: Request, conn: Connection | None = None) -> Principal | None:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization", "")
    session_cookie = request.cookies.get(SESSION_COOKIE)
    principal: Principal | None = None
    # On ``conn`` when the caller already holds one (the partner API reads its data on it next):
    # a request then checks out and pings one pooled connection instead of two.
    with new_session() if conn is None else Session(bind=conn) as db:
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Problem(
                    401,
                    "Use 'Authorization: Bearer <token>'.",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            principal = auth.principal_for_token(db, token.strip())
            if principal is None:
                raise Problem(
                    401,
                    "The token is not valid (unknown, revoked or of an inactive user).",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
        elif session_cookie:
            principal = auth.principal_for_session(db, session_cookie)
    if principal is not None:
        if principal.via == "session" and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not principal.csrf_token or not hmac.compare_digest(sent, principal.csrf_token):
                raise Problem(403, f"Missing or wrong {CSRF_HEADER} header for a cookie-authenticated write.")
        request.state.principal = principal
        access_log.info(
            "user=%s via=%s token=%s %s %s",
            principal.username,
            principal.via,
            principal.token_id,
            request.method,
            request.url.path,
        )
    return principal


def optional_principal(request: Request) -> Principal | None:
    return _authenticate(request)


def optional_principal_on(request: Request, conn: Connection) -> Principal | None:
    """:func:`optional_principal`, looked up on a connection the caller goes on using."""
    return _authenticate(request, conn)


def current_principal(request: Request) -> Principal:
    principal = _authenticate(request)
    if principal is None:
        raise Problem(
            401,
            "Authentication required: send a bearer token or log in.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def get_db(principal: CurrentPrincipal) -> Iterator[Session]:
    """A session whose writes are audited as the caller; committed by the router/service."""
    db = new_session(actor=principal.username)
    try:
        yield db
    finally:
        db.close()


def get_public_db() -> Iterator[Session]:
    db = new_session()
    try:
        yield db
    finally:
        db.close()


DB = Annotated[Session, Depends(get_db)]


def require_roles(*roles: str) -> Callable[[Principal], Principal]:
    def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Problem(403, f"This needs one of the roles {', '.join(roles)}; you are {principal.role}.")
        return principal

    return dependency


@dataclass(frozen=True)
class Scope:
    """The programmes the caller may see, and helpers to apply them."""

    principal: Principal

    @property
    def programme_ids(self) -> frozenset[int]:
        return self.principal.programme_ids

    def filter(self, stmt: Any, programme_column: Any) -> Any:
        """Restrict a SELECT to the caller's programmes."""
        return stmt.where(programme_column.in_(sorted(self.programme_ids) or [-1]))

    def check(self, programme_id: int) -> None:
        """Refuse access to a record of another programme (404: do not reveal it exists)."""
        if programme_id not in self.programme_ids:
            raise Problem(404, "No such record in your programmes.")

    def programme(self, db: Session, code: str) -> Programme:
        """The programme named by ``code``, if the caller belongs to it (403 otherwise)."""
        programme = db.scalar(select(Programme).where(Programme.code == code))
        if programme is None or programme.id not in self.programme_ids:
            raise Problem(403, f"You have no access to programme {code!r}.")
        return programme

    def programme_filter(self, db: Session, code: str | None) -> list[int]:
        """Programme ids for an optional ``programme=CODE`` query filter."""
        if code is None:
            return sorted(self.programme_ids)
        return [self.programme(db, code).id]


def get_scope(principal: CurrentPrincipal) -> Scope:
    return Scope(principal)


CurrentScope = Annotated[Scope, Depends(get_scope)]
