"""Hazard-area endpoints (``/api/v1/hazard-areas``), plus the non-technical survey sub-package's.

Thin HTTP over ``survey.service`` (GeoJSON in and out).

Bodies are parsed here (not by FastAPI models) so that any malformed input — not JSON, NaN,
numbers too large for a double, wrong GeoJSON — becomes a 4xx problem+json naming the field.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.responses import StreamingResponse

from app.db import get_engine
from app.deps import DB, CurrentPrincipal, CurrentScope
from app.errors import Problem
from app.etag import etag, if_match_versions, not_modified
from app.openapi_bodies import request_body
from app.review import ReviewIn
from geo.geojson import GEOJSON, feature_collection_stream, geojson_response, next_link, primed, stream_rows
from survey import service
from survey.nts.router import router as nts_router
from survey.schemas import HazardFeatureIn, HazardPatchIn

router = APIRouter()
router.include_router(nts_router)
hazards = APIRouter(prefix="/api/v1/hazard-areas", tags=["hazard areas"])

JSON_TYPES = ("application/json", "application/geo+json", "application/merge-patch+json")


async def json_body(request: Request) -> Any:
    """The request body as JSON, or a 4xx saying what is wrong with it."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in JSON_TYPES:
        raise Problem(415, f"Send JSON ({', '.join(JSON_TYPES)}), not {content_type!r}.")
    raw = await request.body()
    if not raw.strip():
        raise Problem(422, "The request body is empty.", errors=[{"field": "body", "message": "empty"}])
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem(
            422, f"The body is not valid JSON: {exc}", errors=[{"field": "body", "message": str(exc)}]
        ) from exc


Body = Annotated[Any, Depends(json_body)]


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    parts = value.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if (
        len(numbers) != 4
        or not all(math.isfinite(n) for n in numbers)
        or not (-180 <= numbers[0] <= numbers[2] <= 180 and -90 <= numbers[1] <= numbers[3] <= 90)
    ):
        raise Problem(
            422,
            f"bbox {value!r}: expected minLon,minLat,maxLon,maxLat in degrees (e.g. 41,-2,52,12).",
            errors=[{"field": "bbox", "message": "expected four numbers minLon,minLat,maxLon,maxLat"}],
        )
    return numbers[0], numbers[1], numbers[2], numbers[3]


def _feature_response(
    row: service.FeatureRow, status: int = 200, extra: dict[str, Any] | None = None
) -> Response:
    headers = {"ETag": etag(row.version), "Location": f"/api/v1/hazard-areas/{row.id}"}
    if not extra:
        return Response(row.feature, status_code=status, media_type=GEOJSON, headers=headers)
    body = orjson.loads(row.feature)
    body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=GEOJSON, headers=headers)


@hazards.get(
    "",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
    summary="Hazard areas as a GeoJSON FeatureCollection",
)
def list_hazard_areas(
    request: Request,
    db: DB,
    scope: CurrentScope,
    principal: CurrentPrincipal,
    programme: str | None = None,
    status: Literal["open", "worked_on", "closed"] | None = None,
    classification: Literal["SHA", "CHA"] | None = None,
    review_status: Literal["draft", "submitted", "approved", "rejected"] | None = None,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat")] = None,
    updated_since: datetime | None = None,
    as_of: Annotated[datetime | None, Query(description="the map as it was at this instant")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    after: Annotated[
        int, Query(ge=0, le=2**31 - 1, description="keyset: the last id of the previous page")
    ] = 0,
) -> StreamingResponse:
    """Partners see approved hazard areas only; ``as_of`` answers from the audit log."""
    filters = service.HazardFilter(
        programme_ids=scope.programme_filter(db, programme.upper() if programme else None),
        status=status,
        classification=classification,
        review_status=review_status,
        bbox=parse_bbox(bbox),
        updated_since=_utc(updated_since),
        as_of=_utc(as_of),
        approved_only=principal.is_partner,
    )
    sql, params = service.hazard_features_sql(filters, after, limit)
    rows = primed(stream_rows(get_engine(), sql, params))
    return geojson_response(feature_collection_stream(rows, limit, next_link(request.url)))


@hazards.post(
    "",
    status_code=201,
    responses={201: {"content": {"application/geo+json": {}}}},
    openapi_extra=request_body(HazardFeatureIn, "application/geo+json", "application/json"),
)
def create_hazard_area(body: Body, db: DB, scope: CurrentScope, principal: CurrentPrincipal) -> Response:
    """Create a hazard area from a GeoJSON Feature (Polygon or MultiPolygon, lon/lat)."""
    created = service.create_hazard(db, scope, principal, body)
    db.commit()
    row = service.read_feature(db, created.id)
    assert row is not None
    extra: dict[str, Any] = {
        "checks": {"status": created.check.status, "messages": created.check.messages},
        "possible_duplicates": [d.as_report() for d in created.duplicates],
    }
    if created.check.area_before_m2 is not None:
        extra["checks"]["area_before_m2"] = round(created.check.area_before_m2, 2)
        extra["checks"]["area_after_m2"] = round(created.check.area_after_m2 or 0.0, 2)
    return _feature_response(row, 201, extra)


@hazards.get("/{hazard_id}", responses={200: {"content": {"application/geo+json": {}}}})
def get_hazard_area(
    hazard_id: int,
    db: DB,
    scope: CurrentScope,
    principal: CurrentPrincipal,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    row = service.get_feature(db, scope, principal, hazard_id)
    if not_modified(if_none_match, row.version):
        return Response(status_code=304, headers={"ETag": etag(row.version)})
    return _feature_response(row)


@hazards.patch(
    "/{hazard_id}",
    responses={200: {"content": {"application/geo+json": {}}}},
    openapi_extra=request_body(HazardPatchIn, "application/merge-patch+json", "application/json"),
)
def patch_hazard_area(
    hazard_id: int,
    body: Body,
    db: DB,
    scope: CurrentScope,
    principal: CurrentPrincipal,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """JSON Merge Patch (RFC 7396) of ``properties`` and/or ``geometry``; needs If-Match."""
    service.get_feature(db, scope, principal, hazard_id)  # 404 before 428 for what you cannot see
    versions = if_match_versions(if_match)
    check = service.update_hazard(db, scope, principal, hazard_id, versions, body)
    db.commit()
    row = service.read_feature(db, hazard_id)
    assert row is not None
    extra = {"checks": {"status": check.status, "messages": check.messages}} if check is not None else None
    return _feature_response(row, 200, extra)


def _review(
    action: str,
    hazard_id: int,
    request_body: dict[str, Any] | None,
    db: Any,
    scope: Any,
    principal: Any,
    if_match: str | None,
) -> Response:
    reason = None
    if request_body is not None:
        if not isinstance(request_body, dict) or set(request_body) - {"reason"}:
            raise Problem(422, "The body may only carry {'reason': '…'}.", errors=[{"field": "body"}])
        reason = request_body.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise Problem(
                422, "reason: expected text.", errors=[{"field": "reason", "message": "expected text"}]
            )
    service.review_hazard(
        db, scope, principal, hazard_id, action, reason, if_match_versions(if_match, required=False)
    )
    db.commit()
    row = service.read_feature(db, hazard_id)
    assert row is not None
    return _feature_response(row)


async def optional_json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    return await json_body(request)


OptionalBody = Annotated[Any, Depends(optional_json_body)]


@hazards.post("/{hazard_id}/submit", openapi_extra=request_body(ReviewIn, required=False))
def submit_hazard_area(
    hazard_id: int,
    body: OptionalBody,
    db: DB,
    scope: CurrentScope,
    principal: CurrentPrincipal,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Send a draft (or corrected rejected) hazard area for review."""
    return _review("submit", hazard_id, body, db, scope, principal, if_match)


@hazards.post("/{hazard_id}/approve", openapi_extra=request_body(ReviewIn, required=False))
def approve_hazard_area(
    hazard_id: int,
    body: OptionalBody,
    db: DB,
    scope: CurrentScope,
    principal: CurrentPrincipal,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Approve (coordinator or admin): the hazard area becomes visible to partners."""
    return _review("approve", hazard_id, body, db, scope, principal, if_match)


@hazards.post("/{hazard_id}/reject", openapi_extra=request_body(ReviewIn))
def reject_hazard_area(
    hazard_id: int,
    body: OptionalBody,
    db: DB,
    scope: CurrentScope,
    principal: CurrentPrincipal,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Reject (coordinator or admin) with ``{"reason": "…"}``."""
    return _review("reject", hazard_id, body, db, scope, principal, if_match)


@hazards.delete("/{hazard_id}", status_code=204)
def delete_hazard_area(
    hazard_id: int,
    db: DB,
    scope: CurrentScope,
    principal: CurrentPrincipal,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Delete a draft. Its reference is never given to another hazard area."""
    service.delete_hazard(db, scope, principal, hazard_id, if_match_versions(if_match, required=False))
    db.commit()
    return Response(status_code=204)


@hazards.get("/{hazard_id}/history")
def hazard_area_history(
    hazard_id: int, db: DB, scope: CurrentScope, principal: CurrentPrincipal
) -> JSONResponse:
    """Every version: who, when and what changed (from the audit log)."""
    return JSONResponse(service.hazard_history(db, scope, principal, hazard_id))


router.include_router(hazards)
