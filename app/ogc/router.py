"""OGC API – Features (Parts 1, 2 and 3) and Tiles under /ogc, for QGIS, ArcGIS, GDAL and scripts.

Thin HTTP layer: parameters are checked in :mod:`app.ogc.query`, SQL is written in
:mod:`app.ogc.features` and :mod:`app.ogc.tiles`, who sees what is decided in
:mod:`app.ogc.access`. Every collection comes from the registry in :mod:`app.ogc.collections`.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import text
from sqlalchemy.engine import Connection
from starlette.responses import StreamingResponse

from app.db import get_engine
from app.errors import Problem
from app.ogc import access as access_mod
from app.ogc import collections as registry
from app.ogc import crs as crs_mod
from app.ogc import features, query
from app.ogc.access import Access
from app.ogc.common import (
    CSV,
    HTML,
    JSON,
    OGCRoute,
    base_url,
    collection_access,
    html_page,
    json_response,
    wants_html,
)
from geo.geojson import GEOJSON, primed

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/sortables",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/array-functions",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
]

router = APIRouter(prefix="/ogc", tags=["OGC API"], route_class=OGCRoute)

CollectionId = Annotated[str, Path(description="Collection id, e.g. hazard_areas")]
Format = Annotated[str | None, Query(alias="f", description="json or html (items also: csv)")]


def collection_document(request: Request, access: Access, with_extent: bool = True) -> dict[str, Any]:
    c = access.collection
    base = f"{base_url(request)}/ogc/collections/{c.id}"
    document: dict[str, Any] = {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "keywords": list(c.keywords),
        "itemType": "feature",
        "links": [
            {"rel": "self", "type": JSON, "title": "This collection", "href": base},
            {"rel": "alternate", "type": HTML, "title": "This collection as HTML", "href": f"{base}?f=html"},
            {"rel": "items", "type": GEOJSON, "title": "Features", "href": f"{base}/items"},
            {"rel": "items", "type": HTML, "title": "Features as HTML", "href": f"{base}/items?f=html"},
            {"rel": "items", "type": CSV, "title": "Features as CSV", "href": f"{base}/items?f=csv"},
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "type": "application/schema+json",
                "title": "Queryables",
                "href": f"{base}/queryables",
            },
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                "type": JSON,
                "title": "Vector tiles",
                "href": f"{base}/tiles",
            },
        ]
        + [
            {
                "rel": "enclosure",
                "type": media,
                "title": f"Download as {name}",
                "href": f"{base_url(request)}/api/v1/exports/{c.id}?format={name}",
            }
            for name, media in (
                ("gpkg", "application/geopackage+sqlite3"),
                ("shp", "application/zip"),
                ("kml", "application/vnd.google-earth.kml+xml"),
                ("csv", CSV),
            )
        ],
        "crs": [c.uri for c in crs_mod.supported(access.utm_epsg)],
        "storageCrs": crs_mod.CRS84,
    }
    if with_extent:
        document["extent"] = features.extent(
            get_engine(), query.Query(access, [access.visibility_sql()], {"vis_ids": access.programme_ids})
        )
    return document


# --- landing, conformance, collections ---------------------------------------------------------


@router.get("", summary="Landing page", response_model=None)
def landing(request: Request, f: Format = None) -> Response:
    base = base_url(request)
    links = [
        {"rel": "self", "type": JSON, "title": "This document", "href": f"{base}/ogc"},
        {"rel": "alternate", "type": HTML, "title": "This document as HTML", "href": f"{base}/ogc?f=html"},
        {
            "rel": "service-desc",
            "type": "application/vnd.oai.openapi+json;version=3.0",
            "title": "OpenAPI definition",
            "href": f"{base}/openapi.json",
        },
        {"rel": "service-doc", "type": HTML, "title": "API documentation", "href": f"{base}/docs"},
        {
            "rel": "conformance",
            "type": JSON,
            "title": "Conformance classes",
            "href": f"{base}/ogc/conformance",
        },
        {"rel": "data", "type": JSON, "title": "Collections", "href": f"{base}/ogc/collections"},
    ]
    title = "SafeGround OGC API"
    description = "Mine-action hazard areas and related records for partners (OGC API Features and Tiles)."
    if wants_html(request, f):
        return html_page(request, title, description=description, links=links)
    return json_response({"title": title, "description": description, "links": links})


@router.get("/conformance", summary="Conformance classes", response_model=None)
def conformance(request: Request, f: Format = None) -> Response:
    if wants_html(request, f):
        return html_page(
            request,
            "Conformance",
            table={"columns": ["Conformance class"], "rows": [[c] for c in CONFORMANCE]},
        )
    return json_response({"conformsTo": CONFORMANCE})


@router.get("/collections", summary="The collections you can read", response_model=None)
def list_collections(request: Request, f: Format = None) -> Response:
    html = wants_html(request, f)
    principal = access_mod.caller(request)
    with get_engine().connect() as conn:
        programmes = access_mod.load_programmes(conn)
    documents = []
    for collection in registry.COLLECTIONS.values():
        if access_mod.readable(principal, collection, programmes):
            access = access_mod.resolve(principal, collection, programmes)
            documents.append(collection_document(request, access))
    if principal is None and not documents:
        raise Problem(
            401,
            "Authentication required: send a bearer token or log in.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    base = base_url(request)
    links = [
        {"rel": "self", "type": JSON, "title": "This document", "href": f"{base}/ogc/collections"},
        {
            "rel": "alternate",
            "type": HTML,
            "title": "This document as HTML",
            "href": f"{base}/ogc/collections?f=html",
        },
    ]
    if html:
        rows = [
            [
                {"href": f"{base}/ogc/collections/{d['id']}?f=html", "text": d["id"]},
                d["title"],
                d["description"],
            ]
            for d in documents
        ]
        return html_page(
            request,
            "Collections",
            table={"columns": ["Id", "Title", "Description"], "rows": rows},
            links=links,
        )
    return json_response({"links": links, "collections": documents, "crs": [crs_mod.CRS84]})


@router.get("/collections/{collection_id}", summary="One collection", response_model=None)
def describe_collection(request: Request, collection_id: CollectionId, f: Format = None) -> Response:
    access = collection_access(request, collection_id)
    document = collection_document(request, access)
    if wants_html(request, f):
        spatial = document["extent"]["spatial"]["bbox"][0]
        facts = [
            ("Extent (CRS84)", ", ".join(f"{v:.5f}" for v in spatial)),
            ("CRS", ", ".join(document["crs"])),
        ]
        if "temporal" in document["extent"]:
            facts.append(("Time", " – ".join(str(v) for v in document["extent"]["temporal"]["interval"][0])))
        return html_page(
            request,
            document["title"],
            description=document["description"],
            facts=facts,
            links=document["links"],
        )
    return json_response(document)


@router.get(
    "/collections/{collection_id}/queryables",
    summary="Properties you can filter and sort on",
    response_model=None,
)
def queryables(request: Request, collection_id: CollectionId, f: Format = None) -> Response:
    access = collection_access(request, collection_id)
    c = access.collection
    base = f"{base_url(request)}/ogc/collections/{c.id}"
    props: dict[str, Any] = {
        "id": {"title": "Identifier", "type": "integer", "x-ogc-role": "id"},
        "geometry": {
            "$ref": f"https://geojson.org/schema/{c.geometry_type}.json",
            "x-ogc-role": "primary-geometry",
        },
    }
    for prop in access.visible_properties():
        if not prop.queryable:
            continue
        schema: dict[str, Any] = {"title": prop.name.replace("_", " "), "description": prop.description}
        if prop.type == "datetime":
            schema.update(type="string", format="date-time")
        elif prop.type == "date":
            schema.update(type="string", format="date")
        elif prop.type == "string[]":
            schema.update(type="array", items={"type": "string"})
        else:
            schema["type"] = prop.type
        if prop.enum:
            schema["enum"] = list(prop.enum)
        if c.datetime_column and prop.expr == c.datetime_column:
            schema["x-ogc-role"] = "primary-instant"
        props[prop.name] = schema
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/queryables",
        "type": "object",
        "title": c.title,
        "properties": props,
        "additionalProperties": False,
    }
    if wants_html(request, f):
        rows = [[name, s.get("type", "geometry"), s.get("description", "")] for name, s in props.items()]
        return html_page(
            request,
            f"Queryables of {c.title}",
            table={"columns": ["Property", "Type", "Description"], "rows": rows},
        )
    return json_response(document, "application/schema+json")


# --- items ---------------------------------------------------------------------------------------

ITEMS_DESCRIPTION = """Features of the collection, as GeoJSON (default), HTML or CSV.

Property equality filters: any queryable as a parameter (`?classification=CHA&status=open`).
Paging: follow the `next` link (keyset paging: no gaps or repeats while you page)."""


@router.get(
    "/collections/{collection_id}/items",
    summary="Features",
    description=ITEMS_DESCRIPTION,
    response_model=None,
    responses={200: {"content": {GEOJSON: {}, HTML: {}, CSV: {}}}},
)
def items(
    request: Request,
    collection_id: CollectionId,
    f: Format = None,
    limit: Annotated[
        int, Query(ge=1, le=query.MAX_LIMIT, description="Features per page (max 10,000)")
    ] = query.DEFAULT_LIMIT,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs (default CRS84)")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
    datetime: Annotated[
        str | None, Query(description="Instant or interval (RFC 3339, '..' for open ends)")
    ] = None,
    filter: Annotated[str | None, Query(description="CQL2 filter (text or JSON, see filter-lang)")] = None,
    filter_lang: Annotated[
        str | None, Query(alias="filter-lang", description="cql2-text (default) or cql2-json")
    ] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs")] = None,
    sortby: Annotated[str | None, Query(description="e.g. -priority,reference")] = None,
    cursor: Annotated[str | None, Query(description="Paging position; use the next link")] = None,
    crs: Annotated[str | None, Query(description="Output CRS URI (see the collection's crs list)")] = None,
) -> Response:
    engine = get_engine()
    # One connection for the programmes and the data; the response stream closes it.
    conn = engine.connect()
    handed_over = False
    try:
        access = collection_access(request, collection_id, conn)
        params = request.query_params
        fmt = params.get("f")
        html = wants_html(request, fmt, ("json", "html", "csv"))
        q = query.build(access, params, query.ITEMS_PARAMS)
        out = crs_mod.parse(params.get("crs"), crs_mod.supported(access.utm_epsg), "crs")
        headers = {"Content-Crs": f"<{out.uri}>"}

        if fmt == "csv":
            csv_limit = query.parse_limit(params.get("limit")) if "limit" in params else None
            csv_sql = features.flat_sql(q, out, limit=csv_limit)
            rows = primed(features.stream_on(conn, csv_sql, q.all_params()))
            handed_over = True
            filename = f"{access.collection.id}.csv"
            return StreamingResponse(
                features.csv_stream(q, rows),
                media_type="text/csv; charset=utf-8",
                headers={**headers, "Content-Disposition": f'attachment; filename="{filename}"'},
            )

        page_size = query.parse_limit(params.get("limit"))
        keys = query.parse_sortby(params.get("sortby"), q.properties())
        cursor_text = params.get("cursor")
        cursor_condition = (
            query.cursor_sql(cursor_text, keys, access.collection.id_column, q.filter_params)
            if cursor_text
            else None
        )
        sql = features.items_sql(q, out, keys, cursor_condition, page_size)
        url = request.url

        def next_url(token: str) -> str:
            return str(url.include_query_params(cursor=token))

        base = f"{base_url(request)}/ogc/collections/{access.collection.id}"
        links = [
            {"rel": "self", "type": GEOJSON, "title": "This page", "href": str(url)},
            {
                "rel": "alternate",
                "type": HTML,
                "title": "This page as HTML",
                "href": str(url.include_query_params(f="html")),
            },
            {"rel": "collection", "type": JSON, "title": access.collection.title, "href": base},
        ]
        if html:
            return items_html(request, access, conn, sql, q, page_size, links)
        page = features.Page(conn, sql, q.all_params(), page_size)
        handed_over = True
        body = features.stream_items(page, q, cursor_text is None, next_url, links)
        return StreamingResponse(body, media_type=GEOJSON, headers=headers)
    finally:
        if not handed_over:
            conn.close()


def items_html(
    request: Request,
    access: Access,
    conn: Connection,
    sql: str,
    q: query.Query,
    page_size: int,
    links: list[dict[str, Any]],
) -> HTMLResponse:
    rows = conn.execute(text(sql), q.all_params()).all()
    names = [p.name for p in access.visible_properties()][:12]
    base = f"{base_url(request)}/ogc/collections/{access.collection.id}/items"
    table_rows = []
    for feature_text, _ in rows[:page_size]:
        feature = orjson.loads(feature_text)
        props = feature["properties"]
        table_rows.append(
            [{"href": f"{base}/{feature['id']}?f=html", "text": feature["id"]}]
            + [props.get(n) for n in names]
        )
    page_links = list(links)
    if len(rows) > page_size:
        page_links.append(
            {
                "rel": "next",
                "type": HTML,
                "title": "Next page",
                "href": str(
                    request.url.include_query_params(
                        cursor=query.encode_cursor(rows[page_size - 1][1]), f="html"
                    )
                ),
            }
        )
    return html_page(
        request,
        f"{access.collection.title}: features",
        table={"columns": ["id", *names], "rows": table_rows},
        links=page_links,
    )


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="One feature",
    response_model=None,
    responses={200: {"content": {GEOJSON: {}, HTML: {}}}},
)
def item(
    request: Request,
    collection_id: CollectionId,
    feature_id: str,
    f: Format = None,
    crs: Annotated[str | None, Query(description="Output CRS URI")] = None,
) -> Response:
    access = collection_access(request, collection_id)
    html = wants_html(request, f)
    query.check_names(request.query_params, {"f", "crs"}, {})
    out = crs_mod.parse(crs, crs_mod.supported(access.utm_epsg), "crs")
    if not feature_id.isdigit() or len(feature_id) > 18:
        raise Problem(404, f"No feature {feature_id!r} in {collection_id}.")
    q = query.Query(access, [access.visibility_sql()], {"vis_ids": access.programme_ids})
    feature_text = features.one_feature(get_engine(), q, out, int(feature_id))
    if feature_text is None:
        raise Problem(404, f"No feature {feature_id} in {collection_id} that you can see.")
    base = f"{base_url(request)}/ogc/collections/{collection_id}"
    links = [
        {"rel": "self", "type": GEOJSON, "href": f"{base}/items/{feature_id}"},
        {"rel": "alternate", "type": HTML, "href": f"{base}/items/{feature_id}?f=html"},
        {"rel": "collection", "type": JSON, "href": base},
    ]
    feature = orjson.loads(feature_text)
    if html:
        facts = [(k, v) for k, v in feature["properties"].items()]
        return html_page(request, f"{access.collection.title} {feature_id}", facts=facts, links=links)
    feature["links"] = links
    return json_response(feature, GEOJSON, {"Content-Crs": f"<{out.uri}>"})


# Tiles live in their own module; their routes hang under the same /ogc prefix.
from app.ogc.tiles import router as tiles_router  # noqa: E402

router.include_router(tiles_router)
