"""Real clients against a live server: GDAL (OAPIF and MVT drivers), owslib, geopandas."""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

# More than one page at the page size the clients are told to use below.
N_HAZARDS = 130
PAGE = 50


def insert_hazards(
    engine: Engine, count: int, programme: str = "SOM", review_status: str = "approved"
) -> None:
    """``count`` small square hazards near Mogadishu (areas computed by PostGIS, as the service does)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                """
                INSERT INTO hazard_areas (programme_id, reference, classification, status, contamination_types,
                    geom, area_m2, remaining_geom, remaining_m2, review_status, notes)
                SELECT p.id, p.code || '-HA-T' || lpad((i + (SELECT count(*) FROM hazard_areas))::text, 6, '0'),
                       CASE WHEN i % 2 = 0 THEN 'CHA' ELSE 'SHA' END,
                       (ARRAY['open', 'worked_on', 'closed'])[1 + i % 3], ARRAY['AP'],
                       g, ST_Area(g::geography), g, ST_Area(g::geography), :rs, 'informant ' || i
                FROM programmes p, generate_series(1, :n) AS i,
                     LATERAL (SELECT ST_Multi(ST_MakeEnvelope(45.0 + (i % 20) * 0.02, 2.0 + (i / 20) * 0.02,
                                                          45.01 + (i % 20) * 0.02, 2.01 + (i / 20) * 0.02, 4326)) AS g) s
                WHERE p.code = :code
                """
            ),
            {"n": count, "code": programme, "rs": review_status},
        )


@pytest.fixture
def live(live_server: Any) -> str:
    """The live server's base URL (conftest's ``live_server``: uvicorn on a loopback port)."""
    return str(live_server.url)


@pytest.fixture
def hazards(engine: Engine) -> int:
    insert_hazards(engine, N_HAZARDS)
    insert_hazards(engine, 7, review_status="draft")
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM hazard_areas")).scalar_one())


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The WebMercatorQuad tile (z, x, y) containing a point."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def gdal_env(headers: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["GDAL_HTTP_HEADERS"] = f"Authorization: {headers['Authorization']}"
    env["CPL_DEBUG"] = "OFF"
    return env


def run(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_ogrinfo_lists_the_collections(live: str, coordinator: dict[str, str]) -> None:
    out = run(["ogrinfo", "-ro", "-q", f"OAPIF:{live}/ogc"], gdal_env(coordinator))
    assert "hazard_areas" in out
    assert "admin_areas" in out


def test_ogr2ogr_reads_every_feature_across_pages(
    live: str, coordinator: dict[str, str], hazards: int, tmp_path: Path
) -> None:
    target = tmp_path / "hazards.gpkg"
    run(
        [
            "ogr2ogr",
            "-f",
            "GPKG",
            str(target),
            f"OAPIF:{live}/ogc",
            "hazard_areas",
            "-oo",
            f"PAGE_SIZE={PAGE}",
        ],
        gdal_env(coordinator),
    )
    frame = gpd.read_file(target)
    assert hazards > PAGE * 2
    assert len(frame) == hazards
    assert frame["reference"].is_unique
    # ogrinfo -so agrees with the database too (numberMatched is exact at this size).
    summary = run(["ogrinfo", "-ro", "-so", f"OAPIF:{live}/ogc", "hazard_areas"], gdal_env(coordinator))
    assert f"Feature Count: {hazards}" in summary


def test_partner_reads_approved_only_without_sensitive_fields(
    live: str, make_user: Callable[..., dict[str, str]], hazards: int, engine: Engine, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE programmes SET sensitive_fields = '{notes}' WHERE code = 'SOM'"))
    partner = make_user("partner", ("SOM",))
    target = tmp_path / "partner.geojson"
    run(["ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{live}/ogc", "hazard_areas"], gdal_env(partner))
    frame = gpd.read_file(target)
    assert len(frame) == N_HAZARDS  # the 7 drafts are not shared
    assert "notes" not in frame.columns
    assert set(frame["review_status"]) == {"approved"}


def test_owslib_reads_items(live: str, coordinator: dict[str, str], hazards: int) -> None:
    from owslib.ogcapi.features import Features

    api = Features(live + "/ogc", headers=coordinator)
    assert {c["id"] for c in api.collections()["collections"]} >= {"hazard_areas", "admin_areas"}
    page = api.collection_items("hazard_areas", limit=10, classification="CHA")
    assert page["numberReturned"] == 10
    assert {f["properties"]["classification"] for f in page["features"]} == {"CHA"}
    queryables = api.collection_queryables("hazard_areas")
    assert "classification" in queryables["properties"]


def test_geopandas_reads_an_items_url(
    live: str, coordinator: dict[str, str], hazards: int, sql: Callable[..., list[Any]]
) -> None:
    response = httpx.get(
        f"{live}/ogc/collections/hazard_areas/items",
        params={"limit": 1000, "status": "open"},
        headers=coordinator,
    )
    assert response.status_code == 200
    frame = gpd.read_file(response.text)
    assert len(frame) == sql("SELECT count(*) FROM hazard_areas WHERE status = 'open'")[0][0]
    assert set(frame["status"]) == {"open"}
    assert frame.crs is not None and frame.crs.to_epsg() == 4326


def test_gdal_reads_a_vector_tile(
    live: str, coordinator: dict[str, str], hazards: int, tmp_path: Path
) -> None:
    z, x, y = tile_of(45.2, 2.05, 10)  # over the inserted hazards
    response = httpx.get(
        f"{live}/ogc/collections/hazard_areas/tiles/WebMercatorQuad/{z}/{y}/{x}", headers=coordinator
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    tile = tmp_path / f"{z}-{x}-{y}.mvt"
    tile.write_bytes(response.content)
    out = run(["ogrinfo", "-ro", "-al", "-so", f"MVT:{tile}"], dict(os.environ))
    assert "Layer name: hazard_areas" in out
    count = int(out.split("Feature Count: ")[1].split()[0])
    assert count > 0


def test_anonymous_gdal_sees_nothing_until_a_layer_is_published(
    live: str, engine: Engine, hazards: int
) -> None:
    env = dict(os.environ)
    response = httpx.get(f"{live}/ogc/collections/hazard_areas/items")
    assert response.status_code == 401
    with engine.begin() as conn:
        conn.execute(text("UPDATE programmes SET published_layers = '{hazard_areas}' WHERE code = 'SOM'"))
    out = run(["ogrinfo", "-ro", "-so", f"OAPIF:{live}/ogc", "hazard_areas"], env)
    assert f"Feature Count: {N_HAZARDS}" in out
    body = json.loads(httpx.get(f"{live}/ogc/collections/hazard_areas/items?limit=1").text)
    assert body["features"][0]["properties"]["review_status"] == "approved"
