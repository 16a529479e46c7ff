"""``/api/v1/surveys``: non-technical survey reports and their evidence points (thin HTTP layer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.responses import StreamingResponse

from app.db import get_engine
from app.deps import DB, CurrentScope
from app.etag import etag, if_match_versions
from app.review import ReviewIn
from geo.geojson import GEOJSON, feature_collection_stream, geojson_response, next_link, primed, stream_rows
from survey.nts import service
from survey.nts.models import Survey
from survey.nts.schemas import EvidenceIn, SurveyIn, SurveyOut, SurveyPage, SurveyPatch

router = APIRouter(prefix="/api/v1/surveys", tags=["non-technical survey"])

IfMatch = Annotated[str | None, Header(description='the ETag you read, e.g. "3"')]


def _answer(db: DB, survey: Survey, status: int = 200) -> JSONResponse:
    body = service.survey_out(db, survey).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers={"ETag": etag(survey.version)})


@router.post("", status_code=201, response_model=SurveyOut)
def create_survey(data: SurveyIn, db: DB, scope: CurrentScope) -> JSONResponse:
    """A new report (draft). Surveyors, coordinators and admins."""
    survey = service.create_survey(db, scope, data)
    db.commit()
    return _answer(db, survey, 201)


@router.get("", response_model=SurveyPage)
def list_surveys(
    request: Request,
    db: DB,
    scope: CurrentScope,
    programme: str | None = None,
    review_status: str | None = None,
    method: str | None = None,
    hazard_area_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[int, Query(ge=0, description="keyset: the last id of the previous page")] = 0,
) -> SurveyPage:
    items, more = service.list_surveys(
        db, scope, programme, review_status, method, hazard_area_id, after, limit
    )
    links = []
    if more:
        links.append({"rel": "next", "href": str(request.url.include_query_params(after=items[-1].id))})
    return SurveyPage(items=items, links=links)


@router.get("/{survey_id}", response_model=SurveyOut)
def get_survey(survey_id: int, db: DB, scope: CurrentScope) -> JSONResponse:
    return _answer(db, service.get_survey(db, scope, survey_id))


@router.patch("/{survey_id}", response_model=SurveyOut)
def patch_survey(
    survey_id: int, patch: SurveyPatch, db: DB, scope: CurrentScope, if_match: IfMatch = None
) -> JSONResponse:
    """JSON Merge Patch of a draft or rejected report; needs ``If-Match``."""
    versions = if_match_versions(if_match)
    survey = service.update_survey(db, scope, survey_id, versions, patch)
    db.commit()
    return _answer(db, survey)


def _review(
    action: str, survey_id: int, db: DB, scope: CurrentScope, body: ReviewIn | None, if_match: str | None
) -> JSONResponse:
    reason = body.reason if body is not None else None
    survey = service.review(db, scope, survey_id, action, if_match_versions(if_match, required=False), reason)
    db.commit()
    return _answer(db, survey)


@router.post("/{survey_id}/submit", response_model=SurveyOut)
def submit(
    survey_id: int, db: DB, scope: CurrentScope, body: ReviewIn | None = None, if_match: IfMatch = None
) -> JSONResponse:
    return _review("submit", survey_id, db, scope, body, if_match)


@router.post("/{survey_id}/approve", response_model=SurveyOut)
def approve(
    survey_id: int, db: DB, scope: CurrentScope, body: ReviewIn | None = None, if_match: IfMatch = None
) -> JSONResponse:
    """Coordinators and admins."""
    return _review("approve", survey_id, db, scope, body, if_match)


@router.post("/{survey_id}/reject", response_model=SurveyOut)
def reject(
    survey_id: int, body: ReviewIn, db: DB, scope: CurrentScope, if_match: IfMatch = None
) -> JSONResponse:
    """Coordinators and admins; ``reason`` is required."""
    return _review("reject", survey_id, db, scope, body, if_match)


@router.delete("/{survey_id}", status_code=204)
def delete_survey(survey_id: int, db: DB, scope: CurrentScope, if_match: IfMatch = None) -> Response:
    """Drafts only; approved reports are never deleted."""
    service.delete_survey(db, scope, survey_id, if_match_versions(if_match, required=False))
    db.commit()
    return Response(status_code=204)


@router.get(
    "/{survey_id}/evidence",
    response_class=StreamingResponse,
    responses={200: {"content": {GEOJSON: {}}}},
)
def list_evidence(
    survey_id: int,
    request: Request,
    db: DB,
    scope: CurrentScope,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    after: Annotated[int, Query(ge=0, description="keyset: the last id of the previous page")] = 0,
) -> StreamingResponse:
    """The report's evidence points as a GeoJSON FeatureCollection (built in SQL)."""
    service.get_survey(db, scope, survey_id)
    sql, params = service.evidence_sql(survey_id, after, limit)
    rows = primed(stream_rows(get_engine(), sql, params))
    return geojson_response(feature_collection_stream(rows, limit, next_link(request.url)))


@router.post("/{survey_id}/evidence", status_code=201, responses={201: {"content": {GEOJSON: {}}}})
def add_evidence(survey_id: int, data: EvidenceIn, db: DB, scope: CurrentScope) -> Response:
    """An evidence point, from ``coordinate`` as typed or a GeoJSON ``geometry``."""
    evidence = service.add_evidence(db, scope, survey_id, data)
    db.commit()
    return Response(service.evidence_feature(db, evidence.id), status_code=201, media_type=GEOJSON)


@router.delete("/{survey_id}/evidence/{evidence_id}", status_code=204)
def delete_evidence(survey_id: int, evidence_id: int, db: DB, scope: CurrentScope) -> Response:
    service.delete_evidence(db, scope, survey_id, evidence_id)
    db.commit()
    return Response(status_code=204)
