"""OGC API – Tiles: Mapbox vector tiles of every collection, built by PostGIS (``ST_AsMVT``).

Tiles follow the WebMercatorQuad tile matrix set; the URL orders the indices as the standard
does: ``{tileMatrix}/{tileRow}/{tileCol}`` = ``{z}/{y}/{x}``. A tile carries only the
properties the map needs (``Prop.in_tiles``), with geometry simplified to the zoom's pixel size
before it is reprojected. The same filters as /items apply (properties, datetime, CQL2).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy import text

from app.db import get_engine
from app.errors import Problem
from app.ogc import features, query
from app.ogc.access import Access
from app.ogc.collections import Prop
from app.ogc.common import JSON, OGCRoute, base_url, collection_access, json_response

MVT = "application/vnd.mapbox-vector-tile"
TMS = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
EPSG_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
MAX_ZOOM = 24
MAP_MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 64
# Above this zoom the data is drawn as stored (hazard polygons are small).
SIMPLIFY_UNTIL_ZOOM = 15
# "v" is a cache-busting version the map adds after an edit; it changes nothing else.
TILE_PARAMS = {"datetime", "filter", "filter-lang", "filter-crs", "f", "v"}
CACHE_CONTROL = "private, max-age=60"
WEB_MERCATOR_HALF = 20037508.3427892

router = APIRouter(tags=["OGC API"], route_class=OGCRoute)


def tile_properties(access: Access) -> list[Prop]:
    return [p for p in access.visible_properties() if p.in_tiles]


def _tile_value(prop: Prop) -> str:
    # MVT has no lists or dates: lists travel as comma-joined text, dates as YYYY-MM-DD text
    # (which the map can still compare).
    if prop.type == "string[]":
        return f"array_to_string({prop.expr}, ',')"
    if prop.type == "datetime":
        return f"to_char({prop.expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return prop.expr


def tile_sql(q: query.Query, z: int) -> str:
    access = q.access
    c = access.collection
    geometry = c.geometry_column
    if z <= SIMPLIFY_UNTIL_ZOOM and c.geometry_type not in ("Point", "MultiPoint"):
        # Half a pixel at this zoom, in degrees (scaled for the latitudes of our programmes).
        tolerance = 360.0 / (EXTENT * 2**z) * 0.4
        geometry = f"ST_Simplify({geometry}, {tolerance!r}, true)"
    columns = ", ".join(f'{_tile_value(p)} AS "{p.name}"' for p in tile_properties(access))
    return f"""
        WITH bounds AS (
            SELECT ST_TileEnvelope(:z, :x, :y) AS tile,
                   ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}), 4326) AS area
        )
        SELECT ST_AsMVT(mvt.*, :layer, {EXTENT}, 'geom', 'id') FROM (
            SELECT {c.id_column} AS id, {columns},
                   ST_AsMVTGeom(ST_Transform({geometry}, 3857), bounds.tile, {EXTENT}, {BUFFER}, true) AS geom
            FROM {q.from_sql} CROSS JOIN bounds
            WHERE {q.where_sql} AND {c.geometry_column} && bounds.area
        ) mvt WHERE mvt.geom IS NOT NULL
    """


def check_tile(z: int, y: int, x: int) -> None:
    if not 0 <= z <= MAX_ZOOM:
        raise Problem(
            404, f"Tile matrix {z} does not exist in {TMS} here (0 to {MAX_ZOOM}).", parameter="tileMatrix"
        )
    size = 2**z
    if not 0 <= y < size:
        raise Problem(404, f"Tile row {y} is outside tile matrix {z} (0 to {size - 1}).", parameter="tileRow")
    if not 0 <= x < size:
        raise Problem(
            404, f"Tile column {x} is outside tile matrix {z} (0 to {size - 1}).", parameter="tileCol"
        )


TileIndex = Annotated[int, Path(ge=0, le=2**MAX_ZOOM)]


@router.get(
    "/collections/{collection_id}/tiles/WebMercatorQuad/{tile_matrix}/{tile_row}/{tile_col}",
    summary="A vector tile (MVT)",
    response_model=None,
    responses={200: {"content": {MVT: {}}}, 204: {"description": "Empty tile"}},
)
def tile(
    request: Request,
    collection_id: str,
    tile_matrix: TileIndex,
    tile_row: TileIndex,
    tile_col: TileIndex,
) -> Response:
    check_tile(tile_matrix, tile_row, tile_col)
    # One connection for the programmes and the tile.
    with get_engine().connect() as conn:
        access = collection_access(request, collection_id, conn)
        if request.query_params.get("f", "mvt") != "mvt":
            raise query.bad("f", "Tiles come as f=mvt only.")
        q = query.build(access, request.query_params, TILE_PARAMS)
        params = {
            **q.all_params(),
            "z": tile_matrix,
            "x": tile_col,
            "y": tile_row,
            "layer": access.collection.id,
        }
        data = bytes(conn.execute(text(tile_sql(q, tile_matrix)), params).scalar() or b"")
    headers = {"Cache-Control": CACHE_CONTROL, "Vary": "Authorization, Cookie"}
    if not data:
        return Response(status_code=204, headers=headers)
    etag = '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'
    headers["ETag"] = etag
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=MVT, headers=headers)


def tileset_document(request: Request, access: Access) -> dict[str, Any]:
    """OGC tileset metadata and TileJSON 3.0 in one document (MapLibre reads it as a source)."""
    c = access.collection
    base = f"{base_url(request)}/ogc/collections/{c.id}/tiles/{TMS}"
    query_string = f"?{request.url.query}" if request.url.query else ""
    ogc_template = f"{base}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}{query_string}"
    q = query.Query(access, [access.visibility_sql()], {"vis_ids": access.programme_ids})
    bbox = features.extent(get_engine(), q)["spatial"]["bbox"][0]
    fields = {p.name: p.description or p.type for p in tile_properties(access)}
    return {
        "title": f"{c.title} (vector tiles)",
        "description": c.description,
        "dataType": "vector",
        "crs": EPSG_3857,
        "tileMatrixSetURI": TMS_URI,
        "links": [
            {"rel": "self", "type": JSON, "title": "This tileset", "href": f"{base}{query_string}"},
            {"rel": "item", "type": MVT, "title": "Vector tiles", "href": ogc_template, "templated": True},
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                "type": JSON,
                "href": f"{base_url(request)}/ogc/tileMatrixSets/{TMS}",
            },
            {"rel": "collection", "type": JSON, "href": f"{base_url(request)}/ogc/collections/{c.id}"},
        ],
        "layers": [
            {
                "id": c.id,
                "dataType": "vector",
                "geometryType": "points" if "Point" in c.geometry_type else "polygons",
                "propertiesSchema": {
                    "type": "object",
                    "properties": {
                        p.name: {"type": "string" if p.type in ("string[]", "datetime") else p.type}
                        for p in tile_properties(access)
                    },
                },
            }
        ],
        "boundingBox": {
            "lowerLeft": bbox[:2],
            "upperRight": bbox[2:],
            "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        },
        # TileJSON 3.0.0
        "tilejson": "3.0.0",
        "name": c.id,
        "tiles": [f"{base}/{{z}}/{{y}}/{{x}}{query_string}"],
        "minzoom": 0,
        "maxzoom": MAP_MAX_ZOOM,
        "bounds": bbox,
        "vector_layers": [{"id": c.id, "fields": fields, "minzoom": 0, "maxzoom": MAP_MAX_ZOOM}],
    }


@router.get("/collections/{collection_id}/tiles", summary="Tilesets of a collection", response_model=None)
def tilesets(request: Request, collection_id: str) -> Response:
    access = collection_access(request, collection_id)
    query.check_names(request.query_params, {"f"}, {})
    c = access.collection
    base = f"{base_url(request)}/ogc/collections/{c.id}/tiles/{TMS}"
    return json_response(
        {
            "tilesets": [
                {
                    "title": f"{c.title} (vector tiles)",
                    "dataType": "vector",
                    "crs": EPSG_3857,
                    "tileMatrixSetURI": TMS_URI,
                    "links": [
                        {"rel": "self", "type": JSON, "href": base},
                        {
                            "rel": "item",
                            "type": MVT,
                            "href": f"{base}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}",
                            "templated": True,
                        },
                    ],
                }
            ],
            "links": [
                {"rel": "self", "type": JSON, "href": f"{base_url(request)}/ogc/collections/{c.id}/tiles"}
            ],
        }
    )


@router.get(
    "/collections/{collection_id}/tiles/WebMercatorQuad",
    summary="Tileset metadata (also TileJSON 3.0)",
    response_model=None,
)
def tileset(request: Request, collection_id: str) -> Response:
    access = collection_access(request, collection_id)
    # The same filters as the tiles: the templates carry them on.
    query.build(access, request.query_params, TILE_PARAMS)
    return json_response(tileset_document(request, access))


@router.get("/tileMatrixSets", summary="Tile matrix sets", response_model=None)
def tile_matrix_sets(request: Request) -> Response:
    href = f"{base_url(request)}/ogc/tileMatrixSets/{TMS}"
    return json_response(
        {
            "tileMatrixSets": [
                {"id": TMS, "uri": TMS_URI, "links": [{"rel": "self", "type": JSON, "href": href}]}
            ]
        }
    )


@router.get(
    "/tileMatrixSets/WebMercatorQuad", summary="The WebMercatorQuad tile matrix set", response_model=None
)
def web_mercator_quad() -> Response:
    matrices = []
    for z in range(MAX_ZOOM + 1):
        size = 2**z
        cell = 2 * WEB_MERCATOR_HALF / (256 * size)
        matrices.append(
            {
                "id": str(z),
                "scaleDenominator": cell / 0.00028,
                "cellSize": cell,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-WEB_MERCATOR_HALF, WEB_MERCATOR_HALF],
                "tileWidth": 256,
                "tileHeight": 256,
                "matrixWidth": size,
                "matrixHeight": size,
            }
        )
    return json_response(
        {"id": TMS, "uri": TMS_URI, "crs": EPSG_3857, "orderedAxes": ["X", "Y"], "tileMatrices": matrices}
    )
