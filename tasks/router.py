"""Task, EOD item and planning endpoints: thin HTTP over tasks.service / planning / dossier."""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.responses import StreamingResponse

from app.auth.service import Principal
from app.db import get_engine
from app.deps import DB, CurrentScope, Scope, get_public_db, optional_principal
from app.errors import Problem
from app.etag import etag
from app.pages import LoginRequired
from app.review import ReviewIn
from geo.geojson import GEOJSON, feature_collection_stream, geojson_response, next_link, primed, stream_rows
from tasks import dossier, planning, service
from tasks.models import DISPOSAL_METHODS, ITEM_REVIEW_STATUSES, TASK_STATUSES, TASK_TYPES
from tasks.schemas import ItemIn, QueueRequest, TaskIn, TaskPatch, TransitionIn

router = APIRouter(prefix="/api/v1", tags=["tasks and EOD"])

GEOJSON_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {GEOJSON: {}}}}
Limit = Annotated[int, Query(ge=1, le=10_000)]
After = Annotated[int, Query(ge=0, le=2**31 - 1, description="keyset: the last id of the previous page")]
Id = Annotated[int, Query(ge=1, le=2**31 - 1)]


def _choices(value: str | None, allowed: tuple[str, ...], field: str) -> list[str] | None:
    """A comma-separated filter such as ``status=planned,assigned``, each value checked."""
    if value is None:
        return None
    values = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise Problem(
            422,
            f"{field}: unknown value(s) {', '.join(unknown)}; use {', '.join(allowed)}",
            errors=[{"field": field, "message": "unknown value"}],
        )
    return values


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        numbers = tuple(float(v) for v in value.split(","))
    except ValueError:
        numbers = ()
    if (
        len(numbers) != 4
        or not all(math.isfinite(n) for n in numbers)
        or not (-180 <= numbers[0] <= numbers[2] <= 180 and -90 <= numbers[1] <= numbers[3] <= 90)
    ):
        raise Problem(
            422,
            "bbox: give minlon,minlat,maxlon,maxlat in degrees (WGS84), min before max",
            errors=[{"field": "bbox", "message": "invalid bbox"}],
        )
    return numbers[0], numbers[1], numbers[2], numbers[3]


def _feature_response(feature: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(feature, status_code=status, media_type=GEOJSON, headers=headers)


# ------------------------------------------------------------------------------------------ tasks


@router.get("/tasks", response_class=StreamingResponse, responses=GEOJSON_RESPONSE)
def list_tasks(
    request: Request,
    db: DB,
    scope: CurrentScope,
    programme: str | None = None,
    status: Annotated[str | None, Query(description="comma-separated, e.g. planned,assigned")] = None,
    type: Annotated[str | None, Query(description="comma-separated task types")] = None,
    team_id: Id | None = None,
    organisation_id: Id | None = None,
    hazard_area_id: Id | None = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
    planned_from: Annotated[date | None, Query(description="planned dates overlap [from, to]")] = None,
    planned_to: date | None = None,
    limit: Limit = 500,
    after: After = 0,
) -> StreamingResponse:
    """Tasks of your programmes as a GeoJSON FeatureCollection (geometry: union of the targeted
    hazard areas, or the spot-task point), a page at a time with a ``next`` link."""
    filters = service.TaskFilters(
        programme_ids=scope.programme_filter(db, programme),
        status=_choices(status, TASK_STATUSES, "status"),
        type=_choices(type, TASK_TYPES, "type"),
        team_id=team_id,
        organisation_id=organisation_id,
        hazard_area_id=hazard_area_id,
        bbox=_bbox(bbox),
        planned_from=planned_from,
        planned_to=planned_to,
        partner=scope.principal.is_partner,
    )
    sql, params = service.tasks_sql(filters, after, limit)
    rows = primed(stream_rows(get_engine(), sql, params))
    return geojson_response(feature_collection_stream(rows, limit, next_link(request.url)))


@router.post("/tasks", status_code=201, response_class=Response, responses={201: {"content": {GEOJSON: {}}}})
def create_task(data: TaskIn, db: DB, scope: CurrentScope) -> Response:
    task = service.create_task(db, scope, data)
    feature = service.task_feature(db, task.id)
    db.commit()
    return _feature_response(
        feature, 201, {"ETag": etag(task.version), "Location": f"/api/v1/tasks/{task.id}"}
    )


@router.get("/tasks/{task_id}", response_class=Response, responses=GEOJSON_RESPONSE)
def get_task(task_id: int, db: DB, scope: CurrentScope) -> Response:
    task = service.get_task(db, scope, task_id)
    feature = service.task_feature(db, task.id, partner=scope.principal.is_partner)
    return _feature_response(feature, headers={"ETag": etag(task.version)})


@router.patch("/tasks/{task_id}", response_class=Response, responses=GEOJSON_RESPONSE)
def patch_task(
    task_id: int,
    data: TaskPatch,
    db: DB,
    scope: CurrentScope,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    task = service.patch_task(db, scope, task_id, data, if_match)
    feature = service.task_feature(db, task.id)
    db.commit()
    return _feature_response(feature, headers={"ETag": etag(task.version)})


@router.post("/tasks/{task_id}/transitions")
def transition(
    task_id: int,
    data: TransitionIn,
    db: DB,
    scope: CurrentScope,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Move a task along its status machine: ``{"to": "in_progress", "reason": "…"}``."""
    result = service.transition(db, scope, task_id, data, if_match)
    db.commit()
    task = result.task
    body = {
        "id": task.id,
        "reference": task.reference,
        "from": result.from_status,
        "to": task.status,
        "reason": data.reason,
        "changed_by": scope.principal.username,
        "version": task.version,
        "allowed_next": list(service.TRANSITIONS[task.status]),
        "hazard_areas_worked_on": result.hazard_areas_worked_on,
    }
    return JSONResponse(body, headers={"ETag": etag(task.version)})


@router.get("/tasks/{task_id}/history")
def task_history(task_id: int, db: DB, scope: CurrentScope) -> Response:
    """Every status change of the task: from, to, who, when, why."""
    return Response(orjson.dumps(service.history(db, scope, task_id)), media_type="application/json")


# ------------------------------------------------------------------------------------ EOD items


@router.get("/eo-catalogue")
def eo_catalogue(db: DB, _: CurrentScope) -> list[dict[str, Any]]:
    """The explosive-ordnance catalogue: categories, subcategories and their report groups."""
    return service.catalogue(db)


@router.post(
    "/tasks/{task_id}/items",
    status_code=201,
    response_class=Response,
    responses={201: {"content": {GEOJSON: {}}}},
)
def add_item(task_id: int, data: ItemIn, db: DB, scope: CurrentScope) -> Response:
    """Report a find. It enters as ``submitted``: it counts in the official figures, and
    partners see it, once a coordinator or an admin approves it."""
    item = service.add_item(db, scope, task_id, data)
    feature = service.item_feature(db, item.id)
    db.commit()
    return _feature_response(feature, 201, {"Location": f"/api/v1/eo-items/{item.id}"})


@router.post("/tasks/{task_id}/items/approve")
def approve_task_items(task_id: int, db: DB, scope: CurrentScope) -> dict[str, Any]:
    """Approve every submitted find of the task (coordinator or admin): the ids approved."""
    ids = service.approve_task_items(db, scope, task_id)
    db.commit()
    return {"task_id": task_id, "approved": ids}


@router.get("/eo-items/{item_id}", response_class=Response, responses=GEOJSON_RESPONSE)
def get_item(item_id: int, db: DB, scope: CurrentScope) -> Response:
    service.get_item(db, scope, item_id)
    return _feature_response(service.item_feature(db, item_id))


@router.post("/eo-items/{item_id}/approve", response_class=Response, responses=GEOJSON_RESPONSE)
def approve_item(item_id: int, db: DB, scope: CurrentScope, data: ReviewIn | None = None) -> Response:
    """Approve a reported find (coordinator or admin): it now counts in the official figures."""
    service.review_item(db, scope, item_id, "approve", data.reason if data else None)
    db.commit()
    return _feature_response(service.item_feature(db, item_id))


@router.post("/eo-items/{item_id}/reject", response_class=Response, responses=GEOJSON_RESPONSE)
def reject_item(item_id: int, data: ReviewIn, db: DB, scope: CurrentScope) -> Response:
    """Reject a reported find, with the reason (coordinator or admin). It stays on record and
    never counts; the team reports the corrected find anew."""
    service.review_item(db, scope, item_id, "reject", data.reason)
    db.commit()
    return _feature_response(service.item_feature(db, item_id))


@router.get("/eo-items", response_class=StreamingResponse, responses=GEOJSON_RESPONSE)
def list_items(
    request: Request,
    db: DB,
    scope: CurrentScope,
    programme: str | None = None,
    task_id: Id | None = None,
    category: Annotated[str | None, Query(description="comma-separated catalogue categories")] = None,
    report_group: Annotated[str | None, Query(description="e.g. ap_mines,submunitions")] = None,
    disposal_method: Annotated[str | None, Query(description="comma-separated")] = None,
    review_status: Annotated[str | None, Query(description="submitted, approved, rejected")] = None,
    organisation_id: Id | None = None,
    found_from: date | None = None,
    found_to: date | None = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
    limit: Limit = 1000,
    after: After = 0,
) -> StreamingResponse:
    """Explosive ordnance items found, as a GeoJSON FeatureCollection with ``next`` links."""
    filters = service.ItemFilters(
        programme_ids=scope.programme_filter(db, programme),
        task_id=task_id,
        category=_choices(category, tuple(c["category"] for c in service.catalogue(db)), "category"),
        report_group=_choices(
            report_group, tuple({c["report_group"] for c in service.catalogue(db)}), "report_group"
        ),
        disposal_method=_choices(disposal_method, DISPOSAL_METHODS, "disposal_method"),
        review_status=_choices(review_status, ITEM_REVIEW_STATUSES, "review_status"),
        organisation_id=organisation_id,
        found_from=found_from,
        found_to=found_to,
        bbox=_bbox(bbox),
        partner=scope.principal.is_partner,
    )
    sql, params = service.items_sql(filters, after, limit)
    rows = primed(stream_rows(get_engine(), sql, params))
    return geojson_response(feature_collection_stream(rows, limit, next_link(request.url)))


# ------------------------------------------------------------------------------------- planning


def _planner(scope: Scope) -> None:
    if scope.principal.role not in planning.PLANNERS:
        raise Problem(
            403,
            f"Planning needs one of the roles {', '.join(planning.PLANNERS)}; you are {scope.principal.role}.",
        )


def _weights_param(value: str | None) -> dict[str, float]:
    """``weights=classification:3,distance:0.5`` (the JSON body of POST does the same)."""
    if not value:
        return {}
    weights: dict[str, float] = {}
    for part in value.split(","):
        name, sep, number = part.partition(":")
        try:
            weights[name.strip()] = float(number) if sep else math.nan
        except ValueError:
            weights[name.strip()] = math.nan
    return weights


@router.get("/planning/queue", response_class=StreamingResponse, responses=GEOJSON_RESPONSE)
def planning_queue(
    db: DB,
    scope: CurrentScope,
    programme: str | None = None,
    weights: Annotated[
        str | None, Query(description="override weights, e.g. classification:3,distance:0.5")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> StreamingResponse:
    """Hazard areas not yet tasked, best first, each with its score explained."""
    _planner(scope)
    return _queue(db, scope, QueueRequest.model_construct(programme=programme, limit=limit), weights)


@router.post("/planning/queue", response_class=StreamingResponse, responses=GEOJSON_RESPONSE)
def planning_queue_post(
    db: DB, scope: CurrentScope, data: Annotated[QueueRequest, Body()]
) -> StreamingResponse:
    """The queue with weights in a JSON body: ``{"programme": "SOM", "weights": {...}}``."""
    _planner(scope)
    return _queue(db, scope, data, None)


def _queue(db: Session, scope: Scope, data: QueueRequest, weights_text: str | None) -> StreamingResponse:
    weights = planning.resolve_weights(data.weights if weights_text is None else _weights_param(weights_text))
    ids = scope.programme_filter(db, data.programme)
    sql, params = planning.queue_sql(ids, weights, data.limit)
    rows = primed(stream_rows(get_engine(), sql, params))
    extra = {"weights": weights.as_dict()}
    return geojson_response(feature_collection_stream(rows, data.limit, None, extra=extra))


@router.get("/planning/conflicts")
def planning_conflicts(
    db: DB,
    scope: CurrentScope,
    programme: str | None = None,
    planned_from: date | None = None,
    planned_to: date | None = None,
) -> Response:
    """Active tasks whose areas overlap in overlapping planned dates, and teams booked twice."""
    _planner(scope)
    ids = scope.programme_filter(db, programme)
    body = planning.conflicts(db, ids, planned_from, planned_to)
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/planning/nearest-teams")
def nearest_teams(
    db: DB,
    scope: CurrentScope,
    lon: Annotated[float | None, Query(ge=-180, le=180, allow_inf_nan=False)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90, allow_inf_nan=False)] = None,
    location: Annotated[str | None, Query(max_length=100, description="MGRS, UTM or degrees")] = None,
    task_id: Id | None = None,
    capability: Annotated[str | None, Query(description="comma-separated, any of, e.g. EOD2,EOD3")] = None,
    programme: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 5,
) -> Response:
    """The teams nearest a point or a task (KNN on base locations), distances in metres."""
    _planner(scope)
    body = planning.nearest_teams(
        db, scope, lon=lon, lat=lat, location=location, task_id=task_id,
        capability=capability, programme=programme, limit=limit,
    )  # fmt: skip
    return Response(orjson.dumps(body), media_type="application/json")


# -------------------------------------------------------------------------------------- dossier


def _dossier_principal(request: Request) -> Principal:
    """A browser without a session goes to the login page; a script gets 401."""
    principal = optional_principal(request)
    if principal is None:
        if "text/html" in request.headers.get("accept", ""):
            raise LoginRequired(request.url.path)
        raise Problem(401, "Authentication required: send a bearer token or log in.")
    return principal


@router.get("/tasks/{task_id}/dossier", response_class=HTMLResponse)
def task_dossier(
    task_id: int,
    principal: Annotated[Principal, Depends(_dossier_principal)],
    db: Annotated[Session, Depends(get_public_db)],
) -> HTMLResponse:
    """The printable task dossier (HTML, works offline: every asset is served by SafeGround)."""
    return HTMLResponse(dossier.render(db, Scope(principal), task_id))
