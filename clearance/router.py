"""HTTP for land release, progress/completion and QA/QC. Thin: the work is in the services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response
from starlette.responses import StreamingResponse

from app.auth.service import Principal
from app.db import get_engine
from app.deps import DB, CurrentPrincipal, CurrentScope, require_roles
from app.etag import etag
from app.review import WRITERS, ReviewIn
from clearance import qa, sampling, service
from clearance.schemas import (
    CancelIn,
    ChecklistTemplateIn,
    CompleteIn,
    LandReleaseIn,
    LandReleasePatch,
    NcActionIn,
    ProgressReportIn,
    QaVisitIn,
    QaVisitPatch,
    SamplingPlanIn,
)
from geo.geojson import GEOJSON, feature_collection_stream, geojson_response, next_link, primed, stream_rows

router = APIRouter(prefix="/api/v1")

Writer = Annotated[Principal, Depends(require_roles(*WRITERS))]
QaRecorder = Annotated[Principal, Depends(require_roles(*qa.RECORDERS))]
QaConfigurer = Annotated[Principal, Depends(require_roles("admin", "qa_officer"))]
Id = Annotated[int, Query(ge=1, le=2**31 - 1)]
IfMatch = Annotated[str | None, Header(alias="If-Match")]

_GEO: dict[int | str, dict[str, Any]] = {200: {"content": {GEOJSON: {}}}}
_JSON = "application/json"


def _feature(body: str, version: int, status: int = 200, location: str | None = None) -> Response:
    headers = {"ETag": etag(version)}
    if location:
        headers["Location"] = location
    return Response(body, status_code=status, media_type=GEOJSON, headers=headers)


def _release_response(db: DB, scope: CurrentScope, release_id: int, status: int = 200) -> Response:
    feature, version, _ = service.get_release(db, scope, release_id)
    return _feature(
        feature, version, status, f"/api/v1/land-releases/{release_id}" if status == 201 else None
    )


# ---------------------------------------------------------------- land releases


@router.get("/land-releases", tags=["land release"], response_class=StreamingResponse, responses=_GEO)
def list_land_releases(
    request: Request,
    db: DB,
    scope: CurrentScope,
    programme: str | None = None,
    hazard_area_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    method: Literal["cancelled", "reduced", "cleared"] | None = None,
    activity: Literal["nts", "ts", "clearance", "bac"] | None = None,
    review_status: Literal["draft", "submitted", "approved", "rejected"] | None = None,
    task_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    organisation_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    survey_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    rework_required: bool | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    after: Annotated[int, Query(ge=0, le=2**31 - 1, description="keyset: last id of the previous page")] = 0,
) -> StreamingResponse:
    """Land releases of your programmes as GeoJSON (partners see approved releases only)."""
    filters = {
        "hazard_area_id": hazard_area_id,
        "method": method,
        "activity": activity,
        "review_status": review_status,
        "task_id": task_id,
        "organisation_id": organisation_id,
        "survey_id": survey_id,
        "rework_required": rework_required,
        "date_from": date_from,
        "date_to": date_to,
    }
    ids = scope.programme_filter(db, programme)
    sql, params = service.list_sql(ids, scope.principal.is_partner, filters, after, limit)
    rows = primed(stream_rows(get_engine(), sql, params))
    return geojson_response(feature_collection_stream(rows, limit, next_link(request.url)))


@router.post("/land-releases", tags=["land release"], status_code=201, responses=_GEO)
def create_land_release(data: LandReleaseIn, db: DB, scope: CurrentScope, principal: Writer) -> Response:
    release_id = service.create_release(db, principal, scope, data)
    service.commit(db)
    return _release_response(db, scope, release_id, 201)


@router.get("/land-releases/{release_id}", tags=["land release"], responses=_GEO)
def get_land_release(release_id: int, db: DB, scope: CurrentScope) -> Response:
    return _release_response(db, scope, release_id)


@router.patch("/land-releases/{release_id}", tags=["land release"], responses=_GEO)
def patch_land_release(
    release_id: int,
    data: LandReleasePatch,
    db: DB,
    scope: CurrentScope,
    principal: Writer,
    if_match: IfMatch = None,
) -> Response:
    service.update_release(db, principal, scope, release_id, data, if_match)
    service.commit(db)
    return _release_response(db, scope, release_id)


def _review(action: str) -> Callable[..., Response]:
    def endpoint(
        release_id: int,
        db: DB,
        scope: CurrentScope,
        principal: CurrentPrincipal,
        data: ReviewIn | None = None,
        if_match: IfMatch = None,
    ) -> Response:
        reason = data.reason if data else None
        service.review_release(db, principal, scope, release_id, action, reason, if_match)
        service.commit(db)
        return _release_response(db, scope, release_id)

    endpoint.__name__ = f"{action}_land_release"
    return endpoint


for _action in ("submit", "approve", "reject"):
    router.add_api_route(
        f"/land-releases/{{release_id}}/{_action}",
        _review(_action),
        methods=["POST"],
        tags=["land release"],
        responses=_GEO,
        summary=f"{_action.capitalize()} a land release",
    )


@router.post("/hazard-areas/{hazard_area_id}/cancel", tags=["land release"], status_code=201, responses=_GEO)
def cancel_hazard_area(
    hazard_area_id: int, data: CancelIn, db: DB, scope: CurrentScope, principal: Writer
) -> Response:
    """NTS cancellation: the stated polygon (or the whole remaining hazard) becomes cancelled land."""
    release_id = service.cancel_hazard_area(db, principal, scope, hazard_area_id, data)
    service.commit(db)
    return _release_response(db, scope, release_id, 201)


@router.post("/hazard-areas/{hazard_area_id}/complete", tags=["land release"], status_code=201)
def complete_hazard_area(
    hazard_area_id: int, data: CompleteIn, db: DB, scope: CurrentScope, principal: Writer
) -> Response:
    """Release the remainder as cleared or reduced and write the completion/handover record."""
    completion_id = service.complete_hazard_area(db, principal, scope, hazard_area_id, data)
    service.commit(db)
    body = service.get_completion(db, scope, completion_id)
    return Response(body, 201, media_type=_JSON, headers={"Location": f"/api/v1/completions/{completion_id}"})


@router.get("/completions/{completion_id}", tags=["land release"])
def get_completion(completion_id: int, db: DB, scope: CurrentScope) -> Response:
    return Response(service.get_completion(db, scope, completion_id), media_type=_JSON)


@router.post("/progress-reports", tags=["land release"], status_code=201)
def create_progress_report(
    data: ProgressReportIn, db: DB, scope: CurrentScope, principal: Writer
) -> Response:
    report_id = service.create_progress_report(db, principal, scope, data)
    service.commit(db)
    return Response(
        service.get_progress_report(db, scope, report_id),
        201,
        media_type=_JSON,
        headers={"Location": f"/api/v1/progress-reports/{report_id}"},
    )


@router.get("/progress-reports", tags=["land release"])
def list_progress_reports(
    db: DB,
    scope: CurrentScope,
    task_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    programme: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    items = service.list_progress_reports(db, scope, task_id, programme, after, limit)
    return Response("[" + ",".join(items) + "]", media_type=_JSON)


@router.get("/progress-reports/{report_id}", tags=["land release"])
def get_progress_report(report_id: int, db: DB, scope: CurrentScope) -> Response:
    return Response(service.get_progress_report(db, scope, report_id), media_type=_JSON)


# ---------------------------------------------------------------- QA/QC


@router.get("/qa-visits", tags=["QA/QC"], response_class=StreamingResponse, responses=_GEO)
def list_qa_visits(
    request: Request,
    db: DB,
    scope: CurrentScope,
    programme: str | None = None,
    type: Literal["accreditation", "monitoring", "post_clearance_inspection"] | None = None,
    organisation_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    task_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    result: Literal["pass", "pass_with_findings", "fail"] | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> StreamingResponse:
    """QA/QC visits as GeoJSON (location as geometry), with their non-conformities."""
    qa.forbid_partner(scope.principal)
    filters = {
        "type": type,
        "organisation_id": organisation_id,
        "task_id": task_id,
        "result": result,
        "date_from": date_from,
        "date_to": date_to,
    }
    sql, params = qa.visits_sql(scope.programme_filter(db, programme), filters, after, limit)
    rows = primed(stream_rows(get_engine(), sql, params))
    return geojson_response(feature_collection_stream(rows, limit, next_link(request.url)))


@router.post("/qa-visits", tags=["QA/QC"], status_code=201, responses=_GEO)
def create_qa_visit(data: QaVisitIn, db: DB, scope: CurrentScope, principal: QaRecorder) -> Response:
    visit_id = qa.create_visit(db, principal, scope, data)
    service.commit(db)
    body, version = qa.get_visit(db, scope, visit_id)
    return _feature(body, version, 201, f"/api/v1/qa-visits/{visit_id}")


@router.get("/qa-visits/{visit_id}", tags=["QA/QC"], responses=_GEO)
def get_qa_visit(visit_id: int, db: DB, scope: CurrentScope) -> Response:
    qa.forbid_partner(scope.principal)
    body, version = qa.get_visit(db, scope, visit_id)
    return _feature(body, version)


@router.patch("/qa-visits/{visit_id}", tags=["QA/QC"], responses=_GEO)
def patch_qa_visit(
    visit_id: int,
    data: QaVisitPatch,
    db: DB,
    scope: CurrentScope,
    principal: QaRecorder,
    if_match: IfMatch = None,
) -> Response:
    """Correct a recorded visit; If-Match with the visit's ETag is required."""
    qa.update_visit(db, principal, scope, visit_id, data, if_match)
    service.commit(db)
    body, version = qa.get_visit(db, scope, visit_id)
    return _feature(body, version)


@router.get("/qa/non-conformities", tags=["QA/QC"])
def list_non_conformities(
    db: DB,
    scope: CurrentScope,
    programme: str | None = None,
    overdue: bool = False,
    status: Literal["open", "corrected", "closed"] | None = None,
    severity: Literal["critical", "major", "minor"] | None = None,
    organisation_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    """Non-conformities; ``overdue=true``: not closed and past their due date."""
    qa.forbid_partner(scope.principal)
    body = qa.list_non_conformities(
        db, scope.programme_filter(db, programme), overdue, status, severity, organisation_id, after, limit
    )
    return Response(body, media_type=_JSON)


def _nc_action(action: str) -> Callable[..., Response]:
    def endpoint(
        nc_id: int,
        db: DB,
        scope: CurrentScope,
        principal: CurrentPrincipal,
        data: NcActionIn | None = None,
        if_match: IfMatch = None,
    ) -> Response:
        qa.act_on_non_conformity(db, principal, scope, nc_id, action, data.note if data else None, if_match)
        service.commit(db)
        body, version = qa.get_non_conformity(db, scope, nc_id)
        return Response(body, media_type=_JSON, headers={"ETag": etag(version)})

    endpoint.__name__ = f"{action}_non_conformity"
    return endpoint


for _action in ("correct", "close", "reopen"):
    router.add_api_route(
        f"/qa/non-conformities/{{nc_id}}/{_action}",
        _nc_action(_action),
        methods=["POST"],
        tags=["QA/QC"],
        summary=f"{_action.capitalize()} a non-conformity",
    )


@router.get("/qa/non-conformities/{nc_id}", tags=["QA/QC"])
def get_non_conformity(nc_id: int, db: DB, scope: CurrentScope) -> Response:
    qa.forbid_partner(scope.principal)
    body, version = qa.get_non_conformity(db, scope, nc_id)
    return Response(body, media_type=_JSON, headers={"ETag": etag(version)})


@router.get("/qa/suspensions", tags=["QA/QC"])
def list_suspensions(
    db: DB, scope: CurrentScope, programme: str | None = None, active: bool | None = None
) -> Response:
    qa.forbid_partner(scope.principal)
    return Response(qa.list_suspensions(db, scope.programme_filter(db, programme), active), media_type=_JSON)


@router.get("/qa/checklist-template", tags=["QA/QC"])
def get_checklist_template(db: DB, scope: CurrentScope, programme: str) -> Response:
    programme_row = scope.programme(db, programme)
    return Response(qa.checklist_template_json(db, programme_row.id), media_type=_JSON)


@router.put("/qa/checklist-template", tags=["QA/QC"])
def put_checklist_template(
    data: ChecklistTemplateIn, db: DB, scope: CurrentScope, _: QaConfigurer, programme: str
) -> Response:
    programme_row = scope.programme(db, programme)
    qa.set_checklist_template(db, programme_row.id, data)
    service.commit(db)
    return Response(qa.checklist_template_json(db, programme_row.id), media_type=_JSON)


@router.get("/qa/sampling-plan", tags=["QA/QC"], responses=_GEO)
def get_sampling_plan(
    db: DB,
    scope: CurrentScope,
    land_release_id: Id,
    seed: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    layout: Literal["cells", "lanes"] = "cells",
    lane_width_m: Annotated[float, Query(ge=0.5, le=20)] = 1.0,
) -> Response:
    """The sample for inspecting one lot: sample area and random cells (or lanes) inside the
    released polygon.

    The same ``seed`` always gives the same sample; without one a seed is chosen and returned.
    """
    qa.forbid_partner(scope.principal)
    body = sampling.sample_for_lot(db, scope, land_release_id, seed, layout, lane_width_m)
    return Response(body, media_type=GEOJSON)


@router.get("/qa/sampling-plans", tags=["QA/QC"])
def get_sampling_bands(db: DB, scope: CurrentScope, programme: str) -> Response:
    programme_row = scope.programme(db, programme)
    return Response(sampling.bands_json(db, programme_row.id), media_type=_JSON)


@router.put("/qa/sampling-plans", tags=["QA/QC"])
def put_sampling_bands(
    data: SamplingPlanIn, db: DB, scope: CurrentScope, _: QaConfigurer, programme: str
) -> Response:
    programme_row = scope.programme(db, programme)
    sampling.set_bands(db, programme_row.id, data)
    service.commit(db)
    return Response(sampling.bands_json(db, programme_row.id), media_type=_JSON)


@router.get("/qa/rework", tags=["QA/QC"])
def list_rework(db: DB, scope: CurrentScope, programme: str | None = None) -> Response:
    """Hazard areas and releases flagged for re-work by a rejected post-clearance inspection."""
    qa.forbid_partner(scope.principal)
    return Response(qa.list_rework(db, scope.programme_filter(db, programme)), media_type=_JSON)
