"""The clearance demo: idempotent, and fine with no hazard areas."""

from __future__ import annotations

from rich.console import Console
from sqlalchemy.engine import Engine

from app.db import session_scope
from clearance import demo
from tests.factories import insert_hazard_area, row

SQUARES = [
    f"POLYGON(({x} 2.05,{x + 0.002} 2.05,{x + 0.002} 2.052,{x} 2.052,{x} 2.05))"
    for x in (45.30, 45.31, 45.32, 45.33)
]


def _counts(engine: Engine) -> tuple[int, int, int]:
    r = row(
        engine,
        "SELECT (SELECT count(*) FROM land_releases) AS releases, (SELECT count(*) FROM qa_visits) AS visits, "
        "(SELECT count(*) FROM qa_non_conformities) AS ncs",
    )
    return r.releases, r.visits, r.ncs


def test_demo_with_no_hazards_records_visits_only(engine: Engine) -> None:
    with session_scope("demo") as db:
        demo.load(db, Console(quiet=True))
    releases, visits, ncs = _counts(engine)
    assert releases == 0 and visits == 4 and ncs == 4  # two visits per programme


def test_demo_releases_and_is_idempotent(engine: Engine) -> None:
    hazards = [insert_hazard_area(engine, wkt) for wkt in SQUARES]
    for _ in range(2):
        with session_scope("demo") as db:
            demo.load(db, Console(quiet=True))
    releases, visits, ncs = _counts(engine)
    assert releases == 5  # 1 + 2 + 1 + the completion's
    assert visits == 5  # SOM also inspects a cleared lot
    assert ncs == 4
    methods = row(
        engine,
        "SELECT array_agg(DISTINCT method ORDER BY method) AS m, count(*) FILTER (WHERE review_status = 'approved') AS a "
        "FROM land_releases",
    )
    assert methods.m == ["cancelled", "cleared", "reduced"] and methods.a == 4
    closed = row(engine, "SELECT status FROM hazard_areas WHERE id = :id", id=hazards[3])
    assert closed.status == "closed"
    for hazard in hazards:
        h = row(
            engine,
            "SELECT area_m2 - cancelled_m2 - reduced_m2 - cleared_m2 - remaining_m2 AS gap FROM hazard_areas WHERE id = :id",
            id=hazard,
        )
        assert abs(h.gap) < 1


def test_demo_adds_releases_when_hazards_arrive_later(engine: Engine) -> None:
    with session_scope("demo") as db:
        demo.load(db, Console(quiet=True))
    for wkt in SQUARES:
        insert_hazard_area(engine, wkt)
    with session_scope("demo") as db:
        demo.load(db, Console(quiet=True))
    releases, visits, _ = _counts(engine)
    assert (releases, visits) == (5, 4)
