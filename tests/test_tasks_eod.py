"""EOD spot tasks and explosive ordnance items: coordinates as typed in the field (MGRS, UTM)
against independent conversions, the catalogue, item roll-ups, the /eo-items collection."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import mgrs
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy.engine import Engine

from tests.factories import insert_hazard_area
from tests.test_tasks import Headers, counts, move, new_task, org_id, square, team_id

SQL = Callable[..., list[Any]]

# Places in the programmes' countries: (programme, lon, lat, UTM EPSG, zone label).
PLACES = [
    ("SOM", 45.3182, 2.0469, 32638, "38N"),  # Mogadishu
    ("SOM", 42.5454, -0.3582, 32738, "38S"),  # Kismayo, south of the equator
    ("SOM", 44.0650, 9.5600, 32638, "38N"),  # Hargeisa
    ("SOM", 41.8500, 3.7900, 32637, "37N"),  # west, zone 37
    ("LBY", 13.1913, 32.8872, 32633, "33N"),  # Tripoli
    ("LBY", 20.0686, 32.1167, 32634, "34N"),  # Benghazi
]


def _utm(epsg: int) -> tuple[Transformer, Transformer]:
    return (
        Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True),
        Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True),
    )


def _close(a: list[float], b: tuple[float, float], tolerance_deg: float = 2e-7) -> bool:
    return math.isclose(a[0], b[0], abs_tol=tolerance_deg) and math.isclose(a[1], b[1], abs_tol=tolerance_deg)


@pytest.mark.parametrize(("programme", "lon", "lat", "epsg", "zone"), PLACES)
def test_utm_call_out_matches_pyproj(
    client: TestClient, admin: Headers, programme: str, lon: float, lat: float, epsg: int, zone: str
) -> None:
    forward, inverse = _utm(epsg)
    easting, northing = (round(v) for v in forward.transform(lon, lat))
    typed = f"{zone} {easting} {northing}"
    feature = new_task(client, admin, programme=programme, type="eod_spot", location=typed)
    assert _close(feature["geometry"]["coordinates"], inverse.transform(easting, northing))
    assert feature["properties"]["location"] == {"input": typed, "format": "utm", "crs": f"EPSG:{epsg}"}


@pytest.mark.parametrize(("programme", "lon", "lat", "epsg", "zone"), PLACES)
def test_mgrs_call_out_matches_pyproj(
    client: TestClient, admin: Headers, programme: str, lon: float, lat: float, epsg: int, zone: str
) -> None:
    # The MGRS string comes from the mgrs library's encoder; the check from pyproj: a 10-digit
    # MGRS reference names a 1 m square of the UTM grid, so the point SafeGround stores must
    # project (with pyproj) into that square of the right zone.
    reference = mgrs.MGRS().toMGRS(lat, lon, MGRSPrecision=5)
    forward, _ = _utm(epsg)
    easting, northing = forward.transform(lon, lat)
    assert reference.startswith(zone[:2])
    assert reference.endswith(f"{int(easting) % 100_000:05d}{int(northing) % 100_000:05d}")
    spaced = f"{reference[:3]} {reference[3:5]} {reference[5:10]} {reference[10:]}"  # as people write it
    feature = new_task(client, admin, programme=programme, type="eod_spot", location=spaced)
    stored_e, stored_n = forward.transform(*feature["geometry"]["coordinates"])
    assert (math.floor(stored_e), math.floor(stored_n)) == (math.floor(easting), math.floor(northing))
    assert feature["properties"]["location"] == {"input": spaced, "format": "mgrs", "crs": "EPSG:4326"}


def test_mgrs_of_less_precision_and_wrong_zone(client: TestClient, coordinator: Headers, sql: SQL) -> None:
    reference = mgrs.MGRS().toMGRS(2.0469, 45.3182, MGRSPrecision=4)  # 10 m
    feature = new_task(client, coordinator, type="eod_spot", location=reference)
    lon, lat = feature["geometry"]["coordinates"]
    assert abs(lon - 45.3182) < 0.0003 and abs(lat - 2.0469) < 0.0003
    before = counts(sql)
    # A valid reference of a real place, but in Libya (Tripoli), not Somalia.
    tripoli = mgrs.MGRS().toMGRS(32.8872, 13.1913, MGRSPrecision=5)
    # And one whose 100 km square does not exist in that zone.
    impossible = "33" + reference[2:]
    for typed, message in ((tripoli, "outside Somalia"), (impossible, "not a valid MGRS reference")):
        response = client.post(
            "/api/v1/tasks",
            json={"programme": "SOM", "type": "eod_spot", "location": typed},
            headers=coordinator,
        )
        assert response.status_code == 422 and message in response.json()["detail"], response.text
        assert response.json()["errors"][0]["field"] == "location"
    assert counts(sql) == before


# ------------------------------------------------------------------------------------- items


def started_spot_task(
    client: TestClient, coordinator: Headers, sql: SQL, location: str = "2.0469, 45.3182"
) -> dict[str, Any]:
    task = new_task(
        client, coordinator, type="eod_spot", location=location, team_id=team_id(sql, "SEMA EOD 1")
    )
    assert move(client, coordinator, task["id"], "assigned").status_code == 200
    assert move(client, coordinator, task["id"], "in_progress").status_code == 200
    return task


def item(**overrides: Any) -> dict[str, Any]:
    return {
        "category": "ap_mine",
        "subcategory": "blast",
        "model": "PMN-2",
        "quantity": 1,
        "condition": "armed",
        "fuze": "pressure",
        "depth_cm": 5,
        "disposal_method": "destroyed_in_situ",
        "found_on": datetime.now(UTC).date().isoformat(),
        **overrides,
    }


def test_items_roll_up_to_their_task(client: TestClient, coordinator: Headers, sql: SQL) -> None:
    task = started_spot_task(client, coordinator, sql)
    other = started_spot_task(client, coordinator, sql, location="2.10, 45.30")
    url = f"/api/v1/tasks/{task['id']}/items"
    posted = [
        item(quantity=3),
        item(category="ap_mine", subcategory=None, model=None, quantity=2),
        item(category="submunition", subcategory="bomblet", model="BLU-63", quantity=4),
        item(category="mortar", subcategory="81_82mm", quantity=1, disposal_method="removed_and_destroyed"),
        item(category="small_arms_ammunition", subcategory=None, quantity=250, disposal_method="handed_over"),
    ]
    for body in posted:
        response = client.post(url, json=body, headers=coordinator)
        assert response.status_code == 201, response.text
    client.post(f"/api/v1/tasks/{other['id']}/items", json=item(quantity=7), headers=coordinator)

    # Reported finds wait for review: the task's figures hold approved finds only.
    props = client.get(f"/api/v1/tasks/{task['id']}", headers=coordinator).json()["properties"]
    assert props["items"] == {"total": 0, "by_category": {}, "by_report_group": {}, "awaiting_review": 5}
    approved = client.post(f"/api/v1/tasks/{task['id']}/items/approve", headers=coordinator)
    assert approved.status_code == 200, approved.text
    assert len(approved.json()["approved"]) == 5
    client.post(f"/api/v1/tasks/{other['id']}/items/approve", headers=coordinator)

    props = client.get(f"/api/v1/tasks/{task['id']}", headers=coordinator).json()["properties"]
    assert props["items"] == {
        "total": 3 + 2 + 4 + 1 + 250,
        "by_category": {"ap_mine": 5, "mortar": 1, "small_arms_ammunition": 250, "submunition": 4},
        "by_report_group": {"ap_mines": 5, "other_uxo": 1, "small_arms_ammunition": 250, "submunitions": 4},
        "awaiting_review": 0,
    }
    # The same figures from the stored rows, independently of the API's aggregation.
    stored = sql(
        "SELECT c.category, sum(e.quantity) FROM eo_items e JOIN eo_catalogue c ON c.id = e.catalogue_id "
        "WHERE e.task_id = :t GROUP BY 1 ORDER BY 1",
        t=task["id"],
    )
    assert dict(stored) == props["items"]["by_category"]
    listed = client.get("/api/v1/tasks?type=eod_spot", headers=coordinator).json()["features"]
    assert {f["id"]: f["properties"]["items"]["total"] for f in listed} == {task["id"]: 260, other["id"]: 7}


def test_item_location_as_typed_or_the_call_out_point(
    client: TestClient, coordinator: Headers, sql: SQL
) -> None:
    task = started_spot_task(client, coordinator, sql)
    url = f"/api/v1/tasks/{task['id']}/items"
    without = client.post(url, json=item(), headers=coordinator).json()
    assert without["geometry"] == task["geometry"]
    reference = mgrs.MGRS().toMGRS(2.0475, 45.3190, MGRSPrecision=5)
    located = client.post(url, json=item(location=reference), headers=coordinator).json()
    assert located["properties"]["location"] == {"input": reference, "format": "mgrs", "crs": "EPSG:4326"}
    lon, lat = located["geometry"]["coordinates"]
    assert abs(lon - 45.3190) < 2e-5 and abs(lat - 2.0475) < 2e-5  # within the metre of the reference


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (item(category="landmine"), "category"),
        (item(subcategory="bounding"), "subcategory"),
        (item(disposal_method="buried"), "disposal_method"),
        (item(quantity=0), "quantity"),
        (item(quantity=10**12), "quantity"),
        (item(depth_cm=-3), "depth_cm"),
        (item(condition="scary"), "condition"),
        (item(found_on="2999-01-01"), "found_on"),
        (item(found_on="not a date"), "found_on"),
        (item(location="38N 1 1"), "location"),
        (item(location={"type": "Point", "coordinates": [13.19, 32.88]}), "location"),  # Tripoli, not Somalia
        (item(colour="green"), "colour"),
    ],
)
def test_bad_items_are_422_and_change_nothing(
    client: TestClient, coordinator: Headers, sql: SQL, body: dict[str, Any], field: str
) -> None:
    task = started_spot_task(client, coordinator, sql)
    before = counts(sql)
    response = client.post(f"/api/v1/tasks/{task['id']}/items", json=body, headers=coordinator)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["field"].endswith(field) for e in response.json()["errors"]), response.json()
    assert counts(sql) == before


def test_items_only_on_started_digging_tasks(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL
) -> None:
    hazard = insert_hazard_area(engine, square(45.30, 2.00))
    manual = team_id(sql, "MAG Manual 1")
    planned_spot = new_task(client, coordinator, type="eod_spot", location="2.05, 45.32")
    nts = new_task(
        client, coordinator, type="nts", hazard_area_ids=[hazard], team_id=team_id(sql, "HALO NTS 1")
    )
    clearance = new_task(client, coordinator, type="clearance", hazard_area_ids=[hazard], team_id=manual)
    ts = new_task(client, coordinator, type="ts", hazard_area_ids=[hazard], team_id=manual)
    for task in (nts, clearance, ts):
        move(client, coordinator, task["id"], "assigned")
        move(client, coordinator, task["id"], "in_progress")
    before = counts(sql)
    assert (
        client.post(f"/api/v1/tasks/{planned_spot['id']}/items", json=item(), headers=coordinator).status_code
        == 409
    )
    assert (
        client.post(f"/api/v1/tasks/{nts['id']}/items", json=item(), headers=coordinator).status_code == 409
    )
    assert counts(sql) == before
    for task in (clearance, ts):
        assert (
            client.post(f"/api/v1/tasks/{task['id']}/items", json=item(), headers=coordinator).status_code
            == 201
        )
    # Late reports on a completed task are still accepted.
    move(client, coordinator, ts["id"], "completed")
    assert client.post(f"/api/v1/tasks/{ts['id']}/items", json=item(), headers=coordinator).status_code == 201


def test_who_may_report_items(
    client: TestClient, coordinator: Headers, make_user: Callable[..., Headers], sql: SQL
) -> None:
    task = started_spot_task(client, coordinator, sql)  # SEMA's team
    url = f"/api/v1/tasks/{task['id']}/items"
    sema = make_user("surveyor", ("SOM",), organisation_id=org_id(sql, "SEMA"))
    halo = make_user("surveyor", ("SOM",), organisation_id=org_id(sql, "HALO"))
    partner = make_user("partner", ("SOM",))
    libyan = make_user("coordinator", ("LBY",))
    assert client.post(url, json=item(), headers=halo).status_code == 403
    assert client.post(url, json=item(), headers=partner).status_code == 404
    assert client.post(url, json=item(), headers=libyan).status_code == 404
    assert client.post(url, json=item(), headers=sema).status_code == 201
    actors = sql("SELECT actor FROM audit_log WHERE table_name = 'eo_items' AND action = 'insert'")
    assert len(actors) == 1 and actors[0][0].startswith("surveyor-")


def test_eo_items_collection_filters_and_visibility(
    client: TestClient, coordinator: Headers, make_user: Callable[..., Headers], sql: SQL
) -> None:
    first = started_spot_task(client, coordinator, sql)
    second = started_spot_task(client, coordinator, sql, location="-0.3582, 42.5454")  # Kismayo
    today = datetime.now(UTC).date()
    week_ago = (today - timedelta(days=7)).isoformat()
    a = client.post(
        f"/api/v1/tasks/{first['id']}/items", json=item(found_on=week_ago), headers=coordinator
    ).json()["id"]
    b = client.post(
        f"/api/v1/tasks/{first['id']}/items",
        json=item(category="ied", subcategory="victim_operated", model=None, disposal_method="rendered_safe"),
        headers=coordinator,
    ).json()["id"]
    c = client.post(
        f"/api/v1/tasks/{second['id']}/items",
        json=item(category="rocket", subcategory="rpg", model="PG-7", quantity=2),
        headers=coordinator,
    ).json()["id"]

    def ids(query: str, who: Headers = coordinator) -> list[int]:
        response = client.get(f"/api/v1/eo-items?{query}", headers=who)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/geo+json")
        return [f["id"] for f in response.json()["features"]]

    assert ids("") == [a, b, c]
    assert ids(f"task_id={first['id']}") == [a, b]
    assert ids("category=ied,rocket") == [b, c]
    assert ids("report_group=ap_mines") == [a]
    assert ids("disposal_method=rendered_safe") == [b]
    assert ids(f"found_from={today.isoformat()}") == [b, c]
    assert ids(f"found_to={week_ago}") == [a]
    assert ids("bbox=42,-1,43,0") == [c]
    assert ids(f"organisation_id={org_id(sql, 'SEMA')}") == [a, b, c]
    assert ids("limit=2") == [a, b]
    page = client.get("/api/v1/eo-items?limit=2", headers=coordinator).json()
    following = next(link["href"] for link in page["links"] if link["rel"] == "next")
    assert [f["id"] for f in client.get(following, headers=coordinator).json()["features"]] == [c]
    feature = client.get(f"/api/v1/eo-items?task_id={second['id']}", headers=coordinator).json()["features"][
        0
    ]
    assert feature["properties"]["task_reference"] == second["properties"]["reference"]
    assert (
        feature["properties"]["category"] == "rocket" and feature["properties"]["report_group"] == "other_uxo"
    )

    for bad in ("category=landmine", "disposal_method=eaten", "bbox=1,2", "found_from=tomorrow"):
        assert client.get(f"/api/v1/eo-items?{bad}", headers=coordinator).status_code == 422, bad

    partner = make_user("partner", ("SOM",))
    assert ids("", partner) == []  # nothing completed yet
    move(client, coordinator, second["id"], "completed")
    assert ids("", partner) == []  # completed, but the find is not approved yet
    assert client.get(f"/api/v1/eo-items/{c}", headers=partner).status_code == 404
    seen = client.get(f"/api/v1/tasks/{second['id']}", headers=partner).json()["properties"]["items"]
    assert seen == {"total": 0, "by_category": {}, "by_report_group": {}, "awaiting_review": None}
    listed = client.get("/api/v1/tasks", headers=partner).json()["features"]
    assert [f["properties"]["items"]["awaiting_review"] for f in listed] == [None]
    staff = client.get(f"/api/v1/tasks/{second['id']}", headers=coordinator).json()["properties"]["items"]
    assert staff["awaiting_review"] == 1
    assert client.post(f"/api/v1/eo-items/{c}/approve", headers=coordinator).status_code == 200
    assert ids("", partner) == [c]
    assert client.get(f"/api/v1/eo-items/{c}", headers=partner).json()["id"] == c
    assert ids("review_status=submitted") == [a, b] and ids("review_status=approved") == [c]
    libyan = make_user("coordinator", ("LBY",))
    assert ids("", libyan) == []
    assert client.get("/api/v1/eo-items?programme=SOM", headers=libyan).status_code == 403


def test_catalogue_has_the_imas_categories(client: TestClient, partner: Headers) -> None:
    entries = client.get("/api/v1/eo-catalogue", headers=partner).json()
    categories = {e["category"] for e in entries if e["subcategory"] is None}
    assert {
        "ap_mine", "at_mine", "submunition", "projectile", "mortar", "grenade", "rocket",
        "aircraft_bomb", "ied", "small_arms_ammunition", "other_uxo",
    } <= categories  # fmt: skip
    groups = {e["category"]: e["report_group"] for e in entries if e["subcategory"] is None}
    assert groups["submunition"] == "submunitions" and groups["ap_mine"] == "ap_mines"


# ------------------------------------------------------------------------------------- demo


def test_demo_tasks_cover_every_status_and_are_idempotent(engine: Engine, sql: SQL) -> None:
    from rich.console import Console

    from app.db import session_scope
    from tasks import demo

    def load() -> None:
        with session_scope("demo") as db:
            demo.load(db, Console(quiet=True))

    load()  # no hazards yet: only the call-outs
    assert {r[0] for r in sql("SELECT DISTINCT type FROM tasks")} == {"eod_spot"}
    for lon in (45.30, 45.32, 45.34, 45.36, 45.38, 45.40, 45.42, 45.44):
        insert_hazard_area(engine, square(lon, 2.00))
    insert_hazard_area(engine, square(45.46, 2.00), review_status="draft")  # never tasked
    load()
    statuses = {r[0] for r in sql("SELECT DISTINCT status FROM tasks WHERE type <> 'eod_spot'")}
    assert statuses == {"planned", "assigned", "in_progress", "suspended", "completed", "cancelled"}
    assert sql("SELECT count(*) FROM task_hazards th JOIN hazard_areas h ON h.id = th.hazard_area_id "
               "WHERE h.review_status <> 'approved'")[0][0] == 0  # fmt: skip
    spot_items = sql(
        "SELECT p.code, sum(e.quantity) FROM eo_items e JOIN tasks t ON t.id = e.task_id "
        "JOIN programmes p ON p.id = t.programme_id WHERE t.type = 'eod_spot' GROUP BY 1 ORDER BY 1"
    )
    assert [code for code, n in spot_items if n > 0] == ["LBY", "SOM"]
    assert sql("SELECT count(*) FROM tasks WHERE location_format IN ('mgrs', 'utm')")[0][0] == 5
    # Started work moved its hazards on.
    assert sql("SELECT count(*) FROM hazard_areas WHERE status = 'worked_on'")[0][0] >= 3
    before = sql(
        "SELECT count(*), (SELECT count(*) FROM eo_items), (SELECT count(*) FROM audit_log) FROM tasks"
    )
    load()
    assert (
        sql("SELECT count(*), (SELECT count(*) FROM eo_items), (SELECT count(*) FROM audit_log) FROM tasks")
        == before
    )


def test_finds_are_approved_or_rejected_by_a_reviewer(
    client: TestClient, coordinator: Headers, make_user: Callable[..., Headers], sql: SQL
) -> None:
    task = started_spot_task(client, coordinator, sql)
    surveyor = make_user("surveyor", ("SOM",), organisation_id=org_id(sql, "SEMA"))  # the task's team
    found = [
        client.post(f"/api/v1/tasks/{task['id']}/items", json=item(quantity=n), headers=coordinator).json()
        for n in (1, 2, 3)
    ]
    assert {f["properties"]["review_status"] for f in found} == {"submitted"}
    first, second, third = (f["id"] for f in found)

    # Only a coordinator or an admin reviews; a rejection says why.
    assert client.post(f"/api/v1/eo-items/{first}/approve", headers=surveyor).status_code == 403
    partner = make_user("partner", ("SOM",))
    assert client.post(f"/api/v1/eo-items/{first}/approve", headers=partner).status_code == 404
    assert client.post(f"/api/v1/tasks/{task['id']}/items/approve", headers=surveyor).status_code == 403
    refused = client.post(f"/api/v1/eo-items/{second}/reject", json={}, headers=coordinator)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert sql("SELECT review_status FROM eo_items WHERE id = :i", i=second) == [("submitted",)]

    rejected = client.post(
        f"/api/v1/eo-items/{second}/reject", json={"reason": "double count"}, headers=coordinator
    )
    assert rejected.status_code == 200, rejected.text
    props = rejected.json()["properties"]
    assert (props["review_status"], props["review_reason"]) == ("rejected", "double count")
    assert props["reviewed_by"] and props["reviewed_at"]
    # A reviewed find is not reviewed again; the bulk approval leaves the rejected one alone.
    again = client.post(f"/api/v1/eo-items/{second}/approve", headers=coordinator)
    assert again.status_code == 409 and "rejected" in again.json()["detail"]
    bulk = client.post(f"/api/v1/tasks/{task['id']}/items/approve", headers=coordinator).json()
    assert bulk["approved"] == [first, third]
    assert (
        client.post(f"/api/v1/tasks/{task['id']}/items/approve", headers=coordinator).json()["approved"] == []
    )
    stored = dict(sql("SELECT id, review_status FROM eo_items WHERE task_id = :t", t=task["id"]))
    assert stored == {first: "approved", second: "rejected", third: "approved"}
    props = client.get(f"/api/v1/tasks/{task['id']}", headers=coordinator).json()["properties"]
    assert props["items"]["total"] == 1 + 3
    # Every review is in the item's history (the audit log), with who did it.
    reviews = sql(
        "SELECT actor FROM audit_log WHERE table_name = 'eo_items' AND action = 'update' "
        "AND record_id = ANY(:ids)",
        ids=[str(first), str(second), str(third)],
    )
    assert len(reviews) == 3
    assert client.get("/api/v1/eo-items/999999", headers=coordinator).status_code == 404
