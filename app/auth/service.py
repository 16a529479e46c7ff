"""Passwords, tokens and sessions: creation and lookup. No HTTP here."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from app.auth.models import ROLES, ApiToken, User, UserProgramme, WebSession
from app.errors import Problem
from app.reference.models import Programme

_hasher = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user, their role and the programmes they may see."""

    user_id: int
    username: str
    role: str
    programme_ids: frozenset[int]
    organisation_id: int | None = None
    via: str = "token"  # "token" or "session"
    token_id: int | None = None
    csrf_token: str | None = field(default=None, repr=False)

    @property
    def is_partner(self) -> bool:
        return self.role == "partner"

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(
    db: Session,
    username: str,
    role: str,
    programme_codes: list[str],
    password: str | None = None,
    organisation_id: int | None = None,
) -> User:
    if role not in ROLES:
        raise Problem(422, f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
    if db.scalar(select(User).where(User.username == username)) is not None:
        raise Problem(409, f"User {username!r} already exists.")
    programmes = db.scalars(select(Programme).where(Programme.code.in_(programme_codes))).all()
    missing = set(programme_codes) - {p.code for p in programmes}
    if missing:
        raise Problem(422, f"Unknown programme(s): {', '.join(sorted(missing))}.")
    user = User(
        username=username,
        role=role,
        password_hash=hash_password(password) if password else None,
        organisation_id=organisation_id,
        programmes=[UserProgramme(programme_id=p.id) for p in programmes],
    )
    db.add(user)
    db.flush()
    return user


def set_password(db: Session, username: str, password: str) -> None:
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise Problem(404, f"No user {username!r}.")
    user.password_hash = hash_password(password)


def issue_token(db: Session, user: User, name: str = "default") -> str:
    """Create a token and return it. It is never stored or shown again."""
    token = "sg_" + secrets.token_urlsafe(32)
    db.add(ApiToken(user_id=user.id, token_hash=sha256(token), name=name))
    db.flush()
    return token


def _principal(user: User, via: str, token_id: int | None = None, csrf: str | None = None) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        programme_ids=frozenset(p.programme_id for p in user.programmes),
        organisation_id=user.organisation_id,
        via=via,
        token_id=token_id,
        csrf_token=csrf,
    )


_TOKEN_SQL = text(
    """
    SELECT t.id, t.last_used_at, u.id, u.username, u.role, u.organisation_id,
           ARRAY(SELECT up.programme_id FROM user_programmes up WHERE up.user_id = u.id)
    FROM api_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = :hash AND NOT t.revoked AND u.active
    """
)


def principal_for_token(db: Session, token: str) -> Principal | None:
    # One round trip: every API request pays for it, so it is kept to a single indexed query.
    row = db.execute(_TOKEN_SQL, {"hash": sha256(token)}).first()
    if row is None:
        return None
    token_id, last_used_at, user_id, username, role, organisation_id, programme_ids = row
    now = datetime.now(UTC)
    # Record use for attribution, at most once a minute so reads stay cheap.
    if last_used_at is None or now - last_used_at > timedelta(minutes=1):
        db.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
        db.commit()
    return Principal(
        user_id=user_id,
        username=username,
        role=role,
        programme_ids=frozenset(programme_ids),
        organisation_id=organisation_id,
        via="token",
        token_id=token_id,
    )


def login(db: Session, username: str, password: str, hours: int) -> tuple[str, str] | None:
    """Check a password; on success create a session and return (cookie value, csrf token)."""
    user = db.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None or not verify_password(user.password_hash, password):
        return None
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    db.add(
        WebSession(
            id_hash=sha256(session_id),
            user_id=user.id,
            csrf_token=csrf,
            expires_at=datetime.now(UTC) + timedelta(hours=hours),
        )
    )
    db.flush()
    return session_id, csrf


def principal_for_session(db: Session, session_id: str) -> Principal | None:
    row = db.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(
            WebSession.id_hash == sha256(session_id),
            WebSession.expires_at > datetime.now(UTC),
            User.active.is_(True),
        )
    ).first()
    if row is None:
        return None
    web_session, user = row
    return _principal(user, "session", csrf=web_session.csrf_token)


def logout(db: Session, session_id: str) -> None:
    db.execute(delete(WebSession).where(WebSession.id_hash == sha256(session_id)))
