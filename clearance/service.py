"""Land releases, NTS cancellation, progress reports and completion. No HTTP here.

Writes go through plain SQL so that the database triggers (clearance/accounting.py, migration
0005) see exactly what the client sent; they clip, check and account for every release.
"""

from __future__ import annotations

from typing import Any

import orjson
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.deps import Scope
from app.errors import Problem
from app.etag import require_version
from app.reference.models import Programme
from app.reference.service import next_references
from app.review import WRITERS, review_step
from clearance import accounting
from clearance.geometry import polygon_from_geojson
from clearance.schemas import (
    DEFAULT_ACTIVITY,
    CancelIn,
    CompleteIn,
    LandReleaseIn,
    LandReleasePatch,
    ProgressReportIn,
)

TASK_ACTIVITY = {"clearance": "clearance", "ts": "ts", "bac": "bac", "nts": "nts"}


def _wkb(geom: BaseGeometry | None) -> str | None:
    return None if geom is None else shapely.to_wkb(geom, hex=True, output_dimension=2)


def commit(db: Session) -> None:
    """Commit; the deferred accounting check runs now, and its refusal becomes a 422."""
    try:
        db.commit()
    except DBAPIError as exc:
        db.rollback()
        accounting.raise_for_db_error(exc)


# ---------------------------------------------------------------- reading


FEATURE_SQL = """
SELECT json_build_object(
    'type', 'Feature', 'id', r.id,
    'geometry', ST_AsGeoJSON(r.geom)::json,
    'properties', json_build_object(
        'reference', r.reference, 'programme', p.code,
        'hazard_area_id', r.hazard_area_id, 'hazard_area_reference', h.reference,
        'method', r.method, 'activity', r.activity,
        'task_id', r.task_id, 'organisation_id', r.organisation_id, 'survey_id', r.survey_id,
        'progress_report_id', r.progress_report_id, 'completion_id', r.completion_id,
        'date', r.release_date, 'depth_cm', r.depth_cm,
        'area_m2', round(r.area_m2::numeric, 2), 'area_ha', round((r.area_m2 / 10000)::numeric, 4),
        'input_area_m2', round(ST_Area(r.input_geom::geography)::numeric, 2),
        'review_status', r.review_status, 'review_reason', r.review_reason,
        'reviewed_by', r.reviewed_by, 'reviewed_at', r.reviewed_at,
        'rework_required', r.rework_required, 'notes', r.notes, 'version', r.version,
        'created_by', r.created_by, 'created_at', r.created_at,
        'updated_by', r.updated_by, 'updated_at', r.updated_at)
)::text AS feature, r.id
FROM land_releases r
JOIN programmes p ON p.id = r.programme_id
JOIN hazard_areas h ON h.id = r.hazard_area_id
"""


def get_release(db: Session, scope: Scope, release_id: int) -> tuple[str, int, dict[str, Any]]:
    """``(feature json text, version, row)`` of one release in the caller's programmes."""
    row = (
        db.execute(
            text(
                "SELECT id, programme_id, hazard_area_id, method, activity, depth_cm, review_status, "
                "version, task_id, organisation_id, release_date, area_m2 "
                "FROM land_releases WHERE id = :id"
            ),
            {"id": release_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise Problem(404, f"No land release {release_id}.")
    scope.check(row["programme_id"])
    if scope.principal.is_partner and row["review_status"] != "approved":
        raise Problem(404, f"No land release {release_id}.")
    feature = db.execute(text(FEATURE_SQL + " WHERE r.id = :id"), {"id": release_id}).scalar_one()
    return feature, row["version"], dict(row)


def list_sql(
    programme_ids: list[int],
    partner: bool,
    filters: dict[str, Any],
    after: int,
    limit: int,
) -> tuple[str, dict[str, Any]]:
    """A page of release Feature rows ``(feature, id)``, one more than ``limit`` (keyset on id)."""
    where = ["r.programme_id = ANY(:ids)", "r.id > :after"]
    params: dict[str, Any] = {"ids": programme_ids, "after": after, "limit": limit + 1}
    if partner:
        where.append("r.review_status = 'approved'")
    columns = {
        "hazard_area_id": "r.hazard_area_id",
        "method": "r.method",
        "activity": "r.activity",
        "review_status": "r.review_status",
        "task_id": "r.task_id",
        "organisation_id": "r.organisation_id",
        "survey_id": "r.survey_id",
        "rework_required": "r.rework_required",
    }
    for name, column in columns.items():
        if filters.get(name) is not None:
            where.append(f"{column} = :{name}")
            params[name] = filters[name]
    if filters.get("date_from") is not None:
        where.append("r.release_date >= :date_from")
        params["date_from"] = filters["date_from"]
    if filters.get("date_to") is not None:
        where.append("r.release_date <= :date_to")
        params["date_to"] = filters["date_to"]
    sql = FEATURE_SQL + " WHERE " + " AND ".join(where) + " ORDER BY r.id LIMIT :limit"
    return sql, params


# ---------------------------------------------------------------- checks


def _hazard_for_release(db: Session, scope: Scope, hazard_area_id: int, field: str) -> dict[str, Any]:
    hazard = accounting.lock_hazard(db, hazard_area_id)
    if hazard is None or hazard["programme_id"] not in scope.programme_ids:
        raise Problem(
            422,
            f"{field}: no hazard area {hazard_area_id} in your programmes",
            errors=[{"field": field, "message": "unknown hazard area"}],
        )
    if hazard["review_status"] == "rejected":
        raise Problem(
            422,
            f"{field}: hazard area {hazard['reference']} was rejected; it cannot be released",
            errors=[{"field": field, "message": "rejected hazard area"}],
        )
    return hazard


def check_refs(
    db: Session, programme_id: int, task_id: int | None, organisation_id: int | None, prefix: str = ""
) -> dict[str, Any] | None:
    """The task and organisation must exist in the hazard's programme. Returns the task row."""
    task = None
    if task_id is not None:
        task = (
            db.execute(
                text("SELECT id, programme_id, type, organisation_id, status FROM tasks WHERE id = :id"),
                {"id": task_id},
            )
            .mappings()
            .first()
        )
        if task is None or task["programme_id"] != programme_id:
            field = f"{prefix}task_id"
            raise Problem(
                422,
                f"{field}: no task {task_id} in the hazard area's programme",
                errors=[{"field": field, "message": "unknown task"}],
            )
    if organisation_id is not None:
        org_programme = db.scalar(
            text("SELECT programme_id FROM organisations WHERE id = :id"), {"id": organisation_id}
        )
        if org_programme != programme_id:
            field = f"{prefix}organisation_id"
            raise Problem(
                422,
                f"{field}: no organisation {organisation_id} in the hazard area's programme",
                errors=[{"field": field, "message": "unknown organisation"}],
            )
    return dict(task) if task is not None else None


def new_reference(db: Session, programme_id: int, kind: str) -> str:
    programme = db.get(Programme, programme_id)
    assert programme is not None
    return next_references(db, programme, kind)[0]


# ---------------------------------------------------------------- writing


def _insert_release(
    db: Session,
    principal: Principal,
    hazard: dict[str, Any],
    values: dict[str, Any],
    geometry_sql: str,
    geometry_params: dict[str, Any],
    field: str,
    index: int | None = None,
) -> int:
    params = {
        "programme_id": hazard["programme_id"],
        "reference": new_reference(db, hazard["programme_id"], "LR"),
        "hazard_area_id": hazard["id"],
        "actor": principal.username,
        "survey_id": None,
        "progress_report_id": None,
        "completion_id": None,
        "notes": None,
        **values,
        **geometry_params,
    }
    sql = f"""
        INSERT INTO land_releases (programme_id, reference, hazard_area_id, method, activity, task_id,
            organisation_id, survey_id, progress_report_id, completion_id, release_date, depth_cm,
            geom, input_geom, submitted_geom, area_m2, notes, created_by, updated_by)
        SELECT :programme_id, :reference, :hazard_area_id, :method, :activity, :task_id,
            :organisation_id, :survey_id, :progress_report_id, :completion_id, :release_date, :depth_cm,
            g.input, g.input, g.submitted, 0, :notes, :actor, :actor
        FROM ({geometry_sql}) g
        RETURNING id
    """
    try:
        with db.begin_nested():
            return int(db.execute(text(sql), params).scalar_one())
    except DBAPIError as exc:
        accounting.raise_for_db_error(exc, field, index)


_INPUT_FROM_WKB = (
    "SELECT ST_Multi(ST_GeomFromWKB(decode(:wkb, 'hex'), 4326)) AS input, "
    "ST_GeomFromWKB(decode(:submitted, 'hex'), 4326) AS submitted"
)


def create_release(
    db: Session,
    principal: Principal,
    scope: Scope,
    data: LandReleaseIn,
    *,
    survey_id: int | None = None,
    progress_report_id: int | None = None,
    field_prefix: str = "",
    index: int | None = None,
) -> int:
    """Record a land release; the database clips it to the hazard's remaining part or refuses it."""
    accounting.apply_settings(db)
    hazard = _hazard_for_release(db, scope, data.hazard_area_id, f"{field_prefix}hazard_area_id")
    check_refs(db, hazard["programme_id"], data.task_id, data.organisation_id, field_prefix)
    geom, as_sent = polygon_from_geojson(data.geometry, f"{field_prefix}geometry")
    values = {
        "method": data.method,
        "activity": data.activity,
        "task_id": data.task_id,
        "organisation_id": data.organisation_id,
        "release_date": data.date,
        "depth_cm": data.depth_cm,
        "notes": data.notes,
        "survey_id": survey_id,
        "progress_report_id": progress_report_id,
    }
    return _insert_release(
        db,
        principal,
        hazard,
        values,
        _INPUT_FROM_WKB,
        {"wkb": _wkb(geom), "submitted": _wkb(as_sent)},
        f"{field_prefix}geometry",
        index,
    )


def update_release(
    db: Session,
    principal: Principal,
    scope: Scope,
    release_id: int,
    data: LandReleasePatch,
    if_match: str | None,
) -> None:
    accounting.apply_settings(db)
    _, _version, row = get_release(db, scope, release_id)
    accounting.lock_hazard(db, row["hazard_area_id"])
    locked_version = db.scalar(
        text("SELECT version FROM land_releases WHERE id = :id FOR UPDATE"), {"id": release_id}
    )
    require_version(f"Land release {release_id}", int(locked_version), if_match)
    if row["review_status"] not in ("draft", "rejected"):
        raise Problem(
            409,
            f"Land release {release_id} is {row['review_status']}; only draft or rejected releases "
            "can be edited.",
        )
    changes = data.model_dump(exclude_unset=True)
    method = changes.get("method") or row["method"]
    depth = changes["depth_cm"] if "depth_cm" in changes else row["depth_cm"]
    if method == "cleared" and depth is None:
        raise Problem(
            422,
            "depth_cm: required for cleared land",
            errors=[{"field": "depth_cm", "message": "required for cleared land"}],
        )
    if method == "cancelled" and depth is not None:
        raise Problem(
            422,
            "depth_cm: cancelled land has no clearance depth",
            errors=[{"field": "depth_cm", "message": "must be null for cancelled land"}],
        )
    check_refs(db, row["programme_id"], changes.get("task_id"), changes.get("organisation_id"))
    sets = ["version = version + 1", "updated_at = now()", "updated_by = :actor"]
    params: dict[str, Any] = {"id": release_id, "actor": principal.username}
    simple = {
        "method": "method",
        "activity": "activity",
        "task_id": "task_id",
        "organisation_id": "organisation_id",
        "date": "release_date",
        "depth_cm": "depth_cm",
        "notes": "notes",
    }
    for key, column in simple.items():
        if key in changes:
            if key in ("method", "activity", "date") and changes[key] is None:
                raise Problem(422, f"{key}: cannot be null", errors=[{"field": key, "message": "null"}])
            sets.append(f"{column} = :{key}")
            params[key] = changes[key]
    if "method" in changes and "activity" not in changes:
        sets.append("activity = :activity")
        params["activity"] = DEFAULT_ACTIVITY[changes["method"]]
    if changes.get("geometry") is not None:
        geom, as_sent = polygon_from_geojson(changes["geometry"], "geometry")
        sets.append("input_geom = ST_Multi(ST_GeomFromWKB(decode(:wkb, 'hex'), 4326))")
        sets.append("submitted_geom = ST_GeomFromWKB(decode(:submitted, 'hex'), 4326)")
        params["wkb"], params["submitted"] = _wkb(geom), _wkb(as_sent)
    elif "geometry" in changes:
        raise Problem(422, "geometry: cannot be null", errors=[{"field": "geometry", "message": "null"}])
    try:
        with db.begin_nested():
            db.execute(text(f"UPDATE land_releases SET {', '.join(sets)} WHERE id = :id"), params)
    except DBAPIError as exc:
        accounting.raise_for_db_error(exc)


def review_release(
    db: Session,
    principal: Principal,
    scope: Scope,
    release_id: int,
    action: str,
    reason: str | None,
    if_match: str | None,
) -> None:
    """submit / approve / reject (:mod:`app.review`). Rejecting gives the land back;
    resubmitting reserves it again."""
    accounting.apply_settings(db)
    _, _, row = get_release(db, scope, release_id)
    accounting.lock_hazard(db, row["hazard_area_id"])
    current = db.execute(
        text("SELECT version, review_status FROM land_releases WHERE id = :id FOR UPDATE"),
        {"id": release_id},
    ).one()
    require_version(f"Land release {release_id}", int(current.version), if_match, required=False)
    step = review_step(principal, action, f"Land release {release_id}", current.review_status, reason)
    try:
        with db.begin_nested():
            db.execute(
                text(
                    "UPDATE land_releases SET review_status = :target, version = version + 1, "
                    "updated_at = now(), updated_by = :actor"
                    + (
                        ", review_reason = :reason, reviewed_by = :actor, reviewed_at = now()"
                        if step.reviewed
                        else ""
                    )
                    + " WHERE id = :id"
                ),
                {"target": step.target, "actor": principal.username, "reason": reason, "id": release_id},
            )
    except DBAPIError as exc:
        accounting.raise_for_db_error(exc)


def cancel_hazard_area(
    db: Session, principal: Principal, scope: Scope, hazard_area_id: int, data: CancelIn
) -> int:
    """An NTS survey's ``cancel`` outcome: a cancelled release of the stated polygon, or of the
    hazard's whole remaining part when none is given."""
    if principal.role not in WRITERS:
        raise Problem(403, f"Recording a cancellation needs one of the roles {', '.join(WRITERS)}.")
    accounting.apply_settings(db)
    hazard = accounting.lock_hazard(db, hazard_area_id)
    if hazard is None:
        raise Problem(404, f"No hazard area {hazard_area_id}.")
    scope.check(hazard["programme_id"])
    check_refs(db, hazard["programme_id"], data.task_id, data.organisation_id)
    organisation_id = data.organisation_id
    if data.survey_id is not None:
        organisation_id = organisation_id or _check_survey(db, data.survey_id, hazard_area_id)
    values = {
        "method": "cancelled",
        "activity": "nts",
        "task_id": data.task_id,
        "organisation_id": organisation_id,
        "release_date": data.date,
        "depth_cm": None,
        "notes": data.notes,
        "survey_id": data.survey_id,
    }
    if data.geometry is not None:
        geom, as_sent = polygon_from_geojson(data.geometry, "geometry")
        return _insert_release(
            db,
            principal,
            hazard,
            values,
            _INPUT_FROM_WKB,
            {"wkb": _wkb(geom), "submitted": _wkb(as_sent)},
            "geometry",
        )
    return _insert_release(
        db, principal, hazard, values, _WHOLE_REMAINDER, {"hid": hazard_area_id}, "geometry"
    )


_WHOLE_REMAINDER = "SELECT coalesce(remaining_geom, geom) AS input, NULL::geometry AS submitted FROM hazard_areas WHERE id = :hid"


def _check_survey(db: Session, survey_id: int, hazard_area_id: int) -> int | None:
    """The survey must have reported a ``cancel`` outcome for this hazard (survey/nts tables).

    Returns the survey's organisation, the default organisation of the release.
    """
    found = db.execute(
        text(
            "SELECT s.organisation_id FROM surveys s JOIN survey_hazards sh ON sh.survey_id = s.id "
            "WHERE s.id = :s AND sh.hazard_area_id = :h AND sh.outcome = 'cancel'"
        ),
        {"s": survey_id, "h": hazard_area_id},
    ).first()
    if found is None:
        raise Problem(
            422,
            f"survey_id: survey {survey_id} has no 'cancel' outcome for hazard area {hazard_area_id}",
            errors=[{"field": "survey_id", "message": "no cancel outcome for this hazard area"}],
        )
    return int(found[0]) if found[0] is not None else None


def complete_hazard_area(
    db: Session, principal: Principal, scope: Scope, hazard_area_id: int, data: CompleteIn
) -> int:
    """Release the remainder as cleared or reduced in one step and write the handover record."""
    if principal.role not in WRITERS:
        raise Problem(403, f"Completing a hazard area needs one of the roles {', '.join(WRITERS)}.")
    accounting.apply_settings(db)
    hazard = accounting.lock_hazard(db, hazard_area_id)
    if hazard is None:
        raise Problem(404, f"No hazard area {hazard_area_id}.")
    scope.check(hazard["programme_id"])
    if hazard["review_status"] == "rejected":
        raise Problem(422, f"Hazard area {hazard['reference']} was rejected; it cannot be completed.")
    existing = db.scalar(
        text("SELECT reference FROM completions WHERE hazard_area_id = :id"), {"id": hazard_area_id}
    )
    if existing is not None:
        raise Problem(409, f"Hazard area {hazard['reference']} already has completion record {existing}.")
    task = check_refs(db, hazard["programme_id"], data.task_id, data.organisation_id)
    organisation_id = data.organisation_id or (task["organisation_id"] if task else None)
    completion_id = int(
        db.execute(
            text(
                "INSERT INTO completions (programme_id, reference, hazard_area_id, task_id, completion_date, "
                "method, participants, notes, created_by) VALUES (:p, :ref, :h, :t, :d, :m, "
                "CAST(:participants AS jsonb), :notes, :actor) RETURNING id"
            ),
            {
                "p": hazard["programme_id"],
                "ref": new_reference(db, hazard["programme_id"], "HO"),
                "h": hazard_area_id,
                "t": data.task_id,
                "d": data.date,
                "m": data.method,
                "participants": _json(data.participants),
                "notes": data.notes,
                "actor": principal.username,
            },
        ).scalar_one()
    )
    remaining = db.scalar(
        text("SELECT ST_Area(coalesce(remaining_geom, geom)::geography) FROM hazard_areas WHERE id = :id"),
        {"id": hazard_area_id},
    )
    if remaining and remaining >= 0.01:
        activity = TASK_ACTIVITY.get(task["type"]) if task else None
        values = {
            "method": data.method,
            "activity": activity or DEFAULT_ACTIVITY[data.method],
            "task_id": data.task_id,
            "organisation_id": organisation_id,
            "release_date": data.date,
            "depth_cm": data.depth_cm,
            "notes": data.notes,
            "completion_id": completion_id,
        }
        _insert_release(db, principal, hazard, values, _WHOLE_REMAINDER, {"hid": hazard_area_id}, "geometry")
    _fill_handover(db, completion_id, hazard_area_id, data.task_id, data.participants)
    return completion_id


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _fill_handover(
    db: Session, completion_id: int, hazard_area_id: int, task_id: int | None, participants: list[str]
) -> None:
    figures = (
        db.execute(
            text(
                "SELECT cancelled_m2, reduced_m2, cleared_m2, remaining_m2, area_m2 "
                "FROM hazard_areas WHERE id = :id"
            ),
            {"id": hazard_area_id},
        )
        .mappings()
        .one()
    )
    area_by_method = {k.removesuffix("_m2"): round(float(v), 2) for k, v in figures.items()}
    # Organisations that released land on this hazard are participants of the handover.
    organisations = list(
        db.scalars(
            text(
                "SELECT DISTINCT o.name FROM land_releases r JOIN organisations o ON o.id = r.organisation_id "
                "WHERE r.hazard_area_id = :id AND r.review_status <> 'rejected' ORDER BY o.name"
            ),
            {"id": hazard_area_id},
        )
    )
    everyone = list(dict.fromkeys([*participants, *organisations]))
    db.execute(
        text(
            "UPDATE completions SET area_by_method = CAST(:a AS jsonb), items_by_category = CAST(:i AS jsonb), "
            "participants = CAST(:p AS jsonb) WHERE id = :id"
        ),
        {
            "a": _json(area_by_method),
            "i": _json(items_by_category(db, hazard_area_id, task_id)),
            "p": _json(everyone),
            "id": completion_id,
        },
    )


def items_by_category(db: Session, hazard_area_id: int, task_id: int | None) -> dict[str, int]:
    """Explosive ordnance items found (tasks package's ``eo_items``), by catalogue category, on the
    completing task and on every task that released land of this hazard."""
    rows = db.execute(
        text(
            """
            SELECT c.category, sum(i.quantity) FROM eo_items i JOIN eo_catalogue c ON c.id = i.catalogue_id
            WHERE i.review_status <> 'rejected' AND (i.task_id = :t OR i.task_id IN (
                SELECT task_id FROM land_releases WHERE hazard_area_id = :h AND review_status <> 'rejected'))
            GROUP BY c.category ORDER BY c.category
            """
        ),
        {"h": hazard_area_id, "t": task_id},
    ).all()
    return {str(category): int(n or 0) for category, n in rows}


COMPLETION_SQL = """
SELECT json_build_object(
    'id', c.id, 'reference', c.reference, 'programme', p.code,
    'hazard_area_id', c.hazard_area_id, 'hazard_area_reference', h.reference,
    'task_id', c.task_id, 'date', c.completion_date, 'method', c.method,
    'participants', c.participants, 'area_by_method', c.area_by_method,
    'items_by_category', c.items_by_category, 'notes', c.notes, 'version', c.version,
    'created_by', c.created_by, 'created_at', c.created_at,
    'hazard_status', h.status,
    'land_release_ids', (SELECT coalesce(json_agg(r.id ORDER BY r.id), '[]'::json)
                         FROM land_releases r WHERE r.completion_id = c.id)
)::text
FROM completions c JOIN programmes p ON p.id = c.programme_id JOIN hazard_areas h ON h.id = c.hazard_area_id
"""


def get_completion(db: Session, scope: Scope, completion_id: int) -> str:
    programme_id = db.scalar(
        text("SELECT programme_id FROM completions WHERE id = :id"), {"id": completion_id}
    )
    if programme_id is None:
        raise Problem(404, f"No completion record {completion_id}.")
    scope.check(programme_id)
    return str(db.execute(text(COMPLETION_SQL + " WHERE c.id = :id"), {"id": completion_id}).scalar_one())


def create_progress_report(db: Session, principal: Principal, scope: Scope, data: ProgressReportIn) -> int:
    """A day's work on a clearance/TS/BAC task; each polygon released that day becomes a release."""
    if principal.role not in WRITERS:
        raise Problem(403, f"Progress reports need one of the roles {', '.join(WRITERS)}.")
    accounting.apply_settings(db)
    task = (
        db.execute(
            text("SELECT id, programme_id, type, organisation_id FROM tasks WHERE id = :id"),
            {"id": data.task_id},
        )
        .mappings()
        .first()
    )
    if task is None or task["programme_id"] not in scope.programme_ids:
        raise Problem(
            422,
            f"task_id: no task {data.task_id} in your programmes",
            errors=[{"field": "task_id", "message": "unknown task"}],
        )
    if task["type"] not in ("clearance", "ts", "bac"):
        raise Problem(
            422,
            f"task_id: progress reports are for clearance, TS and BAC tasks; this one is {task['type']}",
            errors=[{"field": "task_id", "message": "wrong task type"}],
        )
    duplicate = db.scalar(
        text("SELECT id FROM progress_reports WHERE task_id = :t AND report_date = :d"),
        {"t": data.task_id, "d": data.date},
    )
    if duplicate is not None:
        raise Problem(409, f"Task {data.task_id} already has progress report {duplicate} for {data.date}.")
    targeted = set(
        db.scalars(text("SELECT hazard_area_id FROM task_hazards WHERE task_id = :t"), {"t": data.task_id})
    )
    report_id = int(
        db.execute(
            text(
                "INSERT INTO progress_reports (programme_id, task_id, report_date, items_found, working_hours, "
                "notes, created_by) VALUES (:p, :t, :d, :i, :w, :n, :a) RETURNING id"
            ),
            {
                "p": task["programme_id"],
                "t": data.task_id,
                "d": data.date,
                "i": data.items_found,
                "w": data.working_hours,
                "n": data.notes,
                "a": principal.username,
            },
        ).scalar_one()
    )
    for index, item in enumerate(data.releases):
        prefix = f"releases.{index}."
        if targeted and item.hazard_area_id not in targeted:
            raise Problem(
                422,
                f"{prefix}hazard_area_id: task {data.task_id} does not target hazard area {item.hazard_area_id}",
                errors=[{"index": index, "field": f"{prefix}hazard_area_id", "message": "not a task target"}],
            )
        release = LandReleaseIn(
            hazard_area_id=item.hazard_area_id,
            method=item.method,
            activity=TASK_ACTIVITY[task["type"]],
            task_id=data.task_id,
            organisation_id=task["organisation_id"],
            date=data.date,
            depth_cm=item.depth_cm,
            geometry=item.geometry,
        )
        create_release(
            db, principal, scope, release, progress_report_id=report_id, field_prefix=prefix, index=index
        )
    # The first progress report puts the task's hazards to "worked on".
    db.execute(
        text(
            "UPDATE hazard_areas SET status = 'worked_on', status_date = now(), "
            "status_reason = 'progress report', version = version + 1, updated_at = now(), "
            "updated_by = :a WHERE status = 'open' AND id IN "
            "(SELECT hazard_area_id FROM task_hazards WHERE task_id = :t)"
        ),
        {"t": data.task_id, "a": principal.username},
    )
    return report_id


PROGRESS_SQL = """
SELECT json_build_object(
    'id', pr.id, 'programme', p.code, 'task_id', pr.task_id, 'date', pr.report_date,
    'items_found', pr.items_found, 'working_hours', pr.working_hours, 'notes', pr.notes,
    'created_by', pr.created_by, 'created_at', pr.created_at,
    'released_m2', json_build_object(
        'reduced', (SELECT coalesce(round(sum(area_m2)::numeric, 2), 0) FROM land_releases r
                    WHERE r.progress_report_id = pr.id AND r.method = 'reduced' AND r.review_status <> 'rejected'),
        'cleared', (SELECT coalesce(round(sum(area_m2)::numeric, 2), 0) FROM land_releases r
                    WHERE r.progress_report_id = pr.id AND r.method = 'cleared' AND r.review_status <> 'rejected')),
    'land_release_ids', (SELECT coalesce(json_agg(r.id ORDER BY r.id), '[]'::json)
                         FROM land_releases r WHERE r.progress_report_id = pr.id)
)::text
FROM progress_reports pr JOIN programmes p ON p.id = pr.programme_id
"""


def list_progress_reports(
    db: Session, scope: Scope, task_id: int | None, programme: str | None, after: int, limit: int
) -> list[str]:
    params: dict[str, Any] = {"ids": scope.programme_filter(db, programme), "after": after, "limit": limit}
    where = "WHERE pr.programme_id = ANY(:ids) AND pr.id > :after"
    if task_id is not None:
        where += " AND pr.task_id = :task"
        params["task"] = task_id
    return [str(r) for r in db.scalars(text(PROGRESS_SQL + where + " ORDER BY pr.id LIMIT :limit"), params)]


def get_progress_report(db: Session, scope: Scope, report_id: int) -> str:
    programme_id = db.scalar(
        text("SELECT programme_id FROM progress_reports WHERE id = :id"), {"id": report_id}
    )
    if programme_id is None:
        raise Problem(404, f"No progress report {report_id}.")
    scope.check(programme_id)
    return str(db.execute(text(PROGRESS_SQL + " WHERE pr.id = :id"), {"id": report_id}).scalar_one())
