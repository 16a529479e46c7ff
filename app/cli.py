"""The ``safeground`` command line."""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from app.settings import get_settings

console = Console()
app = typer.Typer(help="SafeGround: mine-action operations and hazard tracking.", no_args_is_help=True)
db_app = typer.Typer(help="The embedded PostGIS cluster.", no_args_is_help=True)
programme_app = typer.Typer(help="Country field programmes.", no_args_is_help=True)
admin_app = typer.Typer(help="Admin areas (admin1, admin2 boundaries).", no_args_is_help=True)
user_app = typer.Typer(help="Users, roles and tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(programme_app, name="programme")
app.add_typer(admin_app, name="admin-areas")
app.add_typer(user_app, name="user")


def fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _url() -> str:
    from app.embedded import EmbeddedError, database_url

    try:
        return database_url()
    except EmbeddedError as exc:
        fail(str(exc))
        raise  # unreachable; fail() exits


def ensure_database() -> str:
    """Start the embedded cluster when no URL is configured and migrate to head."""
    from app import migrate

    url = _url()
    # Every command calls this: running alembic's environment costs more than the command
    # itself for small jobs, so it runs only when the schema is behind.
    if not migrate.is_at_head(url):
        migrate.upgrade(url)
    return url


# -- db ---------------------------------------------------------------------------------
@db_app.command("start")
def db_start() -> None:
    """Create (first time) and start the embedded cluster."""
    from app.embedded import EmbeddedError, cluster

    if get_settings().database_url:
        console.print("SAFEGROUND_DATABASE_URL is set: nothing to start.")
        return
    try:
        c = cluster()
        c.start()
    except EmbeddedError as exc:
        fail(str(exc))
    console.print(f"embedded PostGIS running on 127.0.0.1:{c.port} (data in {c.pgdata})")


@db_app.command("stop")
def db_stop() -> None:
    from app.embedded import cluster

    cluster().stop()
    console.print("embedded PostGIS stopped")


@db_app.command("status")
def db_status() -> None:
    from app.embedded import cluster

    settings = get_settings()
    if settings.database_url:
        console.print("using SAFEGROUND_DATABASE_URL (external database)")
        return
    c = cluster()
    running = c.is_running()
    console.print(
        f"embedded PostGIS: {'running' if running else 'stopped'} on 127.0.0.1:{c.port} ({c.pgdata})"
    )
    raise typer.Exit(0 if running else 3)


@db_app.command("url")
def db_url() -> None:
    """Print the database URL (starting the embedded cluster if needed)."""
    print(_url())


@app.command()
def migrate() -> None:
    """Migrate the database to the newest schema."""
    ensure_database()
    console.print("database migrated to head")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="load the demo data first (idempotent)")] = False,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Ensure the database, migrate, optionally load demo data, and serve the web app."""
    import uvicorn

    settings = get_settings()
    ensure_database()
    if demo:
        from app.demo import load_demo

        logins = load_demo(console)
        _print_logins(logins)
    host = host or settings.host
    port = port or settings.port
    console.print(f"SafeGround on http://{host}:{port}  (API docs /docs, health /health, map /map)")
    uvicorn.run("app.asgi:app", host=host, port=port, workers=workers, log_level="info")


def _print_logins(logins: list[tuple[str, str, str, str]]) -> None:
    table = Table(title="Demo logins (one per role): log in at /login")
    for column in ("user", "role", "password"):
        table.add_column(column)
    for user, role, password, _ in logins:
        table.add_row(user, role, password)
    console.print(table)
    # Tokens on plain lines, never cut by the terminal width, so they can be copied whole.
    console.print("API tokens (new at every start; send as 'Authorization: Bearer <token>'):")
    for user, _, _, token in logins:
        print(f"  {user:<18} {token}")


# -- programmes and admin areas --------------------------------------------------------
@programme_app.command("add")
def programme_add(
    code: str,
    name: Annotated[str, typer.Option(help="programme name")],
    iso3: Annotated[str, typer.Option(help="country ISO3 code")],
    utm_epsg: Annotated[list[int] | None, typer.Option(help="UTM EPSG code (repeat)")] = None,
) -> None:
    """Add (or update) a country programme."""
    from app.db import session_scope
    from app.reference.service import add_programme

    ensure_database()
    with session_scope("cli") as db:
        programme = add_programme(db, code, name, iso3, utm_epsg or [])
        console.print(f"programme {programme.code} ({programme.name}) saved")


@programme_app.command("sharing")
def programme_sharing(
    code: str,
    publish: Annotated[
        list[str] | None,
        typer.Option(help="layer readable without a token (repeat); see docs/partner-api.md"),
    ] = None,
    sensitive: Annotated[
        list[str] | None,
        typer.Option(help="property hidden from partners, e.g. notes or hazard_areas.notes (repeat)"),
    ] = None,
    unpublish_all: Annotated[bool, typer.Option(help="publish no layer (the default)")] = False,
) -> None:
    """Show or set what a programme shares: anonymous layers and partner-hidden fields."""
    from app.db import session_scope
    from app.errors import Problem
    from app.ogc.sharing import set_sharing

    ensure_database()
    try:
        with session_scope("cli") as db:
            programme = set_sharing(db, code, [] if unpublish_all else publish, sensitive)
            console.print(
                f"{programme.code}: published layers: {', '.join(programme.published_layers) or 'none'}"
            )
            console.print(
                f"{programme.code}: sensitive fields: {', '.join(programme.sensitive_fields) or 'none'}"
            )
    except Problem as exc:
        fail(exc.detail)


@admin_app.command("load")
def admin_areas_load(
    file: Path,
    programme: Annotated[str, typer.Option(help="programme code")],
    level: Annotated[int, typer.Option(help="admin level (1, 2)")] = 1,
    name_field: Annotated[str, typer.Option(help="field with the area name")] = "shapeName",
    code_field: Annotated[str, typer.Option(help="field with the P-code/ISO code")] = "shapeISO",
    parent_field: Annotated[str | None, typer.Option(help="field with the parent's code")] = None,
) -> None:
    """Load admin areas from a GeoJSON/GeoPackage/shapefile."""
    from app.db import session_scope
    from app.errors import Problem
    from app.reference.service import load_admin_areas

    if not file.exists():
        fail(f"{file} does not exist")
    ensure_database()
    try:
        with session_scope("cli") as db:
            count = load_admin_areas(db, file, programme, level, name_field, code_field, parent_field)
    except Problem as exc:
        fail(exc.detail)
    console.print(f"{count} admin-{level} areas loaded into {programme.upper()}")


# -- users ------------------------------------------------------------------------------
@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[str, typer.Option(help="admin, coordinator, surveyor, qa_officer or partner")],
    programme: Annotated[list[str], typer.Option(help="programme code (repeat)")],
    password: Annotated[
        bool, typer.Option("--password", help="also set a password for the browser (asked for)")
    ] = False,
    organisation_id: Annotated[int | None, typer.Option(help="the user's organisation")] = None,
) -> None:
    """Add a user and print a new API token as the last line."""
    from app.auth.service import create_user, issue_token
    from app.db import session_scope
    from app.errors import Problem

    secret = typer.prompt("password", hide_input=True, confirmation_prompt=True) if password else None
    ensure_database()
    try:
        with session_scope("cli") as db:
            user = create_user(db, name, role, [p.upper() for p in programme], secret, organisation_id)
            token = issue_token(db, user)
    except Problem as exc:
        fail(exc.detail)
    console.print(f"user {name} ({role}) added; the token below is shown once:")
    print(token)


@user_app.command("set-password")
def user_set_password(name: str) -> None:
    """Set a user's browser password (asked for)."""
    from app.auth.service import set_password
    from app.db import session_scope
    from app.errors import Problem

    secret = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    ensure_database()
    try:
        with session_scope("cli") as db:
            set_password(db, name, secret)
    except Problem as exc:
        fail(exc.detail)
    console.print(f"password of {name} set")


@user_app.command("token")
def user_token(name: str) -> None:
    """Issue another API token for a user; printed as the last line."""
    from sqlalchemy import select

    from app.auth.models import User
    from app.auth.service import issue_token
    from app.db import session_scope

    ensure_database()
    with session_scope("cli") as db:
        user = db.scalar(select(User).where(User.username == name))
        if user is None:
            fail(f"no user {name!r}")
            return
        token = issue_token(db, user)
    print(token)


# -- imports ----------------------------------------------------------------------------
@app.command("import")
def import_file(
    file: Path,
    programme: Annotated[str, typer.Option(help="programme code, e.g. SOM")],
    layer: Annotated[str, typer.Option(help="hazard_areas or evidence_points")] = "hazard_areas",
    crs: Annotated[
        str | None, typer.Option(help="the file's CRS when it declares none, e.g. EPSG:32638")
    ] = None,
    mapping: Annotated[str | None, typer.Option(help="JSON: target field → source column")] = None,
    defaults: Annotated[
        str | None,
        typer.Option(help='JSON: field → value where the file has none, e.g. {"classification": "SHA"}'),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and report; store nothing")] = False,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="store the valid features, report the rejected")
    ] = False,
    report: Annotated[Path | None, typer.Option(help="also write the full JSON report here")] = None,
) -> None:
    """Import hazard areas or evidence points from a file (all-or-nothing; exit 1 when rejected)."""
    from geo.imports import cli_import

    ensure_database()
    if _whole_process:
        # The process ends with this command. run_import pauses the cyclic garbage collector; turned
        # back on, its first collection walked the millions of objects the import left (0.05 s).
        gc.disable()
    code = cli_import(file, programme, layer, crs, mapping, dry_run, skip_invalid, console, report, defaults)
    if _whole_process and sys.gettrace() is None and sys.getprofile() is None:
        _exit_now(code)  # not under a profiler or coverage: they write their results at exit
    raise typer.Exit(code)


def _exit_now(code: int) -> NoReturn:
    """End the process with ``code`` once the output is flushed and the database connections are
    closed, skipping the interpreter's teardown: freeing what an import leaves (modules, caches,
    the heap) took about 0.5 s after a 50,000-polygon import had already said everything."""
    import logging
    import os

    from app.db import get_engine

    get_engine().dispose()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# Whether the command line owns the process (``safeground …``, ``python -m app.cli``), not a test
# or another program calling the Typer app: only then may a command end it early.
_whole_process = False


def main() -> None:
    global _whole_process
    _whole_process = True
    app()


if __name__ == "__main__":
    main()
