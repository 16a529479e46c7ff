"""File exports of a collection: GeoPackage, zipped shapefile, KML and CSV.

The rows come from one SQL query (the same filters and access rules as OGC API /items), the
file is written by GDAL through pyogrio, so it opens cleanly in QGIS, ArcGIS and GDAL. Every
file says what it is: the layer is named after the collection, the shapefile carries a .prj, a
field-name mapping (dBASE allows 10 characters) and a README with the source and attribution.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.errors import Problem
from app.ogc import crs as crs_mod
from app.ogc.access import Access
from app.ogc.collections import Collection
from app.ogc.features import flat_columns, flat_sql
from app.ogc.query import Query
from app.settings import get_settings

FORMATS = {
    "gpkg": ("application/geopackage+sqlite3", "gpkg"),
    "shp": ("application/zip", "zip"),
    "kml": ("application/vnd.google-earth.kml+xml", "kml"),
    "csv": ("text/csv; charset=utf-8", "csv"),
}

ATTRIBUTION = {
    "admin_areas": "Boundaries: geoBoundaries (gbOpen), derived from OpenStreetMap; © OpenStreetMap contributors, ODbL 1.0.",
}
DBF_NAME_LENGTH = 10


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    media_type: str
    filename: str


def shapefile_names(names: list[str]) -> dict[str, str]:
    """Unique dBASE field names of at most 10 characters, stable for a given list of names."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        short = name[:DBF_NAME_LENGTH]
        counter = 1
        while short.lower() in used:
            suffix = str(counter)
            short = name[: DBF_NAME_LENGTH - len(suffix)] + suffix
            counter += 1
        used.add(short.lower())
        mapping[name] = short
    return mapping


def _frame(engine: Engine, query: Query, out: crs_mod.Crs) -> gpd.GeoDataFrame:
    """All matching rows as a GeoDataFrame (one query; geometry travels as WKB)."""
    cap = get_settings().max_features
    sql = flat_sql(query, out, geometry_as="wkb", limit=cap + 1)
    with engine.connect() as conn:
        result = conn.execute(text(sql), query.all_params())
        columns = list(result.keys())
        rows = result.all()
    if len(rows) > cap:
        raise Problem(
            400,
            f"More than {cap:,} features match; narrow the export with bbox, datetime or filter.",
            "Export too large",
        )
    frame = pd.DataFrame.from_records(rows, columns=columns)
    geometry = shapely.from_wkb(frame.pop("geometry").map(lambda b: bytes(b) if b is not None else None))
    props = {p.name: p for p in flat_columns(query.access)}
    for name in frame.columns:
        prop = props.get(name)
        kind = prop.type if prop else "integer"
        if kind == "datetime":
            frame[name] = pd.to_datetime(frame[name], utc=True)
        elif kind == "integer":
            frame[name] = frame[name].astype("Int64")
        elif kind == "number":
            frame[name] = frame[name].astype("float64")
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=f"EPSG:{out.srid}")


def readme(
    collection: Collection, access: Access, filters: str, base_url: str, fields: dict[str, str] | None
) -> str:
    who = access.principal.username if access.principal else "anonymous (published layer)"
    lines = [
        f"{collection.title} — exported from SafeGround",
        "",
        collection.description,
        "",
        f"Source: {base_url}/ogc/collections/{collection.id}",
        f"Exported: {datetime.now(UTC).isoformat(timespec='seconds')} by {who}",
        f"Filters: {filters or 'none'}",
        f"Programmes: {', '.join(p.code for p in access.programmes)}",
        "Records: only approved records"
        if access.approved_only and collection.approved_sql
        else "Records: all review states",
        "Areas are geodesic square metres (WGS 84 ellipsoid).",
    ]
    if collection.id in ATTRIBUTION:
        lines.append(ATTRIBUTION[collection.id])
    if fields:
        lines += ["", "Shapefile field names (dBASE allows 10 characters):"]
        lines += [f"  {short:<10} = {name}" for name, short in fields.items()]
    return "\n".join(lines) + "\n"


def export(
    engine: Engine,
    query: Query,
    out: crs_mod.Crs,
    fmt: str,
    base_url: str,
    filters: str,
) -> ExportFile:
    """Write the export to a temporary folder and return its bytes."""
    collection = query.access.collection
    if out.srid == 4326:
        # GIS files keep longitude first whatever the EPSG axis order: no swap here.
        out = crs_mod.CRS84_CRS
    media_type, extension = FORMATS[fmt]
    filename = f"{collection.id}.{extension}"
    frame = _frame(engine, query, out)
    with tempfile.TemporaryDirectory(prefix="sg-export-") as folder:
        path = Path(folder)
        if fmt == "gpkg":
            target = path / filename
            pyogrio.write_dataframe(
                frame,
                target,
                layer=collection.id,
                driver="GPKG",
                geometry_type=_ogr_type(collection),
                layer_options={
                    "IDENTIFIER": collection.title,
                    "DESCRIPTION": readme(collection, query.access, filters, base_url, None)[:2000],
                },
            )
            return ExportFile(target.read_bytes(), media_type, filename)
        if fmt == "kml":
            target = path / filename
            label = "reference" if "reference" in frame.columns else "name"
            kml = frame.copy()
            for name in kml.columns:
                if name != "geometry" and str(kml[name].dtype).startswith("datetime"):
                    kml[name] = kml[name].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            kml = kml.to_crs("EPSG:4326")
            pyogrio.write_dataframe(
                kml,
                target,
                layer=collection.id,
                driver="KML",
                geometry_type=_ogr_type(collection),
                dataset_options={"NameField": label, "DOCUMENT_ID": collection.id},
            )
            return ExportFile(target.read_bytes(), media_type, filename)
        if fmt == "shp":
            return ExportFile(
                _shapefile_zip(frame, collection, query, filters, base_url, path), media_type, filename
            )
    raise Problem(400, f"Unknown format {fmt!r}.", parameter="format")


def _shapefile_zip(
    frame: gpd.GeoDataFrame, collection: Collection, query: Query, filters: str, base_url: str, folder: Path
) -> bytes:
    names = [c for c in frame.columns if c != "geometry"]
    mapping = shapefile_names(names)
    shp = frame.rename(columns=mapping)
    for name in shp.columns:
        # dBASE has dates but no times: keep the full timestamp as ISO text.
        if name != "geometry" and str(shp[name].dtype).startswith("datetime"):
            shp[name] = shp[name].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif shp[name].dtype == object:
            shp[name] = shp[name].map(safe_text)
    if collection.geometry_type == "Geometry":
        # A shapefile holds one kind of geometry: one file per kind (tasks_polygons.shp …).
        kinds = shp.geometry.geom_type.fillna("").str.replace("Multi", "")
        parts = [
            (f"{collection.id}_{kind.lower()}s", shp[kinds == kind], f"Multi{kind}")
            for kind in ("Polygon", "Point", "LineString")
            if (kinds == kind).any()
        ] or [(collection.id, shp, "MultiPolygon")]
    else:
        parts = [(collection.id, shp, collection.geometry_type)]
    for layer, rows, geometry_type in parts:
        pyogrio.write_dataframe(
            rows,
            folder / f"{layer}.shp",
            layer=layer,
            driver="ESRI Shapefile",
            geometry_type=geometry_type,
            promote_to_multi=geometry_type.startswith("Multi"),
            layer_options={"ENCODING": "UTF-8"},
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in sorted(folder.glob(f"{collection.id}*.*")):
            archive.write(part, part.name)
        archive.writestr("README.txt", readme(collection, query.access, filters, base_url, mapping))
        archive.writestr(
            "fields.csv", "shapefile_field,property\n" + "".join(f"{s},{n}\n" for n, s in mapping.items())
        )
    return buffer.getvalue()


def _ogr_type(collection: Collection) -> str:
    return "Unknown" if collection.geometry_type == "Geometry" else collection.geometry_type


def safe_text(value: object) -> object:
    return None if value is None else str(value)
