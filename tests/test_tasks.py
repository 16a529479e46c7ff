"""Tasks: creation, GeoJSON output, filters and paging, ETag/If-Match, the status machine, roles
and programme scope, hostile input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.factories import insert_hazard_area

Headers = dict[str, str]
SQL = Callable[..., list[Any]]


def square(lon: float, lat: float, size: float = 0.01) -> str:
    return (
        f"POLYGON(({lon} {lat}, {lon + size} {lat}, {lon + size} {lat + size}, "
        f"{lon} {lat + size}, {lon} {lat}))"
    )


def team_id(sql: SQL, name: str) -> int:
    return int(sql("SELECT id FROM teams WHERE name = :n", n=name)[0][0])


def org_id(sql: SQL, acronym: str, programme: str = "SOM") -> int:
    return int(
        sql(
            "SELECT o.id FROM organisations o JOIN programmes p ON p.id = o.programme_id "
            "WHERE o.acronym = :a AND p.code = :p",
            a=acronym,
            p=programme,
        )[0][0]
    )


def new_task(client: TestClient, headers: Headers, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/tasks", json={"programme": "SOM", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def move(client: TestClient, headers: Headers, task: int, to: str, reason: str = "ok") -> Any:
    return client.post(
        f"/api/v1/tasks/{task}/transitions", json={"to": to, "reason": reason}, headers=headers
    )


def counts(sql: SQL) -> tuple[int, ...]:
    return tuple(
        sql(
            "SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM task_hazards), "
            "(SELECT count(*) FROM task_status_history), (SELECT count(*) FROM eo_items), "
            "(SELECT count(*) FROM audit_log), (SELECT coalesce(sum(version), 0) FROM tasks), "
            "(SELECT coalesce(sum(version), 0) FROM hazard_areas)"
        )[0]
    )


# ------------------------------------------------------------------------------ create and read


def test_create_task_on_two_hazards_returns_their_union(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL
) -> None:
    a = insert_hazard_area(engine, square(45.30, 2.00))
    b = insert_hazard_area(engine, square(45.305, 2.00), classification="SHA")  # overlaps a by half
    team = team_id(sql, "MAG Manual 1")
    feature = new_task(
        client,
        coordinator,
        type="clearance",
        hazard_area_ids=[a, b],
        team_id=team,
        priority=2,
        planned_start="2027-01-10",
        planned_end="2027-02-10",
        notes="Access by the northern track",
    )
    props = feature["properties"]
    assert props["reference"] == "SOM-T-000001"
    assert props["status"] == "planned" and props["type"] == "clearance" and props["priority"] == 2
    assert props["hazard_area_ids"] == [a, b]
    # The team brings its organisation.
    assert props["organisation_id"] == org_id(sql, "MAG") and props["team"] == "MAG Manual 1"
    assert feature["geometry"]["type"] == "Polygon"  # a union, not two parts
    union_m2, area_a = sql(
        "SELECT ST_Area(ST_Union(geom)::geography), (SELECT area_m2 FROM hazard_areas WHERE id = :a) "
        "FROM hazard_areas WHERE id IN (:a, :b)",
        a=a,
        b=b,
    )[0]
    assert props["area_m2"] == pytest.approx(union_m2, abs=1)
    assert area_a < props["area_m2"] < 2 * area_a  # the overlap counted once
    assert props["items"] == {"total": 0, "by_category": {}, "by_report_group": {}, "awaiting_review": 0}

    got = client.get(f"/api/v1/tasks/{feature['id']}", headers=coordinator)
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/geo+json")
    assert got.headers["etag"] == '"1"'
    assert got.json() == feature
    history = client.get(f"/api/v1/tasks/{feature['id']}/history", headers=coordinator).json()
    assert [(h["from"], h["to"]) for h in history] == [(None, "planned")]

    second = new_task(client, coordinator, type="ts", hazard_area_ids=[a])
    assert second["properties"]["reference"] == "SOM-T-000002"


def test_eod_spot_task_keeps_the_location_as_typed(client: TestClient, coordinator: Headers) -> None:
    feature = new_task(client, coordinator, type="eod_spot", location="2.0469, 45.3182")
    assert feature["geometry"] == {"type": "Point", "coordinates": [45.3182, 2.0469]}
    assert feature["properties"]["location"] == {
        "input": "2.0469, 45.3182",
        "format": "dd",
        "crs": "EPSG:4326",
    }
    geojson = new_task(
        client, coordinator, type="eod_spot", location={"type": "Point", "coordinates": [45.1, 2.2]}
    )
    assert geojson["geometry"]["coordinates"] == [45.1, 2.2]
    assert geojson["properties"]["location"]["format"] == "geojson"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "clearance"}, "hazard_area_ids"),
        ({"type": "eod_spot"}, "location"),
        ({"type": "eod_spot", "location": "38N 999999 1"}, "location"),
        ({"type": "eod_spot", "location": "45.3182, 2.0469"}, "location"),  # lat/lon swapped: lands in France
        ({"type": "eod_spot", "location": {"type": "Point", "coordinates": ["a", 2]}}, "location"),
        ({"type": "eod_spot", "location": "2.0, 45.3", "hazard_area_ids": [1]}, "hazard_area_ids"),
        ({"type": "clearance", "hazard_area_ids": [999999]}, "hazard_area_ids"),
        ({"type": "eod_spot", "location": "2.0, 45.3", "team_id": 999999}, "team_id"),
        ({"type": "eod_spot", "location": "2.0, 45.3", "organisation_id": 999999}, "organisation_id"),
        (
            {
                "type": "eod_spot",
                "location": "2.0, 45.3",
                "planned_start": "2027-02-01",
                "planned_end": "2027-01-01",
            },
            "planned_end",
        ),
    ],
)
def test_bad_task_input_is_422_naming_the_field_and_changes_nothing(
    client: TestClient, coordinator: Headers, sql: SQL, body: dict[str, Any], field: str
) -> None:
    before = counts(sql)
    response = client.post("/api/v1/tasks", json={"programme": "SOM", **body}, headers=coordinator)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["field"] == field for e in response.json()["errors"]), response.json()
    assert counts(sql) == before


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"programme": "SOM", "type": "eod_spot", "location": {"type": "Point", "coordinates": [NaN, 2]}}',
        b'{"programme": "SOM", "type": "eod_spot", "location": "2.0, 45.3", "priority": 99999999999999999999}',
        b'{"programme": "SOM", "type": "eod_spot", "location": "2.0, 45.3", "priority": "high"}',
        b'{"programme": "SOM", "type": "rocket_science", "location": "2.0, 45.3"}',
        b'{"programme": "SOM", "type": "eod_spot", "location": "2.0, 45.3", "hazard_area_ids": "1,2"}',
        b'{"programme": "SOM", "type": "eod_spot", "location": "2.0, 45.3", "team_id": 1e400}',
        b'{"programme": "SOM", "type": "eod_spot", "location": "2.0, 45.3", "planned_start": "yesterday"}',
        b'{"programme": "SOM", "type": "eod_spot", "location": "2.0, 45.3", "status": "completed"}',
        b'{"programme": "SOM", "type": "eod_spot", "location": "' + b"9" * 5000 + b'"}',
        b"[]",
    ],
)
def test_hostile_task_bodies_are_4xx_problem_json(
    client: TestClient, coordinator: Headers, sql: SQL, raw: bytes
) -> None:
    before = counts(sql)
    response = client.post(
        "/api/v1/tasks", content=raw, headers={**coordinator, "content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert counts(sql) == before


def test_hazards_must_be_approved_open_and_of_the_task_programme(
    client: TestClient, engine: Engine, admin: Headers, sql: SQL
) -> None:
    draft = insert_hazard_area(engine, square(45.30, 2.00), review_status="draft")
    closed = insert_hazard_area(engine, square(45.32, 2.00), status="closed")
    libyan = insert_hazard_area(engine, square(13.2, 32.8), programme="LBY")
    good = insert_hazard_area(engine, square(45.34, 2.00))
    before = counts(sql)
    for bad in (draft, closed, libyan):
        response = client.post(
            "/api/v1/tasks",
            json={"programme": "SOM", "type": "ts", "hazard_area_ids": [good, bad]},
            headers=admin,
        )
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"index": 1, "field": "hazard_area_ids", "message": response.json()["errors"][0]["message"]}
        ]
    assert counts(sql) == before


def test_team_must_belong_to_the_organisation_and_programme(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL
) -> None:
    hazard = insert_hazard_area(engine, square(45.30, 2.00))
    body = {"type": "clearance", "hazard_area_ids": [hazard]}
    wrong_org = client.post(
        "/api/v1/tasks",
        json={
            "programme": "SOM",
            **body,
            "organisation_id": org_id(sql, "HALO"),
            "team_id": team_id(sql, "MAG Manual 1"),
        },
        headers=coordinator,
    )
    assert wrong_org.status_code == 422 and wrong_org.json()["errors"][0]["field"] == "team_id"
    libyan_team = sql(
        "SELECT t.id FROM teams t JOIN programmes p ON p.id = t.programme_id WHERE p.code = 'LBY'"
    )[0][0]
    other_programme = client.post(
        "/api/v1/tasks", json={"programme": "SOM", **body, "team_id": libyan_team}, headers=coordinator
    )
    assert other_programme.status_code == 422
    assert sql("SELECT count(*) FROM tasks")[0][0] == 0


# ------------------------------------------------------------------------------ list, filters


def test_list_filters_and_pages_without_gaps(
    client: TestClient, engine: Engine, admin: Headers, sql: SQL
) -> None:
    north = insert_hazard_area(engine, square(45.30, 2.00))
    south = insert_hazard_area(engine, square(42.50, -0.40))
    libyan = insert_hazard_area(engine, square(13.20, 32.80), programme="LBY")
    manual = team_id(sql, "MAG Manual 1")
    t1 = new_task(client, admin, type="clearance", hazard_area_ids=[north], team_id=manual,
                  planned_start="2027-01-01", planned_end="2027-01-31")["id"]  # fmt: skip
    t2 = new_task(client, admin, type="ts", hazard_area_ids=[south],
                  planned_start="2027-03-01", planned_end="2027-03-10")["id"]  # fmt: skip
    t3 = new_task(client, admin, type="eod_spot", location="2.05, 45.33", planned_start="2027-01-20")["id"]
    t4 = client.post(
        "/api/v1/tasks",
        json={"programme": "LBY", "type": "nts", "hazard_area_ids": [libyan]},
        headers=admin,
    ).json()["id"]
    assert move(client, admin, t1, "assigned").status_code == 200

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/v1/tasks?{query}", headers=admin)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["type"] == "FeatureCollection"
        return [f["id"] for f in body["features"]]

    assert ids("") == [t1, t2, t3, t4]
    assert ids("programme=LBY") == [t4]
    assert ids("status=assigned") == [t1]
    assert ids("status=planned,assigned&programme=SOM") == [t1, t2, t3]
    assert ids("type=eod_spot,ts") == [t2, t3]
    assert ids(f"team_id={manual}") == [t1]
    assert ids(f"organisation_id={org_id(sql, 'MAG')}") == [t1]
    assert ids(f"hazard_area_id={south}") == [t2]
    assert ids("bbox=45.2,1.9,45.4,2.1") == [t1, t3]  # polygon and point tasks alike
    assert ids("bbox=42.0,-1.0,43.0,0.0") == [t2]
    # Planned dates overlapping [from, to]; a task with only a start occupies that day.
    assert ids("planned_from=2027-01-15&planned_to=2027-01-25") == [t1, t3]
    assert ids("planned_from=2027-02-01") == [t2]

    seen: list[int] = []
    url: str | None = "/api/v1/tasks?limit=1"
    while url:
        page = client.get(url, headers=admin).json()
        assert page["numberReturned"] <= 1
        seen += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert seen == [t1, t2, t3, t4]


@pytest.mark.parametrize(
    "query",
    ["status=done", "type=picnic", "bbox=1,2,3", "bbox=10,10,0,0", "bbox=a,b,c,d", "bbox=nan,0,1,1",
     "limit=0", "limit=100001", "after=-1", "planned_from=soon", "team_id=abc", "team_id=99999999999"],
)  # fmt: skip
def test_bad_list_queries_are_422(client: TestClient, coordinator: Headers, query: str) -> None:
    response = client.get(f"/api/v1/tasks?{query}", headers=coordinator)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


# ------------------------------------------------------------------------------ PATCH, ETag


def test_patch_needs_if_match_and_refuses_stale_versions(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL
) -> None:
    hazard = insert_hazard_area(engine, square(45.30, 2.00))
    other = insert_hazard_area(engine, square(45.40, 2.00))
    task = new_task(client, coordinator, type="ts", hazard_area_ids=[hazard])
    url = f"/api/v1/tasks/{task['id']}"
    before = counts(sql)
    assert client.patch(url, json={"priority": 1}, headers=coordinator).status_code == 428
    assert (
        client.patch(url, json={"priority": 1}, headers={**coordinator, "If-Match": '"7"'}).status_code == 412
    )
    assert counts(sql) == before

    response = client.patch(
        url,
        json={"priority": 1, "hazard_area_ids": [other, hazard]},
        headers={**coordinator, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    assert response.json()["properties"]["priority"] == 1
    assert response.json()["properties"]["hazard_area_ids"] == sorted([hazard, other])
    # The first writer's ETag is now stale.
    stale = client.patch(url, json={"notes": "late edit"}, headers={**coordinator, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert sql("SELECT notes FROM tasks WHERE id = :id", id=task["id"])[0][0] is None


def test_patch_cannot_change_status_or_final_tasks(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL
) -> None:
    task = new_task(client, coordinator, type="eod_spot", location="2.05, 45.33")
    url = f"/api/v1/tasks/{task['id']}"
    assert (
        client.patch(
            url, json={"status": "completed"}, headers={**coordinator, "If-Match": '"1"'}
        ).status_code
        == 422
    )
    assert move(client, coordinator, task["id"], "cancelled", "duplicate call-out").status_code == 200
    final = client.patch(url, json={"priority": 1}, headers={**coordinator, "If-Match": '"2"'})
    assert final.status_code == 409
    notes = client.patch(
        url, json={"notes": "duplicate of SOM-T-000009"}, headers={**coordinator, "If-Match": '"2"'}
    )
    assert notes.status_code == 200


# ------------------------------------------------------------------------------ status machine

STATUSES = ["planned", "assigned", "in_progress", "suspended", "completed", "cancelled"]
# Written out here, independently of the service's table: the rules users were promised.
LEGAL = {
    ("planned", "assigned"),
    ("planned", "cancelled"),
    ("assigned", "in_progress"),
    ("assigned", "cancelled"),
    ("in_progress", "suspended"),
    ("in_progress", "completed"),
    ("in_progress", "cancelled"),
    ("suspended", "in_progress"),
    ("suspended", "cancelled"),
}
PATH_TO = {
    "planned": [],
    "assigned": ["assigned"],
    "in_progress": ["assigned", "in_progress"],
    "suspended": ["assigned", "in_progress", "suspended"],
    "completed": ["assigned", "in_progress", "completed"],
    "cancelled": ["cancelled"],
}


@pytest.mark.parametrize("target", STATUSES)
@pytest.mark.parametrize("start", STATUSES)
def test_status_machine(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL, start: str, target: str
) -> None:
    hazard = insert_hazard_area(engine, square(45.30, 2.00))
    task = new_task(
        client, coordinator, type="clearance", hazard_area_ids=[hazard], team_id=team_id(sql, "MAG Manual 1")
    )
    for step in PATH_TO[start]:
        assert move(client, coordinator, task["id"], step).status_code == 200
    history_before = sql("SELECT count(*) FROM task_status_history WHERE task_id = :t", t=task["id"])[0][0]
    before = counts(sql)

    response = move(client, coordinator, task["id"], target, reason="test move")

    status = sql("SELECT status FROM tasks WHERE id = :t", t=task["id"])[0][0]
    if (start, target) in LEGAL:
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["from"], body["to"]) == (start, target)
        assert status == target
        last = sql(
            "SELECT from_status, to_status, reason, changed_by FROM task_status_history "
            "WHERE task_id = :t ORDER BY id DESC LIMIT 1",
            t=task["id"],
        )[0]
        assert last[:3] == (start, target, "test move") and last[3].startswith("coordinator-")
        assert (
            sql("SELECT count(*) FROM task_status_history WHERE task_id = :t", t=task["id"])[0][0]
            == history_before + 1
        )
    else:
        assert response.status_code == 409, response.text
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        expected = sorted(t for s, t in LEGAL if s == start)
        assert sorted(problem["allowed"]) == expected
        for allowed in expected:
            assert allowed in problem["detail"]
        assert status == start
        assert counts(sql) == before


def test_starting_a_task_moves_its_open_hazards_to_worked_on(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL
) -> None:
    open_one = insert_hazard_area(engine, square(45.30, 2.00))
    already = insert_hazard_area(engine, square(45.32, 2.00), status="worked_on")
    untouched = insert_hazard_area(engine, square(45.34, 2.00))
    task = new_task(
        client,
        coordinator,
        type="clearance",
        hazard_area_ids=[open_one, already],
        team_id=team_id(sql, "MAG Manual 1"),
    )
    move(client, coordinator, task["id"], "assigned")
    response = move(client, coordinator, task["id"], "in_progress", reason="team on site")
    assert response.status_code == 200
    assert response.json()["hazard_areas_worked_on"] == [open_one]
    rows = {
        r[0]: r[1:]
        for r in sql("SELECT id, status, status_date IS NOT NULL, status_reason, version FROM hazard_areas")
    }
    assert rows[open_one][:2] == ("worked_on", True)
    assert task["properties"]["reference"] in rows[open_one][2] and "team on site" in rows[open_one][2]
    assert rows[open_one][3] == 2
    assert rows[already] == ("worked_on", False, None, 1)
    assert rows[untouched] == ("open", False, None, 1)
    assert sql("SELECT actual_start IS NOT NULL FROM tasks WHERE id = :t", t=task["id"])[0][0]
    # The hazard change is audited in the same transaction, under the same actor.
    audited = sql(
        "SELECT actor FROM audit_log WHERE table_name = 'hazard_areas' AND record_id = :id AND action = 'update'",
        id=str(open_one),
    )
    assert len(audited) == 1 and audited[0][0].startswith("coordinator-")


def test_assigning_needs_a_team_and_suspending_needs_a_reason(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL
) -> None:
    hazard = insert_hazard_area(engine, square(45.30, 2.00))
    task = new_task(client, coordinator, type="ts", hazard_area_ids=[hazard])
    no_team = move(client, coordinator, task["id"], "assigned")
    assert no_team.status_code == 409 and "team" in no_team.json()["detail"]
    patched = client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"team_id": team_id(sql, "MAG Manual 1")},
        headers={**coordinator, "If-Match": '"1"'},
    )
    assert patched.status_code == 200
    assert move(client, coordinator, task["id"], "assigned").status_code == 200
    assert move(client, coordinator, task["id"], "in_progress").status_code == 200
    no_reason = client.post(
        f"/api/v1/tasks/{task['id']}/transitions", json={"to": "suspended"}, headers=coordinator
    )
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    # The brief's {"status": ...} spelling is accepted too.
    ok = client.post(
        f"/api/v1/tasks/{task['id']}/transitions",
        json={"status": "suspended", "reason": "rains"},
        headers=coordinator,
    )
    assert ok.status_code == 200 and ok.json()["to"] == "suspended"


# ------------------------------------------------------------------------------ roles and scope


def test_roles_on_transitions(
    client: TestClient, engine: Engine, coordinator: Headers, make_user: Callable[..., Headers], sql: SQL
) -> None:
    hazard = insert_hazard_area(engine, square(45.30, 2.00))
    task = new_task(
        client, coordinator, type="clearance", hazard_area_ids=[hazard], team_id=team_id(sql, "MAG Manual 1")
    )
    mag_surveyor = make_user("surveyor", ("SOM",), organisation_id=org_id(sql, "MAG"))
    halo_surveyor = make_user("surveyor", ("SOM",), organisation_id=org_id(sql, "HALO"))
    qa = make_user("qa_officer", ("SOM",))
    partner = make_user("partner", ("SOM",))
    libyan = make_user("coordinator", ("LBY",))

    # Planning and assigning are the coordinator's.
    assert move(client, mag_surveyor, task["id"], "assigned").status_code == 403
    assert move(client, coordinator, task["id"], "assigned").status_code == 200
    # The assigned organisation's surveyor reports progress; another organisation's may not.
    assert move(client, halo_surveyor, task["id"], "in_progress").status_code == 403
    assert move(client, qa, task["id"], "in_progress").status_code == 403
    # Partners do not even see a task before it is completed.
    assert move(client, partner, task["id"], "in_progress").status_code == 404
    assert move(client, libyan, task["id"], "in_progress").status_code == 404
    assert move(client, mag_surveyor, task["id"], "in_progress").status_code == 200
    assert move(client, mag_surveyor, task["id"], "suspended", "rains").status_code == 200
    assert move(client, mag_surveyor, task["id"], "in_progress").status_code == 200
    # Cancelling is not the team's decision.
    assert move(client, mag_surveyor, task["id"], "cancelled", "tired").status_code == 403
    assert move(client, mag_surveyor, task["id"], "completed").status_code == 200
    changed_by = [
        r[0]
        for r in sql(
            "SELECT changed_by FROM task_status_history WHERE task_id = :t ORDER BY id", t=task["id"]
        )
    ]
    assert changed_by[0].startswith("coordinator-") and changed_by[-1].startswith("surveyor-")

    # Writes are the coordinator's, and only in their programme.
    body = {"programme": "SOM", "type": "ts", "hazard_area_ids": [hazard]}
    for who in (mag_surveyor, partner, qa):
        assert client.post("/api/v1/tasks", json=body, headers=who).status_code == 403
    assert client.post("/api/v1/tasks", json=body, headers=libyan).status_code == 403


def test_programme_scope_and_partner_visibility(
    client: TestClient, engine: Engine, coordinator: Headers, make_user: Callable[..., Headers], sql: SQL
) -> None:
    hazard = insert_hazard_area(engine, square(45.30, 2.00))
    done = new_task(
        client, coordinator, type="ts", hazard_area_ids=[hazard], team_id=team_id(sql, "MAG Manual 1")
    )
    planned = new_task(client, coordinator, type="eod_spot", location="2.05, 45.33")
    for step in ("assigned", "in_progress", "completed"):
        move(client, coordinator, done["id"], step)
    partner = make_user("partner", ("SOM",))
    libyan = make_user("coordinator", ("LBY",))

    listed = client.get("/api/v1/tasks", headers=partner).json()
    assert [f["id"] for f in listed["features"]] == [done["id"]]
    assert client.get(f"/api/v1/tasks/{done['id']}", headers=partner).status_code == 200
    assert client.get(f"/api/v1/tasks/{planned['id']}", headers=partner).status_code == 404

    assert client.get("/api/v1/tasks", headers=libyan).json()["features"] == []
    assert client.get("/api/v1/tasks?programme=SOM", headers=libyan).status_code == 403
    for path in ("", "/history", "/dossier"):
        assert client.get(f"/api/v1/tasks/{done['id']}{path}", headers=libyan).status_code == 404
    patch = client.patch(
        f"/api/v1/tasks/{done['id']}", json={"notes": "x"}, headers={**libyan, "If-Match": "*"}
    )
    assert patch.status_code == 404
    # A Libyan coordinator cannot target a Somali hazard from a Libyan task either.
    response = client.post(
        "/api/v1/tasks", json={"programme": "LBY", "type": "ts", "hazard_area_ids": [hazard]}, headers=libyan
    )
    assert response.status_code == 422 and "does not exist in your programmes" in response.json()["detail"]


def test_unknown_task_ids_are_404_problem_json(client: TestClient, coordinator: Headers) -> None:
    for method, path in (
        ("GET", "/api/v1/tasks/424242"),
        ("GET", "/api/v1/tasks/424242/history"),
        ("POST", "/api/v1/tasks/424242/transitions"),
        ("POST", "/api/v1/tasks/424242/items"),
    ):
        body: dict[str, Any] = {"to": "assigned"} if "transitions" in path else {}
        if path.endswith("items"):
            body = {"category": "ap_mine", "disposal_method": "destroyed_in_situ", "found_on": "2026-01-01"}
        response = client.request(method, path, json=body or None, headers=coordinator)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    for huge in ("99999999999999999999", "-1", "1e3"):
        response = client.get(f"/api/v1/tasks/{huge}", headers=coordinator)
        assert response.status_code in (404, 422), response.text


# ------------------------------------------------------------------------------ hostile writes, audit


@pytest.mark.parametrize(
    "body",
    [
        {"to": 5},
        {"to": "done"},
        {"to": None},
        {},
        {"to": "assigned", "reason": "x" * 5000},
        {"to": "assigned", "reason": ["why"]},
        {"to": "assigned", "when": "now"},
        [],
        "assigned",
    ],
)
def test_hostile_transitions_change_nothing(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL, body: Any
) -> None:
    hazard = insert_hazard_area(engine, square(45.30, 2.00))
    task = new_task(
        client, coordinator, type="ts", hazard_area_ids=[hazard], team_id=team_id(sql, "MAG Manual 1")
    )
    before = counts(sql)
    response = client.post(f"/api/v1/tasks/{task['id']}/transitions", json=body, headers=coordinator)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert counts(sql) == before


@pytest.mark.parametrize(
    "body",
    [
        {"priority": 0},
        {"priority": None},
        {"hazard_area_ids": []},
        {"hazard_area_ids": [0]},
        {"hazard_area_ids": [2**40]},
        {"location": "2.0, 45.3"},  # a location on a hazard task
        {"team_id": -1},
        {"planned_start": "2027-05-01", "planned_end": "2027-04-01"},
        {"actual_start": "2027-05-01", "actual_end": "2027-04-01"},
        {"notes": {"html": "<b>"}},
        {"status": "completed"},
        {"version": 99},
    ],
)
def test_hostile_patches_change_nothing(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL, body: dict[str, Any]
) -> None:
    hazard = insert_hazard_area(engine, square(45.30, 2.00))
    task = new_task(client, coordinator, type="ts", hazard_area_ids=[hazard], planned_start="2027-05-01")
    before = counts(sql)
    response = client.patch(
        f"/api/v1/tasks/{task['id']}", json=body, headers={**coordinator, "If-Match": '"1"'}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert counts(sql) == before


def test_transition_honours_if_match_when_sent(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL
) -> None:
    hazard = insert_hazard_area(engine, square(45.30, 2.00))
    task = new_task(
        client, coordinator, type="ts", hazard_area_ids=[hazard], team_id=team_id(sql, "MAG Manual 1")
    )
    url = f"/api/v1/tasks/{task['id']}/transitions"
    ok = client.post(url, json={"to": "assigned"}, headers={**coordinator, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
    stale = client.post(
        url, json={"to": "cancelled", "reason": "x"}, headers={**coordinator, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert sql("SELECT status FROM tasks WHERE id = :t", t=task["id"])[0][0] == "assigned"


def test_task_writes_are_audited_with_the_actor(
    client: TestClient, engine: Engine, make_user: Callable[..., Headers], sql: SQL
) -> None:
    fatima = make_user("coordinator", ("SOM",), username="fatima")
    hazard = insert_hazard_area(engine, square(45.30, 2.00))
    task = new_task(client, fatima, type="ts", hazard_area_ids=[hazard], team_id=team_id(sql, "MAG Manual 1"))
    move(client, fatima, task["id"], "assigned", "capacity")
    rows = sql(
        "SELECT table_name, action, actor FROM audit_log "
        "WHERE table_name IN ('tasks', 'task_hazards', 'task_status_history') ORDER BY id"
    )
    assert rows == [
        ("tasks", "insert", "fatima"),
        ("task_hazards", "insert", "fatima"),
        ("task_status_history", "insert", "fatima"),
        ("tasks", "update", "fatima"),
        ("task_status_history", "insert", "fatima"),
    ]
    update = sql(
        "SELECT before->>'status', after->>'status' FROM audit_log WHERE table_name = 'tasks' AND action = 'update'"
    )
    assert update == [("planned", "assigned")]


def test_qa_officer_reports_on_qa_tasks_only(
    client: TestClient, engine: Engine, coordinator: Headers, qa_officer: Headers, sql: SQL
) -> None:
    hazard = insert_hazard_area(engine, square(45.30, 2.00))
    qa_task = new_task(
        client, coordinator, type="qa", hazard_area_ids=[hazard], team_id=team_id(sql, "HALO QA 1")
    )
    ts_task = new_task(
        client, coordinator, type="ts", hazard_area_ids=[hazard], team_id=team_id(sql, "MAG Manual 1")
    )
    for task in (qa_task, ts_task):
        assert move(client, coordinator, task["id"], "assigned").status_code == 200
    assert move(client, qa_officer, ts_task["id"], "in_progress").status_code == 403
    assert move(client, qa_officer, qa_task["id"], "in_progress").status_code == 200
    assert move(client, qa_officer, qa_task["id"], "completed").status_code == 200
