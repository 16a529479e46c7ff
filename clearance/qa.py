"""QA/QC visits (IMAS 07.40), non-conformities, suspensions and lot decisions. No HTTP here."""

from __future__ import annotations

from typing import Any

import orjson
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.deps import Scope
from app.errors import Problem
from app.etag import require_version
from clearance import sampling
from clearance.geometry import location_from_geojson
from clearance.schemas import ChecklistAnswer, ChecklistTemplateIn, QaVisitIn, QaVisitPatch
from clearance.service import check_refs, new_reference

RECORDERS = ("admin", "qa_officer")
CLOSERS = ("admin", "qa_officer", "coordinator")
CORRECTORS = ("admin", "qa_officer", "coordinator", "surveyor")
TASK_TO_ACTIVITY = {"nts": "nts", "ts": "ts", "clearance": "clearance", "bac": "bac", "eod_spot": "eod"}


def forbid_partner(principal: Principal) -> None:
    if principal.is_partner:
        raise Problem(403, "QA/QC records are not shared with partner accounts.")


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# ---------------------------------------------------------------- checklist templates


def checklist_template(db: Session, programme_id: int) -> dict[str, Any]:
    """The programme's active template, or the default one."""
    row = (
        db.execute(
            text(
                "SELECT id, programme_id, name, items, version FROM qa_checklist_templates "
                "WHERE active AND (programme_id = :p OR programme_id IS NULL) "
                "ORDER BY programme_id NULLS LAST, id DESC LIMIT 1"
            ),
            {"p": programme_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise Problem(409, "No QA checklist template is configured.")
    return dict(row)


def checklist_template_json(db: Session, programme_id: int) -> str:
    template = checklist_template(db, programme_id)
    template["source"] = "programme" if template["programme_id"] else "default"
    return _dumps(template)


def set_checklist_template(db: Session, programme_id: int, data: ChecklistTemplateIn) -> None:
    """A new version of the programme's template; the old one stays (inactive) for old visits."""
    previous = db.scalar(
        text("SELECT max(version) FROM qa_checklist_templates WHERE programme_id = :p"), {"p": programme_id}
    )
    db.execute(
        text("UPDATE qa_checklist_templates SET active = false, updated_at = now() WHERE programme_id = :p"),
        {"p": programme_id},
    )
    db.execute(
        text(
            "INSERT INTO qa_checklist_templates (programme_id, name, items, version) "
            "VALUES (:p, :n, CAST(:i AS jsonb), :v)"
        ),
        {
            "p": programme_id,
            "n": data.name,
            "i": _dumps([i.model_dump() for i in data.items]),
            "v": (previous or 0) + 1,
        },
    )


# ---------------------------------------------------------------- visits


def _checklist(
    db: Session, programme_id: int, programme_code: str, answers: list[ChecklistAnswer]
) -> list[dict[str, Any]]:
    """Answers checked against the programme's template, stored with the items' texts."""
    template = checklist_template(db, programme_id)
    texts = {item["code"]: item["text"] for item in template["items"]}
    checklist = []
    for index, answer in enumerate(answers):
        if answer.code not in texts:
            field = f"checklist.{index}.code"
            raise Problem(
                422,
                f"{field}: {answer.code!r} is not an item of {programme_code}'s checklist ({', '.join(texts)})",
                errors=[{"index": index, "field": field, "message": "unknown checklist item"}],
            )
        checklist.append(
            {"code": answer.code, "text": texts[answer.code], **answer.model_dump(exclude={"code"})}
        )
    return checklist


def create_visit(db: Session, principal: Principal, scope: Scope, data: QaVisitIn) -> int:
    programme = scope.programme(db, data.programme)
    task = check_refs(db, programme.id, data.task_id, data.organisation_id)
    organisation_id = data.organisation_id or (task["organisation_id"] if task else None)
    activity = data.activity or (TASK_TO_ACTIVITY.get(task["type"]) if task else None)

    checklist = _checklist(db, programme.id, programme.code, data.checklist)

    location_wkb = None
    if data.location is not None:
        location_wkb = shapely.to_wkb(location_from_geojson(data.location), hex=True, output_dimension=2)

    lot: dict[str, Any] | None = None
    plan: sampling.Plan | None = None
    lot_accepted: bool | None = None
    if data.type == "post_clearance_inspection":
        assert data.land_release_id is not None and data.sample is not None
        try:
            lot, plan = sampling.lot_plan(db, scope, data.land_release_id)
        except Problem as problem:
            raise Problem(
                422,
                f"land_release_id: {problem.detail}",
                errors=[{"field": "land_release_id", "message": problem.detail}],
            ) from None
        if lot["programme_id"] != programme.id:
            raise Problem(
                422,
                f"land_release_id: land release {lot['id']} is not in programme {programme.code}",
                errors=[{"field": "land_release_id", "message": "other programme"}],
            )
        lot_accepted = data.sample.items_found <= plan.acceptance_number
        if not lot_accepted and data.result != "fail":
            raise Problem(
                422,
                f"result: {data.sample.items_found} items found in the sample is more than the acceptance "
                f"number {plan.acceptance_number}: the lot is rejected, so the inspection result is fail",
                errors=[{"field": "result", "message": "a rejected lot fails"}],
            )

    visit_id = int(
        db.execute(
            text(
                """
                INSERT INTO qa_visits (programme_id, reference, type, task_id, activity, organisation_id,
                    inspector, visit_date, location, checklist, result, land_release_id, sample_seed,
                    sample_area_m2, items_found_in_sample, lot_accepted, notes, created_by, updated_by)
                VALUES (:p, :ref, :type, :task, :activity, :org, :inspector, :date,
                    ST_GeomFromWKB(decode(:loc, 'hex'), 4326), CAST(:checklist AS jsonb), :result, :lot,
                    :seed, :sample_area, :items, :accepted, :notes, :actor, :actor)
                RETURNING id
                """
            ),
            {
                "p": programme.id,
                "ref": new_reference(db, programme.id, "QA"),
                "type": data.type,
                "task": data.task_id,
                "activity": activity,
                "org": organisation_id,
                "inspector": data.inspector or principal.username,
                "date": data.visit_date,
                "loc": location_wkb,
                "checklist": _dumps(checklist),
                "result": data.result,
                "lot": data.land_release_id,
                "seed": data.sample.seed if data.sample else None,
                "sample_area": round(plan.sample_area_m2, 2) if plan else None,
                "items": data.sample.items_found if data.sample else None,
                "accepted": lot_accepted,
                "notes": data.notes,
                "actor": principal.username,
            },
        ).scalar_one()
    )

    for nc in data.non_conformities:
        nc_id = int(
            db.execute(
                text(
                    "INSERT INTO qa_non_conformities (programme_id, visit_id, reference, organisation_id, "
                    "severity, description, corrective_action, due_date) "
                    "VALUES (:p, :v, :ref, :org, :sev, :desc, :action, :due) RETURNING id"
                ),
                {
                    "p": programme.id,
                    "v": visit_id,
                    "ref": new_reference(db, programme.id, "NC"),
                    "org": organisation_id,
                    "sev": nc.severity,
                    "desc": nc.description,
                    "action": nc.corrective_action,
                    "due": nc.due_date,
                },
            ).scalar_one()
        )
        if nc.severity == "critical":
            _suspend(
                db, principal, programme.id, task, organisation_id, visit_id, nc_id, data, nc.description
            )

    if lot is not None and lot_accepted is False:
        _flag_rework(db, principal, lot, visit_id, data)
    return visit_id


def _suspend(
    db: Session,
    principal: Principal,
    programme_id: int,
    task: dict[str, Any] | None,
    organisation_id: int | None,
    visit_id: int,
    nc_id: int,
    data: QaVisitIn,
    description: str,
) -> None:
    """A critical non-conformity stops operations: recorded, and a task in progress is suspended."""
    db.execute(
        text(
            "INSERT INTO operation_suspensions (programme_id, task_id, organisation_id, visit_id, "
            "non_conformity_id, suspended_on, reason) VALUES (:p, :t, :o, :v, :nc, :d, :r)"
        ),
        {
            "p": programme_id,
            "t": task["id"] if task else None,
            "o": organisation_id,
            "v": visit_id,
            "nc": nc_id,
            "d": data.visit_date,
            "r": f"critical non-conformity: {description}",
        },
    )
    if task is not None and task["status"] == "in_progress":
        # The tasks package's status machine allows in_progress → suspended; its history says why.
        db.execute(
            text(
                "UPDATE tasks SET status = 'suspended', version = version + 1, updated_at = now() WHERE id = :t"
            ),
            {"t": task["id"]},
        )
        db.execute(
            text(
                "INSERT INTO task_status_history (task_id, from_status, to_status, reason, changed_by) "
                "VALUES (:t, 'in_progress', 'suspended', :r, :a)"
            ),
            {
                "t": task["id"],
                "r": f"QA visit: critical non-conformity: {description}",
                "a": principal.username,
            },
        )


def _flag_rework(
    db: Session, principal: Principal, lot: dict[str, Any], visit_id: int, data: QaVisitIn
) -> None:
    """A rejected lot: its release and its hazard area are flagged for re-work."""
    assert data.sample is not None
    db.execute(
        text(
            "UPDATE land_releases SET rework_required = true, version = version + 1, updated_at = now(), "
            "updated_by = :a WHERE id = :id"
        ),
        {"id": lot["id"], "a": principal.username},
    )
    db.execute(
        text(
            "INSERT INTO rework_flags (programme_id, hazard_area_id, land_release_id, visit_id, reason) "
            "VALUES (:p, :h, :r, :v, :reason)"
        ),
        {
            "p": lot["programme_id"],
            "h": lot["hazard_area_id"],
            "r": lot["id"],
            "v": visit_id,
            "reason": f"post-clearance inspection found {data.sample.items_found} item(s) in the sample",
        },
    )


_NC_JSON = """json_build_object(
    'id', n.id, 'reference', n.reference, 'programme', p.code, 'visit_id', n.visit_id,
    'visit_reference', v.reference, 'organisation_id', n.organisation_id, 'task_id', v.task_id,
    'severity', n.severity, 'description', n.description, 'corrective_action', n.corrective_action,
    'due_date', n.due_date, 'status', n.status,
    'overdue', (n.status <> 'closed' AND n.due_date < current_date),
    'corrected_at', n.corrected_at, 'corrected_by', n.corrected_by, 'correction_note', n.correction_note,
    'closed_at', n.closed_at, 'closed_by', n.closed_by, 'closure_note', n.closure_note,
    'version', n.version, 'created_at', n.created_at, 'updated_at', n.updated_at)"""

_VISIT_FEATURE = f"""
SELECT json_build_object(
    'type', 'Feature', 'id', v.id,
    'geometry', ST_AsGeoJSON(v.location)::json,
    'properties', json_build_object(
        'reference', v.reference, 'programme', p.code, 'type', v.type, 'task_id', v.task_id,
        'activity', v.activity, 'organisation_id', v.organisation_id, 'inspector', v.inspector,
        'visit_date', v.visit_date, 'checklist', v.checklist, 'result', v.result,
        'land_release_id', v.land_release_id,
        'sample', CASE WHEN v.land_release_id IS NULL THEN NULL ELSE json_build_object(
            'seed', v.sample_seed, 'sample_area_m2', v.sample_area_m2,
            'items_found', v.items_found_in_sample, 'lot_accepted', v.lot_accepted) END,
        'non_conformities', (SELECT coalesce(json_agg({_NC_JSON} ORDER BY n.id), '[]'::json)
                             FROM qa_non_conformities n WHERE n.visit_id = v.id),
        'suspensions', (SELECT coalesce(json_agg(json_build_object(
                            'id', s.id, 'task_id', s.task_id, 'suspended_on', s.suspended_on,
                            'reason', s.reason, 'lifted_on', s.lifted_on) ORDER BY s.id), '[]'::json)
                        FROM operation_suspensions s WHERE s.visit_id = v.id),
        'notes', v.notes, 'version', v.version, 'created_by', v.created_by, 'created_at', v.created_at)
)::text AS feature, v.id
FROM qa_visits v JOIN programmes p ON p.id = v.programme_id
"""


def get_visit(db: Session, scope: Scope, visit_id: int) -> tuple[str, int]:
    row = db.execute(
        text("SELECT programme_id, version FROM qa_visits WHERE id = :id"), {"id": visit_id}
    ).first()
    if row is None:
        raise Problem(404, f"No QA visit {visit_id}.")
    scope.check(row.programme_id)
    feature = db.execute(text(_VISIT_FEATURE + " WHERE v.id = :id"), {"id": visit_id}).scalar_one()
    return str(feature), int(row.version)


def update_visit(
    db: Session, principal: Principal, scope: Scope, visit_id: int, data: QaVisitPatch, if_match: str | None
) -> None:
    """Correct a recorded visit (inspector, location, checklist, result, notes); If-Match required."""
    visit = (
        db.execute(
            text(
                "SELECT v.id, v.programme_id, v.version, v.lot_accepted, p.code, "
                "(SELECT count(*) FROM qa_non_conformities n WHERE n.visit_id = v.id) AS ncs "
                "FROM qa_visits v JOIN programmes p ON p.id = v.programme_id WHERE v.id = :id FOR UPDATE OF v"
            ),
            {"id": visit_id},
        )
        .mappings()
        .first()
    )
    if visit is None:
        raise Problem(404, f"No QA visit {visit_id}.")
    scope.check(visit["programme_id"])
    require_version(f"QA visit {visit_id}", int(visit["version"]), if_match)
    changes = data.model_dump(exclude_unset=True)
    for key in ("inspector", "checklist", "result"):
        if key in changes and changes[key] is None:
            raise Problem(422, f"{key}: cannot be null", errors=[{"field": key, "message": "null"}])
    result = changes.get("result")
    if result == "pass" and visit["ncs"]:
        raise Problem(
            422,
            "result: a visit with non-conformities is not pass",
            errors=[{"field": "result", "message": "pass"}],
        )
    if result is not None and visit["lot_accepted"] is False and result != "fail":
        raise Problem(
            422,
            "result: the inspected lot was rejected, so the result is fail",
            errors=[{"field": "result", "message": "a rejected lot fails"}],
        )
    sets = ["version = version + 1", "updated_at = now()", "updated_by = :actor"]
    params: dict[str, Any] = {"id": visit_id, "actor": principal.username}
    for key in ("inspector", "result", "notes"):
        if key in changes:
            sets.append(f"{key} = :{key}")
            params[key] = changes[key]
    if data.checklist is not None:
        sets.append("checklist = CAST(:checklist AS jsonb)")
        params["checklist"] = _dumps(_checklist(db, visit["programme_id"], visit["code"], data.checklist))
    if "location" in changes:
        sets.append("location = ST_GeomFromWKB(decode(:loc, 'hex'), 4326)")
        location = changes["location"]
        params["loc"] = (
            None
            if location is None
            else shapely.to_wkb(location_from_geojson(location), hex=True, output_dimension=2)
        )
    db.execute(text(f"UPDATE qa_visits SET {', '.join(sets)} WHERE id = :id"), params)


def visits_sql(
    programme_ids: list[int], filters: dict[str, Any], after: int, limit: int
) -> tuple[str, dict[str, Any]]:
    where = ["v.programme_id = ANY(:ids)", "v.id > :after"]
    params: dict[str, Any] = {"ids": programme_ids, "after": after, "limit": limit + 1}
    for name in ("type", "organisation_id", "task_id", "result"):
        if filters.get(name) is not None:
            where.append(f"v.{name} = :{name}")
            params[name] = filters[name]
    if filters.get("date_from") is not None:
        where.append("v.visit_date >= :date_from")
        params["date_from"] = filters["date_from"]
    if filters.get("date_to") is not None:
        where.append("v.visit_date <= :date_to")
        params["date_to"] = filters["date_to"]
    return _VISIT_FEATURE + " WHERE " + " AND ".join(where) + " ORDER BY v.id LIMIT :limit", params


# ---------------------------------------------------------------- non-conformities

_NC_FROM = """
FROM qa_non_conformities n JOIN qa_visits v ON v.id = n.visit_id JOIN programmes p ON p.id = n.programme_id
"""


def list_non_conformities(
    db: Session,
    programme_ids: list[int],
    overdue: bool,
    status: str | None,
    severity: str | None,
    organisation_id: int | None,
    after: int,
    limit: int,
) -> str:
    where = ["n.programme_id = ANY(:ids)", "n.id > :after"]
    params: dict[str, Any] = {"ids": programme_ids, "after": after, "limit": limit}
    if overdue:
        where.append("n.status <> 'closed' AND n.due_date < current_date")
    if status is not None:
        where.append("n.status = :status")
        params["status"] = status
    if severity is not None:
        where.append("n.severity = :severity")
        params["severity"] = severity
    if organisation_id is not None:
        where.append("n.organisation_id = :org")
        params["org"] = organisation_id
    sql = (
        f"SELECT coalesce(json_agg(x.j ORDER BY x.id), '[]'::json)::text FROM ("
        f"SELECT {_NC_JSON} AS j, n.id {_NC_FROM} WHERE {' AND '.join(where)} ORDER BY n.id LIMIT :limit) x"
    )
    return str(db.execute(text(sql), params).scalar_one())


def get_non_conformity(db: Session, scope: Scope, nc_id: int) -> tuple[str, int]:
    row = db.execute(
        text("SELECT programme_id, version FROM qa_non_conformities WHERE id = :id"), {"id": nc_id}
    ).first()
    if row is None:
        raise Problem(404, f"No non-conformity {nc_id}.")
    scope.check(row.programme_id)
    body = db.execute(
        text(f"SELECT {_NC_JSON}::text {_NC_FROM} WHERE n.id = :id"), {"id": nc_id}
    ).scalar_one()
    return str(body), int(row.version)


NC_TRANSITIONS = {
    # action: (from, to, roles)
    "correct": ("open", "corrected", CORRECTORS),
    "close": ("corrected", "closed", CLOSERS),
    "reopen": ("corrected", "open", CLOSERS),
}


def act_on_non_conformity(
    db: Session,
    principal: Principal,
    scope: Scope,
    nc_id: int,
    action: str,
    note: str | None,
    if_match: str | None,
) -> None:
    """open → corrected (corrective action done) → closed (verified by QA), or back to open.

    Users of the inspected organisation may record the correction but never close (or reopen)
    their own non-conformity.
    """
    source, target, roles = NC_TRANSITIONS[action]
    row = (
        db.execute(
            text(
                "SELECT id, programme_id, organisation_id, status, version, severity "
                "FROM qa_non_conformities WHERE id = :id FOR UPDATE"
            ),
            {"id": nc_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise Problem(404, f"No non-conformity {nc_id}.")
    scope.check(row["programme_id"])
    if principal.role not in roles:
        raise Problem(403, f"To {action} a non-conformity you need one of the roles {', '.join(roles)}.")
    if (
        action in ("close", "reopen")
        and row["organisation_id"] is not None
        and principal.organisation_id == row["organisation_id"]
    ):
        raise Problem(
            403, "Your organisation was the one inspected: its non-conformities are closed by QA, not by you."
        )
    require_version(f"Non-conformity {nc_id}", int(row["version"]), if_match, required=False)
    if row["status"] != source:
        raise Problem(
            409, f"Non-conformity {nc_id} is {row['status']}; you can {action} only a {source} one."
        )
    if action == "correct":
        sets = "corrected_at = now(), corrected_by = :actor, correction_note = :note"
    elif action == "close":
        sets = "closed_at = now(), closed_by = :actor, closure_note = :note"
    else:
        sets = "corrected_at = NULL, corrected_by = NULL, closure_note = :note"
    db.execute(
        text(
            f"UPDATE qa_non_conformities SET status = :target, {sets}, version = version + 1, "
            "updated_at = now() WHERE id = :id"
        ),
        {"target": target, "actor": principal.username, "note": note, "id": nc_id},
    )
    if action == "close":
        db.execute(
            text(
                "UPDATE operation_suspensions SET lifted_on = current_date, lifted_by = :actor "
                "WHERE non_conformity_id = :id AND lifted_on IS NULL"
            ),
            {"id": nc_id, "actor": principal.username},
        )


def list_suspensions(db: Session, programme_ids: list[int], active: bool | None) -> str:
    where = "s.programme_id = ANY(:ids)"
    if active is True:
        where += " AND s.lifted_on IS NULL"
    elif active is False:
        where += " AND s.lifted_on IS NOT NULL"
    sql = f"""
        SELECT coalesce(json_agg(json_build_object(
            'id', s.id, 'programme', p.code, 'task_id', s.task_id, 'organisation_id', s.organisation_id,
            'visit_id', s.visit_id, 'non_conformity_id', s.non_conformity_id,
            'suspended_on', s.suspended_on, 'reason', s.reason, 'lifted_on', s.lifted_on,
            'lifted_by', s.lifted_by) ORDER BY s.id), '[]'::json)::text
        FROM operation_suspensions s JOIN programmes p ON p.id = s.programme_id WHERE {where}
    """
    return str(db.execute(text(sql), {"ids": programme_ids}).scalar_one())


def list_rework(db: Session, programme_ids: list[int]) -> str:
    sql = """
        SELECT coalesce(json_agg(json_build_object(
            'id', f.id, 'programme', p.code, 'hazard_area_id', f.hazard_area_id,
            'hazard_area_reference', h.reference, 'land_release_id', f.land_release_id,
            'land_release_reference', r.reference, 'visit_id', f.visit_id, 'reason', f.reason,
            'raised_at', f.raised_at, 'resolved_at', f.resolved_at) ORDER BY f.id), '[]'::json)::text
        FROM rework_flags f JOIN programmes p ON p.id = f.programme_id
        JOIN hazard_areas h ON h.id = f.hazard_area_id JOIN land_releases r ON r.id = f.land_release_id
        WHERE f.programme_id = ANY(:ids)
    """
    return str(db.execute(text(sql), {"ids": programme_ids}).scalar_one())
