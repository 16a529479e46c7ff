from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import StreamingResponse

from app.auth.service import Principal
from app.db import get_engine
from app.deps import DB, CurrentScope, require_roles
from app.reference import service
from app.reference.schemas import (
    OrganisationIn,
    OrganisationOut,
    OrganisationPatch,
    ProgrammeOut,
    TeamIn,
    TeamOut,
    TeamPatch,
)
from geo.geojson import feature_collection_stream, geojson_response, next_link, primed, stream_rows

router = APIRouter(prefix="/api/v1", tags=["reference data"])

Manager = Annotated[Principal, Depends(require_roles("admin", "coordinator"))]


@router.get("/programmes", response_model=list[ProgrammeOut])
def list_programmes(db: DB, scope: CurrentScope) -> list[ProgrammeOut]:
    return [ProgrammeOut.model_validate(p) for p in service.list_programmes(db, scope)]


@router.get("/organisations", response_model=list[OrganisationOut])
def list_organisations(db: DB, scope: CurrentScope, programme: str | None = None) -> list[OrganisationOut]:
    return service.list_organisations(db, scope, programme)


@router.post("/organisations", response_model=OrganisationOut, status_code=201)
def add_organisation(data: OrganisationIn, db: DB, scope: CurrentScope, _: Manager) -> OrganisationOut:
    out = service.add_organisation(db, scope, data)
    db.commit()
    return out


@router.patch("/organisations/{organisation_id}", response_model=OrganisationOut)
def update_organisation(
    organisation_id: int, data: OrganisationPatch, db: DB, scope: CurrentScope, _: Manager
) -> OrganisationOut:
    out = service.update_organisation(db, scope, organisation_id, data)
    db.commit()
    return out


@router.get("/teams", response_model=list[TeamOut])
def list_teams(
    db: DB,
    scope: CurrentScope,
    programme: str | None = None,
    organisation_id: int | None = None,
    capability: str | None = None,
) -> list[TeamOut]:
    return service.list_teams(db, scope, programme, organisation_id, capability)


@router.post("/teams", response_model=TeamOut, status_code=201)
def add_team(data: TeamIn, db: DB, scope: CurrentScope, _: Manager) -> TeamOut:
    out = service.add_team(db, scope, data)
    db.commit()
    return out


@router.patch("/teams/{team_id}", response_model=TeamOut)
def update_team(team_id: int, data: TeamPatch, db: DB, scope: CurrentScope, _: Manager) -> TeamOut:
    out = service.update_team(db, scope, team_id, data)
    db.commit()
    return out


@router.get(
    "/admin-areas",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def admin_areas(
    request: Request,
    db: DB,
    scope: CurrentScope,
    programme: str | None = None,
    level: Annotated[int | None, Query(ge=0, le=5)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    after: Annotated[int, Query(ge=0, description="keyset: the last id of the previous page")] = 0,
) -> StreamingResponse:
    """Admin areas of your programmes as a GeoJSON FeatureCollection."""
    ids = scope.programme_filter(db, programme)
    sql, params = service.admin_areas_sql(ids, level, after, limit)
    rows = primed(stream_rows(get_engine(), sql, params))
    return geojson_response(feature_collection_stream(rows, limit, next_link(request.url)))
