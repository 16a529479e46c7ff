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
        "ST_Area(coalesce(remaining_geom, geom)::geography) AS rem_geom_m2 FROM hazard_areas WHERE id = :id",
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


def test_outside_the_hazard_is_refused_with_where(
    client: TestClient, engine: Engine, coordinator: dict[str, str]
) -> None:
    hazard = insert_hazard_area(engine, HAZARD)
    before = figures(engine, hazard)
    response = client.post(
        "/api/v1/land-releases", json=release(hazard, box(0.5, 0.5, 1.5, 1)), headers=coordinator
    )
    assert response.status_code == 422
    problem = response.json()
    # Half of the polygon (about 111 m x 55 m / 2) is outside the hazard.
    assert abs(problem["outside_hazard_m2"] - before.area_m2 / 4) < 5
    assert problem["outside_hazard"]["type"] == "MultiPolygon"
    assert problem["overlaps"] == []
    assert problem["errors"][0]["field"] == "geometry"
    assert figures(engine, hazard) == before
    assert row(engine, "SELECT count(*) AS n FROM land_releases").n == 0


def test_small_spill_is_clipped_and_a_sliver_is_absorbed(
    client: TestClient, engine: Engine, coordinator: dict[str, str]
) -> None:
    hazard = insert_hazard_area(engine, HAZARD)
    total = figures(engine, hazard).area_m2
    # 0.3 m beyond the west edge (within the 0.5 m tolerance): accepted, clipped to the hazard.
    spill = 0.3 / 111_320 / D
    first = client.post(
        "/api/v1/land-releases", json=release(hazard, box(-spill, 0, 0.5, 1)), headers=coordinator
    )
    assert first.status_code == 201, first.text
    assert abs(first.json()["properties"]["area_m2"] - total / 2) < 0.5
    assert first.json()["properties"]["input_area_m2"] > first.json()["properties"]["area_m2"]
    # Stopping 0.2 m short of the east edge would leave a 0.2 m strip: it goes with the release.
    short = 0.2 / 111_320 / D
    second = client.post(
        "/api/v1/land-releases",
        json=release(hazard, box(0.5, 0, 1 - short, 1), "reduced"),
        headers=coordinator,
    )
    assert second.status_code == 201, second.text
    after = figures(engine, hazard)
    assert after.status == "closed"
    assert after.remaining_m2 < 0.01
    assert abs(after.area_m2 - (after.cleared_m2 + after.reduced_m2 + after.remaining_m2)) < 1


def test_review_workflow_rejection_gives_land_back(
    client: TestClient,
    engine: Engine,
    coordinator: dict[str, str],
    surveyor: dict[str, str],
    partner: dict[str, str],
) -> None:
    hazard = insert_hazard_area(engine, HAZARD)
    total = figures(engine, hazard).area_m2
    created = client.post(
        "/api/v1/land-releases", json=release(hazard, box(0, 0, 1, 0.5)), headers=surveyor
    ).json()
    rid = created["id"]
    # Partners only ever see approved releases.
    assert client.get(f"/api/v1/land-releases/{rid}", headers=partner).status_code == 404
    assert (
        client.post(f"/api/v1/land-releases/{rid}/approve", headers=coordinator).status_code == 409
    )  # draft
    assert client.post(f"/api/v1/land-releases/{rid}/submit", headers=surveyor).status_code == 200
    assert client.post(f"/api/v1/land-releases/{rid}/approve", headers=surveyor).status_code == 403
    reject = client.post(f"/api/v1/land-releases/{rid}/reject", json={}, headers=coordinator)
    assert reject.status_code == 422  # a reason is required
    reject = client.post(
        f"/api/v1/land-releases/{rid}/reject", json={"reason": "wrong lane"}, headers=coordinator
    )
    assert reject.status_code == 200
    assert reject.json()["properties"]["review_status"] == "rejected"
    assert abs(figures(engine, hazard).remaining_m2 - total) < 0.5
    # Someone else releases that land meanwhile: resubmitting the rejected one is refused.
    other = client.post("/api/v1/land-releases", json=release(hazard, box(0, 0, 1, 0.3)), headers=surveyor)
    assert other.status_code == 201
    resubmit = client.post(f"/api/v1/land-releases/{rid}/submit", headers=surveyor)
    assert resubmit.status_code == 422
    assert resubmit.json()["overlaps"][0]["land_release_id"] == other.json()["id"]
    # The other one goes through review and is visible to partners once approved.
    oid = other.json()["id"]
    client.post(f"/api/v1/land-releases/{oid}/submit", headers=surveyor)
    approved = client.post(f"/api/v1/land-releases/{oid}/approve", headers=coordinator)
    assert approved.status_code == 200 and approved.json()["properties"]["reviewed_by"]
    listing = client.get("/api/v1/land-releases", params={"hazard_area_id": hazard}, headers=partner).json()
    assert [f["id"] for f in listing["features"]] == [oid]
    official = row(
        engine, "SELECT count(*) AS n FROM approved_land_releases WHERE hazard_area_id = :h", h=hazard
    )
    assert official.n == 1


def test_patch_needs_if_match_and_rechecks_geometry(
    client: TestClient, engine: Engine, coordinator: dict[str, str]
) -> None:
    hazard = insert_hazard_area(engine, HAZARD)
    a = client.post("/api/v1/land-releases", json=release(hazard, box(0, 0, 0.5, 1)), headers=coordinator)
    b = client.post("/api/v1/land-releases", json=release(hazard, box(0.5, 0, 1, 0.5)), headers=coordinator)
    url = f"/api/v1/land-releases/{b.json()['id']}"
    assert client.patch(url, json={"depth_cm": 30}, headers=coordinator).status_code == 428
    stale = client.patch(url, json={"depth_cm": 30}, headers={**coordinator, "If-Match": '"7"'})
    assert stale.status_code == 412
    ok = client.patch(url, json={"depth_cm": 30}, headers={**coordinator, "If-Match": b.headers["etag"]})
    assert ok.status_code == 200 and ok.json()["properties"]["depth_cm"] == 30
    assert ok.headers["etag"] == '"2"'
    # Moving it onto release a is refused, and nothing changes.
    before = figures(engine, hazard)
    moved = client.patch(
        url, json={"geometry": box(0.25, 0, 1, 0.5)}, headers={**coordinator, "If-Match": '"2"'}
    )
    assert moved.status_code == 422
    assert moved.json()["overlaps"][0]["land_release_id"] == a.json()["id"]
    assert figures(engine, hazard) == before
    # Growing it into free land is fine; the hazard follows.
    grown = client.patch(
        url, json={"geometry": box(0.5, 0, 1, 0.75)}, headers={**coordinator, "If-Match": '"2"'}
    )
    assert grown.status_code == 200
    assert abs(figures(engine, hazard).remaining_m2 - before.area_m2 / 8) < 1
    # Removing depth from cleared land is refused.
    no_depth = client.patch(url, json={"depth_cm": None}, headers={**coordinator, "If-Match": '"3"'})
    assert no_depth.status_code == 422


def test_hostile_input_is_refused_and_changes_nothing(
    client: TestClient, engine: Engine, coordinator: dict[str, str]
) -> None:
    hazard = insert_hazard_area(engine, HAZARD)
    libya = insert_hazard_area(
        engine, "POLYGON((13.1 32.8,13.11 32.8,13.11 32.81,13.1 32.81,13.1 32.8))", "LBY"
    )
    before = figures(engine, hazard)
    audit_before = row(engine, "SELECT count(*) AS n FROM audit_log").n
    square = box(0, 0, 0.5, 0.5)
    bad_bodies: list[Any] = [
        release(hazard, {"type": "Point", "coordinates": [45.3, 2.05]}),
        release(
            hazard,
            {"type": "Polygon", "coordinates": [[[45.3, 2.05], [200, 2.05], [45.3, 2.06], [45.3, 2.05]]]},
        ),
        release(hazard, {"type": "Polygon", "coordinates": [[[45.3, 2.05], [45.31, 2.05]]]}),
        release(hazard, {"type": "Polygon", "coordinates": "nope"}),
        release(hazard, {"type": "Polygon", "coordinates": [[["a", "b"], [1, 2], [3, 4], [5, 6]]]}),
        release(
            hazard, {"type": "Polygon", "coordinates": [[[1e308, 1e308], [1, 2], [3, 4], [1e308, 1e308]]]}
        ),
        release(hazard, square, depth_cm=None),  # cleared without depth
        release(hazard, square, "cancelled", depth_cm=20),
        release(hazard, square, method="destroyed"),
        release(hazard, square, date="2999-01-01"),
        release(hazard, square, hazard_area_id=2**40),
        release(999_999, square),
        release(libya, square),  # another programme's hazard
        release(hazard, square, task_id=999_999),
        release(hazard, square, organisation_id=999_999),
        release(hazard, square, unexpected="field"),
        # A bow-tie: repairing it would halve its area.
        release(
            hazard,
            {
                "type": "Polygon",
                "coordinates": [[[45.3, 2.05], [45.301, 2.051], [45.301, 2.05], [45.3, 2.051], [45.3, 2.05]]],
            },
        ),
    ]
    for index, body in enumerate(bad_bodies):
        response = client.post("/api/v1/land-releases", json=body, headers=coordinator)
        assert 400 <= response.status_code < 500, (index, response.status_code, response.text)
        assert response.headers["content-type"] == "application/problem+json", index
    for raw in (b'{"hazard_area_id": 1, "method": "cleared", "depth_cm": NaN}', b"[", b"null"):
        response = client.post(
            "/api/v1/land-releases", content=raw, headers={**coordinator, "content-type": "application/json"}
        )
        assert response.status_code == 422
    assert client.get("/api/v1/land-releases/abc", headers=coordinator).status_code == 422
    assert client.get("/api/v1/land-releases?limit=0", headers=coordinator).status_code == 422
    assert client.get("/api/v1/land-releases?after=-1", headers=coordinator).status_code == 422
    assert figures(engine, hazard) == before
    assert row(engine, "SELECT count(*) AS n FROM land_releases").n == 0
    assert row(engine, "SELECT count(*) AS n FROM audit_log").n == audit_before


def test_list_filters_and_keyset_paging(
    client: TestClient, engine: Engine, coordinator: dict[str, str]
) -> None:
    hazard = insert_hazard_area(engine, HAZARD)
    ids = []
    for i in range(5):
        method = "cleared" if i % 2 == 0 else "reduced"
        created = client.post(
            "/api/v1/land-releases",
            json=release(hazard, box(0.2 * i, 0, 0.2 * i + 0.2, 1), method),
            headers=coordinator,
        )
        ids.append(created.json()["id"])
    page = client.get("/api/v1/land-releases", params={"limit": 2}, headers=coordinator)
    assert page.headers["content-type"] == "application/geo+json"
    seen = []
    url: str | None = "/api/v1/land-releases?limit=2"
    while url:
        body = client.get(url, headers=coordinator).json()
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert seen == ids
    reduced = client.get("/api/v1/land-releases", params={"method": "reduced"}, headers=coordinator).json()
    assert [f["id"] for f in reduced["features"]] == [ids[1], ids[3]]
    assert all(f["properties"]["hazard_area_id"] == hazard for f in reduced["features"])
    assert (
        client.get("/api/v1/land-releases", params={"programme": "LBY"}, headers=coordinator).status_code
        == 403
    )


def test_rules_hold_in_the_database_for_raw_sql(engine: Engine) -> None:
    """Writes that bypass the API are clipped, refused or rolled back by the database itself."""
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    hazard = insert_hazard_area(engine, HAZARD)
    polygon = f"ST_Multi(ST_GeomFromText('{_wkt(0, 0, 0.6, 1)}', 4326))"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO land_releases (programme_id, reference, hazard_area_id, method, activity, "
                f"release_date, depth_cm, geom, input_geom, area_m2) SELECT programme_id, 'RAW-1', id, 'cleared', "
                f"'clearance', '2026-01-01', 10, {polygon}, {polygon}, 0 FROM hazard_areas WHERE id = :h"
            ),
            {"h": hazard},
        )
    assert figures(engine, hazard).status == "worked_on"
    with pytest.raises(DBAPIError) as overlap, engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO land_releases (programme_id, reference, hazard_area_id, method, activity, "
                f"release_date, geom, input_geom, area_m2) SELECT programme_id, 'RAW-2', id, 'reduced', "
                f"'ts', '2026-01-01', {polygon}, {polygon}, 0 FROM hazard_areas WHERE id = :h"
            ),
            {"h": hazard},
        )
    assert overlap.value.orig.pgcode == "23SG1"  # type: ignore[union-attr]
    # Typing a figure in by hand breaks the identity: refused at commit.
    with pytest.raises(DBAPIError) as identity, engine.begin() as conn:
        conn.execute(
            text("UPDATE hazard_areas SET cleared_m2 = cleared_m2 + 100 WHERE id = :h"), {"h": hazard}
        )
    assert identity.value.orig.pgcode == "23514"  # type: ignore[union-attr]
    after = figures(engine, hazard)
    assert abs(after.area_m2 - (after.cleared_m2 + after.remaining_m2)) < 1


def _wkt(x1: float, y1: float, x2: float, y2: float) -> str:
    a, b, c, d = X0 + x1 * D, Y0 + y1 * D, X0 + x2 * D, Y0 + y2 * D
    return f"POLYGON(({a} {b},{c} {b},{c} {d},{a} {d},{a} {b}))"


def test_release_is_audited_with_its_actor(client: TestClient, engine: Engine, make_user: Any) -> None:
    headers = make_user("coordinator", ("SOM",), username="amina")
    hazard = insert_hazard_area(engine, HAZARD)
    created = client.post(
        "/api/v1/land-releases", json=release(hazard, box(0, 0, 1, 1)), headers=headers
    ).json()
    audit = row(
        engine,
        "SELECT actor, action, after->>'method' AS method FROM audit_log "
        "WHERE table_name = 'land_releases' AND record_id = :id",
        id=str(created["id"]),
    )
    assert (audit.actor, audit.action, audit.method) == ("amina", "insert", "cleared")
    hazard_audit = row(
        engine,
        "SELECT actor, after->>'status' AS status FROM audit_log WHERE table_name = 'hazard_areas' "
        "AND record_id = :id AND action = 'update' ORDER BY id DESC LIMIT 1",
        id=str(hazard),
    )
    assert (hazard_audit.actor, hazard_audit.status) == ("amina", "closed")


def test_other_programmes_releases_are_invisible(
    client: TestClient, engine: Engine, coordinator: dict[str, str], make_user: Any
) -> None:
    hazard = insert_hazard_area(engine, HAZARD)
    created = client.post(
        "/api/v1/land-releases", json=release(hazard, box(0, 0, 1, 1)), headers=coordinator
    ).json()
    libya = make_user("coordinator", ("LBY",))
    assert client.get(f"/api/v1/land-releases/{created['id']}", headers=libya).status_code == 404
    assert client.get("/api/v1/land-releases", headers=libya).json()["features"] == []
    assert client.post(f"/api/v1/land-releases/{created['id']}/submit", headers=libya).status_code == 404
    patched = client.patch(
        f"/api/v1/land-releases/{created['id']}", json={"notes": "x"}, headers={**libya, "If-Match": '"1"'}
    )
    assert patched.status_code == 404
    assert (
        client.post(
            f"/api/v1/hazard-areas/{hazard}/cancel", json={"date": "2026-01-01"}, headers=libya
        ).status_code
        == 404
    )
    assert (
        client.get(
            "/api/v1/qa/sampling-plan", params={"land_release_id": created["id"]}, headers=libya
        ).status_code
        == 404
    )
