"""Vector tiles (OGC API – Tiles, MVT from ST_AsMVT) read back with GDAL's MVT driver."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.factories import insert_hazard_area
from tests.test_ogc_clients import insert_hazards, tile_of

TILES = "/ogc/collections/hazard_areas/tiles/WebMercatorQuad"


def read_tile(content: bytes, tmp_path: Path, name: str = "tile") -> Any:
    path = tmp_path / f"{name}.mvt"
    path.write_bytes(content)
    return pyogrio.read_dataframe(path, layer="hazard_areas")


def tile_url(lon: float, lat: float, z: int) -> str:
    z, x, y = tile_of(lon, lat, z)
    return f"{TILES}/{z}/{y}/{x}"


@pytest.fixture
def hazards(engine: Engine) -> None:
    insert_hazards(engine, 60)
    insert_hazards(engine, 5, review_status="draft")


def test_tile_has_the_features_and_only_map_columns(
    client: TestClient,
    coordinator: dict[str, str],
    hazards: None,
    tmp_path: Path,
    sql: Callable[..., list[Any]],
) -> None:
    response = client.get(tile_url(45.2, 2.05, 9), headers=coordinator)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert "max-age" in response.headers["cache-control"] and response.headers["etag"]
    frame = read_tile(response.content, tmp_path)
    assert len(frame) == sql("SELECT count(*) FROM hazard_areas")[0][0]
    assert {"reference", "classification", "status", "programme", "review_status"} <= set(frame.columns)
    assert "notes" not in frame.columns and "beneficiaries_women" not in frame.columns
    assert set(frame["contamination_types"]) == {"AP"}


def test_tile_filters_and_partner_rules(
    client: TestClient,
    make_user: Callable[..., dict[str, str]],
    hazards: None,
    tmp_path: Path,
    sql: Callable[..., list[Any]],
) -> None:
    coordinator = make_user("coordinator", ("SOM",))
    url = tile_url(45.2, 2.05, 9)
    closed = read_tile(
        client.get(url, params={"status": "closed"}, headers=coordinator).content, tmp_path, "closed"
    )
    assert set(closed["status"]) == {"closed"}
    assert len(closed) == sql("SELECT count(*) FROM hazard_areas WHERE status = 'closed'")[0][0]
    cql = client.get(
        url, params={"filter": "classification = 'CHA' AND status <> 'closed'"}, headers=coordinator
    )
    frame = read_tile(cql.content, tmp_path, "cql")
    assert set(frame["classification"]) == {"CHA"} and "closed" not in set(frame["status"])

    partner = make_user("partner", ("SOM",))
    shared = read_tile(client.get(url, headers=partner).content, tmp_path, "partner")
    assert len(shared) == 60 and set(shared["review_status"]) == {"approved"}
    assert client.get(url).status_code == 401


def test_etag_and_not_modified(
    client: TestClient, coordinator: dict[str, str], hazards: None, engine: Engine
) -> None:
    url = tile_url(45.2, 2.05, 9)
    first = client.get(url, headers=coordinator)
    again = client.get(url, headers={**coordinator, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and not again.content
    insert_hazard_area(engine, "POLYGON((45.1 2.02, 45.12 2.02, 45.12 2.04, 45.1 2.02))")
    changed = client.get(url, headers={**coordinator, "If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]


def test_empty_and_out_of_range_tiles(client: TestClient, coordinator: dict[str, str], hazards: None) -> None:
    empty = client.get(tile_url(13.2, 32.9, 9), headers=coordinator)  # Libya: nothing of SOM there
    assert empty.status_code == 204 and not empty.content
    for path in ("3/8/1", "3/1/8", "25/0/0"):
        response = client.get(f"{TILES}/{path}", headers=coordinator)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
    for path in ("3/a/1", "-1/0/0"):
        response = client.get(f"{TILES}/{path}", headers=coordinator)
        assert response.status_code in (400, 404), path
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get(f"{TILES}/3/4/5", params={"bogus": "1"}, headers=coordinator).status_code == 400


def test_low_zoom_tiles_are_simplified_but_keep_every_feature(
    client: TestClient, coordinator: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    # A 200-vertex circle: at z5 it needs far fewer vertices than at z14.
    circle = shapely.Point(45.2, 2.05).buffer(0.05, 50)
    insert_hazard_area(engine, circle.wkt)
    low = read_tile(client.get(tile_url(45.2, 2.05, 5), headers=coordinator).content, tmp_path, "low")
    high = read_tile(client.get(tile_url(45.2, 2.05, 12), headers=coordinator).content, tmp_path, "high")
    assert len(low) == len(high) == 1
    assert shapely.get_num_coordinates(low.geometry.iloc[0]) < shapely.get_num_coordinates(
        high.geometry.iloc[0]
    )


def test_tilejson_and_tileset_documents(
    client: TestClient, coordinator: dict[str, str], hazards: None
) -> None:
    document = client.get(TILES, headers=coordinator).json()
    assert document["tilejson"] == "3.0.0"
    assert document["tiles"][0].endswith("/ogc/collections/hazard_areas/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert document["vector_layers"][0]["id"] == "hazard_areas"
    assert "status" in document["vector_layers"][0]["fields"]
    west, south, east, north = document["bounds"]
    assert 44.9 < west < east < 45.5 and 1.9 < south < north < 2.2
    item = next(link for link in document["links"] if link["rel"] == "item")
    assert item["href"].endswith("{tileMatrix}/{tileRow}/{tileCol}") and item["templated"]
    filtered = client.get(TILES, params={"status": "open"}, headers=coordinator).json()
    assert filtered["tiles"][0].endswith("{z}/{y}/{x}?status=open")
    tilesets = client.get("/ogc/collections/hazard_areas/tiles", headers=coordinator).json()
    assert tilesets["tilesets"][0]["tileMatrixSetURI"].endswith("WebMercatorQuad")
    tms = client.get("/ogc/tileMatrixSets/WebMercatorQuad").json()
    assert tms["tileMatrices"][3]["matrixWidth"] == 8
