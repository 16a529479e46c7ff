"""Downloads: /api/v1/exports/{collection}?format=gpkg|shp|kml|csv with the /items filters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.responses import StreamingResponse

from app.db import get_engine
from app.ogc import crs as crs_mod
from app.ogc import features, query
from app.ogc.common import OGCRoute, base_url, collection_access
from geo import exports
from geo.geojson import primed

router = APIRouter(prefix="/api/v1", tags=["exports"], route_class=OGCRoute)

EXPORT_PARAMS = query.FILTER_PARAMS | {"format", "crs"}


@router.get(
    "/exports/{collection_id}",
    summary="Download a collection as GeoPackage, zipped shapefile, KML or CSV",
    response_model=None,
    responses={200: {"content": {media: {} for media, _ in exports.FORMATS.values()}}},
)
def export_collection(
    request: Request,
    collection_id: str,
    format: Annotated[
        str, Query(pattern="^(gpkg|shp|kml|csv)$", description="gpkg, shp, kml or csv")
    ] = "gpkg",
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy (CRS84 unless bbox-crs)")] = None,
    datetime: Annotated[str | None, Query(description="Instant or interval, as for /items")] = None,
    filter: Annotated[str | None, Query(description="CQL2 filter, as for /items")] = None,
    crs: Annotated[str | None, Query(description="Output CRS URI (KML is always WGS 84)")] = None,
) -> Response:
    """The same rows a partner gets from /ogc/collections/{id}/items with the same filters;
    property filters (``?status=open``) work too."""
    access = collection_access(request, collection_id)
    q = query.build(access, request.query_params, EXPORT_PARAMS)
    out = crs_mod.parse(crs, crs_mod.supported(access.utm_epsg), "crs")
    engine = get_engine()
    filters = "&".join(f"{k}={v}" for k, v in request.query_params.items() if k not in ("format", "crs"))
    if format == "csv":
        media_type, _ = exports.FORMATS["csv"]
        rows = primed(features.stream_on(engine.connect(), features.flat_sql(q, out), q.all_params()))
        return StreamingResponse(
            features.csv_stream(q, rows),
            media_type=media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{collection_id}.csv"',
                "Content-Crs": f"<{out.uri}>",
            },
        )
    file = exports.export(engine, q, out, format, base_url(request), filters)
    return Response(
        file.content,
        media_type=file.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{file.filename}"',
            "Content-Crs": f"<{out.uri}>",
        },
    )
