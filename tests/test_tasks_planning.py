"""Planning support: the ranked queue and its explanation, conflicts, nearest teams (KNN)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy.engine import Engine

from tests.factories import insert_hazard_area
from tests.test_tasks import Headers, move, new_task, square, team_id

SQL = Callable[..., list[Any]]
GEOD = Geod(ellps="WGS84")


def set_hazard(sql: SQL, hazard: int, **values: Any) -> None:
    assignments = ", ".join(f"{k} = :{k}" for k in values)
    sql(f"UPDATE hazard_areas SET {assignments} WHERE id = :id", id=hazard, **values)


def queue(client: TestClient, headers: Headers, query: str = "programme=SOM") -> dict[str, Any]:
    response = client.get(f"/api/v1/planning/queue?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# ------------------------------------------------------------------------------------- queue


@pytest.fixture
def three_hazards(engine: Engine, sql: SQL) -> dict[str, int]:
    """A: confirmed AP minefield blocking a road and farmland, 800 people, 10 km north of the
    MAG manual team. B: suspected ERW area, nobody affected, far from any survey team.
    C: confirmed AT area, 100 people, near the manual team."""
    a = insert_hazard_area(engine, square(44.055, 1.80), classification="CHA", contamination_types=("AP",))
    b = insert_hazard_area(engine, square(42.20, 0.60), classification="SHA", contamination_types=("ERW",))
    c = insert_hazard_area(engine, square(44.10, 1.75), classification="CHA", contamination_types=("AT",))
    set_hazard(sql, a, blockages=["road", "agriculture"], beneficiaries_women=300, beneficiaries_men=200,
               beneficiaries_girls=150, beneficiaries_boys=150)  # fmt: skip
    set_hazard(sql, c, beneficiaries_women=100)
    sql("UPDATE hazard_areas SET created_at = now() - interval '100 days' WHERE id = :id", id=a)
    return {"A": a, "B": b, "C": c}


def test_queue_ranks_and_explains(
    client: TestClient, coordinator: Headers, sql: SQL, three_hazards: dict[str, int]
) -> None:
    body = queue(client, coordinator)
    ids = [f["id"] for f in body["features"]]
    assert ids == [three_hazards["A"], three_hazards["C"], three_hazards["B"]]
    assert [f["properties"]["rank"] for f in body["features"]] == [1, 2, 3]
    assert body["weights"] == {
        "classification": 3.0, "contamination": 2.0, "blockages": 2.0,
        "beneficiaries": 3.0, "age": 1.0, "distance": 1.0,
    }  # fmt: skip

    a = body["features"][0]["properties"]
    parts = a["components"]
    # Each component: the raw value, its 0…1 normalisation, the weight and the points it adds.
    assert parts["classification"]["value"] == "CHA" and parts["classification"]["normalised"] == 1
    assert parts["contamination"]["value"] == ["AP"] and parts["contamination"]["normalised"] == 1
    assert parts["blockages"]["value"] == 2 and parts["blockages"]["normalised"] == pytest.approx(
        2 / 3, abs=1e-4
    )
    assert parts["beneficiaries"]["value"] == 800
    assert parts["beneficiaries"]["normalised"] == pytest.approx(800 / 1300, abs=1e-4)
    assert parts["age"]["value"] == pytest.approx(100, abs=0.1)
    assert parts["age"]["normalised"] == pytest.approx(100 / 365, abs=1e-3)
    # Distance to the nearest clearance-capable team, geodesic: the team is due south of the
    # middle of the hazard's bottom edge.
    team_lon, team_lat = 44.06, 1.71
    _, _, expected_m = GEOD.inv(team_lon, team_lat, 44.06, 1.80)
    assert a["nearest_team"]["name"] == "MAG Manual 1"
    assert a["nearest_team"]["distance_m"] == pytest.approx(expected_m, abs=1.0)
    assert parts["distance"]["normalised"] == pytest.approx(1 - expected_m / 200_000, abs=1e-4)
    for name, part in parts.items():
        assert part["points"] == pytest.approx(part["normalised"] * part["weight"], abs=1e-3), name
        assert f"×{part['weight']:g}" in a["explanation"] or f"×{part['weight']}" in a["explanation"]
    assert a["score"] == pytest.approx(sum(p["points"] for p in parts.values()), abs=1e-2)
    assert float(a["explanation"].rsplit("= ", 1)[1]) == pytest.approx(a["score"], abs=0.006)

    b = body["features"][2]["properties"]
    assert b["components"]["classification"]["normalised"] == 0.5
    assert b["components"]["contamination"]["normalised"] == 0.6
    assert b["components"]["beneficiaries"]["value"] == 0
    # A survey team (NTS/TS) is looked for a suspected area.
    assert b["nearest_team"]["name"] in {"MAG Manual 1", "MAG Mechanical 1", "SEMA MDD 1", "HALO NTS 1"}


def test_queue_weights_from_query_or_body_change_the_order(
    client: TestClient, coordinator: Headers, three_hazards: dict[str, int]
) -> None:
    # Only distance counts: C (about 5 km from the manual team) before A (10 km).
    only_distance = "classification:0,contamination:0,blockages:0,beneficiaries:0,age:0,distance:5"
    body = queue(client, coordinator, f"programme=SOM&weights={only_distance}")
    assert [f["id"] for f in body["features"]][:2] == [three_hazards["C"], three_hazards["A"]]
    assert body["weights"]["distance"] == 5 and body["weights"]["classification"] == 0

    weights = {
        "classification": 0,
        "contamination": 0,
        "blockages": 0,
        "beneficiaries": 0,
        "age": 0,
        "distance": 5,
    }
    posted = client.post(
        "/api/v1/planning/queue", json={"programme": "SOM", "weights": weights}, headers=coordinator
    )
    assert posted.status_code == 200
    assert [f["id"] for f in posted.json()["features"]] == [f["id"] for f in body["features"]]
    # Partial overrides keep the other defaults.
    partial = queue(client, coordinator, "programme=SOM&weights=age:0")
    assert partial["weights"]["age"] == 0 and partial["weights"]["beneficiaries"] == 3


@pytest.mark.parametrize(
    "weights", ["colour:3", "distance:-1", "distance:1e999", "distance:nan", "distance:abc", "distance"]
)
def test_bad_weights_are_422(client: TestClient, coordinator: Headers, weights: str) -> None:
    response = client.get(f"/api/v1/planning/queue?weights={weights}", headers=coordinator)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    posted = client.post(
        "/api/v1/planning/queue", json={"weights": {"distance": "lots"}}, headers=coordinator
    )
    assert posted.status_code == 422


def test_queue_leaves_out_tasked_unapproved_and_closed_hazards(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL, three_hazards: dict[str, int]
) -> None:
    insert_hazard_area(engine, square(44.2, 1.9), review_status="submitted")
    insert_hazard_area(engine, square(44.3, 1.9), status="closed")
    insert_hazard_area(engine, square(13.2, 32.8), programme="LBY")
    assert len(queue(client, coordinator)["features"]) == 3

    task = new_task(client, coordinator, type="clearance", hazard_area_ids=[three_hazards["A"]])
    assert three_hazards["A"] not in [f["id"] for f in queue(client, coordinator)["features"]]
    move(client, coordinator, task["id"], "cancelled", "funding moved")
    assert three_hazards["A"] in [f["id"] for f in queue(client, coordinator)["features"]]


def test_queue_is_for_planners(
    client: TestClient, make_user: Callable[..., Headers], three_hazards: dict[str, int]
) -> None:
    for role in ("surveyor", "partner", "qa_officer"):
        assert client.get("/api/v1/planning/queue", headers=make_user(role, ("SOM",))).status_code == 403
    libyan = make_user("coordinator", ("LBY",))
    assert queue(client, libyan, "")["features"] == []
    assert client.get("/api/v1/planning/queue?programme=SOM", headers=libyan).status_code == 403


# ------------------------------------------------------------------------------------- conflicts


def test_conflicts_overlapping_areas_and_double_booked_teams(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL
) -> None:
    left = insert_hazard_area(engine, square(45.30, 2.00))
    right = insert_hazard_area(engine, square(45.305, 2.00))  # overlaps left's east half
    touching = insert_hazard_area(engine, square(45.315, 2.00))  # shares right's east edge only
    far = insert_hazard_area(engine, square(45.50, 2.00))
    manual, mechanical = team_id(sql, "MAG Manual 1"), team_id(sql, "MAG Mechanical 1")
    jan = {"planned_start": "2027-01-01", "planned_end": "2027-01-31"}
    t1 = new_task(client, coordinator, type="clearance", hazard_area_ids=[left], team_id=manual, **jan)["id"]
    t2 = new_task(client, coordinator, type="ts", hazard_area_ids=[right], team_id=mechanical,
                  planned_start="2027-01-20", planned_end="2027-02-10")["id"]  # fmt: skip
    # Touches t2's land along an edge only, at the same time, and the manual team is free then.
    new_task(client, coordinator, type="ts", hazard_area_ids=[touching], team_id=manual,
             planned_start="2027-02-03", planned_end="2027-02-05")  # fmt: skip
    # The same team elsewhere in overlapping dates: booked twice.
    t4 = new_task(client, coordinator, type="clearance", hazard_area_ids=[far], team_id=manual,
                  planned_start="2027-01-31", planned_end="2027-02-02")["id"]  # fmt: skip
    # Same land as t1 in the same month, but cancelled: ignored.
    t5 = new_task(client, coordinator, type="ts", hazard_area_ids=[left], team_id=mechanical, **jan)["id"]
    move(client, coordinator, t5, "cancelled", "duplicate")
    # Same land, but not scheduled (no planned dates): cannot clash.
    new_task(client, coordinator, type="nts", hazard_area_ids=[left, right])
    # A spot task inside t1's land during January.
    t7 = new_task(client, coordinator, type="eod_spot", location="2.005, 45.302", planned_start="2027-01-15")[
        "id"
    ]

    response = client.get("/api/v1/planning/conflicts?programme=SOM", headers=coordinator)
    assert response.status_code == 200, response.text
    body = response.json()
    pairs = {(c["task_a"]["id"], c["task_b"]["id"]): c for c in body["area_overlaps"]}
    assert set(pairs) == {(t1, t2), (t1, t7)}
    overlap = pairs[(t1, t2)]
    assert overlap["dates"] == {"from": "2027-01-20", "to": "2027-01-31"}
    expected_m2 = sql(
        "SELECT ST_Area(ST_Intersection(a.geom, b.geom)::geography) FROM hazard_areas a, hazard_areas b "
        "WHERE a.id = :a AND b.id = :b",
        a=left,
        b=right,
    )[0][0]
    assert overlap["overlap_m2"] == pytest.approx(expected_m2, abs=1)
    assert overlap["overlap"]["type"] == "Polygon"
    assert overlap["shared_hazard_area_ids"] == []

    double = [
        (d["team"]["id"], d["task_a"]["id"], d["task_b"]["id"], d["dates"])
        for d in body["team_double_bookings"]
    ]
    assert double == [(manual, t1, t4, {"from": "2027-01-31", "to": "2027-01-31"})]

    # A date window that ends before the overlaps begin finds nothing.
    quiet = client.get("/api/v1/planning/conflicts?planned_to=2026-12-31", headers=coordinator).json()
    assert quiet == {"area_overlaps": [], "team_double_bookings": []}


def test_shared_hazard_is_an_overlap(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL
) -> None:
    hazard = insert_hazard_area(engine, square(45.30, 2.00))
    dates = {"planned_start": "2027-03-01", "planned_end": "2027-03-05"}
    t1 = new_task(client, coordinator, type="nts", hazard_area_ids=[hazard], **dates)["id"]
    t2 = new_task(client, coordinator, type="ts", hazard_area_ids=[hazard], **dates)["id"]
    body = client.get("/api/v1/planning/conflicts", headers=coordinator).json()
    assert [
        (c["task_a"]["id"], c["task_b"]["id"], c["shared_hazard_area_ids"]) for c in body["area_overlaps"]
    ] == [(t1, t2, [hazard])]
    area = sql("SELECT area_m2 FROM hazard_areas WHERE id = :id", id=hazard)[0][0]
    assert body["area_overlaps"][0]["overlap_m2"] == pytest.approx(area, abs=1)


# --------------------------------------------------------------------------------- nearest teams


def _som_teams(sql: SQL) -> list[tuple[int, str, list[str], float, float]]:
    return [
        (r[0], r[1], r[2], r[3], r[4])
        for r in sql(
            "SELECT t.id, t.name, t.capabilities, ST_X(t.base_location), ST_Y(t.base_location) FROM teams t "
            "JOIN programmes p ON p.id = t.programme_id WHERE p.code = 'SOM' AND t.base_location IS NOT NULL"
        )
    ]


def test_nearest_teams_by_point_ordered_by_geodesic_distance(
    client: TestClient, admin: Headers, coordinator: Headers, sql: SQL
) -> None:
    # More EOD teams, so that the order is not trivial.
    sema = sql("SELECT id FROM organisations WHERE acronym = 'SEMA'")[0][0]
    for name, lon, lat in (("EOD North", 45.0, 2.6), ("EOD Coast", 45.5, 2.1), ("EOD Inland", 44.7, 1.9)):
        response = client.post(
            "/api/v1/teams",
            json={"organisation_id": sema, "name": name, "capabilities": ["EOD2"],
                  "base_location": {"type": "Point", "coordinates": [lon, lat]}},
            headers=admin,
        )  # fmt: skip
        assert response.status_code == 201, response.text
    origin = (45.3182, 2.0469)
    response = client.get(
        f"/api/v1/planning/nearest-teams?lon={origin[0]}&lat={origin[1]}&capability=eod_2&limit=3",
        headers=coordinator,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["capabilities"] == ["EOD2"]
    expected = sorted(
        (GEOD.inv(origin[0], origin[1], lon, lat)[2], name)
        for _, name, caps, lon, lat in _som_teams(sql)
        if "EOD2" in caps
    )[:3]
    assert [t["name"] for t in body["teams"]] == [name for _, name in expected]
    for team, (metres, _) in zip(body["teams"], expected, strict=True):
        assert team["distance_m"] == pytest.approx(metres, abs=0.5)
        assert (
            "EOD2" in team["capabilities"] and team["organisation"] == "Somali Explosive Management Authority"
        )

    everyone = client.get(
        f"/api/v1/planning/nearest-teams?lon={origin[0]}&lat={origin[1]}&limit=100", headers=coordinator
    )
    all_expected = sorted(
        (GEOD.inv(origin[0], origin[1], lon, lat)[2], tid) for tid, _, _, lon, lat in _som_teams(sql)
    )
    assert [t["team_id"] for t in everyone.json()["teams"]] == [tid for _, tid in all_expected]

    # The same origin typed as MGRS.
    import mgrs

    typed = mgrs.MGRS().toMGRS(origin[1], origin[0], MGRSPrecision=5)
    by_mgrs = client.get(
        f"/api/v1/planning/nearest-teams?location={typed}&capability=EOD2&limit=3", headers=coordinator
    )
    assert [t["name"] for t in by_mgrs.json()["teams"]] == [name for _, name in expected]


def test_nearest_teams_for_a_task_uses_its_type(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL
) -> None:
    spot = new_task(client, coordinator, type="eod_spot", location="2.0469, 45.3182")
    body = client.get(f"/api/v1/planning/nearest-teams?task_id={spot['id']}", headers=coordinator).json()
    assert body["origin"]["reference"] == spot["properties"]["reference"]
    assert [t["name"] for t in body["teams"]] == ["SEMA EOD 1"]  # the only EOD team in Somalia
    hazard = insert_hazard_area(engine, square(44.055, 1.80))
    clearance = new_task(client, coordinator, type="clearance", hazard_area_ids=[hazard])
    teams = client.get(
        f"/api/v1/planning/nearest-teams?task_id={clearance['id']}", headers=coordinator
    ).json()["teams"]
    assert teams[0]["name"] == "MAG Manual 1"
    assert teams[0]["distance_m"] == pytest.approx(GEOD.inv(44.06, 1.71, 44.06, 1.80)[2], abs=1.0)
    assert {n for t in teams for n in t["capabilities"]} & {"MANUAL", "MECHANICAL", "MDD"}


def test_nearest_teams_uses_the_gist_index(engine: Engine, sql: SQL) -> None:
    """The KNN search is answered by the GiST index on teams.base_location (``<->``)."""
    from tasks.planning import _NEAREST_SQL

    query = _NEAREST_SQL.format(origin="SELECT ST_SetSRID(ST_MakePoint(45.3, 2.0), 4326) AS geom")
    with engine.begin() as conn:
        from sqlalchemy import text

        # Six teams fit in a page, so the planner would rightly scan them; with a real
        # programme's hundreds it picks the index. Make the small table look big.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            conn.execute(text(f"SET LOCAL {setting} = off"))
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                text("EXPLAIN " + query), {"ids": [1, 2], "caps": [], "candidates": 20, "limit": 5}
            )
        )
    assert "Index Scan using idx_teams_base_location" in plan, plan
    assert "Order By: (base_location <->" in plan, plan


@pytest.mark.parametrize(
    "query",
    [
        "",
        "lon=45",
        "lon=45&lat=2&task_id=1",
        "lon=200&lat=2",
        "lon=nan&lat=2",
        "lon=45&lat=2&capability=PILOT",
        "location=somewhere",
        "lon=45&lat=2&limit=0",
    ],
)
def test_nearest_teams_bad_queries_are_422(client: TestClient, coordinator: Headers, query: str) -> None:
    response = client.get(f"/api/v1/planning/nearest-teams?{query}", headers=coordinator)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_nearest_teams_respects_scope(
    client: TestClient, make_user: Callable[..., Headers], coordinator: Headers
) -> None:
    spot = new_task(client, coordinator, type="eod_spot", location="2.0469, 45.3182")
    libyan = make_user("coordinator", ("LBY",))
    assert (
        client.get(f"/api/v1/planning/nearest-teams?task_id={spot['id']}", headers=libyan).status_code == 404
    )
    near_mogadishu = client.get("/api/v1/planning/nearest-teams?lon=45.3&lat=2.0", headers=libyan).json()
    assert near_mogadishu["teams"] and all(
        t["base_location"]["coordinates"][1] > 20 for t in near_mogadishu["teams"]
    )
