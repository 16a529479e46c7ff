"""Every collection of the registry answers every endpoint: items, one feature, queryables,
tiles and each export format (catches a wrong column or table name in a registry entry)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyogrio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.ogc.collections import COLLECTIONS
from tests.factories import insert_hazard_area


@pytest.mark.parametrize("collection_id", sorted(COLLECTIONS))
def test_every_collection_answers(
    client: TestClient, admin: dict[str, str], engine: Engine, tmp_path: Path, collection_id: str
) -> None:
    insert_hazard_area(engine, "POLYGON((45.3 2.0, 45.4 2.0, 45.4 2.1, 45.3 2.0))")
    base = f"/ogc/collections/{collection_id}"
    collection = client.get(base, headers=admin)
    assert collection.status_code == 200, collection.text
    items = client.get(f"{base}/items", params={"limit": 5, "sortby": "-id"}, headers=admin)
    assert items.status_code == 200, items.text
    body = items.json()
    assert body["type"] == "FeatureCollection"
    if body["features"]:
        first = body["features"][0]
        assert client.get(f"{base}/items/{first['id']}", headers=admin).status_code == 200
    queryables = client.get(f"{base}/queryables", headers=admin).json()
    assert "programme" in queryables["properties"]
    assert client.get(f"{base}/items", params={"programme": "SOM"}, headers=admin).status_code == 200
    filtered = client.get(f"{base}/items", params={"filter": "programme = 'SOM'"}, headers=admin)
    assert filtered.status_code == 200, filtered.text

    tile = client.get(f"{base}/tiles/WebMercatorQuad/5/15/20", headers=admin)  # over Somalia
    assert tile.status_code in (200, 204), tile.text
    assert (
        client.get(f"{base}/tiles/WebMercatorQuad", headers=admin).json()["vector_layers"][0]["id"]
        == collection_id
    )

    for fmt in ("gpkg", "kml", "csv", "shp"):
        export = client.get(f"/api/v1/exports/{collection_id}", params={"format": fmt}, headers=admin)
        assert export.status_code == 200, (fmt, export.text)
        if fmt == "gpkg":
            path = tmp_path / f"{collection_id}.gpkg"
            path.write_bytes(export.content)
            assert pyogrio.list_layers(path)[0][0] == collection_id
        if fmt == "shp":
            assert "README.txt" in zipfile.ZipFile(io.BytesIO(export.content)).namelist()


def test_tasks_collection_draws_the_targeted_hazards(
    client: TestClient, coordinator: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    first = insert_hazard_area(engine, "POLYGON((45.30 2.00, 45.31 2.00, 45.31 2.01, 45.30 2.00))")
    second = insert_hazard_area(engine, "POLYGON((45.40 2.00, 45.41 2.00, 45.41 2.01, 45.40 2.00))")
    created = client.post(
        "/api/v1/tasks",
        json={"programme": "SOM", "type": "clearance", "hazard_area_ids": [first, second]},
        headers=coordinator,
    )
    assert created.status_code == 201, created.text
    body = client.get(
        "/ogc/collections/tasks/items", params={"status": "planned"}, headers=coordinator
    ).json()
    assert body["numberReturned"] == 1
    task = body["features"][0]
    assert task["geometry"]["type"] == "MultiPolygon" and len(task["geometry"]["coordinates"]) == 2
    assert len(task["properties"]["hazard_references"]) == 2
    tile = client.get("/ogc/collections/tasks/tiles/WebMercatorQuad/8/126/160", headers=coordinator)
    assert tile.status_code == 200
    path = tmp_path / "tasks.mvt"
    path.write_bytes(tile.content)
    assert list(pyogrio.read_dataframe(path, layer="tasks")["status"]) == ["planned"]


@pytest.mark.parametrize("collection_id", sorted(COLLECTIONS))
def test_partner_and_published_access_to_every_collection(
    client: TestClient,
    make_user: Callable[..., dict[str, str]],
    sql: Callable[..., list[Any]],
    collection_id: str,
) -> None:
    partner = make_user("partner", ("SOM",))
    shared = COLLECTIONS[collection_id].partner_access
    items = client.get(f"/ogc/collections/{collection_id}/items", headers=partner)
    assert items.status_code == (200 if shared else 403), items.text
    tile = client.get(f"/ogc/collections/{collection_id}/tiles/WebMercatorQuad/5/15/20", headers=partner)
    assert tile.status_code in ({200, 204} if shared else {403})
    if shared:
        sql("UPDATE programmes SET published_layers = ARRAY[:c] WHERE code = 'SOM'", c=collection_id)
        assert client.get(f"/ogc/collections/{collection_id}/items").status_code == 200
    else:
        assert client.get(f"/ogc/collections/{collection_id}/items").status_code == 401
