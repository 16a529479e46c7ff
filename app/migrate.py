"""Alembic, configured from code so that it works from an installed package too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from geoalchemy2 import alembic_helpers


def _migrations_dir() -> Path:
    # Next to the packages in a checkout; in the working directory for an installed image.
    beside = Path(__file__).resolve().parent.parent / "migrations"
    return beside if (beside / "env.py").exists() else Path.cwd() / "migrations"


MIGRATIONS = _migrations_dir()


# PostGIS's own table is not ours to manage.
IGNORED_TABLES = {"spatial_ref_sys"}


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """What alembic compares: our tables, with geoalchemy2's rules for spatial indexes."""
    if type_ == "table" and name in IGNORED_TABLES:
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # '%' must be doubled for configparser; passwords may contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def is_at_head(url: str) -> bool:
    """Whether the database is already at the newest schema (one query; no migration environment)."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
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
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
