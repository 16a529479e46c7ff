"""Tasks, their status machine and the explosive-ordnance items found on them. No HTTP here.

Every function takes the caller's :class:`Scope` (programme scope) and :class:`Principal`
(role) and raises :class:`Problem` for anything the client must fix. Nothing here commits: the
router commits once per request, so a failure leaves the database as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.deps import Scope
from app.errors import Problem
from app.etag import require_version
from app.reference.models import Organisation, Programme, Team
from app.reference.service import next_references
from app.review import review_step
from app.settings import get_settings
from geo.coords import CoordinateError, parse_coordinate
from geo.points import point_from_geojson
from survey.models import HazardArea
from tasks.models import (
    ITEM_TASK_TYPES,
    EoCatalogueEntry,
    EoItem,
    Task,
    TaskHazard,
    TaskStatusChange,
)
from tasks.schemas import ItemIn, TaskIn, TaskPatch, TransitionIn

# ---------------------------------------------------------------------------------------------
# Roles
# ---------------------------------------------------------------------------------------------

MANAGERS = ("admin", "coordinator")
# Partners see finished work only: a completed task is the reported outcome; plans are internal.
PARTNER_VISIBLE_STATUSES = ("completed",)

# The status machine. Completed and cancelled are final.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "planned": ("assigned", "cancelled"),
    "assigned": ("in_progress", "cancelled"),
    "in_progress": ("suspended", "completed", "cancelled"),
    "suspended": ("in_progress", "cancelled"),
    "completed": (),
    "cancelled": (),
}
# Moves the field team itself reports; planning, assigning and cancelling are coordinators' work.
FIELD_MOVES = ("in_progress", "suspended", "completed")
REASON_REQUIRED = ("suspended", "cancelled")


def is_field_reporter(principal: Principal, task: Task) -> bool:
    """Surveyors report on their organisation's tasks (any task of the programme when the user
    has no organisation); QA officers report on QA tasks."""
    if principal.role == "surveyor" or (principal.role == "qa_officer" and task.type == "qa"):
        return principal.organisation_id is None or principal.organisation_id == task.organisation_id
    return False


def require_manager(principal: Principal) -> None:
    if principal.role not in MANAGERS:
        raise Problem(403, f"This needs one of the roles {', '.join(MANAGERS)}; you are {principal.role}.")


def partner_can_see(principal: Principal, status: str) -> bool:
    return not principal.is_partner or status in PARTNER_VISIBLE_STATUSES


# ---------------------------------------------------------------------------------------------
# Locations: as typed, plus the normalised point
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedLocation:
    lon: float
    lat: float
    input: str
    format: str
    crs: str

    @property
    def ewkt(self) -> str:
        return f"SRID=4326;POINT({self.lon!r} {self.lat!r})"


def parse_location(value: Any, field: str) -> ParsedLocation:
    """A GeoJSON Point or a coordinate string (MGRS, UTM, degrees) → lon/lat, keeping the input."""
    if isinstance(value, str):
        try:
            parsed = parse_coordinate(value)
        except CoordinateError as exc:
            raise Problem(422, f"{field}: {exc}", errors=[{"field": field, "message": str(exc)}]) from exc
        return ParsedLocation(parsed.lon, parsed.lat, parsed.text, parsed.format, parsed.crs)
    point = point_from_geojson(value, field)
    return ParsedLocation(
        point.x, point.y, json.dumps(value, separators=(",", ":"))[:500], "geojson", "EPSG:4326"
    )


def check_in_programme(db: Session, programme: Programme, location: ParsedLocation, field: str) -> None:
    """Refuse a point outside the programme's country (catches swapped lat/lon and typing slips)."""
    buffer_m = get_settings().country_buffer_m
    row = db.execute(
        text(
            "SELECT count(*) AS areas, "
            "  bool_or(ST_DWithin(geom::geography, ST_GeomFromEWKT(:pt)::geography, :buf)) AS inside "
            "FROM admin_areas WHERE programme_id = :p"
        ),
        {"pt": location.ewkt, "buf": buffer_m, "p": programme.id},
    ).one()
    if row.areas and not row.inside:
        raise Problem(
            422,
            f"{field}: {location.input!r} is lon {location.lon:.6f}, lat {location.lat:.6f}, outside "
            f"{programme.name} (more than {buffer_m / 1000:g} km from its boundary); check the zone, "
            "the order of latitude and longitude, and the digits",
            errors=[{"field": field, "message": "outside the programme's country"}],
        )


# ---------------------------------------------------------------------------------------------
# Loading and checking referenced records
# ---------------------------------------------------------------------------------------------


def get_task(db: Session, scope: Scope, task_id: int, lock: bool = False) -> Task:
    task = db.get(Task, task_id, with_for_update=lock, populate_existing=lock)
    if task is None:
        raise Problem(404, f"No task {task_id}.")
    scope.check(task.programme_id)
    if not partner_can_see(scope.principal, task.status):
        raise Problem(404, "No such record in your programmes.")
    return task


def _programme(db: Session, programme_id: int) -> Programme:
    programme = db.get(Programme, programme_id)
    assert programme is not None  # a task's programme is a foreign key
    return programme


def check_hazard_areas(db: Session, scope: Scope, programme: Programme, ids: list[int]) -> list[int]:
    """The hazard areas a task may target: in the caller's scope, of the task's programme,
    approved and not closed. Unknown and foreign ids are reported alike (their existence is
    not revealed)."""
    unique = list(dict.fromkeys(ids))
    rows = {
        h.id: h
        for h in db.scalars(
            scope.filter(select(HazardArea).where(HazardArea.id.in_(unique)), HazardArea.programme_id)
        )
    }
    errors: list[dict[str, Any]] = []
    for index, hazard_id in enumerate(ids):
        hazard = rows.get(hazard_id)
        message = None
        if hazard is None:
            message = f"hazard area {hazard_id} does not exist in your programmes"
        elif hazard.programme_id != programme.id:
            message = f"hazard area {hazard.reference} is not in programme {programme.code}"
        elif hazard.review_status != "approved":
            message = f"hazard area {hazard.reference} is {hazard.review_status}, not approved"
        elif hazard.status == "closed":
            message = f"hazard area {hazard.reference} is closed"
        if message:
            errors.append({"index": index, "field": "hazard_area_ids", "message": message})
    if errors:
        raise Problem(422, "; ".join(e["message"] for e in errors), errors=errors)
    return unique


def check_team(
    db: Session, programme: Programme, organisation_id: int | None, team_id: int | None
) -> tuple[int | None, int | None]:
    """(organisation_id, team_id), both of the task's programme, the team of that organisation.

    A team given without its organisation brings its organisation along.
    """
    team = None
    if team_id is not None:
        team = db.get(Team, team_id)
        if team is None or team.programme_id != programme.id:
            raise Problem(
                422,
                f"team_id: there is no team {team_id} in programme {programme.code}",
                errors=[{"field": "team_id", "message": "unknown team"}],
            )
        if organisation_id is None:
            organisation_id = team.organisation_id
    if organisation_id is not None:
        organisation = db.get(Organisation, organisation_id)
        if organisation is None or organisation.programme_id != programme.id:
            raise Problem(
                422,
                f"organisation_id: there is no organisation {organisation_id} in programme {programme.code}",
                errors=[{"field": "organisation_id", "message": "unknown organisation"}],
            )
    if team is not None and team.organisation_id != organisation_id:
        raise Problem(
            422,
            f"team_id: team {team.name!r} belongs to organisation {team.organisation_id}, not {organisation_id}",
            errors=[{"field": "team_id", "message": "the team is not of that organisation"}],
        )
    return organisation_id, team_id


def _check_dates(start: date | None, end: date | None, what: str) -> None:
    if start is not None and end is not None and end < start:
        raise Problem(
            422,
            f"{what}_end {end} is before {what}_start {start}",
            errors=[{"field": f"{what}_end", "message": "before the start"}],
        )


def _check_target(task_type: str, hazard_ids: list[int], has_location: bool) -> None:
    if task_type == "eod_spot":
        if not has_location:
            raise Problem(
                422,
                "location: an EOD spot task needs the call-out location (GeoJSON Point, MGRS, UTM or degrees)",
                errors=[{"field": "location", "message": "required for eod_spot"}],
            )
        if hazard_ids:
            raise Problem(
                422,
                "hazard_area_ids: an EOD spot task targets a point, not hazard areas",
                errors=[{"field": "hazard_area_ids", "message": "not allowed for eod_spot"}],
            )
    else:
        if not hazard_ids:
            raise Problem(
                422,
                f"hazard_area_ids: a {task_type} task targets one or more hazard areas",
                errors=[{"field": "hazard_area_ids", "message": "at least one is required"}],
            )
        if has_location:
            raise Problem(
                422,
                "location: only EOD spot tasks target a point; give hazard_area_ids",
                errors=[{"field": "location", "message": "only for eod_spot"}],
            )


def _record_status(db: Session, task: Task, from_status: str | None, reason: str | None, actor: str) -> None:
    db.add(
        TaskStatusChange(
            task_id=task.id, from_status=from_status, to_status=task.status, reason=reason, changed_by=actor
        )
    )


def _set_location(task: Task, location: ParsedLocation | None) -> None:
    task.point = location.ewkt if location else None  # type: ignore[assignment]
    task.location_input = location.input if location else None
    task.location_format = location.format if location else None
    task.location_crs = location.crs if location else None


# ---------------------------------------------------------------------------------------------
# Create, edit
# ---------------------------------------------------------------------------------------------


def create_task(db: Session, scope: Scope, data: TaskIn) -> Task:
    principal = scope.principal
    require_manager(principal)
    programme = scope.programme(db, data.programme)
    location = parse_location(data.location, "location") if data.location is not None else None
    _check_target(data.type, data.hazard_area_ids, location is not None)
    if location is not None:
        check_in_programme(db, programme, location, "location")
    hazard_ids = check_hazard_areas(db, scope, programme, data.hazard_area_ids)
    organisation_id, team_id = check_team(db, programme, data.organisation_id, data.team_id)
    _check_dates(data.planned_start, data.planned_end, "planned")

    task = Task(
        programme_id=programme.id,
        reference=next_references(db, programme, "T")[0],
        type=data.type,
        status="planned",
        priority=data.priority,
        organisation_id=organisation_id,
        team_id=team_id,
        planned_start=data.planned_start,
        planned_end=data.planned_end,
        notes=data.notes,
        created_by=principal.username,
        updated_by=principal.username,
    )
    _set_location(task, location)
    db.add(task)
    db.flush()
    db.add_all(TaskHazard(task_id=task.id, hazard_area_id=h) for h in hazard_ids)
    _record_status(db, task, None, "created", principal.username)
    db.flush()
    return task


def patch_task(db: Session, scope: Scope, task_id: int, data: TaskPatch, if_match: str | None) -> Task:
    principal = scope.principal
    task = get_task(db, scope, task_id, lock=True)
    require_manager(principal)
    require_version(f"Task {task.reference}", task.version, if_match)
    programme = _programme(db, task.programme_id)
    changes = data.model_fields_set
    final = task.status in ("completed", "cancelled")
    frozen_when_final = changes - {"notes", "actual_start", "actual_end"}
    if final and frozen_when_final:
        raise Problem(
            409,
            f"Task {task.reference} is {task.status}; only notes and actual dates can still be corrected "
            f"(you sent {', '.join(sorted(frozen_when_final))})",
        )
    started = task.status not in ("planned", "assigned")
    if started and changes & {"hazard_area_ids", "location"}:
        raise Problem(
            409,
            f"Task {task.reference} is {task.status}; its targets can only change while planned or assigned",
        )

    if "hazard_area_ids" in changes or "location" in changes:
        hazard_ids = data.hazard_area_ids if "hazard_area_ids" in changes else None
        current_ids = list(db.scalars(select(TaskHazard.hazard_area_id).where(TaskHazard.task_id == task.id)))
        new_ids = (hazard_ids or []) if hazard_ids is not None else current_ids
        location = None
        if "location" in changes and data.location is not None:
            location = parse_location(data.location, "location")
            check_in_programme(db, programme, location, "location")
        has_location = location is not None if "location" in changes else task.point is not None
        _check_target(task.type, new_ids, has_location)
        if hazard_ids is not None:
            checked = check_hazard_areas(db, scope, programme, hazard_ids)
            for link in db.scalars(select(TaskHazard).where(TaskHazard.task_id == task.id)):
                if link.hazard_area_id not in checked:
                    db.delete(link)
            db.add_all(TaskHazard(task_id=task.id, hazard_area_id=h) for h in checked if h not in current_ids)
        if "location" in changes:
            _set_location(task, location)

    if "priority" in changes:
        if data.priority is None:
            raise Problem(422, "priority: give 1 (most urgent) to 5", errors=[{"field": "priority"}])
        task.priority = data.priority
    if changes & {"organisation_id", "team_id"}:
        organisation_id = data.organisation_id if "organisation_id" in changes else task.organisation_id
        team_id = data.team_id if "team_id" in changes else task.team_id
        if "team_id" in changes and "organisation_id" not in changes and team_id is not None:
            organisation_id = None  # a new team brings its own organisation
        organisation_id, team_id = check_team(db, programme, organisation_id, team_id)
        if team_id is None and task.status in ("assigned", "in_progress", "suspended"):
            raise Problem(409, f"Task {task.reference} is {task.status}: it cannot be left without a team")
        task.organisation_id, task.team_id = organisation_id, team_id
    for field in ("planned_start", "planned_end", "actual_start", "actual_end", "notes"):
        if field in changes:
            setattr(task, field, getattr(data, field))
    _check_dates(task.planned_start, task.planned_end, "planned")
    _check_dates(task.actual_start, task.actual_end, "actual")
    if changes:
        _touch(task, principal)
    db.flush()
    return task


def _touch(task: Task, principal: Principal) -> None:
    task.version += 1
    task.updated_by = principal.username
    task.updated_at = func.now()


# ---------------------------------------------------------------------------------------------
# Status machine
# ---------------------------------------------------------------------------------------------


@dataclass
class TransitionResult:
    task: Task
    from_status: str
    hazard_areas_worked_on: list[int]


def transition(
    db: Session, scope: Scope, task_id: int, data: TransitionIn, if_match: str | None = None
) -> TransitionResult:
    principal = scope.principal
    task = get_task(db, scope, task_id, lock=True)
    if principal.role not in MANAGERS and not is_field_reporter(principal, task):
        raise Problem(
            403,
            f"You ({principal.role}) cannot change the status of task {task.reference}: coordinators plan, "
            "assign and cancel; the assigned organisation's surveyors start, suspend and complete.",
        )
    require_version(f"Task {task.reference}", task.version, if_match, required=False)
    allowed = TRANSITIONS[task.status]
    if data.to not in allowed:
        raise Problem(
            409,
            f"Task {task.reference} is {task.status}; it cannot move to {data.to}. "
            + (f"Allowed: {', '.join(allowed)}." if allowed else "It is final: no move is allowed."),
            title="Illegal status change",
            current_status=task.status,
            allowed=list(allowed),
        )
    if principal.role not in MANAGERS and data.to not in FIELD_MOVES:
        raise Problem(
            403,
            f"Only a coordinator or admin can move a task to {data.to}; teams may move it to "
            f"{', '.join(t for t in allowed if t in FIELD_MOVES) or 'nothing from here'}.",
        )
    reason = (data.reason or "").strip() or None
    if data.to in REASON_REQUIRED and reason is None:
        raise Problem(
            422,
            f"reason: say why the task is {data.to}",
            errors=[{"field": "reason", "message": f"required when moving to {data.to}"}],
        )
    if data.to == "assigned" and task.team_id is None:
        raise Problem(
            409,
            f"Task {task.reference} has no team: set team_id (PATCH) before assigning it",
            current_status=task.status,
            allowed=list(allowed),
        )

    from_status = task.status
    task.status = data.to
    today = datetime.now(UTC).date()
    worked_on: list[int] = []
    if data.to == "in_progress":
        if task.actual_start is None:
            task.actual_start = today
        worked_on = start_work_on_hazards(db, task, principal, reason)
    elif data.to == "completed":
        task.actual_end = max(today, task.actual_start or today)
    _touch(task, principal)
    _record_status(db, task, from_status, reason, principal.username)
    db.flush()
    return TransitionResult(task, from_status, worked_on)


def start_work_on_hazards(db: Session, task: Task, principal: Principal, reason: str | None) -> list[int]:
    """Open hazard areas of a task that starts become ``worked_on`` (IMSMA: first progress report)."""
    why = f"Task {task.reference} started" + (f": {reason}" if reason else "")
    targeted = select(TaskHazard.hazard_area_id).where(TaskHazard.task_id == task.id)
    result = db.execute(
        update(HazardArea)
        .where(HazardArea.id.in_(targeted), HazardArea.status == "open")
        .values(
            status="worked_on",
            status_date=func.now(),
            status_reason=why,
            version=HazardArea.version + 1,
            updated_by=principal.username,
            updated_at=func.now(),
        )
        .returning(HazardArea.id)
    )
    return sorted(result.scalars())


def history(db: Session, scope: Scope, task_id: int) -> list[dict[str, Any]]:
    get_task(db, scope, task_id)
    rows = db.scalars(
        select(TaskStatusChange).where(TaskStatusChange.task_id == task_id).order_by(TaskStatusChange.id)
    )
    return [
        {
            "from": r.from_status,
            "to": r.to_status,
            "reason": r.reason,
            "changed_by": r.changed_by,
            "changed_at": r.changed_at,
        }
        for r in rows
    ]


# ---------------------------------------------------------------------------------------------
# Tasks as GeoJSON, built in SQL
# ---------------------------------------------------------------------------------------------

TASK_FEATURE_SQL = """
SELECT json_build_object(
    'type', 'Feature', 'id', t.id,
    'geometry', ST_AsGeoJSON(coalesce(h.geom, t.point), 7)::json,
    'properties', json_build_object(
        'reference', t.reference, 'programme', p.code, 'type', t.type, 'status', t.status,
        'priority', t.priority,
        'organisation_id', t.organisation_id, 'organisation', o.name,
        'team_id', t.team_id, 'team', tm.name,
        'hazard_area_ids', coalesce(h.ids, '[]'::json),
        'hazard_area_references', coalesce(h.refs, '[]'::json),
        'location', CASE WHEN t.point IS NULL THEN NULL ELSE json_build_object(
            'input', t.location_input, 'format', t.location_format, 'crs', t.location_crs) END,
        'planned_start', t.planned_start, 'planned_end', t.planned_end,
        'actual_start', t.actual_start, 'actual_end', t.actual_end,
        'area_m2', round(ST_Area(h.geom::geography)::numeric, 1),
        'remaining_m2', round(h.remaining_m2::numeric, 1),
        'items', json_build_object(
            'total', coalesce(i.total, 0),
            'by_category', coalesce(i.by_category, '{}'::json),
            'by_report_group', coalesce(i.by_group, '{}'::json),
            -- Partners see approved finds only, not even how many others wait.
            'awaiting_review', CASE WHEN NOT :partner THEN (
                SELECT count(*) FROM eo_items e3 WHERE e3.task_id = t.id AND e3.review_status = 'submitted') END),
        'notes', t.notes, 'version', t.version,
        'created_by', t.created_by, 'created_at', t.created_at,
        'updated_by', t.updated_by, 'updated_at', t.updated_at)
)::text AS feature, t.id
FROM tasks t
JOIN programmes p ON p.id = t.programme_id
LEFT JOIN organisations o ON o.id = t.organisation_id
LEFT JOIN teams tm ON tm.id = t.team_id
LEFT JOIN LATERAL (
    SELECT json_agg(ha.id ORDER BY ha.id) AS ids, json_agg(ha.reference ORDER BY ha.id) AS refs,
           ST_Union(ha.geom) AS geom, sum(ha.remaining_m2) AS remaining_m2
    FROM task_hazards th JOIN hazard_areas ha ON ha.id = th.hazard_area_id
    WHERE th.task_id = t.id
) h ON true
LEFT JOIN LATERAL (
    SELECT sum(n) AS total,
           json_object_agg(category, n ORDER BY category) AS by_category,
           (SELECT json_object_agg(g.report_group, g.n ORDER BY g.report_group) FROM (
                SELECT c2.report_group, sum(e2.quantity) AS n
                FROM eo_items e2 JOIN eo_catalogue c2 ON c2.id = e2.catalogue_id
                WHERE e2.task_id = t.id AND e2.review_status = 'approved' GROUP BY c2.report_group) g) AS by_group
    FROM (SELECT c.category, sum(e.quantity) AS n
          FROM eo_items e JOIN eo_catalogue c ON c.id = e.catalogue_id
          WHERE e.task_id = t.id AND e.review_status = 'approved' GROUP BY c.category) x
) i ON true
"""


@dataclass
class TaskFilters:
    programme_ids: list[int]
    status: list[str] | None = None
    type: list[str] | None = None
    team_id: int | None = None
    organisation_id: int | None = None
    hazard_area_id: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    planned_from: date | None = None
    planned_to: date | None = None
    partner: bool = False


def tasks_sql(filters: TaskFilters, after: int, limit: int) -> tuple[str, dict[str, Any]]:
    """A page of task Feature rows ``(feature json text, id)``, one more than ``limit``."""
    where = ["t.programme_id = ANY(:ids)", "t.id > :after"]
    params: dict[str, Any] = {
        "ids": filters.programme_ids,
        "after": after,
        "limit": limit + 1,
        "partner": filters.partner,
    }
    if filters.partner:
        where.append("t.status = ANY(:partner_statuses)")
        params["partner_statuses"] = list(PARTNER_VISIBLE_STATUSES)
    if filters.status:
        where.append("t.status = ANY(:status)")
        params["status"] = filters.status
    if filters.type:
        where.append("t.type = ANY(:type)")
        params["type"] = filters.type
    if filters.team_id is not None:
        where.append("t.team_id = :team")
        params["team"] = filters.team_id
    if filters.organisation_id is not None:
        where.append("t.organisation_id = :org")
        params["org"] = filters.organisation_id
    if filters.hazard_area_id is not None:
        where.append(
            "EXISTS (SELECT 1 FROM task_hazards x WHERE x.task_id = t.id AND x.hazard_area_id = :hz)"
        )
        params["hz"] = filters.hazard_area_id
    if filters.bbox is not None:
        # Written against the indexed columns (task point, hazard polygons), not the union.
        where.append(
            "(ST_Intersects(t.point, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)) OR EXISTS ("
            " SELECT 1 FROM task_hazards x JOIN hazard_areas xa ON xa.id = x.hazard_area_id"
            " WHERE x.task_id = t.id AND ST_Intersects(xa.geom, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))))"
        )
        params.update(zip(("x0", "y0", "x1", "y1"), filters.bbox, strict=True))
    # Planned dates overlap the range; a task without an end occupies its start day.
    if filters.planned_from is not None:
        where.append("coalesce(t.planned_end, t.planned_start) >= :pfrom")
        params["pfrom"] = filters.planned_from
    if filters.planned_to is not None:
        where.append("t.planned_start <= :pto")
        params["pto"] = filters.planned_to
    sql = TASK_FEATURE_SQL + " WHERE " + " AND ".join(where) + " ORDER BY t.id LIMIT :limit"
    return sql, params


def task_feature(db: Session, task_id: int, partner: bool = False) -> str:
    row = db.execute(text(TASK_FEATURE_SQL + " WHERE t.id = :id"), {"id": task_id, "partner": partner}).one()
    return str(row[0])


# ---------------------------------------------------------------------------------------------
# Explosive ordnance items
# ---------------------------------------------------------------------------------------------

ITEM_REPORT_STATUSES = ("in_progress", "suspended", "completed")


def catalogue(db: Session) -> list[dict[str, Any]]:
    rows = db.scalars(
        select(EoCatalogueEntry).order_by(
            EoCatalogueEntry.category, EoCatalogueEntry.subcategory.nulls_first()
        )
    )
    return [
        {
            "category": r.category,
            "subcategory": r.subcategory,
            "name": r.name,
            "report_group": r.report_group,
        }
        for r in rows
    ]


def _catalogue_entry(db: Session, category: str, subcategory: str | None) -> EoCatalogueEntry:
    entry = db.scalar(
        select(EoCatalogueEntry).where(
            EoCatalogueEntry.category == category,
            EoCatalogueEntry.subcategory.is_(None)
            if subcategory is None
            else EoCatalogueEntry.subcategory == subcategory,
        )
    )
    if entry is not None:
        return entry
    known = db.scalars(
        select(EoCatalogueEntry.category).where(EoCatalogueEntry.subcategory.is_(None)).order_by("category")
    ).all()
    if category not in known:
        raise Problem(
            422,
            f"category: {category!r} is not in the explosive-ordnance catalogue; use one of {', '.join(known)}",
            errors=[{"field": "category", "message": "unknown category"}],
        )
    subs = db.scalars(
        select(EoCatalogueEntry.subcategory)
        .where(EoCatalogueEntry.category == category, EoCatalogueEntry.subcategory.is_not(None))
        .order_by("subcategory")
    ).all()
    raise Problem(
        422,
        f"subcategory: {subcategory!r} is not a subcategory of {category}; use one of "
        f"{', '.join(s for s in subs if s) or '(none: leave it out)'}",
        errors=[{"field": "subcategory", "message": "unknown subcategory"}],
    )


def add_item(db: Session, scope: Scope, task_id: int, data: ItemIn) -> EoItem:
    principal = scope.principal
    task = get_task(db, scope, task_id)
    if principal.role not in MANAGERS and not is_field_reporter(principal, task):
        raise Problem(
            403,
            f"You ({principal.role}) cannot report items on task {task.reference}: coordinators and the "
            "assigned organisation's surveyors can.",
        )
    if task.type not in ITEM_TASK_TYPES:
        raise Problem(
            409,
            f"Task {task.reference} is a {task.type} task; items are recorded on "
            f"{', '.join(ITEM_TASK_TYPES)} tasks",
        )
    if task.status not in ITEM_REPORT_STATUSES:
        raise Problem(
            409,
            f"Task {task.reference} is {task.status}; items are recorded once it has started "
            f"({', '.join(ITEM_REPORT_STATUSES)})",
        )
    # A day of slack: a team east of UTC reports "today" before UTC has reached it.
    if data.found_on > datetime.now(UTC).date() + timedelta(days=1):
        raise Problem(422, f"found_on: {data.found_on} is in the future", errors=[{"field": "found_on"}])
    entry = _catalogue_entry(db, data.category, data.subcategory)
    location = None
    if data.location is not None:
        location = parse_location(data.location, "location")
        check_in_programme(db, _programme(db, task.programme_id), location, "location")
    item = EoItem(
        programme_id=task.programme_id,
        task_id=task.id,
        catalogue_id=entry.id,
        model=data.model,
        quantity=data.quantity,
        condition=data.condition,
        fuze=data.fuze,
        depth_cm=data.depth_cm,
        disposal_method=data.disposal_method,
        found_on=data.found_on,
        notes=data.notes,
        created_by=principal.username,
    )
    if location is not None:
        item.location = location.ewkt  # type: ignore[assignment]
        item.location_input, item.location_format, item.location_crs = (
            location.input,
            location.format,
            location.crs,
        )
    elif task.point is not None:
        # An item of a spot task without its own fix is where the team was called to.
        item.location = task.point
        item.location_format = "task"
    db.add(item)
    db.flush()
    return item


def get_item(db: Session, scope: Scope, item_id: int, lock: bool = False) -> tuple[EoItem, Task]:
    """An item and its task, if the caller may see them (a partner: approved finds of completed
    tasks only)."""
    item = db.get(EoItem, item_id, with_for_update=lock, populate_existing=lock)
    if item is None:
        raise Problem(404, f"No explosive-ordnance item {item_id}.")
    task = get_task(db, scope, item.task_id)
    if scope.principal.is_partner and item.review_status != "approved":
        raise Problem(404, "No such record in your programmes.")
    return item, task


def review_item(db: Session, scope: Scope, item_id: int, action: str, reason: str | None) -> None:
    """Approve or reject one reported find (:mod:`app.review`): only approved finds count in the
    official figures and reach partners. A rejected find stays on record; the team reports the
    corrected one as a new find."""
    item, task = get_item(db, scope, item_id, lock=True)
    step = review_step(
        scope.principal, action, f"Item {item_id} of task {task.reference}", item.review_status, reason
    )
    item.review_status = step.target
    item.review_reason = reason
    item.reviewed_by = scope.principal.username
    item.reviewed_at = func.now()
    db.flush()


def approve_task_items(db: Session, scope: Scope, task_id: int) -> list[int]:
    """Approve every submitted find of a task at once (an IM officer reviewing a team's report);
    the ids approved, none when nothing was waiting."""
    task = get_task(db, scope, task_id, lock=True)
    # The role check: each item's own status is taken care of by the WHERE below.
    review_step(scope.principal, "approve", f"The items of task {task.reference}", "submitted", None)
    ids = db.scalars(
        text(
            "UPDATE eo_items SET review_status = 'approved', review_reason = NULL, reviewed_by = :actor, "
            "reviewed_at = now() WHERE task_id = :task AND review_status = 'submitted' RETURNING id"
        ),
        {"actor": scope.principal.username, "task": task.id},
    ).all()
    return sorted(int(i) for i in ids)


ITEM_FEATURE_SQL = """
SELECT json_build_object(
    'type', 'Feature', 'id', e.id,
    'geometry', ST_AsGeoJSON(e.location, 7)::json,
    'properties', json_build_object(
        'task_id', e.task_id, 'task_reference', t.reference, 'task_type', t.type,
        'programme', p.code, 'organisation_id', t.organisation_id, 'team_id', t.team_id,
        'category', c.category, 'subcategory', c.subcategory, 'category_name', c.name,
        'report_group', c.report_group,
        'model', e.model, 'quantity', e.quantity, 'condition', e.condition, 'fuze', e.fuze,
        'depth_cm', e.depth_cm, 'disposal_method', e.disposal_method, 'found_on', e.found_on,
        'location', CASE WHEN e.location_input IS NULL THEN NULL ELSE json_build_object(
            'input', e.location_input, 'format', e.location_format, 'crs', e.location_crs) END,
        'notes', e.notes, 'review_status', e.review_status, 'review_reason', e.review_reason,
        'reviewed_by', e.reviewed_by, 'reviewed_at', e.reviewed_at,
        'created_by', e.created_by, 'created_at', e.created_at)
)::text AS feature, e.id
FROM eo_items e
JOIN tasks t ON t.id = e.task_id
JOIN programmes p ON p.id = e.programme_id
JOIN eo_catalogue c ON c.id = e.catalogue_id
"""


@dataclass
class ItemFilters:
    programme_ids: list[int]
    task_id: int | None = None
    category: list[str] | None = None
    report_group: list[str] | None = None
    disposal_method: list[str] | None = None
    review_status: list[str] | None = None
    organisation_id: int | None = None
    found_from: date | None = None
    found_to: date | None = None
    bbox: tuple[float, float, float, float] | None = None
    partner: bool = False


def items_sql(filters: ItemFilters, after: int, limit: int) -> tuple[str, dict[str, Any]]:
    where = ["e.programme_id = ANY(:ids)", "e.id > :after"]
    params: dict[str, Any] = {"ids": filters.programme_ids, "after": after, "limit": limit + 1}
    if filters.partner:
        where.append("e.review_status = 'approved' AND t.status = ANY(:partner_statuses)")
        params["partner_statuses"] = list(PARTNER_VISIBLE_STATUSES)
    for name, column in (
        ("category", "c.category"),
        ("report_group", "c.report_group"),
        ("disposal_method", "e.disposal_method"),
        ("review_status", "e.review_status"),
    ):
        values = getattr(filters, name)
        if values:
            where.append(f"{column} = ANY(:{name})")
            params[name] = values
    if filters.task_id is not None:
        where.append("e.task_id = :task")
        params["task"] = filters.task_id
    if filters.organisation_id is not None:
        where.append("t.organisation_id = :org")
        params["org"] = filters.organisation_id
    if filters.found_from is not None:
        where.append("e.found_on >= :ffrom")
        params["ffrom"] = filters.found_from
    if filters.found_to is not None:
        where.append("e.found_on <= :fto")
        params["fto"] = filters.found_to
    if filters.bbox is not None:
        where.append("ST_Intersects(e.location, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))")
        params.update(zip(("x0", "y0", "x1", "y1"), filters.bbox, strict=True))
    sql = ITEM_FEATURE_SQL + " WHERE " + " AND ".join(where) + " ORDER BY e.id LIMIT :limit"
    return sql, params


def item_feature(db: Session, item_id: int) -> str:
    return str(db.execute(text(ITEM_FEATURE_SQL + " WHERE e.id = :id"), {"id": item_id}).one()[0])
