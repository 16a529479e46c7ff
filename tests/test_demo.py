"""`make demo` loads the demo data once: a second run adds nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from sqlalchemy.engine import Engine

from app.demo import load_demo

COUNTED = [
    "programmes",
    "admin_areas",
    "organisations",
    "teams",
    "users",
    "hazard_areas",
    "tasks",
    "land_releases",
    "qa_visits",
]


def _counts(sql: Callable[..., list[Any]]) -> dict[str, int]:
    existing = {r[0] for r in sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    return {t: sql(f"SELECT count(*) FROM {t}")[0][0] for t in COUNTED if t in existing}


def test_demo_is_idempotent(engine: Engine, sql: Callable[..., list[Any]]) -> None:
    quiet = Console(quiet=True)
    first_logins = load_demo(quiet)
    first = _counts(sql)
    assert first["hazard_areas"] >= 200, "the demo should show a few hundred hazard areas"
    assert {role for _, role, _, _ in first_logins} == {
        "admin",
        "coordinator",
        "surveyor",
        "qa_officer",
        "partner",
    }

    second_logins = load_demo(quiet)
    assert _counts(sql) == first
    # Fresh tokens each start; the previous demo tokens stop working.
    assert [t for *_, t in first_logins] != [t for *_, t in second_logins]
    revoked = sql("SELECT count(*) FROM api_tokens WHERE name = 'demo' AND revoked")[0][0]
    assert revoked == 5


def test_demo_hazards_lie_in_their_countries(engine: Engine, sql: Callable[..., list[Any]]) -> None:
    load_demo(Console(quiet=True))
    outside = sql(
        """
        SELECT count(*) FROM hazard_areas h
        WHERE NOT EXISTS (SELECT 1 FROM admin_areas a
                          WHERE a.programme_id = h.programme_id AND ST_Intersects(a.geom, h.geom))
        """
    )[0][0]
    assert outside == 0


def test_demo_finds_of_completed_tasks_are_reviewed_and_the_others_wait(
    engine: Engine, sql: Callable[..., list[Any]]
) -> None:
    load_demo(Console(quiet=True))
    rows = sql(
        "SELECT t.status = 'completed', e.review_status, count(*) FROM eo_items e JOIN tasks t ON t.id = e.task_id "
        "GROUP BY 1, 2"
    )
    by_kind = {(completed, status): n for completed, status, n in rows}
    assert by_kind.get((True, "approved"), 0) > 0 and by_kind.get((False, "submitted"), 0) > 0
    assert set(by_kind) <= {(True, "approved"), (False, "submitted")}
