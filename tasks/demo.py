"""Demo tasks: work in every status over the demo hazard areas, and EOD call-outs with items.

Everything goes through the service (status history, hazards moving to ``worked_on``), as the
demo user. Idempotent: a programme that already has demo tasks of a kind gets no more.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import mgrs
from pyproj import Transformer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.deps import Scope
from app.reference.models import Programme, Team
from survey.models import HazardArea
from tasks import service
from tasks.models import Task
from tasks.planning import SUITABLE_FOR_TASK
from tasks.schemas import ItemIn, TaskIn, TransitionIn

DEMO_USER = "demo"

# (task type, the moves after "planned", number of hazards) — one of each status at least.
HAZARD_TASKS: list[tuple[str, list[str], int]] = [
    ("nts", [], 1),
    ("ts", ["assigned"], 1),
    ("clearance", ["assigned", "in_progress"], 2),
    ("clearance", ["assigned", "in_progress", "suspended"], 1),
    ("bac", ["assigned", "in_progress", "completed"], 1),
    ("ts", ["cancelled"], 1),
    ("qa", [], 1),
]

# EOD call-outs: (programme, lon, lat, how it was typed, moves, items: (category, sub, qty, disposal))
CALL_OUTS: list[tuple[str, float, float, str, list[str], list[tuple[str, str | None, int, str]]]] = [
    ("SOM", 45.3255, 2.0532, "mgrs", ["assigned", "in_progress", "completed"],
     [("mortar", "81_82mm", 2, "removed_and_destroyed"), ("grenade", "hand", 3, "destroyed_in_situ")]),
    ("SOM", 43.6498, 3.1167, "utm", ["assigned", "in_progress"],
     [("projectile", "artillery", 1, "destroyed_in_situ")]),
    ("SOM", 42.5454, -0.3582, "mgrs", [], []),
    ("LBY", 16.5887, 31.2089, "mgrs", ["assigned", "in_progress", "completed"],
     [("submunition", "bomblet", 6, "destroyed_in_situ"), ("ied", "victim_operated", 1, "rendered_safe")]),
    ("LBY", 13.1913, 32.8872, "utm", ["assigned"], []),
]  # fmt: skip

REASONS = {
    "assigned": "team available",
    "in_progress": "team on site",
    "suspended": "access road flooded",
    "completed": "work finished",
    "cancelled": "merged into another task",
}


def _typed(lon: float, lat: float, how: str) -> str:
    if how == "mgrs":
        return str(mgrs.MGRS().toMGRS(lat, lon, MGRSPrecision=5))
    zone = int((lon + 180) // 6) + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    easting, northing = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(lon, lat)
    return f"{zone}{'N' if lat >= 0 else 'S'} {round(easting)} {round(northing)}"


def _team_for(db: Session, programme: Programme, task_type: str) -> Team | None:
    teams = db.scalars(select(Team).where(Team.programme_id == programme.id).order_by(Team.id)).all()
    suitable = SUITABLE_FOR_TASK[task_type]
    return next((t for t in teams if set(t.capabilities) & set(suitable)), None)


def _move(db: Session, scope: Scope, task: Task, moves: list[str]) -> None:
    for status in moves:
        service.transition(db, scope, task.id, TransitionIn(to=status, reason=REASONS[status]))


def _has_demo_tasks(db: Session, programme: Programme, spot: bool) -> bool:
    kind = Task.type == "eod_spot" if spot else Task.type != "eod_spot"
    return (
        db.scalar(
            select(Task.id)
            .where(Task.programme_id == programme.id, Task.created_by == DEMO_USER, kind)
            .limit(1)
        )
        is not None
    )


def load(db: Session, console: Console) -> None:
    programmes = db.scalars(select(Programme).order_by(Programme.code)).all()
    scope = Scope(
        Principal(
            user_id=0, username=DEMO_USER, role="admin", programme_ids=frozenset(p.id for p in programmes)
        )
    )
    today = datetime.now(UTC).date()
    for programme in programmes:
        created = _hazard_tasks(db, scope, programme, today) + _call_outs(db, scope, programme, today)
        console.print(f"demo: {created} task(s) in {programme.code}")
    db.flush()


def _hazard_tasks(db: Session, scope: Scope, programme: Programme, today: date) -> int:
    if _has_demo_tasks(db, programme, spot=False):
        return 0
    hazards = list(
        db.scalars(
            select(HazardArea.id)
            .where(
                HazardArea.programme_id == programme.id,
                HazardArea.review_status == "approved",
                HazardArea.status != "closed",
            )
            .order_by(HazardArea.id)
            .limit(sum(n for _, _, n in HAZARD_TASKS))
        )
    )
    created = 0
    for index, (task_type, moves, count) in enumerate(HAZARD_TASKS):
        targets, hazards = hazards[:count], hazards[count:]
        if not targets:
            break  # fewer demo hazards than planned tasks (or none yet)
        team = _team_for(db, programme, task_type)
        start = today + timedelta(days=7 * (index - 3))
        task = service.create_task(
            db,
            scope,
            TaskIn(
                programme=programme.code,
                type=task_type,
                hazard_area_ids=targets,
                priority=1 + index % 5,
                team_id=team.id if team else None,
                planned_start=start,
                planned_end=start + timedelta(days=20),
                notes="Demo task",
            ),
        )
        if team is not None:
            _move(db, scope, task, moves)
        if task_type == "bac" and task.status in service.ITEM_REPORT_STATUSES:
            service.add_item(
                db,
                scope,
                task.id,
                ItemIn(category="projectile", subcategory="tank", quantity=4,
                       disposal_method="removed_and_destroyed", found_on=today - timedelta(days=2)),
            )  # fmt: skip
            _review_finds(db, scope, task)
        created += 1
    return created


def _call_outs(db: Session, scope: Scope, programme: Programme, today: date) -> int:
    if _has_demo_tasks(db, programme, spot=True):
        return 0
    team = _team_for(db, programme, "eod_spot")
    created = 0
    for code, lon, lat, how, moves, items in CALL_OUTS:
        if code != programme.code:
            continue
        task = service.create_task(
            db,
            scope,
            TaskIn(
                programme=code,
                type="eod_spot",
                location=_typed(lon, lat, how),
                priority=1,
                team_id=team.id if team else None,
                planned_start=today - timedelta(days=3),
                notes="Call-out reported by the district commissioner",
            ),
        )
        if team is not None:
            _move(db, scope, task, moves)
            for category, subcategory, quantity, disposal in items:
                service.add_item(
                    db,
                    scope,
                    task.id,
                    ItemIn(category=category, subcategory=subcategory, quantity=quantity, condition="unknown",
                           disposal_method=disposal, found_on=today - timedelta(days=1)),
                )  # fmt: skip
            _review_finds(db, scope, task)
        created += 1
    return created


def _review_finds(db: Session, scope: Scope, task: Task) -> None:
    """The finds of a completed task have been reviewed; those of a task under way still wait
    for the IM officer (the demo shows both)."""
    if task.status == "completed":
        service.approve_task_items(db, scope, task.id)
