"""Demo land releases and QA/QC visits on the demo hazard areas.

Idempotent: nothing is added when demo releases/visits exist already. With no hazard areas
(the survey demo not loaded) only QA visits without a lot are recorded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.console import Console
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.deps import Scope
from app.errors import Problem
from clearance import accounting, qa, service
from clearance.schemas import (
    ChecklistAnswer,
    CompleteIn,
    LandReleaseIn,
    NonConformityIn,
    QaVisitIn,
    SampleResultIn,
)

DEMO_ACTOR = "demo"
# Per hazard, in turn: (method, share of the bounding box from the west, approve?)
PLANS: list[list[tuple[str, float, bool]]] = [
    [("cancelled", 0.3, True)],
    [("reduced", 0.4, True), ("cleared", 0.7, False)],
    [("cleared", 0.5, True)],
    [("complete", 1.0, True)],
]


def _principal(db: Session) -> Principal:
    ids = frozenset(int(i) for i in db.scalars(text("SELECT id FROM programmes")))
    return Principal(user_id=0, username=DEMO_ACTOR, role="admin", programme_ids=ids)


def _strip(db: Session, hazard_id: int, share: float) -> dict[str, Any] | None:
    """The hazard's remaining land west of ``share`` of its bounding box, as GeoJSON."""
    value = db.scalar(
        text(
            """
            SELECT ST_AsGeoJSON(sg_multipolygon(ST_Intersection(coalesce(h.remaining_geom, h.geom), ST_MakeEnvelope(
                ST_XMin(h.geom), ST_YMin(h.geom),
                ST_XMin(h.geom) + :share * (ST_XMax(h.geom) - ST_XMin(h.geom)), ST_YMax(h.geom), 4326))))::json
            FROM hazard_areas h WHERE h.id = :id
            """
        ),
        {"id": hazard_id, "share": share},
    )
    if not value or not value.get("coordinates"):
        return None
    return dict(value)


def _releases(db: Session, principal: Principal, scope: Scope, console: Console) -> list[int]:
    hazards = db.execute(
        text(
            """
            SELECT h.id, h.programme_id,
                   (SELECT t.id FROM task_hazards th JOIN tasks t ON t.id = th.task_id
                    WHERE th.hazard_area_id = h.id ORDER BY t.id LIMIT 1) AS task_id,
                   (SELECT o.id FROM organisations o WHERE o.programme_id = h.programme_id ORDER BY o.id LIMIT 1)
                       AS organisation_id
            FROM hazard_areas h
            WHERE h.review_status <> 'rejected' AND h.status <> 'closed'
              AND NOT EXISTS (SELECT 1 FROM land_releases r WHERE r.hazard_area_id = h.id)
            ORDER BY h.programme_id, h.id
            """
        )
    ).all()
    # A programme that has demo releases already is left alone (idempotent).
    per_programme: dict[int, int] = {
        int(p): len(PLANS)
        for p in db.scalars(
            text("SELECT DISTINCT programme_id FROM land_releases WHERE created_by = :a"), {"a": DEMO_ACTOR}
        )
    }
    released: list[int] = []
    for hazard_id, programme_id, task_id, organisation_id in hazards:
        turn = per_programme.get(programme_id, 0)
        if turn >= len(PLANS):
            continue
        per_programme[programme_id] = turn + 1
        date = dt.date.today() - dt.timedelta(days=30 - 5 * turn)
        for method, share, approve in PLANS[turn]:
            try:
                with db.begin_nested():
                    if method == "complete":
                        completion_id = service.complete_hazard_area(
                            db,
                            principal,
                            scope,
                            hazard_id,
                            CompleteIn(
                                method="cleared",
                                date=date,
                                organisation_id=organisation_id,
                                depth_cm=20,
                                participants=["Community liaison", "Village elder"],
                            ),
                        )
                        for release_id in db.scalars(
                            text("SELECT id FROM land_releases WHERE completion_id = :c"),
                            {"c": completion_id},
                        ):
                            released.append(release_id)
                            service.review_release(db, principal, scope, release_id, "submit", None, None)
                            service.review_release(db, principal, scope, release_id, "approve", "demo", None)
                        continue
                    geometry = _strip(db, hazard_id, share)
                    if geometry is None:
                        continue
                    release_id = service.create_release(
                        db,
                        principal,
                        scope,
                        LandReleaseIn(
                            hazard_area_id=hazard_id,
                            method=method,
                            task_id=task_id if method != "cancelled" else None,
                            organisation_id=organisation_id,
                            date=date,
                            depth_cm=20 if method == "cleared" else None,
                            geometry=geometry,
                            notes="demo",
                        ),
                    )
                    released.append(release_id)
                    if approve:
                        service.review_release(db, principal, scope, release_id, "submit", None, None)
                        service.review_release(db, principal, scope, release_id, "approve", "demo", None)
            except Problem as problem:
                console.print(f"  land release skipped on hazard {hazard_id}: {problem.detail}")
    return released


def _visits(db: Session, principal: Principal, scope: Scope, released: list[int]) -> int:
    today = dt.date.today()
    count = 0
    programmes = db.execute(text("SELECT id, code FROM programmes ORDER BY code")).all()
    for programme_id, code in programmes:
        place = db.execute(
            text(
                "SELECT t.organisation_id, ST_AsGeoJSON(t.base_location)::json FROM teams t "
                "WHERE t.programme_id = :p AND t.base_location IS NOT NULL ORDER BY t.id LIMIT 1"
            ),
            {"p": programme_id},
        ).first()
        if place is None:
            continue
        organisation_id, location = place
        checklist = [
            ChecklistAnswer(code="sop_compliance", answer="yes"),
            ChecklistAnswer(code="supervision", answer="yes"),
            ChecklistAnswer(code="medic_present", answer="no", comment="medic arrived 40 min late"),
            ChecklistAnswer(code="logs_current", answer="no", comment="two days of logs missing"),
        ]
        visits = [
            QaVisitIn(
                programme=code,
                type="accreditation",
                organisation_id=organisation_id,
                visit_date=today - dt.timedelta(days=60),
                location=location,
                checklist=[ChecklistAnswer(code="personnel_qualified", answer="yes")],
                result="pass",
            ),
            QaVisitIn(
                programme=code,
                type="monitoring",
                organisation_id=organisation_id,
                visit_date=today - dt.timedelta(days=20),
                location=location,
                checklist=checklist,
                result="pass_with_findings",
                non_conformities=[
                    NonConformityIn(
                        severity="major",
                        description="No medic on site at the start of work",
                        corrective_action="Work starts only with the medic present",
                        due_date=today - dt.timedelta(days=6),
                    ),
                    NonConformityIn(
                        severity="minor",
                        description="Daily logs not current",
                        corrective_action="Bring the logs up to date",
                        due_date=today + dt.timedelta(days=10),
                    ),
                ],
            ),
        ]
        lot = db.scalar(
            text(
                "SELECT id FROM land_releases WHERE programme_id = :p AND method = 'cleared' "
                "AND id = ANY(:ids) ORDER BY id LIMIT 1"
            ),
            {"p": programme_id, "ids": released or [-1]},
        )
        if lot is not None:
            visits.append(
                QaVisitIn(
                    programme=code,
                    type="post_clearance_inspection",
                    organisation_id=organisation_id,
                    visit_date=today - dt.timedelta(days=2),
                    result="pass",
                    land_release_id=lot,
                    sample=SampleResultIn(seed=20260301, items_found=0),
                )
            )
        for data in visits:
            with db.begin_nested():
                qa.create_visit(db, principal, scope, data)
            count += 1
    return count


def load(db: Session, console: Console) -> None:
    principal = _principal(db)
    scope = Scope(principal)
    accounting.apply_settings(db)
    released = _releases(db, principal, scope, console)
    visits = 0
    if not db.scalar(text("SELECT count(*) FROM qa_visits WHERE created_by = :a"), {"a": DEMO_ACTOR}):
        visits = _visits(db, principal, scope, released)
    console.print(f"demo: {len(released)} land releases, {visits} QA/QC visits")
