"""Land releases through the API: accounting, clipping, overlap refusal, review, completion."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.factories import insert_hazard_area, row

# A square of about 111 m x 111 m near Mogadishu.
X0, Y0, D = 45.300, 2.050, 0.001
HAZARD = f"POLYGON(({X0} {Y0},{X0 + D} {Y0},{X0 + D} {Y0 + D},{X0} {Y0 + D},{X0} {Y0}))"


def box(x1: float, y1: float, x2: float, y2: float) -> dict[str, Any]:
    """A GeoJSON polygon given in fractions of the hazard square."""
    a, b = X0 + x1 * D, Y0 + y1 * D
    c, d = X0 + x2 * D, Y0 + y2 * D
    return {"type": "Polygon", "coordinates": [[[a, b], [c, b], [c, d], [a, d], [a, b]]]}


def release(
    hazard_id: int, geometry: dict[str, Any], method: str = "cleared", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hazard_area_id": hazard_id,
        "method": method,
        "date": "2026-03-01",
        "geometry": geometry,
    }
    if method == "cleared":
        body["depth_cm"] = 13
    body.update(extra)
    return body


def figures(engine: Engine, hazard_id: int) -> Any:
    return row(
        engine,
        "SELECT area_m2, cancelled_m2, reduced_m2, cleared_m2, remaining_m2, status, version, "
        "ST_Area(remaining_geom::geography) AS rem_geom_m2 FROM hazard_areas WHERE id = :id",
        id=hazard_id,
    )


def test_release_updates_the_hazard_and_refuses_overlap(
    client: TestClient, engine: Engine, coordinator: dict[str, str]
) -> None:
    hazard = insert_hazard_area(engine, HAZARD)
    before = figures(engine, hazard)
    response = client.post(
        "/api/v1/land-releases", json=release(hazard, box(0, 0, 0.5, 1)), headers=coordinator
    )
    assert response.status_code == 201, response.text
    feature = response.json()
    assert response.headers["etag"] == '"1"'
    assert feature["properties"]["method"] == "cleared"
    assert abs(feature["properties"]["area_m2"] - before.area_m2 / 2) < 1
    after = figures(engine, hazard)
    assert after.status == "worked_on"
    assert abs(after.cleared_m2 - before.area_m2 / 2) < 1
    assert abs(after.area_m2 - (after.cleared_m2 + after.remaining_m2)) < 0.01
    assert after.version > before.version

    overlapping = client.post(
        "/api/v1/land-releases", json=release(hazard, box(0.25, 0, 0.75, 1), "reduced"), headers=coordinator
    )
    assert overlapping.status_code == 422, overlapping.text
    problem = overlapping.json()
    assert overlapping.headers["content-type"] == "application/problem+json"
    assert problem["overlaps"][0]["land_release_id"] == feature["id"]
    assert abs(problem["overlap_m2"] - before.area_m2 / 4) < 1
    assert problem["overlaps"][0]["overlap"]["type"] in ("Polygon", "MultiPolygon")
    assert figures(engine, hazard) == after  # nothing changed
