"""Non-technical survey reports and evidence points. No HTTP here.

Life of a report (the same as a hazard area's): ``draft`` → ``submitted`` → ``approved`` or
``rejected``; a rejected report is corrected (back to ``draft``) and submitted again. Approved
reports are never changed or deleted. Every change raises ``version`` by one; the router turns
it into an ``ETag`` and insists on ``If-Match`` for edits.

A ``cancel`` outcome is only recorded here; the land it releases is booked by land release.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.deps import Scope
from app.errors import Problem
from app.etag import check_version
from app.reference.models import Organisation, Programme, Team
from app.reference.service import next_references
from app.review import WRITERS, review_step
from geo.coords import CoordinateError, parse_coordinate
from geo.points import point_from_geojson
from survey.models import HazardArea
from survey.nts.models import DIRECT_EVIDENCE, EvidencePoint, Survey, SurveyHazard
from survey.nts.schemas import (
    EvidenceIn,
    Informants,
    OutcomeIn,
    OutcomeOut,
    SurveyIn,
    SurveyOut,
    SurveyPatch,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _can_write(principal: Principal) -> None:
    if not principal.has_role(*WRITERS):
        raise Problem(403, f"Survey reports are written by {', '.join(WRITERS)}; you are {principal.role}.")


# -- reading -------------------------------------------------------------------------------
def get_survey(db: Session, scope: Scope, survey_id: int, for_update: bool = False) -> Survey:
    """The report, if the caller may see it (partners: approved ones only); 404 otherwise."""
    survey = db.get(Survey, survey_id, with_for_update=for_update, populate_existing=for_update)
    if survey is None:
        raise Problem(404, f"No survey report {survey_id}.")
    scope.check(survey.programme_id)
    if scope.principal.is_partner and survey.review_status != "approved":
        raise Problem(404, "No such record in your programmes.")
    return survey


def survey_out(db: Session, survey: Survey) -> SurveyOut:
    return surveys_out(db, [survey])[0]


def surveys_out(db: Session, surveys: Sequence[Survey]) -> list[SurveyOut]:
    ids = [s.id for s in surveys]
    codes = dict(db.execute(select(Programme.id, Programme.code)).all())
    outcomes: dict[int, list[OutcomeOut]] = {i: [] for i in ids}
    rows = db.execute(
        select(SurveyHazard, HazardArea.reference)
        .outerjoin(HazardArea, HazardArea.id == SurveyHazard.hazard_area_id)
        .where(SurveyHazard.survey_id.in_(ids))
        .order_by(SurveyHazard.id)
    ).all()
    for link, reference in rows:
        outcomes[link.survey_id].append(
            OutcomeOut(
                hazard_area_id=link.hazard_area_id,
                hazard_reference=reference,
                outcome=link.outcome,
                notes=link.notes,
            )
        )
    evidence = dict(
        db.execute(
            select(EvidencePoint.survey_id, func.count())
            .where(EvidencePoint.survey_id.in_(ids))
            .group_by(EvidencePoint.survey_id)
        ).all()
    )
    return [
        SurveyOut(
            id=s.id,
            reference=s.reference,
            programme=codes[s.programme_id],
            organisation_id=s.organisation_id,
            team_id=s.team_id,
            survey_date=s.survey_date,
            end_date=s.end_date,
            method=s.method,
            location_name=s.location_name,
            informants=Informants(
                women=s.informants_women,
                men=s.informants_men,
                girls=s.informants_girls,
                boys=s.informants_boys,
            ),
            summary=s.summary,
            outcomes=outcomes[s.id],
            evidence_count=int(evidence.get(s.id, 0)),
            review_status=s.review_status,
            review_reason=s.review_reason,
            reviewed_by=s.reviewed_by,
            reviewed_at=s.reviewed_at,
            version=s.version,
            created_by=s.created_by,
            created_at=s.created_at,
            updated_by=s.updated_by,
            updated_at=s.updated_at,
        )
        for s in surveys
    ]


def list_surveys(
    db: Session,
    scope: Scope,
    programme: str | None,
    review_status: str | None,
    method: str | None,
    hazard_area_id: int | None,
    after: int,
    limit: int,
) -> tuple[list[SurveyOut], bool]:
    """A page of reports (keyset on id) and whether there are more."""
    stmt = select(Survey).where(Survey.programme_id.in_(scope.programme_filter(db, programme) or [-1]))
    if scope.principal.is_partner:
        stmt = stmt.where(Survey.review_status == "approved")
    if review_status is not None:
        stmt = stmt.where(Survey.review_status == review_status)
    if method is not None:
        stmt = stmt.where(Survey.method == method)
    if hazard_area_id is not None:
        linked = select(SurveyHazard.survey_id).where(SurveyHazard.hazard_area_id == hazard_area_id)
        stmt = stmt.where(Survey.id.in_(linked))
    rows = list(db.scalars(stmt.where(Survey.id > after).order_by(Survey.id).limit(limit + 1)))
    return surveys_out(db, rows[:limit]), len(rows) > limit


# -- writing -------------------------------------------------------------------------------
def _check_organisation_team(
    db: Session, programme_id: int, organisation_id: int, team_id: int | None
) -> None:
    org = db.get(Organisation, organisation_id)
    if org is None or org.programme_id != programme_id:
        raise Problem(
            422,
            f"organisation_id: organisation {organisation_id} is not one of this programme's.",
            errors=[{"field": "organisation_id", "message": "not an organisation of the programme"}],
        )
    if team_id is None:
        return
    team = db.get(Team, team_id)
    if team is None or team.programme_id != programme_id:
        raise Problem(
            422,
            f"team_id: team {team_id} is not one of this programme's teams.",
            errors=[{"field": "team_id", "message": "not a team of the programme"}],
        )
    if team.organisation_id != organisation_id:
        raise Problem(
            422,
            f"team_id: team {team_id} belongs to organisation {team.organisation_id}, not {organisation_id}.",
            errors=[{"field": "team_id", "message": "the team belongs to another organisation"}],
        )


def _check_dates(survey: Survey) -> None:
    if survey.end_date is not None and survey.end_date < survey.survey_date:
        raise Problem(
            422,
            f"end_date {survey.end_date} is before survey_date {survey.survey_date}.",
            errors=[{"field": "end_date", "message": "before survey_date"}],
        )


def _set_outcomes(db: Session, survey: Survey, outcomes: list[OutcomeIn]) -> None:
    """Replace the report's outcome links, after checking every hazard area named."""
    wanted = [o.hazard_area_id for o in outcomes if o.hazard_area_id is not None]
    found = dict(
        db.execute(select(HazardArea.id, HazardArea.programme_id).where(HazardArea.id.in_(wanted))).all()
    )
    seen: set[int] = set()
    for index, outcome in enumerate(outcomes):
        field = f"outcomes.{index}.hazard_area_id"
        hazard_id = outcome.hazard_area_id
        if hazard_id is None:
            if outcome.outcome != "no_evidence":
                raise Problem(
                    422,
                    f"{field}: outcome {outcome.outcome!r} needs the hazard area it defines or cancels.",
                    errors=[{"index": index, "field": field, "message": "hazard area needed"}],
                )
            continue
        if found.get(hazard_id) != survey.programme_id:
            raise Problem(
                422,
                f"{field}: no hazard area {hazard_id} in this report's programme.",
                errors=[{"index": index, "field": field, "message": "unknown hazard area"}],
            )
        if hazard_id in seen:
            raise Problem(
                422,
                f"{field}: hazard area {hazard_id} is listed twice; give one outcome per hazard area.",
                errors=[{"index": index, "field": field, "message": "listed twice"}],
            )
        seen.add(hazard_id)
    db.execute(delete(SurveyHazard).where(SurveyHazard.survey_id == survey.id))
    db.add_all(
        SurveyHazard(survey_id=survey.id, hazard_area_id=o.hazard_area_id, outcome=o.outcome, notes=o.notes)
        for o in outcomes
    )


def create_survey(db: Session, scope: Scope, data: SurveyIn) -> Survey:
    _can_write(scope.principal)
    programme = scope.programme(db, data.programme)
    _check_organisation_team(db, programme.id, data.organisation_id, data.team_id)
    who = scope.principal.username
    survey = Survey(
        programme_id=programme.id,
        reference=next_references(db, programme, "NTS")[0],
        organisation_id=data.organisation_id,
        team_id=data.team_id,
        survey_date=data.survey_date,
        end_date=data.end_date,
        method=data.method,
        location_name=data.location_name,
        informants_women=data.informants.women,
        informants_men=data.informants.men,
        informants_girls=data.informants.girls,
        informants_boys=data.informants.boys,
        summary=data.summary,
        created_by=who,
        updated_by=who,
    )
    _check_dates(survey)
    db.add(survey)
    db.flush()
    _set_outcomes(db, survey, data.outcomes)
    db.flush()
    return survey


def _editable(survey: Survey) -> None:
    if survey.review_status == "approved":
        raise Problem(409, f"{survey.reference} is approved; approved reports are not changed.")
    if survey.review_status == "submitted":
        raise Problem(
            409, f"{survey.reference} is submitted for review; a coordinator approves or rejects it first."
        )


def _bump(survey: Survey, who: str) -> None:
    survey.version += 1
    survey.updated_by = who
    survey.updated_at = _now()


def update_survey(
    db: Session, scope: Scope, survey_id: int, versions: frozenset[int], patch: SurveyPatch
) -> Survey:
    _can_write(scope.principal)
    survey = get_survey(db, scope, survey_id, for_update=True)
    check_version(survey.reference, survey.version, versions)
    _editable(survey)
    sent = patch.model_fields_set
    for required in ("organisation_id", "survey_date", "method", "informants"):
        if required in sent and getattr(patch, required) is None:
            raise Problem(
                422,
                f"{required} cannot be cleared.",
                errors=[{"field": required, "message": "may not be null"}],
            )
    organisation_id = patch.organisation_id if "organisation_id" in sent else survey.organisation_id
    team_id = patch.team_id if "team_id" in sent else survey.team_id
    if {"organisation_id", "team_id"} & sent:
        _check_organisation_team(db, survey.programme_id, organisation_id or 0, team_id)
    for name in (
        "organisation_id",
        "team_id",
        "survey_date",
        "end_date",
        "method",
        "location_name",
        "summary",
    ):
        if name in sent:
            setattr(survey, name, getattr(patch, name))
    if "informants" in sent and patch.informants is not None:
        survey.informants_women = patch.informants.women
        survey.informants_men = patch.informants.men
        survey.informants_girls = patch.informants.girls
        survey.informants_boys = patch.informants.boys
    _check_dates(survey)
    if "outcomes" in sent:
        _set_outcomes(db, survey, patch.outcomes or [])
    if survey.review_status == "rejected":
        survey.review_status = "draft"  # corrected: it goes through review again
    _bump(survey, scope.principal.username)
    db.flush()
    return survey


def review(
    db: Session,
    scope: Scope,
    survey_id: int,
    action: str,
    versions: frozenset[int] | None,
    reason: str | None,
) -> Survey:
    """``submit`` (writers), ``approve`` or ``reject`` (coordinators and admins, with a reason):
    :mod:`app.review`."""
    principal = scope.principal
    survey = get_survey(db, scope, survey_id, for_update=True)
    check_version(survey.reference, survey.version, versions)
    step = review_step(principal, action, survey.reference, survey.review_status, reason)
    survey.review_status = step.target
    if step.reviewed:
        survey.reviewed_by = principal.username
        survey.reviewed_at = _now()
    survey.review_reason = reason
    _bump(survey, principal.username)
    db.flush()
    return survey


def delete_survey(db: Session, scope: Scope, survey_id: int, versions: frozenset[int] | None) -> None:
    _can_write(scope.principal)
    survey = get_survey(db, scope, survey_id, for_update=True)
    check_version(survey.reference, survey.version, versions)
    if survey.review_status != "draft":
        raise Problem(409, f"{survey.reference} is {survey.review_status}; only drafts are deleted.")
    db.delete(survey)
    db.flush()


# -- evidence points -----------------------------------------------------------------------
def points_outside_country(
    db: Session, programme_id: int, lon: np.ndarray, lat: np.ndarray
) -> dict[int, str]:
    """Points (by position) that lie outside the programme's country (buffered), with the reason.

    The same country shape and buffer as the hazard-area checks (``geo.checks.country_of``),
    tested for all points at once.
    """
    import shapely

    from geo.checks import country_of

    country = country_of(db, programme_id)
    if country is None or not len(lon):
        return {}
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    inside = shapely.contains_xy(country.buffered, x, y)
    swapped_inside = shapely.contains_xy(country.buffered, y, x)
    out: dict[int, str] = {}
    for position in np.flatnonzero(~inside):
        hint = "; latitude and longitude look swapped" if swapped_inside[position] else ""
        out[int(position)] = f"the point lies outside the programme's country ({country.label}){hint}"
    return out


EVIDENCE_FEATURE_SQL = """
SELECT json_build_object(
    'type', 'Feature', 'id', e.id,
    'geometry', ST_AsGeoJSON(e.geom, 7)::json,
    'properties', json_build_object(
        'survey_id', e.survey_id, 'programme', p.code, 'evidence_type', e.evidence_type,
        'direct', e.direct, 'description', e.description, 'coordinate', e.coordinate_text,
        'coordinate_format', e.coordinate_format, 'coordinate_crs', e.coordinate_crs,
        'precision_m', e.precision_m, 'import_id', e.import_id,
        'created_by', e.created_by, 'created_at', e.created_at)
)::text, e.id
FROM evidence_points e JOIN programmes p ON p.id = e.programme_id
"""


def evidence_sql(survey_id: int, after: int, limit: int) -> tuple[str, dict[str, Any]]:
    """A page of the report's evidence Features ``(json text, id)``, one more than ``limit``."""
    sql = EVIDENCE_FEATURE_SQL + " WHERE e.survey_id = :s AND e.id > :after ORDER BY e.id LIMIT :limit"
    return sql, {"s": survey_id, "after": after, "limit": limit + 1}


def evidence_feature(db: Session, evidence_id: int) -> str:
    return str(db.execute(text(EVIDENCE_FEATURE_SQL + " WHERE e.id = :id"), {"id": evidence_id}).scalar_one())


def add_evidence(db: Session, scope: Scope, survey_id: int, data: EvidenceIn) -> EvidencePoint:
    _can_write(scope.principal)
    survey = get_survey(db, scope, survey_id)
    if survey.review_status == "approved":
        raise Problem(409, f"{survey.reference} is approved; its evidence is not changed.")
    coordinate_text = coordinate_format = coordinate_crs = None
    precision: float | None = None
    if data.coordinate is not None:
        try:
            parsed = parse_coordinate(data.coordinate)
        except CoordinateError as exc:
            raise Problem(
                422, f"coordinate: {exc}", errors=[{"field": "coordinate", "message": str(exc)}]
            ) from exc
        lon, lat = parsed.lon, parsed.lat
        coordinate_text, coordinate_format, coordinate_crs = parsed.text, parsed.format, parsed.crs
        precision = parsed.precision_m
    else:
        point = point_from_geojson(data.geometry, "geometry")
        lon, lat = point.x, point.y
    field = "coordinate" if data.coordinate is not None else "geometry"
    outside = points_outside_country(db, survey.programme_id, np.array([lon]), np.array([lat]))
    if outside:
        message = f"{field}: ({lon:.6f}, {lat:.6f}): {outside[0]}"
        raise Problem(422, message, errors=[{"field": field, "message": outside[0]}])
    evidence = EvidencePoint(
        programme_id=survey.programme_id,
        survey_id=survey.id,
        geom=f"SRID=4326;POINT({lon!r} {lat!r})",
        evidence_type=data.evidence_type,
        direct=data.direct if data.direct is not None else data.evidence_type in DIRECT_EVIDENCE,
        description=data.description,
        coordinate_text=coordinate_text,
        coordinate_format=coordinate_format,
        coordinate_crs=coordinate_crs,
        precision_m=precision,
        created_by=scope.principal.username,
    )
    db.add(evidence)
    db.flush()
    return evidence


def delete_evidence(db: Session, scope: Scope, survey_id: int, evidence_id: int) -> None:
    _can_write(scope.principal)
    survey = get_survey(db, scope, survey_id)
    if survey.review_status == "approved":
        raise Problem(409, f"{survey.reference} is approved; its evidence is not changed.")
    evidence = db.get(EvidencePoint, evidence_id)
    if evidence is None or evidence.survey_id != survey.id:
        raise Problem(404, f"No evidence point {evidence_id} in {survey.reference}.")
    db.delete(evidence)
    db.flush()
