"""Engine, sessions and the declarative base shared by every domain package."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import DateTime, Integer, MetaData, Text, create_engine, event, func, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from app.settings import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Versioned:
    """Columns of a record edited under ETag/If-Match (``app/etag.py``): its version, raised by
    one at every change, and who created and last changed it, when."""

    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def make_engine(url: str) -> Engine:
    # pre_ping: the service recovers by itself when the database comes back after an outage.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=get_settings().pool_size,
        max_overflow=10,
        pool_recycle=1800,
        # jit=off: PostgreSQL's JIT compiles big plans (the summaries, the import INSERT) for
        # seconds before running them in milliseconds; measured in bench/ (docs/benchmarks.md).
        connect_args={"connect_timeout": 5, "application_name": "safeground", "options": "-c jit=off"},
        # JSONB values (an import's report is megabytes) written with orjson: several times faster
        # than the standard library, and it knows dates and numpy numbers.
        json_serializer=_json_text,
    )


def _json_text(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


_engine: Engine | None = None


def set_engine(engine: Engine | None) -> None:
    """Point the application at another database (tests, CLI with --database-url)."""
    global _engine
    _engine = engine
    _sessionmaker.cache_clear()


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        from app.embedded import database_url

        _engine = make_engine(database_url())
    return _engine


@lru_cache
def _sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


def new_session(actor: str | None = None) -> Session:
    session = _sessionmaker()()
    session.info["actor"] = actor
    return session


@event.listens_for(Session, "after_begin")
def _set_actor(session: Session, transaction: Any, connection: Any) -> None:
    """Tell the audit triggers who is writing, for this transaction only."""
    actor = session.info.get("actor")
    if actor:
        connection.execute(text("SELECT set_config('safeground.actor', :a, true)"), {"a": actor})


@contextmanager
def session_scope(actor: str | None = None) -> Iterator[Session]:
    """A transaction: committed when the block ends, rolled back on any error."""
    session = new_session(actor)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
