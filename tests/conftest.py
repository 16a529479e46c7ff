"""Test fixtures on a real PostGIS.

The session uses the embedded cluster (or ``SAFEGROUND_TEST_DATABASE_URL``, a database on a
server where we may create databases). It builds one *template* database, migrated and
seeded with the Somalia and Libya programmes and their real admin-1 boundaries, named by
a hash of the migrations and seed so that a schema change builds a new one; each test gets
a fresh copy (``CREATE DATABASE … TEMPLATE``), dropped afterwards. No SQLite, no mocks.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine, make_url

from app import db as app_db
from app.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
SEED_INPUTS = [ROOT / "app" / "demo.py", ROOT / "tests" / "conftest.py", ROOT / "app" / "audit.py"]


def _server_url() -> str:
    explicit = os.environ.get("SAFEGROUND_TEST_DATABASE_URL")
    if explicit:
        return explicit
    from app.embedded import database_url

    return database_url(get_settings())


def _admin_conn(server_url: str) -> Any:
    url = make_url(server_url)
    conn = psycopg2.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname="postgres"
    )
    conn.autocommit = True
    return conn


def _db_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _template_name() -> str:
    digest = hashlib.sha1()  # noqa: S324 - a cache key, not security
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")) + SEED_INPUTS:
        digest.update(path.read_bytes())
    return f"sg_tpl_{digest.hexdigest()[:12]}"


def _seed_reference(url: str) -> None:
    """Programmes SOM and LBY with their real admin-1 areas, and their organisations/teams."""
    from app.db import make_engine, session_scope, set_engine
    from app.demo import _reference_data

    engine = make_engine(url)
    set_engine(engine)
    try:
        with session_scope("seed") as db:
            _reference_data(db)
    finally:
        set_engine(None)
        engine.dispose()


@pytest.fixture(scope="session")
def server_url() -> str:
    return _server_url()


@pytest.fixture(scope="session")
def template_db(server_url: str) -> str:
    """The migrated, seeded template; built once, by whichever worker gets the lock first."""
    from app import migrate

    name = _template_name()
    conn = _admin_conn(server_url)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(hashtext('safeground-test-template'))")
        try:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                building = f"{name}_building"
                cur.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
                cur.execute(f'CREATE DATABASE "{building}" TEMPLATE template1')
                url = _db_url(server_url, building)
                migrate.upgrade(url)
                _seed_reference(url)
                cur.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
                # Templates of older schemas are of no further use; one in use elsewhere stays.
                cur.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'sg\\_tpl\\_%%' AND datname <> %s",
                    (name,),
                )
                for (old,) in cur.fetchall():
                    with contextlib.suppress(psycopg2.Error):
                        cur.execute(f'DROP DATABASE IF EXISTS "{old}"')
        finally:
            cur.execute("SELECT pg_advisory_unlock(hashtext('safeground-test-template'))")
    conn.close()
    return name


class FreshDatabase:
    """Creates and drops throw-away databases copied from a template."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.conn = _admin_conn(server_url)

    def create(self, template: str) -> str:
        name = f"sg_test_{uuid.uuid4().hex[:12]}"
        with self.conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            # Test data need not survive a crash; this makes commits cheap.
            cur.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        return name

    def drop(self, name: str) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def url(self, name: str) -> str:
        return _db_url(self.server_url, name)


@pytest.fixture(scope="session")
def databases(server_url: str) -> Iterator[FreshDatabase]:
    fresh = FreshDatabase(server_url)
    yield fresh
    fresh.conn.close()


@pytest.fixture
def database_url(databases: FreshDatabase, template_db: str) -> Iterator[str]:
    """A fresh, migrated and seeded database for this test."""
    name = databases.create(template_db)
    yield databases.url(name)
    databases.drop(name)


@pytest.fixture
def empty_database_url(databases: FreshDatabase) -> Iterator[str]:
    """A fresh database with PostGIS and nothing else (for migration tests)."""
    name = databases.create("template1")
    yield databases.url(name)
    databases.drop(name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The application's engine, pointed at this test's database."""
    engine = app_db.make_engine(database_url)
    app_db.set_engine(engine)
    yield engine
    app_db.set_engine(None)
    engine.dispose()


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    from app.main import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def sql(engine: Engine) -> Callable[..., list[Any]]:
    """Run SQL against the test database and return all rows (for checking what is stored)."""
    from sqlalchemy import text

    def run(statement: str, **params: Any) -> list[Any]:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result) if result.returns_rows else []

    return run


@pytest.fixture
def make_user(engine: Engine) -> Callable[..., dict[str, str]]:
    """Create a user; returns ``{"Authorization": "Bearer …"}`` headers for the API."""
    from app.auth.service import create_user, issue_token
    from app.db import session_scope

    def make(
        role: str = "coordinator",
        programmes: tuple[str, ...] = ("SOM",),
        username: str | None = None,
        password: str | None = None,
        organisation_id: int | None = None,
    ) -> dict[str, str]:
        with session_scope("test") as db:
            user = create_user(
                db,
                username or f"{role}-{uuid.uuid4().hex[:6]}",
                role,
                list(programmes),
                password,
                organisation_id,
            )
            token = issue_token(db, user)
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def coordinator(make_user: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_user("coordinator", ("SOM",))


@pytest.fixture
def admin(make_user: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_user("admin", ("SOM", "LBY"))


@pytest.fixture
def surveyor(make_user: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_user("surveyor", ("SOM",))


@pytest.fixture
def partner(make_user: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_user("partner", ("SOM",))


@pytest.fixture
def qa_officer(make_user: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_user("qa_officer", ("SOM",))


class LiveServer:
    """A real uvicorn server on a loopback port, serving the app on this test's database."""

    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture
def live_server(engine: Engine) -> Iterator[LiveServer]:
    import socket
    import threading

    import uvicorn

    from app.main import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    # Wait for the socket without sleeping blindly: the server sets `started` when it listens.
    started = threading.Event()
    while thread.is_alive() and not server.started:
        started.wait(0.01)
    if not server.started:
        raise RuntimeError("the live server did not start")
    yield LiveServer(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)
