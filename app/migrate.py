"""Alembic, configured from code so that it works from an installed package too."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.config import Config

# alembic is imported where it is used: every CLI command checks the schema first, and
# importing alembic (about 0.4 s) cost more than the check itself.


def _migrations_dir() -> Path:
    # Next to the packages in a checkout; in the working directory for an installed image.
    beside = Path(__file__).resolve().parent.parent / "migrations"
    return beside if (beside / "env.py").exists() else Path.cwd() / "migrations"


MIGRATIONS = _migrations_dir()


# PostGIS's own table is not ours to manage.
IGNORED_TABLES = {"spatial_ref_sys"}


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """What alembic compares: our tables, with geoalchemy2's rules for spatial indexes."""
    from geoalchemy2 import alembic_helpers

    if type_ == "table" and name in IGNORED_TABLES:
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # '%' must be doubled for configparser; passwords may contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


_REVISION = re.compile(r'^revision(?:: str)? = "([^"]+)"$', re.MULTILINE)
_DOWN_REVISION = re.compile(r'^down_revision(?:: [^=]+)? = (None|"[^"]+")$', re.MULTILINE)


def _heads() -> set[str]:
    """The newest revisions, read from the migration files' ``revision``/``down_revision`` lines
    (one revision each, a linear history); alembic reads them when a file is written otherwise."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        source = path.read_text()
        revision, down = _REVISION.findall(source), _DOWN_REVISION.findall(source)
        if len(revision) != 1 or len(down) != 1:
            from alembic.script import ScriptDirectory

            return set(ScriptDirectory.from_config(alembic_config("postgresql://")).get_heads())
        revisions.add(revision[0])
        if down[0] != "None":
            parents.add(down[0].strip('"'))
    return revisions - parents


def is_at_head(url: str) -> bool:
    """Whether the database is already at the newest schema (one query; no migration environment)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    heads = _heads()
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            current = set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except DBAPIError:  # no alembic_version table yet: a new database
        return False
    finally:
        engine.dispose()
    return current == heads


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)
