"""File imports (API and CLI) with real files written here, on the real database.

Each format is written by a real writer (pyogrio/GDAL, openpyxl, zipfile, csv) and sent as a
multipart upload; what is stored is read back from PostGIS and compared with independently
computed values (pyproj Geod areas, pyproj/mgrs coordinates).
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import mgrs
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod, Transformer
from shapely.geometry import MultiLineString, Point, Polygon, box
from sqlalchemy.engine import Engine

from app.settings import get_settings
from tests.factories import insert_hazard_area

Headers = dict[str, str]
SQL = Callable[..., list[Any]]
GEOD = Geod(ellps="WGS84")

# Small hazard polygons near Mogadishu (inside Somalia), about 0.3 km² each.
POLYGONS = [box(45.30 + i * 0.01, 2.03, 45.305 + i * 0.01, 2.035) for i in range(3)]
# Evidence points near Mogadishu and Baidoa.
POINTS = [(45.3182, 2.0469), (43.6500, 3.1100), (45.3300, 2.0600)]


def _frame(geoms: list[Any] | None = None, **columns: Any) -> gpd.GeoDataFrame:
    geoms = geoms if geoms is not None else POLYGONS
    data = {"name": [f"hazard {i}" for i in range(len(geoms))], "classification": ["SHA"] * len(geoms)}
    data["contamination_types"] = ["AP"] * len(geoms)
    data.update(columns)
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326")


def _upload(
    client: TestClient,
    headers: Headers,
    name: str,
    data: bytes,
    layer: str = "hazard_areas",
    programme: str = "SOM",
    **form: Any,
) -> Any:
    fields = {"programme": programme, "layer": layer}
    fields.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in form.items()})
    return client.post("/api/v1/imports", files={"file": (name, data)}, data=fields, headers=headers)


def _count(sql: SQL, table: str) -> int:
    return int(sql(f"SELECT count(*) FROM {table}")[0][0])


def _geodesic_area(polygon: Polygon) -> float:
    return abs(GEOD.geometry_area_perimeter(polygon)[0])


# -- writers for every format ------------------------------------------------------------
def _write_vector(tmp: Path, frame: gpd.GeoDataFrame, suffix: str, driver: str) -> bytes:
    path = tmp / f"data{suffix}"
    frame.to_file(path, driver=driver)
    return path.read_bytes()


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _shapefile_zip(tmp: Path, frame: gpd.GeoDataFrame) -> bytes:
    folder = tmp / "shp"
    folder.mkdir()
    frame.to_file(folder / "hazards.shp")
    return _zip({p.name: p.read_bytes() for p in folder.iterdir()})


def _csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _xlsx(rows: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append(list(row.values()))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _hazard_file(kind: str, tmp: Path) -> tuple[str, bytes, dict[str, Any]]:
    """(filename, bytes, extra form fields) holding POLYGONS in format ``kind``."""
    frame = _frame()
    if kind == "geojson":
        return "hazards.geojson", _write_vector(tmp, frame, ".geojson", "GeoJSON"), {}
    if kind == "gpkg":
        return "hazards.gpkg", _write_vector(tmp, frame, ".gpkg", "GPKG"), {}
    if kind == "shapefile_utm":
        # Shapefiles cut field names to 10 characters: "classification" arrives as "classifica".
        return "hazards.zip", _shapefile_zip(tmp, frame.to_crs("EPSG:32638")), {}
    if kind == "kml":
        return "hazards.kml", _write_vector(tmp, frame, ".kml", "KML"), {}
    if kind == "kmz":
        return "hazards.kmz", _zip({"doc.kml": _write_vector(tmp, frame, ".kml", "KML")}), {}
    if kind == "gpx_tracks":
        tracks = gpd.GeoDataFrame(
            {"name": ["walk 0", "walk 1", "walk 2"]},
            geometry=[MultiLineString([list(p.exterior.coords)[:-1]]) for p in POLYGONS],
            crs="EPSG:4326",
        )
        # GPX carries no classification: the operator gives it for the whole file.
        return (
            "walked.gpx",
            _write_vector(tmp, tracks, ".gpx", "GPX"),
            {"defaults": '{"classification": "SHA"}'},
        )
    if kind == "csv_wkt":
        rows = [{"name": f"h{i}", "classification": "SHA", "WKT": p.wkt} for i, p in enumerate(POLYGONS)]
        return "hazards.csv", _csv(rows), {}
    if kind == "csv_wkt_utm":
        utm = frame.to_crs("EPSG:32638")
        rows = [{"name": f"h{i}", "TYPE": "CHA", "wkt": g.wkt} for i, g in enumerate(utm.geometry)]
        return "hazards_utm.csv", _csv(rows), {"crs": "EPSG:32638", "mapping": '{"classification": "TYPE"}'}
    if kind == "xlsx_kobo_geoshape":
        rows = [
            {
                "start": "2026-03-01",
                "hazard/geoshape": ";".join(f"{y} {x} 0 5" for x, y in list(p.exterior.coords)),
                "hazard/classification": "SHA",
                "_id": i,
            }
            for i, p in enumerate(POLYGONS)
        ]
        return "kobo_export.xlsx", _xlsx(rows), {"mapping": '{"classification": "hazard/classification"}'}
    raise AssertionError(kind)


HAZARD_FORMATS = [
    "geojson",
    "gpkg",
    "shapefile_utm",
    "kml",
    "kmz",
    "gpx_tracks",
    "csv_wkt",
    "csv_wkt_utm",
    "xlsx_kobo_geoshape",
]


@pytest.mark.parametrize("kind", HAZARD_FORMATS)
def test_hazard_formats_are_stored_with_geodesic_areas(
    kind: str, client: TestClient, surveyor: Headers, sql: SQL, tmp_path: Path
) -> None:
    name, data, form = _hazard_file(kind, tmp_path)
    response = _upload(client, surveyor, name, data, **form)
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["counts"]["features"] == 3 and report["counts"]["stored"] == 3
    assert report["committed"] is True and report["import_id"]
    rows = sql(
        "SELECT source_index, area_m2, ST_AsText(geom) FROM hazard_areas WHERE import_id = :i ORDER BY source_index",
        i=report["import_id"],
    )
    assert [r[0] for r in rows] == [0, 1, 2]
    for (index, area, wkt), original in zip(rows, POLYGONS, strict=True):
        assert area == pytest.approx(_geodesic_area(original), rel=1e-3), (index, kind)
        stored = shapely.from_wkt(wkt)
        # The same place, whatever the file's CRS was (UTM shapefile: .prj honoured).
        assert stored.symmetric_difference(original).area < original.area * 1e-3, kind


def _evidence_file(kind: str, tmp: Path) -> tuple[str, bytes]:
    frame = gpd.GeoDataFrame(
        {"evidence_type": ["mine_seen", "craters", "hearsay"], "description": ["a", "b", "c"]},
        geometry=[Point(x, y) for x, y in POINTS],
        crs="EPSG:4326",
    )
    codes = [mgrs.MGRS().toMGRS(lat, lon, MGRSPrecision=5) for lon, lat in POINTS]
    if kind == "geojson":
        return "points.geojson", _write_vector(tmp, frame, ".geojson", "GeoJSON")
    if kind == "gpx_waypoints":
        waypoints = gpd.GeoDataFrame(
            {"name": ["p0", "p1", "p2"], "desc": ["a", "b", "c"]}, geometry=frame.geometry, crs="EPSG:4326"
        )
        return "points.gpx", _write_vector(tmp, waypoints, ".gpx", "GPX")
    if kind == "csv_lonlat":
        rows = [{"lon": x, "lat": y, "evidence_type": "scrap"} for x, y in POINTS]
        return "points.csv", _csv(rows)
    if kind == "csv_mgrs":
        rows = [{"MGRS": c, "evidence_type": "marking", "direct": "yes"} for c in codes]
        return "points.csv", _csv(rows)
    if kind == "csv_kobo_geopoint":
        rows = [
            {"_uuid": str(i), "gps": f"{y} {x} 12.5 4.0", "evidence_type": "accident"}
            for i, (x, y) in enumerate(POINTS)
        ]
        return "kobo.csv", _csv(rows)
    if kind == "xlsx_kobo_geopoint":
        rows = [{"start": "2026-03-01", "gps": f"{y} {x} 0 5", "evidence_type": "craters"} for x, y in POINTS]
        return "kobo.xlsx", _xlsx(rows)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["geojson", "gpx_waypoints", "csv_lonlat", "csv_mgrs", "csv_kobo_geopoint", "xlsx_kobo_geopoint"]
)
def test_evidence_point_formats(
    kind: str, client: TestClient, surveyor: Headers, sql: SQL, tmp_path: Path
) -> None:
    name, data = _evidence_file(kind, tmp_path)
    response = _upload(client, surveyor, name, data, layer="evidence_points")
    assert response.status_code == 201, response.text
    assert response.json()["counts"]["stored"] == 3
    rows = sql(
        "SELECT ST_X(geom), ST_Y(geom), coordinate_text, coordinate_format FROM evidence_points ORDER BY source_index"
    )
    # MGRS at 1 m precision: within a metre or two of the point it was made from.
    tolerance = 2e-5 if kind == "csv_mgrs" else 1e-7
    for (x, y, typed, fmt), (lon, lat) in zip(rows, POINTS, strict=True):
        assert x == pytest.approx(lon, abs=tolerance) and y == pytest.approx(lat, abs=tolerance)
        if kind == "csv_mgrs":
            assert fmt == "mgrs" and typed == mgrs.MGRS().toMGRS(lat, lon, MGRSPrecision=5)
    if kind == "csv_mgrs":
        assert sql("SELECT bool_and(direct) FROM evidence_points")[0][0] is True


def test_mgrs_column_round_trip_against_the_mgrs_library(
    client: TestClient, surveyor: Headers, sql: SQL
) -> None:
    codes = ["38NNH3538526248", "38NLJ4998443847", "38N NH 35385 26248"]
    rows = [{"mgrs": c, "evidence_type": "marking"} for c in codes]
    response = _upload(client, surveyor, "grid.csv", _csv(rows), layer="evidence_points")
    assert response.status_code == 201, response.text
    stored = sql("SELECT coordinate_text, ST_X(geom), ST_Y(geom) FROM evidence_points ORDER BY source_index")
    for (typed, x, y), code in zip(stored, codes, strict=True):
        lat, lon = mgrs.MGRS().toLatLon(code.replace(" ", ""))
        assert typed == code
        assert x == pytest.approx(lon, abs=1e-9) and y == pytest.approx(lat, abs=1e-9)


def test_utm_lon_lat_columns_with_crs(client: TestClient, surveyor: Headers, sql: SQL) -> None:
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32638", always_xy=True)
    rows = []
    for lon, lat in POINTS[:1] + POINTS[2:]:
        x, y = to_utm.transform(lon, lat)
        rows.append({"x": x, "y": y, "evidence_type": "scrap"})
    response = _upload(client, surveyor, "utm.csv", _csv(rows), layer="evidence_points", crs="EPSG:32638")
    assert response.status_code == 201, response.text
    stored = sql("SELECT ST_X(geom), ST_Y(geom) FROM evidence_points ORDER BY source_index")
    assert stored[0][0] == pytest.approx(POINTS[0][0], abs=1e-7)
    assert stored[1][1] == pytest.approx(POINTS[2][1], abs=1e-7)


# -- all-or-nothing, skip_invalid, dry run, idempotency ---------------------------------------
def _one_bad_geojson(tmp: Path) -> bytes:
    libya = box(13.1, 32.8, 13.11, 32.81)  # outside Somalia
    return _write_vector(tmp, _frame([*POLYGONS[:2], libya, POLYGONS[2]]), ".geojson", "GeoJSON")


def test_one_bad_feature_commits_nothing(
    client: TestClient, surveyor: Headers, sql: SQL, tmp_path: Path
) -> None:
    hazards, imports, audit = _count(sql, "hazard_areas"), _count(sql, "imports"), _count(sql, "audit_log")
    response = _upload(client, surveyor, "mixed.geojson", _one_bad_geojson(tmp_path))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    report = body["report"]
    assert report["counts"] == {
        "features": 4,
        "valid": 3,
        "repaired": 0,
        "rejected": 1,
        "stored": 0,
        "possible_duplicates": 0,
    }
    rejected = [f for f in report["features"] if f["status"] == "rejected"]
    assert [f["index"] for f in rejected] == [2]
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(2, "feature")]
    assert "outside" in " ".join(rejected[0]["messages"])
    assert report["committed"] is False
    assert (_count(sql, "hazard_areas"), _count(sql, "imports"), _count(sql, "audit_log")) == (
        hazards,
        imports,
        audit,
    )


def test_skip_invalid_stores_the_valid_ones(
    client: TestClient, surveyor: Headers, sql: SQL, tmp_path: Path
) -> None:
    response = _upload(client, surveyor, "mixed.geojson", _one_bad_geojson(tmp_path), skip_invalid=True)
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["counts"]["stored"] == 3 and report["counts"]["rejected"] == 1
    assert sorted(r[0] for r in sql("SELECT source_index FROM hazard_areas")) == [0, 1, 3]
    stored = sql("SELECT layer, features, rejected, stored, created_by FROM imports")
    assert stored[0][:4] == ("hazard_areas", 4, 1, 3) and stored[0][4].startswith("surveyor-")
    # The import is audited too (who, when), without its bulky report.
    audit = sql("SELECT actor, after FROM audit_log WHERE table_name = 'imports'")
    assert len(audit) == 1 and "report" not in audit[0][1] and audit[0][0].startswith("surveyor-")


def test_dry_run_stores_nothing(client: TestClient, surveyor: Headers, sql: SQL, tmp_path: Path) -> None:
    audit = _count(sql, "audit_log")
    data = _write_vector(tmp_path, _frame(), ".gpkg", "GPKG")
    response = _upload(client, surveyor, "hazards.gpkg", data, dry_run=True)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["dry_run"] is True and report["committed"] is False
    assert report["counts"]["valid"] == 3 and report["counts"]["stored"] == 0
    assert (_count(sql, "hazard_areas"), _count(sql, "imports"), _count(sql, "audit_log")) == (0, 0, audit)
    # A dry run of a file with a bad feature answers 200 with the report, too.
    bad = _upload(client, surveyor, "mixed.geojson", _one_bad_geojson(tmp_path), dry_run=True)
    assert bad.status_code == 200 and bad.json()["counts"]["rejected"] == 1


def test_same_file_twice_is_stored_once(
    client: TestClient, surveyor: Headers, coordinator: Headers, sql: SQL, tmp_path: Path
) -> None:
    data = _write_vector(tmp_path, _frame(), ".gpkg", "GPKG")
    first = _upload(client, surveyor, "hazards.gpkg", data)
    assert first.status_code == 201
    again = _upload(client, coordinator, "renamed.gpkg", data)
    assert again.status_code == 200, again.text
    assert again.json()["replayed"] is True
    assert again.json()["import_id"] == first.json()["import_id"]
    # The same per-feature report, though the stored one leaves out the plain valid features.
    assert again.json()["features"] == first.json()["features"]
    assert sql("SELECT jsonb_array_length(report->'features') FROM imports") == [(0,)]
    assert _count(sql, "hazard_areas") == 3 and _count(sql, "imports") == 1
    # The same file as evidence points, or for another programme, is another target.
    other_layer = _upload(client, surveyor, "hazards.gpkg", data, layer="evidence_points")
    assert other_layer.status_code == 422  # polygons are not points; refused, not replayed
    assert other_layer.json()["report"]["replayed"] is False


def test_possible_duplicates_name_the_existing_hazard(
    client: TestClient, surveyor: Headers, sql: SQL, engine: Engine, tmp_path: Path
) -> None:
    existing = insert_hazard_area(engine, POLYGONS[1].wkt)
    reference = sql("SELECT reference FROM hazard_areas WHERE id = :i", i=existing)[0][0]
    data = _write_vector(tmp_path, _frame(), ".geojson", "GeoJSON")
    response = _upload(client, surveyor, "hazards.geojson", data, dry_run=True)
    report = response.json()
    assert report["counts"]["possible_duplicates"] == 1
    [duplicate] = report["possible_duplicates"]
    assert duplicate["index"] == 1 and duplicate["reference"] == reference
    assert duplicate["overlap_pct"] == pytest.approx(100, abs=0.5)


def test_mapping_renames_columns_and_unknown_targets_are_refused(
    client: TestClient, surveyor: Headers, sql: SQL
) -> None:
    rows = [{"Easting": x, "Northing": y, "Kind": "craters", "Notes": "seen by farmer"} for x, y in POINTS]
    mapping = '{"lon": "Easting", "lat": "Northing", "evidence_type": "Kind", "description": "Notes"}'
    response = _upload(client, surveyor, "odd.csv", _csv(rows), layer="evidence_points", mapping=mapping)
    assert response.status_code == 201, response.text
    assert sql("SELECT DISTINCT evidence_type, description FROM evidence_points") == [
        ("craters", "seen by farmer")
    ]
    # (Another file: the same file again would be answered with the earlier import.)
    for bad in ('{"colour": "Kind"}', '{"evidence_type": "Missing"}', "not json", '["lon"]'):
        refused = _upload(client, surveyor, "odd2.csv", _csv(rows[:2]), layer="evidence_points", mapping=bad)
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["field"] == "mapping"


def test_rows_that_cannot_be_located_are_rejected_by_index(
    client: TestClient, surveyor: Headers, sql: SQL
) -> None:
    rows = [
        {"coordinate": "38NNH3538526248", "evidence_type": "marking"},
        {"coordinate": "near the big tree", "evidence_type": "marking"},
        {"coordinate": "2.0469, 45.3182", "evidence_type": "bananas"},
    ]
    response = _upload(client, surveyor, "typed.csv", _csv(rows), layer="evidence_points")
    assert response.status_code == 422
    features = response.json()["report"]["features"]
    assert [f["status"] for f in features] == ["valid", "rejected", "rejected"]
    assert "not a coordinate" in features[1]["messages"][0]
    assert "bananas" in features[2]["messages"][0]
    assert _count(sql, "evidence_points") == 0


def test_roles_and_programme_scope(
    client: TestClient, partner: Headers, make_user: Callable[..., Headers], tmp_path: Path, sql: SQL
) -> None:
    data = _write_vector(tmp_path, _frame(), ".geojson", "GeoJSON")
    assert _upload(client, partner, "h.geojson", data).status_code == 403
    libya_surveyor = make_user("surveyor", ("LBY",))
    assert _upload(client, libya_surveyor, "h.geojson", data).status_code == 403
    assert (
        _upload(client, libya_surveyor, "h.geojson", data, layer="roads", programme="LBY").status_code == 422
    )
    assert _count(sql, "hazard_areas") == 0


# -- hostile files ---------------------------------------------------------------------------
def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("hazards.shp", b"\0" * 3_000_000)  # compresses to a few KB
    return buffer.getvalue()


def _truncated_gpkg(tmp: Path) -> bytes:
    data = _write_vector(tmp, _frame(), ".gpkg", "GPKG")
    return data[: len(data) // 3]


def _billion_laughs() -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&b;</name>'
        b"<Point><coordinates>45.3,2.04</coordinates></Point></Placemark></kml>"
    )


HOSTILE: list[tuple[str, Callable[[Path], tuple[str, bytes]], int, str]] = [
    (
        "path traversal",
        lambda t: ("evil.zip", _zip({"../../etc/evil.shp": b"x", "ok.dbf": b"y"})),
        422,
        "outside",
    ),
    ("absolute path", lambda t: ("evil.zip", _zip({"/tmp/evil.shp": b"x"})), 422, "outside"),
    ("zip bomb", lambda t: ("bomb.zip", _zip_bomb()), 413, "unzip"),
    ("not a zip", lambda t: ("fake.zip", b"this is not a zip archive at all"), 422, "zip"),
    ("truncated zip", lambda t: ("cut.zip", _zip({"a.shp": b"x" * 5000})[:200]), 422, "zip"),
    ("truncated geopackage", lambda t: ("cut.gpkg", _truncated_gpkg(t)), 422, "GeoPackage"),
    ("wrong extension", lambda t: ("hazards.pdf", b"%PDF-1.4"), 415, ".pdf"),
    ("JSON named gpkg", lambda t: ("hazards.gpkg", b'{"type": "FeatureCollection"}'), 422, "GeoPackage"),
    ("binary named csv", lambda t: ("hazards.csv", b"SQLite format 3\x00" + b"\x00" * 100), 422, "binary"),
    ("empty file", lambda t: ("empty.geojson", b""), 422, "empty"),
    (
        "broken GeoJSON",
        lambda t: ("bad.geojson", b'{"type": "FeatureCollection", "features": [{'),
        422,
        "GeoJSON",
    ),
    ("XML entities", lambda t: ("laughs.kml", _billion_laughs()), 422, "DTD"),
    (
        "GPX that is KML",
        lambda t: ("track.gpx", b'<kml xmlns="http://www.opengis.net/kml/2.2"></kml>'),
        422,
        "gpx",
    ),
    ("no geometry column", lambda t: ("plain.csv", b"a,b\n1,2\n"), 422, "locate"),
    ("xlsx that is a shapefile zip", lambda t: ("book.xlsx", _zip({"a.shp": b"x"})), 422, "XLSX"),
]


@pytest.mark.parametrize(("name", "make", "status", "says"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_are_refused_and_change_nothing(
    name: str,
    make: Callable[[Path], tuple[str, bytes]],
    status: int,
    says: str,
    client: TestClient,
    surveyor: Headers,
    sql: SQL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "max_unzipped_bytes", 1_000_000)
    filename, data = make(tmp_path)
    audit = _count(sql, "audit_log")
    response = _upload(client, surveyor, filename, data)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert says.lower() in response.json()["detail"].lower(), response.json()["detail"]
    assert (_count(sql, "hazard_areas"), _count(sql, "imports"), _count(sql, "audit_log")) == (0, 0, audit)
    # Nothing was extracted outside the temporary folder.
    assert not Path("/etc/evil.shp").exists() and not Path("/tmp/evil.shp").exists()


def test_limits_are_enforced_before_reading(
    client: TestClient, surveyor: Headers, sql: SQL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _write_vector(tmp_path, _frame(), ".gpkg", "GPKG")
    settings = get_settings()
    monkeypatch.setattr(settings, "max_features", 2)
    too_many = _upload(client, surveyor, "hazards.gpkg", data)
    assert too_many.status_code == 413 and "3 features" in too_many.json()["detail"]
    monkeypatch.setattr(settings, "max_features", 100)
    monkeypatch.setattr(settings, "max_upload_bytes", len(data) - 1)
    too_big = _upload(client, surveyor, "hazards.gpkg", data)
    assert too_big.status_code == 413
    assert too_big.headers["content-type"] == "application/problem+json"
    monkeypatch.setattr(settings, "max_upload_bytes", 10_000_000)
    monkeypatch.setattr(settings, "max_vertices_per_feature", 4)
    many_vertices = _upload(client, surveyor, "hazards.gpkg", data)
    assert many_vertices.status_code == 422
    assert all("vertices" in " ".join(f["messages"]) for f in many_vertices.json()["report"]["features"])
    assert _count(sql, "hazard_areas") == 0


# -- command line ----------------------------------------------------------------------------
def _cli(args: list[str], url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAFEGROUND_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "import", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_cli_import_refused_by_a_database_rule_says_why_and_stores_nothing(
    database_url: str, sql: SQL, tmp_path: Path
) -> None:
    """A hazard area loaded by hand with the reference the counter hands out next: the import's
    insert breaks the unique reference, and the CLI says so in a line (exit 2), no traceback."""
    sql(
        "INSERT INTO hazard_areas (programme_id, reference, classification, geom) "
        "SELECT id, 'SOM-HA-000001', 'SHA', ST_Multi(ST_MakeEnvelope(45.3, 2.0, 45.31, 2.01, 4326)) "
        "FROM programmes WHERE code = 'SOM'"
    )
    good = tmp_path / "hazards.gpkg"
    _frame().to_file(good)
    refused = _cli([str(good), "--programme", "SOM"], database_url)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "refused by the database" in refused.stdout and "SOM-HA-000001" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr
    assert _count(sql, "hazard_areas") == 1 and _count(sql, "imports") == 0


def test_cli_import_exit_codes_and_summary(
    database_url: str, engine: Engine, sql: SQL, tmp_path: Path
) -> None:
    good = tmp_path / "hazards.gpkg"
    _frame().to_file(good)
    dry = _cli([str(good), "--programme", "SOM", "--layer", "hazard_areas", "--dry-run"], database_url)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "dry run" in dry.stdout and _count(sql, "hazard_areas") == 0

    bad = tmp_path / "mixed.geojson"
    bad.write_bytes(_one_bad_geojson(tmp_path))
    refused = _cli([str(bad), "--programme", "SOM"], database_url)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "nothing stored" in refused.stdout and "rejected" in refused.stdout
    assert _count(sql, "hazard_areas") == 0

    report_path = tmp_path / "report.json"
    stored = _cli([str(good), "--programme", "SOM", "--report", str(report_path)], database_url)
    assert stored.returncode == 0, stored.stdout + stored.stderr
    assert "stored 3 features" in stored.stdout
    assert _count(sql, "hazard_areas") == 3
    assert sql("SELECT DISTINCT created_by FROM imports")[0][0].startswith("cli:")
    assert '"stored": 3' in report_path.read_text()

    again = _cli([str(good), "--programme", "SOM"], database_url)
    assert again.returncode == 0 and "already imported" in again.stdout
    assert _count(sql, "hazard_areas") == 3

    skipped = _cli([str(bad), "--programme", "SOM", "--skip-invalid"], database_url)
    assert skipped.returncode == 0, skipped.stdout
    assert _count(sql, "hazard_areas") == 6

    missing = _cli([str(tmp_path / "nope.gpkg"), "--programme", "SOM"], database_url)
    assert missing.returncode == 2
    unreadable = tmp_path / "broken.gpkg"
    unreadable.write_bytes(b"SQLite format 3\x00garbage")
    assert _cli([str(unreadable), "--programme", "SOM"], database_url).returncode == 2


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"crs": "EPSG:999999"}, "crs"),
        ({"crs": "not a crs"}, "crs"),
        ({"dry_run": "maybe"}, "body.dry_run"),
        ({"defaults": '{"colour": "red"}'}, "defaults"),
        ({"defaults": '{"classification": ["SHA"]}'}, "defaults"),
        ({"defaults": "{"}, "defaults"),
    ],
)
def test_bad_form_fields_are_422(
    client: TestClient, surveyor: Headers, sql: SQL, tmp_path: Path, form: dict[str, str], field: str
) -> None:
    data = _write_vector(tmp_path, _frame(), ".geojson", "GeoJSON")
    response = _upload(client, surveyor, "h.geojson", data, **form)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert _count(sql, "hazard_areas") == 0


def test_concurrent_uploads_of_the_same_file_store_it_once(engine: Engine, sql: SQL, tmp_path: Path) -> None:
    """The second upload waits for the first and then answers with its report."""
    import threading
    import time

    from sqlalchemy import select

    from app.db import new_session
    from app.reference.models import Programme
    from geo.imports import ImportOptions, ImportResult, run_import

    data = _write_vector(tmp_path, _frame(), ".gpkg", "GPKG")
    options = ImportOptions("hazards.gpkg", "hazard_areas")
    first = new_session("first")
    programme = first.scalar(select(Programme).where(Programme.code == "SOM"))
    assert programme is not None
    assert run_import(first, programme, data, options, "first").status == 201  # not committed yet

    results: list[ImportResult] = []

    def second_upload() -> None:
        with new_session("second") as db:
            other = db.scalar(select(Programme).where(Programme.code == "SOM"))
            assert other is not None
            results.append(run_import(db, other, data, options, "second"))
            db.commit()

    thread = threading.Thread(target=second_upload)
    thread.start()
    deadline = time.monotonic() + 60
    waiting = 0
    while not waiting and time.monotonic() < deadline:  # the second upload is blocked on the lock
        waiting = sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")[0][0]
    assert waiting, "the second upload should wait for the first"
    first.commit()
    first.close()
    thread.join(timeout=120)
    assert results and results[0].status == 200 and results[0].report["replayed"] is True
    assert _count(sql, "hazard_areas") == 3 and _count(sql, "imports") == 1


@pytest.mark.parametrize("text_dtype", ["object", "str"])
def test_column_wise_attribute_checks_match_the_model_row_by_row(text_dtype: str) -> None:
    """Files are validated column by column; values and errors are those of the model per row."""
    import pandas as pd

    from survey.schemas import frame_records, validate_hazard_frame, validate_hazard_properties

    frame = pd.DataFrame(
        {
            "name": [" padded ", "x" * 201, "ok", None, "", "fine", "a\x1fb", "Ḿ\u3000", "plain"],
            "classification": ["sha", "CHA", None, "XXX", "SHA", " cha ", "SHA", "SHA", "CHA"],
            "status": ["worked on", "bad", "open", None, "closed", "open", "OPEN", "open", "closed"],
            "contamination_types": ["AP,uxo", "AP;AP", "foo", None, "", "AP", "AT", "cm|MIX", "IED"],
            "beneficiaries_women": [1, -1, 3, None, 2.5, True, 0, 100_000_001, 7],
            "priority": [1, 6, None, 2, 3, 5, 1, 0, 4],
            "blockages": ["a," * 60, "road", None, "x" * 201, "a,b", "", "road", "road", "school"],
            "evidence_direct": ["marking", None, "", "mine seen;accident", "x" * 201, "a", "b", "c", "d"],
            "status_date": [
                "2024-01-02",
                "not a date",
                None,
                pd.Timestamp("2024-01-01"),
                "",
                None,
                "2024-05-05T10:00:00Z",
                None,
                None,
            ],
        },
        dtype=object,
    )
    frames = [
        frame.astype({"name": text_dtype, "classification": text_dtype, "blockages": text_dtype}),
        frame.drop(columns=["classification"]),
        frame.assign(area_m2=1),  # a read-only property: the model explains why
        frame.assign(priority=[1, 2, 3, 4, 5, 1, 2, 3, 4]).astype({"priority": "int64"}),
        frame.assign(beneficiaries_men=[0, 5, -3, 10**9, 2, 2, 2, 2, 2]).astype(
            {"beneficiaries_men": "int64"}
        ),
    ]
    for case in frames:
        columns, errors = validate_hazard_frame(case, "properties")
        validated, expected_errors = validate_hazard_properties(frame_records(case), "properties")
        assert errors == expected_errors
        assert [None if c is None else dict(c) for c in columns] == [
            None if v is None else v.columns() for v in validated
        ]
    # Not vacuous: the first case has rows of both kinds.
    columns, errors = validate_hazard_frame(frames[0], "properties")
    assert sum(c is not None for c in columns) >= 2 and len({e["index"] for e in errors}) >= 4


def _looped_square(x: float, y: float) -> Polygon:
    """A 1.1 km square whose ring crosses its own first edge in a ~5 m loop: invalid, and
    repaired by the checks (the loop is lost)."""
    return Polygon(
        [
            (x, y),
            (x + 0.01, y),
            (x + 0.01, y + 0.01),
            (x, y + 0.01),
            (x, y + 0.00005),
            (x + 0.00005, y - 0.00005),
        ]
    )


def test_areas_computed_on_a_second_connection_are_postgis_areas(
    client: TestClient, surveyor: Headers, sql: SQL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large imports compute ST_Area meanwhile on another connection, from as soon as the file
    is read: the same values, each for its own feature even when features before it were
    rejected (geometry or attributes), and computed again for a polygon the checks changed."""
    import geo.imports

    monkeypatch.setattr(geo.imports, "BACKGROUND_FROM", 1)
    nearly = _looped_square(45.30, 2.05)
    polygons = [
        POLYGONS[0],
        box(10.0, 10.0, 10.01, 10.01),  # outside Somalia: rejected by the geometry checks
        POLYGONS[1],
        POLYGONS[2].buffer(0.001),  # rejected by its attributes below
        nearly,
        Polygon(
            [(45.40, 2.10, 5.0), (45.43, 2.10, 6.0), (45.43, 2.12, 7.0), (45.40, 2.12, 5.0)]
        ),  # Z dropped
        box(500_000, 300_000, 501_000, 301_000),  # metres without a CRS: no area asked, rejected
        box(45.40, 2.20, 45.43, 2.22),
    ]
    frame = gpd.GeoDataFrame(
        {"classification": ["SHA", "SHA", "CHA", "XXX", "SHA", "SHA", "SHA", "CHA"]},
        geometry=polygons,
        crs="EPSG:4326",
    )
    data = _write_vector(tmp_path, frame, ".gpkg", "GPKG")
    response = _upload(client, surveyor, "eight.gpkg", data, skip_invalid=True)
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["counts"]["stored"] == 5
    assert [f["status"] for f in report["features"]][4] == "repaired"
    rows = sql(
        "SELECT source_index, area_m2, remaining_m2, ST_Area(geom::geography) FROM hazard_areas "
        "ORDER BY source_index"
    )
    assert [r[0] for r in rows] == [0, 2, 4, 5, 7]
    for index, area, remaining, postgis in rows:
        assert area == remaining == pytest.approx(postgis, rel=1e-12), index
        if index != 4:  # the repaired one has lost its loop
            assert area == pytest.approx(_geodesic_area(polygons[index]), rel=1e-6), index


def test_possible_duplicates_looked_up_on_another_connection_are_those_of_the_checked_polygons(
    client: TestClient,
    surveyor: Headers,
    sql: SQL,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Into a programme holding many hazard areas, a large import looks up its possible
    duplicates on another connection while it checks the polygons: the report is the one the
    import's own connection gives, for a polygon the checks repaired (looked up again; sent
    invalid, it must not break the lookup) and with no entry for a feature rejected meanwhile."""
    import geo.imports

    x, y = 45.30, 2.05
    nearly = _looped_square(x, y)
    same = box(45.40, 2.20, 45.43, 2.22)
    rejected_later = box(45.50, 2.30, 45.52, 2.32)
    existing = {
        "same": insert_hazard_area(engine, same.wkt),
        "nearly": insert_hazard_area(engine, box(x + 0.002, y + 0.002, x + 0.011, y + 0.011).wkt),
        "rejected": insert_hazard_area(engine, rejected_later.wkt),
    }
    references = dict(sql("SELECT id, reference FROM hazard_areas"))
    polygons = [
        box(10.0, 10.0, 10.01, 10.01),  # outside Somalia: rejected by the geometry checks
        same,
        rejected_later,  # rejected by its attributes below
        nearly,
        box(45.60, 2.40, 45.61, 2.41),  # overlaps nothing
    ]
    frame = gpd.GeoDataFrame(
        {"classification": ["SHA", "CHA", "XXX", "SHA", "SHA"]}, geometry=polygons, crs="EPSG:4326"
    )
    data = _write_vector(tmp_path, frame, ".gpkg", "GPKG")

    started: list[object] = []

    class Spied(geo.imports.EarlyDuplicates):
        def __init__(self, *args: Any) -> None:
            started.append(self)
            super().__init__(*args)

    monkeypatch.setattr(geo.imports, "EarlyDuplicates", Spied)
    monkeypatch.setattr(geo.imports, "BACKGROUND_FROM", 10**9)
    here = _upload(client, surveyor, "five.gpkg", data, dry_run=True, skip_invalid=True).json()
    assert not started
    monkeypatch.setattr(geo.imports, "BACKGROUND_FROM", 1)
    elsewhere = _upload(client, surveyor, "five.gpkg", data, dry_run=True, skip_invalid=True).json()
    stored = _upload(client, surveyor, "five.gpkg", data, skip_invalid=True)
    assert len(started) == 2 and stored.status_code == 201, stored.text

    assert [f["status"] for f in here["features"]] == ["rejected", "valid", "rejected", "repaired", "valid"]
    found = [(d["index"], references[d["hazard_id"]]) for d in here["possible_duplicates"]]
    assert found == [(1, references[existing["same"]]), (3, references[existing["nearly"]])]
    assert elsewhere["possible_duplicates"] == here["possible_duplicates"]
    assert stored.json()["possible_duplicates"] == here["possible_duplicates"]


def test_column_wise_copy_text_matches_value_by_value() -> None:
    """The insert encodes each property column at once (text escaped in one pass, lists and
    JSON once per distinct object); the bytes are those of copy_text, value by value."""
    import datetime
    import random

    import numpy as np

    from geo.checks import copy_text
    from survey.service import _copy_column

    shared = ["AP", "AT"]
    evidence = {"direct": ["mine seen"], "indirect": []}
    columns: list[list[Any]] = [
        [],
        [None],
        ["a", None, "b\tc\\d\ne\rf", "", "\x1e", "x", "é 中"],
        ["\x1e\x1e", "y"],
        [1, 2, None, -5, 10**20],
        [1.5, float("nan"), float("inf"), None, 1e-300, 0.1 + 0.2, -0.0],
        [np.int64(3), np.float64(2.5), np.int32(-1), None, np.float32(0.1)],
        [True, False, None],
        [True, 1, None, 1.0],
        [np.bool_(True), None],
        [shared, shared, ["AP", "AT"], None, [], ['x"y', "z\\w", "t\tu"], [1, "1"], ["1"], [1.0], [True]],
        [[None], [["n"]], ["\x1e"], shared],
        [evidence, evidence, None, {"k": "v\t\n\\\x1e"}, {}, {"a": [1, 2.5, None, True]}],
        [datetime.datetime(2026, 3, 1, 10, 20, 30), "s", None, 3, [1], {"a": 1}],
        ["a", 1],
    ]
    rng = random.Random(3)
    alphabet = ["a", "é", "\t", "\n", "\r", "\\", '"', ",", "{", "\x1e", " ", "中"]
    for _ in range(200):
        kind = rng.choice("sldm")
        column: list[Any] = []
        for _ in range(rng.randint(0, 20)):
            s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
            value = {
                "s": s,
                "l": [s, s[:2]],
                "d": {s: [s]},
                "m": rng.choice([s, None, 3, 2.5, True, [s], {s: 1}]),
            }
            column.append(rng.choice([value[kind], value[kind], None]))
        columns.append(column)
    for column in columns:
        assert _copy_column(list(column)) == [copy_text(v) for v in column], column


def test_the_garbage_collector_is_paused_during_an_import_only(
    client: TestClient, surveyor: Headers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import runs without the cyclic garbage collector (it kept rescanning the import's
    millions of objects) and gives it back afterwards, also when the file is refused."""
    import gc

    import geo.imports

    seen: list[bool] = []
    read = geo.imports.read_upload

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return read(*args, **kwargs)

    monkeypatch.setattr(geo.imports, "read_upload", spy)
    good = _write_vector(tmp_path, _frame(POLYGONS), ".geojson", "GeoJSON")
    assert _upload(client, surveyor, "three.geojson", good, dry_run=True).status_code == 200
    assert _upload(client, surveyor, "bad.geojson", b"{not json").status_code == 422
    assert seen == [False, False]
    assert gc.isenabled()


def test_the_stored_report_leaves_out_plain_features_and_gives_them_back() -> None:
    from geo.imports import full_report, stored_report

    features = [
        {"index": 0, "status": "rejected", "messages": ["outside SOM"], "codes": ["outside_country"]},
        {"index": 1, "status": "valid", "messages": [], "codes": []},
        {"index": 2, "status": "valid", "messages": ["Z dropped"], "codes": ["z_dropped"]},
        {"index": 3, "status": "valid", "messages": [], "codes": []},
        {
            "index": 4,
            "status": "repaired",
            "messages": ["repaired"],
            "codes": ["repaired"],
            "area_before_m2": 1.0,
        },
    ]
    report = {"counts": {"features": 5}, "features": features, "notes": []}
    stored = stored_report(report)
    assert [f["index"] for f in stored["features"]] == [0, 2, 4]
    assert full_report(stored) == report
    # Evidence points' entries have no codes; a report with no plain feature is kept whole.
    points = {
        "counts": {"features": 2},
        "features": [{"index": i, "status": "valid", "messages": []} for i in (0, 1)],
    }
    assert stored_report(points)["features"] == [] and full_report(stored_report(points)) == points
    busy = {"counts": {"features": 1}, "features": [features[0] | {"index": 0}]}
    assert stored_report(busy) == busy and full_report(busy) == busy
