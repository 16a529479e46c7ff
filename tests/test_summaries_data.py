"""Random mine-action records for the summary tests, inserted straight into the database.

Hazard areas are small squares placed inside real Somali admin-1 areas; land releases are
vertical strips of their hazard (so they never overlap, and all strips together close it);
tasks target one hazard area (or a point, for EOD spot tasks); items and QA visits hang off
tasks. The accounting triggers of migration 0005 compute every area, as in production.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from survey.models import CONTAMINATION_TYPES

# Points inside Somali admin-1 areas (ST_PointOnSurface of the seeded boundaries).
PLACES = [(45.4001, 2.0941), (43.8408, 4.18), (45.493, 4.32), (44.6623, 1.9732), (48.2153, 6.0089)]
SIDE = 0.002  # degrees: hazard squares of about 220 m
STRIPS = 4
START = date(2024, 1, 1)
CATEGORIES = ["ap_mine", "at_mine", "submunition", "projectile", "ied", "small_arms_ammunition", "mortar"]
DISPOSALS = ["destroyed_in_situ", "removed_and_destroyed", "rendered_safe", "handed_over"]
REVIEW = ["approved", "approved", "approved", "submitted", "draft", "rejected"]


@dataclass
class ReleaseSpec:
    strip: int
    method: str
    activity: str
    review_status: str
    day: int
    organisation: int


@dataclass
class HazardSpec:
    place: int
    classification: str
    types: list[str]
    review_status: str
    beneficiaries: tuple[int, int, int, int]
    releases: list[ReleaseSpec] = field(default_factory=list)


@dataclass
class TaskSpec:
    hazard: int | None  # index into hazards; None: an EOD spot task at a place
    place: int
    status: str
    organisation: int
    day: int
    items: list[tuple[str, int, str, int, str]]  # (category, quantity, disposal, day, review status)
    visits: list[tuple[str, int]]  # (result, day)


@dataclass
class Scenario:
    hazards: list[HazardSpec]
    tasks: list[TaskSpec]


def _release(draw: Any) -> ReleaseSpec:
    method = draw(st.sampled_from(["cancelled", "reduced", "cleared"]))
    activity = {"cancelled": "nts", "reduced": "ts", "cleared": draw(st.sampled_from(["clearance", "bac"]))}[
        method
    ]
    return ReleaseSpec(
        strip=0,
        method=method,
        activity=activity,
        review_status=draw(st.sampled_from(REVIEW)),
        day=draw(st.integers(0, 700)),
        organisation=draw(st.integers(0, 2)),
    )


@st.composite
def scenarios(draw: Any, max_hazards: int = 6, max_tasks: int = 5) -> Scenario:
    hazards: list[HazardSpec] = []
    for _ in range(draw(st.integers(1, max_hazards))):
        hazard = HazardSpec(
            place=draw(st.integers(0, len(PLACES) - 1)),
            classification=draw(st.sampled_from(["SHA", "CHA"])),
            types=draw(st.lists(st.sampled_from(CONTAMINATION_TYPES), max_size=2, unique=True)),
            review_status=draw(st.sampled_from(["approved", "approved", "submitted", "draft"])),
            beneficiaries=tuple(draw(st.integers(0, 50)) for _ in range(4)),
        )
        strips = draw(st.lists(st.integers(0, STRIPS - 1), max_size=STRIPS, unique=True))
        for strip in strips:
            spec = _release(draw)
            spec.strip = strip
            hazard.releases.append(spec)
        hazards.append(hazard)
    tasks: list[TaskSpec] = []
    for _ in range(draw(st.integers(0, max_tasks))):
        tasks.append(
            TaskSpec(
                hazard=draw(st.one_of(st.none(), st.integers(0, len(hazards) - 1))),
                place=draw(st.integers(0, len(PLACES) - 1)),
                status=draw(st.sampled_from(["in_progress", "completed", "completed", "cancelled"])),
                organisation=draw(st.integers(0, 2)),
                day=draw(st.integers(0, 700)),
                items=draw(
                    st.lists(
                        st.tuples(
                            st.sampled_from(CATEGORIES),
                            st.integers(1, 20),
                            st.sampled_from(DISPOSALS),
                            st.integers(0, 700),
                            st.sampled_from(["approved", "approved", "submitted", "rejected"]),
                        ),
                        max_size=3,
                    )
                ),
                visits=draw(
                    st.lists(
                        st.tuples(
                            st.sampled_from(["pass", "pass_with_findings", "fail"]), st.integers(0, 700)
                        ),
                        max_size=2,
                    )
                ),
            )
        )
    return Scenario(hazards, tasks)


def _square(place: int, index: int) -> tuple[float, float]:
    x, y = PLACES[place]
    # Spread hazards of one place on a small grid so that they never touch.
    return x + (index % 10) * SIDE * 2, y + (index // 10) * SIDE * 2


def _wkt(x: float, y: float, x_from: float = 0.0, x_to: float = 1.0) -> str:
    a, c = x + x_from * SIDE, x + x_to * SIDE
    return f"MULTIPOLYGON((({a} {y},{c} {y},{c} {y + SIDE},{a} {y + SIDE},{a} {y})))"


def clear_records(conn: Connection) -> None:
    """Remove every record the scenarios write (the audit log keeps their history)."""
    for table in ("qa_visits", "eo_items", "task_hazards", "task_status_history", "tasks", "land_releases"):
        conn.execute(text(f"DELETE FROM {table}"))
    conn.execute(text("DELETE FROM hazard_areas"))


def organisation_ids(conn: Connection, programme: str = "SOM") -> list[int]:
    return list(
        conn.scalars(
            text(
                "SELECT o.id FROM organisations o JOIN programmes p ON p.id = o.programme_id "
                "WHERE p.code = :c ORDER BY o.id"
            ),
            {"c": programme},
        )
    )


def insert_scenario(
    engine: Engine, scenario: Scenario, programme: str = "SOM", offset: int = 0
) -> dict[str, Any]:
    """Insert everything; returns the ids (hazards, releases, tasks) in the scenario's order."""
    ids: dict[str, Any] = {"hazards": [], "releases": [], "tasks": []}
    with engine.begin() as conn:
        programme_id = conn.scalar(text("SELECT id FROM programmes WHERE code = :c"), {"c": programme})
        orgs = organisation_ids(conn, programme)
        catalogue: dict[str, int] = dict(
            conn.execute(text("SELECT category, id FROM eo_catalogue WHERE subcategory IS NULL")).all()
        )
        for i, h in enumerate(scenario.hazards):
            x, y = _square(h.place, i + offset)
            hazard_id = conn.scalar(
                text(
                    """
                    INSERT INTO hazard_areas (programme_id, reference, classification, contamination_types,
                        geom, area_m2, remaining_geom, remaining_m2, review_status, admin1_code, admin1_name,
                        beneficiaries_women, beneficiaries_men, beneficiaries_girls, beneficiaries_boys)
                    SELECT :p, :ref, :cls, :types, g, ST_Area(g::geography), g, ST_Area(g::geography), :rs,
                           a.code, a.name, :bw, :bm, :bg, :bb
                    FROM (SELECT ST_GeomFromText(:wkt, 4326) AS g) s
                    LEFT JOIN admin_areas a ON a.programme_id = :p AND a.level = 1 AND ST_Intersects(a.geom, s.g)
                    LIMIT 1
                    RETURNING id
                    """
                ),
                {
                    "p": programme_id,
                    "ref": f"T-{programme}-HA-{offset + i:05d}",
                    "cls": h.classification,
                    "types": h.types,
                    "wkt": _wkt(x, y),
                    "rs": h.review_status,
                    "bw": h.beneficiaries[0],
                    "bm": h.beneficiaries[1],
                    "bg": h.beneficiaries[2],
                    "bb": h.beneficiaries[3],
                },
            )
            ids["hazards"].append(hazard_id)
            for j, r in enumerate(h.releases):
                release_id = conn.scalar(
                    text(
                        """
                        INSERT INTO land_releases (programme_id, reference, hazard_area_id, method, activity,
                            organisation_id, release_date, depth_cm, geom, area_m2, review_status)
                        VALUES (:p, :ref, :h, :method, :activity, :org, :day, :depth,
                                ST_GeomFromText(:wkt, 4326), 0, :rs)
                        RETURNING id
                        """
                    ),
                    {
                        "p": programme_id,
                        "ref": f"T-{programme}-LR-{offset + i:05d}-{j}",
                        "h": hazard_id,
                        "method": r.method,
                        "activity": r.activity,
                        "org": orgs[r.organisation],
                        "day": START + timedelta(days=r.day),
                        "depth": 20 if r.method == "cleared" else None,
                        "wkt": _wkt(x, y, r.strip / STRIPS, (r.strip + 1) / STRIPS),
                        "rs": r.review_status,
                    },
                )
                ids["releases"].append(release_id)
        for k, t in enumerate(scenario.tasks):
            hazard_id = ids["hazards"][t.hazard] if t.hazard is not None else None
            x, y = PLACES[t.place]
            day = START + timedelta(days=t.day)
            task_id = conn.scalar(
                text(
                    """
                    INSERT INTO tasks (programme_id, reference, type, status, organisation_id, point,
                        actual_start, actual_end)
                    VALUES (:p, :ref, :type, :status, :org,
                            CASE WHEN :spot THEN ST_SetSRID(ST_MakePoint(:x, :y), 4326) END,
                            :day, CASE WHEN :status = 'completed' THEN CAST(:day AS date) END)
                    RETURNING id
                    """
                ),
                {
                    "p": programme_id,
                    "ref": f"T-{programme}-TK-{offset + k:05d}",
                    "type": "eod_spot" if hazard_id is None else "clearance",
                    "status": t.status,
                    "org": orgs[t.organisation],
                    "spot": hazard_id is None,
                    "x": x,
                    "y": y,
                    "day": day,
                },
            )
            ids["tasks"].append(task_id)
            if hazard_id is not None:
                conn.execute(
                    text("INSERT INTO task_hazards (task_id, hazard_area_id) VALUES (:t, :h)"),
                    {"t": task_id, "h": hazard_id},
                )
            for category, quantity, disposal, item_day, item_review in t.items:
                conn.execute(
                    text(
                        "INSERT INTO eo_items (programme_id, task_id, catalogue_id, quantity, disposal_method, "
                        "found_on, review_status) VALUES (:p, :t, :c, :q, :d, :day, :rs)"
                    ),
                    {
                        "p": programme_id,
                        "t": task_id,
                        "c": catalogue[category],
                        "q": quantity,
                        "d": disposal,
                        "day": START + timedelta(days=item_day),
                        "rs": item_review,
                    },
                )
            for v, (result, visit_day) in enumerate(t.visits):
                conn.execute(
                    text(
                        "INSERT INTO qa_visits (programme_id, reference, type, task_id, organisation_id, "
                        "inspector, visit_date, result) VALUES (:p, :ref, 'monitoring', :t, :o, 'QA', :day, :r)"
                    ),
                    {
                        "p": programme_id,
                        "ref": f"T-{programme}-QA-{offset + k:05d}-{v}",
                        "t": task_id,
                        "o": orgs[t.organisation],
                        "day": START + timedelta(days=visit_day),
                        "r": result,
                    },
                )
    return ids
