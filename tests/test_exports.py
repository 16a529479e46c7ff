"""Exports open cleanly in GDAL (ogrinfo) and geopandas, named, projected and attributed properly."""

from __future__ import annotations

import csv
import io
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from geo.exports import shapefile_names
from tests.factories import insert_hazard_area
from tests.test_ogc_clients import insert_hazards

EXPORT = "/api/v1/exports/hazard_areas"


def ogrinfo(path: Path) -> str:
    result = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-so", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr, result.stderr
    return result.stdout


@pytest.fixture
def hazards(engine: Engine, sql: Callable[..., list[Any]]) -> int:
    insert_hazards(engine, 25)
    insert_hazards(engine, 3, review_status="draft")
    sql("UPDATE hazard_areas SET name = '=HYPERLINK(\"http://evil\")' WHERE id = 1")
    sql("UPDATE hazard_areas SET name = '-2+3', notes = '@SUM(A1)' WHERE id = 2")
    return 28


def test_geopackage_opens_in_gdal_and_geopandas(
    client: TestClient, coordinator: dict[str, str], hazards: int, tmp_path: Path
) -> None:
    response = client.get(EXPORT, params={"format": "gpkg"}, headers=coordinator)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geopackage+sqlite3"
    assert 'filename="hazard_areas.gpkg"' in response.headers["content-disposition"]
    path = tmp_path / "hazard_areas.gpkg"
    path.write_bytes(response.content)
    info = ogrinfo(path)
    assert "Layer name: hazard_areas" in info
    assert f"Feature Count: {hazards}" in info
    assert "Multi Polygon" in info
    frame = gpd.read_file(path, layer="hazard_areas")
    assert len(frame) == hazards and frame.crs.to_epsg() == 4326
    assert {"reference", "classification", "status", "area_m2", "created_at"} <= set(frame.columns)
    assert frame["reference"].is_unique
    # Datetimes stay datetimes, numbers stay numbers.
    assert str(frame["created_at"].dtype).startswith("datetime64")
    assert frame["area_m2"].dtype == "float64"


def test_export_uses_the_same_filters_and_access_as_items(
    client: TestClient,
    make_user: Callable[..., dict[str, str]],
    hazards: int,
    tmp_path: Path,
    sql: Callable[..., list[Any]],
) -> None:
    sql("UPDATE programmes SET sensitive_fields = '{notes}' WHERE code = 'SOM'")
    partner = make_user("partner", ("SOM",))
    response = client.get(EXPORT, params={"format": "gpkg", "classification": "CHA"}, headers=partner)
    path = tmp_path / "partner.gpkg"
    path.write_bytes(response.content)
    frame = gpd.read_file(path)
    expected = sql(
        "SELECT count(*) FROM hazard_areas WHERE classification = 'CHA' AND review_status = 'approved'"
    )[0][0]
    assert len(frame) == expected > 0
    assert "notes" not in frame.columns
    items = client.get(
        "/ogc/collections/hazard_areas/items",
        params={"classification": "CHA", "limit": 1000},
        headers=partner,
    ).json()
    assert sorted(frame["reference"]) == sorted(f["properties"]["reference"] for f in items["features"])
    assert client.get(EXPORT, params={"format": "gpkg"}).status_code == 401


def test_zipped_shapefile_has_prj_mapping_and_readme(
    client: TestClient, coordinator: dict[str, str], hazards: int, tmp_path: Path
) -> None:
    response = client.get(
        EXPORT,
        params={"format": "shp", "crs": "http://www.opengis.net/def/crs/EPSG/0/32638"},
        headers=coordinator,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert {
        "hazard_areas.shp",
        "hazard_areas.shx",
        "hazard_areas.dbf",
        "hazard_areas.prj",
        "README.txt",
        "fields.csv",
    } <= names
    assert "UTM_Zone_38N" in archive.read("hazard_areas.prj").decode()
    readme = archive.read("README.txt").decode()
    assert "Hazard areas" in readme and "Source:" in readme and "benef" in readme
    mapping = {
        row["property"]: row["shapefile_field"]
        for row in csv.DictReader(io.StringIO(archive.read("fields.csv").decode()))
    }
    assert all(len(short) <= 10 for short in mapping.values())
    assert mapping["beneficiaries_women"] != mapping["beneficiaries_men"]
    archive.extractall(tmp_path)
    info = ogrinfo(tmp_path / "hazard_areas.shp")
    assert f"Feature Count: {hazards}" in info
    frame = gpd.read_file(tmp_path / "hazard_areas.shp")
    assert frame.crs.to_epsg() == 32638
    assert set(frame.columns) - {"geometry"} == set(mapping.values())
    assert frame.total_bounds[0] > 100_000  # metres, not degrees
    # Via GDAL's zip support, as QGIS opens it.
    (tmp_path / "export.zip").write_bytes(response.content)
    assert len(pyogrio.read_dataframe(f"/vsizip/{tmp_path / 'export.zip'}/hazard_areas.shp")) == hazards


def test_kml_opens_in_gdal(
    client: TestClient, coordinator: dict[str, str], hazards: int, tmp_path: Path
) -> None:
    response = client.get(EXPORT, params={"format": "kml"}, headers=coordinator)
    assert response.status_code == 200
    path = tmp_path / "hazards.kml"
    path.write_bytes(response.content)
    info = ogrinfo(path)
    assert f"Feature Count: {hazards}" in info
    assert b"<name>SOM-HA-" in response.content  # placemarks are named by their reference


def test_csv_neutralises_formulas(client: TestClient, coordinator: dict[str, str], hazards: int) -> None:
    response = client.get(EXPORT, params={"format": "csv"}, headers=coordinator)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == hazards
    by_id = {row["id"]: row for row in rows}
    assert by_id["1"]["name"] == '\'=HYPERLINK("http://evil")'
    assert by_id["2"]["name"] == "'-2+3" and by_id["2"]["notes"] == "'@SUM(A1)"
    assert not any(cell[:1] in "=+-@" for row in rows for cell in row.values() if cell)
    assert rows[0]["geometry_wkt"].startswith("MULTIPOLYGON")


def test_empty_export_and_bad_requests(
    client: TestClient, coordinator: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    insert_hazard_area(engine, "POLYGON((45.3 2.0, 45.4 2.0, 45.4 2.1, 45.3 2.0))")
    response = client.get(EXPORT, params={"format": "gpkg", "status": "closed"}, headers=coordinator)
    assert response.status_code == 200
    path = tmp_path / "empty.gpkg"
    path.write_bytes(response.content)
    assert "Feature Count: 0" in ogrinfo(path)
    for params in (
        {"format": "xls"},
        {"format": "gpkg", "bogus": "1"},
        {"format": "gpkg", "filter": "nope = 1"},
    ):
        bad = client.get(EXPORT, params=params, headers=coordinator)
        assert bad.status_code == 400, params
        assert bad.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/exports/nothing", headers=coordinator).status_code == 404


def test_admin_areas_export_carries_attribution(
    client: TestClient, coordinator: dict[str, str], tmp_path: Path
) -> None:
    response = client.get("/api/v1/exports/admin_areas", params={"format": "shp"}, headers=coordinator)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert "geoBoundaries" in archive.read("README.txt").decode()


def test_shapefile_names_are_unique_and_short() -> None:
    names = [
        "beneficiaries_women",
        "beneficiaries_men",
        "beneficiaries_girls",
        "beneficiaries_boys",
        "id",
        "reference",
    ]
    mapping = shapefile_names(names)
    assert len(set(v.lower() for v in mapping.values())) == len(names)
    assert all(len(v) <= 10 for v in mapping.values())
    assert mapping["id"] == "id" and mapping["reference"] == "reference"
