"""QA/QC visits, non-conformities, suspensions, sampling plans and lot decisions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from shapely.geometry import Point, shape
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.factories import insert_hazard_area, row
from tests.test_land_release import HAZARD, box, release

TODAY = dt.date.today()


def org_id(engine: Engine, acronym: str, programme: str = "SOM") -> int:
    return int(
        row(
            engine,
            "SELECT o.id FROM organisations o JOIN programmes p ON p.id = o.programme_id "
            "WHERE o.acronym = :a AND p.code = :p",
            a=acronym,
            p=programme,
        ).id
    )


def insert_task(
    engine: Engine, organisation_id: int, task_type: str = "clearance", programme: str = "SOM"
) -> int:
    with engine.begin() as conn:
        programme_id = conn.execute(
            text("SELECT id FROM programmes WHERE code = :c"), {"c": programme}
        ).scalar_one()
        return int(
            conn.execute(
                text(
                    "INSERT INTO tasks (programme_id, reference, type, status, organisation_id) "
                    "VALUES (:p, :ref, :t, 'in_progress', :o) RETURNING id"
                ),
                {
                    "p": programme_id,
                    "ref": f"T-{task_type}-{organisation_id}-{programme}",
                    "t": task_type,
                    "o": organisation_id,
                },
            ).scalar_one()
        )


def visit(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "programme": "SOM",
        "type": "monitoring",
        "visit_date": TODAY.isoformat(),
        "location": {"type": "Point", "coordinates": [45.3005, 2.0505]},
        "checklist": [
            {"code": "sop_compliance", "answer": "yes"},
            {"code": "medic_present", "answer": "no", "comment": "medic absent at 09:00"},
        ],
        "result": "pass_with_findings",
        "non_conformities": [
            {
                "severity": "major",
                "description": "No medic on site",
                "corrective_action": "Medic present before work starts",
                "due_date": (TODAY - dt.timedelta(days=3)).isoformat(),
            },
            {
                "severity": "minor",
                "description": "Daily log not signed",
                "due_date": (TODAY + dt.timedelta(days=10)).isoformat(),
            },
        ],
    }
    body.update(extra)
    return body


def test_nc_lifecycle_overdue_and_who_may_close(
    client: TestClient,
    engine: Engine,
    qa_officer: dict[str, str],
    make_user: Callable[..., dict[str, str]],
) -> None:
    halo = org_id(engine, "HALO")
    task = insert_task(engine, halo)
    created = client.post("/api/v1/qa-visits", json=visit(task_id=task), headers=qa_officer)
    assert created.status_code == 201, created.text
    props = created.json()["properties"]
    assert props["organisation_id"] == halo  # taken from the task
    assert props["activity"] == "clearance"
    assert props["checklist"][1]["text"].startswith("A qualified medic")
    assert created.json()["geometry"]["type"] == "Point"
    major, minor = props["non_conformities"]
    assert (major["status"], major["overdue"], minor["overdue"]) == ("open", True, False)

    overdue = client.get(
        "/api/v1/qa/non-conformities", params={"programme": "SOM", "overdue": "true"}, headers=qa_officer
    )
    assert [nc["id"] for nc in overdue.json()] == [major["id"]]

    operator = make_user("surveyor", ("SOM",), organisation_id=halo)
    outsider_qa = make_user("qa_officer", ("SOM",), organisation_id=org_id(engine, "SEMA"))
    halo_qa = make_user("qa_officer", ("SOM",), organisation_id=halo)
    url = f"/api/v1/qa/non-conformities/{major['id']}"
    # Closing before correction is out of order.
    assert client.post(f"{url}/close", headers=outsider_qa).status_code == 409
    corrected = client.post(f"{url}/correct", json={"note": "medic hired"}, headers=operator)
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["status"] == "corrected" and corrected.json()["corrected_at"]
    # The inspected organisation cannot close its own non-conformity, whatever its role.
    assert client.post(f"{url}/close", headers=operator).status_code == 403
    assert client.post(f"{url}/close", headers=halo_qa).status_code == 403
    closed = client.post(f"{url}/close", json={"note": "verified"}, headers=outsider_qa)
    assert closed.status_code == 200
    body = closed.json()
    assert (body["status"], body["overdue"], body["closed_by"] is not None) == ("closed", False, True)
    overdue = client.get("/api/v1/qa/non-conformities", params={"overdue": "true"}, headers=qa_officer)
    assert overdue.json() == []
    history = row(
        engine,
        "SELECT count(*) AS n FROM audit_log WHERE table_name = 'qa_non_conformities' AND record_id = :id",
        id=str(major["id"]),
    )
    assert history.n == 3  # insert, corrected, closed


def test_only_qa_officers_record_and_programme_scope(
    client: TestClient,
    engine: Engine,
    qa_officer: dict[str, str],
    coordinator: dict[str, str],
    partner: dict[str, str],
    make_user: Callable[..., dict[str, str]],
) -> None:
    assert client.post("/api/v1/qa-visits", json=visit(), headers=coordinator).status_code == 403
    assert (
        client.post("/api/v1/qa-visits", json=visit(programme="LBY"), headers=qa_officer).status_code == 403
    )
    created = client.post("/api/v1/qa-visits", json=visit(), headers=qa_officer).json()
    libya_qa = make_user("qa_officer", ("LBY",))
    assert client.get(f"/api/v1/qa-visits/{created['id']}", headers=libya_qa).status_code == 404
    nc = created["properties"]["non_conformities"][0]["id"]
    assert client.post(f"/api/v1/qa/non-conformities/{nc}/correct", headers=libya_qa).status_code == 404
    assert client.get("/api/v1/qa/non-conformities", headers=libya_qa).json() == []
    assert client.get("/api/v1/qa-visits", headers=partner).status_code == 403
    listing = client.get("/api/v1/qa-visits", params={"programme": "SOM"}, headers=coordinator).json()
    assert [f["id"] for f in listing["features"]] == [created["id"]]
    # A task of another programme cannot be inspected from SOM.
    libya_task = insert_task(engine, org_id(engine, "DDG", "LBY"), programme="LBY")
    other = client.post("/api/v1/qa-visits", json=visit(task_id=libya_task), headers=qa_officer)
    assert other.status_code == 422


def test_critical_nc_suspends_the_task(
    client: TestClient, engine: Engine, qa_officer: dict[str, str]
) -> None:
    task = insert_task(engine, org_id(engine, "MAG"))
    critical = {
        "severity": "critical",
        "description": "Deminers working without PPE inside the hazard",
        "due_date": TODAY.isoformat(),
    }
    created = client.post(
        "/api/v1/qa-visits",
        json=visit(task_id=task, result="fail", non_conformities=[critical]),
        headers=qa_officer,
    )
    assert created.status_code == 201, created.text
    suspensions = created.json()["properties"]["suspensions"]
    assert len(suspensions) == 1 and suspensions[0]["task_id"] == task
    assert row(engine, "SELECT status FROM tasks WHERE id = :id", id=task).status == "suspended"
    history = row(
        engine, "SELECT from_status, to_status, reason FROM task_status_history WHERE task_id = :id", id=task
    )
    assert (history.from_status, history.to_status) == ("in_progress", "suspended")
    assert "PPE" in history.reason
    active = client.get("/api/v1/qa/suspensions", params={"active": "true"}, headers=qa_officer).json()
    assert [s["task_id"] for s in active] == [task]


def test_visit_input_is_checked(client: TestClient, engine: Engine, qa_officer: dict[str, str]) -> None:
    bad = [
        visit(type="audit"),
        visit(result="pass"),  # with non-conformities
        visit(checklist=[{"code": "not_an_item", "answer": "yes"}]),
        visit(checklist=[{"code": "sop_compliance", "answer": "maybe"}]),
        visit(location={"type": "Point", "coordinates": [500, 2]}),
        visit(location={"type": "LineString", "coordinates": [[45, 2], [46, 2]]}),
        visit(non_conformities=[{"severity": "huge", "description": "x", "due_date": "2026-01-01"}]),
        visit(type="post_clearance_inspection"),  # no lot, no sample
        visit(organisation_id=999_999),
    ]
    for index, body in enumerate(bad):
        response = client.post("/api/v1/qa-visits", json=body, headers=qa_officer)
        assert response.status_code == 422, (index, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    unknown = client.post(
        "/api/v1/qa-visits",
        json=visit(checklist=[{"code": "not_an_item", "answer": "yes"}]),
        headers=qa_officer,
    ).json()
    assert unknown["errors"][0]["field"] == "checklist.0.code"
    assert row(engine, "SELECT count(*) AS n FROM qa_visits").n == 0


def test_checklist_template_is_configurable_per_programme(
    client: TestClient, qa_officer: dict[str, str], make_user: Callable[..., dict[str, str]]
) -> None:
    default = client.get(
        "/api/v1/qa/checklist-template", params={"programme": "SOM"}, headers=qa_officer
    ).json()
    assert default["source"] == "default"
    assert {"sop_compliance", "national_standards", "supervision", "medic_present", "logs_current"} <= {
        i["code"] for i in default["items"]
    }
    template = {"name": "SOM 2026", "items": [{"code": "mdd_handler_rest", "text": "Dog handlers rested"}]}
    saved = client.put(
        "/api/v1/qa/checklist-template", params={"programme": "SOM"}, json=template, headers=qa_officer
    )
    assert saved.status_code == 200 and saved.json()["source"] == "programme"
    ok = visit(checklist=[{"code": "mdd_handler_rest", "answer": "yes"}])
    assert client.post("/api/v1/qa-visits", json=ok, headers=qa_officer).status_code == 201
    assert client.post("/api/v1/qa-visits", json=visit(), headers=qa_officer).status_code == 422  # old codes
    libya_qa = make_user("qa_officer", ("LBY",))
    libya = client.get("/api/v1/qa/checklist-template", params={"programme": "LBY"}, headers=libya_qa).json()
    assert libya["source"] == "default"


def _released_lot(client: TestClient, engine: Engine, headers: dict[str, str]) -> dict[str, Any]:
    hazard = insert_hazard_area(engine, HAZARD)
    created = client.post("/api/v1/land-releases", json=release(hazard, box(0, 0, 1, 0.6)), headers=headers)
    assert created.status_code == 201
    return created.json()


def test_sampling_plan_is_reproducible_and_inside_the_lot(
    client: TestClient, engine: Engine, coordinator: dict[str, str], qa_officer: dict[str, str]
) -> None:
    lot = _released_lot(client, engine, coordinator)
    params = {"land_release_id": lot["id"], "seed": 42}
    first = client.get("/api/v1/qa/sampling-plan", params=params, headers=qa_officer)
    assert first.status_code == 200 and first.headers["content-type"] == "application/geo+json"
    again = client.get("/api/v1/qa/sampling-plan", params=params, headers=qa_officer)
    assert first.json() == again.json()
    other = client.get("/api/v1/qa/sampling-plan", params={**params, "seed": 43}, headers=qa_officer).json()
    assert other["features"] != first.json()["features"]
    plan = first.json()
    # About 7,400 m²: the default plan's 1,000–10,000 m² band samples 5 %, in 10 m cells.
    assert plan["lot_area_m2"] == lot["properties"]["area_m2"]
    assert abs(plan["sample_area_m2"] - 0.05 * plan["lot_area_m2"]) < 0.01
    assert plan["cells"] == len(plan["features"]) >= 3
    assert plan["acceptance_number"] == 0
    lot_shape = shape(lot["geometry"]).buffer(1e-9)
    for cell in plan["features"]:
        assert lot_shape.contains(Point(cell["properties"]["centre"]["coordinates"]))
        assert lot_shape.contains(shape(cell["geometry"]))
    unseeded = client.get(
        "/api/v1/qa/sampling-plan", params={"land_release_id": lot["id"]}, headers=qa_officer
    )
    assert isinstance(unseeded.json()["seed"], int)
    assert (
        client.get(
            "/api/v1/qa/sampling-plan", params={"land_release_id": 999_999}, headers=qa_officer
        ).status_code
        == 404
    )


def test_sampling_bands_are_a_table_per_programme(
    client: TestClient, engine: Engine, coordinator: dict[str, str], qa_officer: dict[str, str]
) -> None:
    lot = _released_lot(client, engine, coordinator)
    plan = {
        "bands": [
            {"min_lot_m2": 0, "max_lot_m2": 5000, "sample_percent": 50, "cell_side_m": 5},
            {
                "min_lot_m2": 5000,
                "max_lot_m2": None,
                "sample_percent": 20,
                "cell_side_m": 20,
                "acceptance_number": 1,
            },
        ]
    }
    gap = {"bands": [{**plan["bands"][0], "max_lot_m2": 4000}, plan["bands"][1]]}
    assert (
        client.put(
            "/api/v1/qa/sampling-plans", params={"programme": "SOM"}, json=gap, headers=qa_officer
        ).status_code
        == 422
    )
    assert (
        client.put(
            "/api/v1/qa/sampling-plans", params={"programme": "SOM"}, json=plan, headers=coordinator
        ).status_code
        == 403
    )
    saved = client.put(
        "/api/v1/qa/sampling-plans", params={"programme": "SOM"}, json=plan, headers=qa_officer
    )
    assert saved.status_code == 200 and saved.json()["source"] == "programme"
    sample = client.get(
        "/api/v1/qa/sampling-plan", params={"land_release_id": lot["id"], "seed": 7}, headers=qa_officer
    ).json()
    assert abs(sample["sample_area_m2"] - 0.2 * sample["lot_area_m2"]) < 0.01
    assert sample["cell_side_m"] == 20 and sample["acceptance_number"] == 1


def test_rejected_lot_flags_release_and_hazard_for_rework(
    client: TestClient, engine: Engine, coordinator: dict[str, str], qa_officer: dict[str, str]
) -> None:
    lot = _released_lot(client, engine, coordinator)
    inspection = {
        "type": "post_clearance_inspection",
        "land_release_id": lot["id"],
        "non_conformities": [],
        "result": "pass",
        "sample": {"seed": 42, "items_found": 0},
    }
    accepted = client.post("/api/v1/qa-visits", json=visit(**inspection), headers=qa_officer)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["properties"]["sample"]["lot_accepted"] is True
    assert client.get("/api/v1/qa/rework", headers=qa_officer).json() == []

    found = {**inspection, "sample": {"seed": 43, "items_found": 1}}
    # One item in the sample rejects the lot (acceptance number 0): the result cannot be pass.
    assert client.post("/api/v1/qa-visits", json=visit(**found), headers=qa_officer).status_code == 422
    rejected = client.post("/api/v1/qa-visits", json=visit(**{**found, "result": "fail"}), headers=qa_officer)
    assert rejected.status_code == 201, rejected.text
    assert rejected.json()["properties"]["sample"]["lot_accepted"] is False
    flags = client.get("/api/v1/qa/rework", headers=qa_officer).json()
    assert [(f["land_release_id"], f["hazard_area_id"]) for f in flags] == [
        (lot["id"], lot["properties"]["hazard_area_id"])
    ]
    release_now = client.get(f"/api/v1/land-releases/{lot['id']}", headers=coordinator)
    assert release_now.json()["properties"]["rework_required"] is True
    flagged = client.get(
        "/api/v1/land-releases", params={"rework_required": "true"}, headers=coordinator
    ).json()
    assert [f["id"] for f in flagged["features"]] == [lot["id"]]


def test_visit_corrections_need_if_match_and_are_versioned(
    client: TestClient, engine: Engine, qa_officer: dict[str, str], coordinator: dict[str, str]
) -> None:
    created = client.post("/api/v1/qa-visits", json=visit(), headers=qa_officer)
    url = f"/api/v1/qa-visits/{created.json()['id']}"
    etag = created.headers["etag"]
    change = {"notes": "team leader interviewed", "checklist": [{"code": "ppe", "answer": "yes"}]}
    assert client.patch(url, json=change, headers=qa_officer).status_code == 428
    assert client.patch(url, json=change, headers={**qa_officer, "If-Match": etag}).status_code == 200
    assert client.patch(url, json=change, headers={**qa_officer, "If-Match": etag}).status_code == 412
    assert (
        client.patch(url, json={"notes": "x"}, headers={**coordinator, "If-Match": '"2"'}).status_code == 403
    )
    refused = client.patch(url, json={"result": "pass"}, headers={**qa_officer, "If-Match": '"2"'})
    assert refused.status_code == 422  # it has non-conformities
    body = client.get(url, headers=qa_officer)
    assert body.headers["etag"] == '"2"'
    props = body.json()["properties"]
    assert props["notes"] == "team leader interviewed"
    assert [c["code"] for c in props["checklist"]] == ["ppe"]
    audit = row(
        engine,
        "SELECT count(*) AS n FROM audit_log WHERE table_name = 'qa_visits' AND record_id = :id AND action = 'update'",
        id=str(created.json()["id"]),
    )
    assert audit.n == 1


def test_hostile_qa_input_is_refused_and_changes_nothing(
    client: TestClient, engine: Engine, qa_officer: dict[str, str]
) -> None:
    before = row(
        engine,
        "SELECT (SELECT count(*) FROM audit_log) AS audit, (SELECT count(*) FROM qa_sampling_bands) AS bands",
    )
    json_headers = {**qa_officer, "content-type": "application/json"}
    attempts = [
        client.get("/api/v1/qa/sampling-plan", params={"land_release_id": "x"}, headers=qa_officer),
        client.get("/api/v1/qa/sampling-plan", params={"land_release_id": 1, "seed": 0}, headers=qa_officer),
        client.get("/api/v1/qa/sampling-plan", params={"land_release_id": 2**40}, headers=qa_officer),
        client.get("/api/v1/qa/non-conformities", params={"overdue": "maybe"}, headers=qa_officer),
        client.post("/api/v1/qa/non-conformities/abc/close", headers=qa_officer),
        client.post("/api/v1/qa/non-conformities/999999/close", headers=qa_officer),
        client.put(
            "/api/v1/qa/sampling-plans?programme=SOM",
            content=b'{"bands": [{"min_lot_m2": 0, "max_lot_m2": null, "sample_percent": NaN}]}',
            headers=json_headers,
        ),
        client.put(
            "/api/v1/qa/sampling-plans?programme=SOM",
            content=b'{"bands": [{"min_lot_m2": 0, "max_lot_m2": null, "sample_percent": 1e400}]}',
            headers=json_headers,
        ),
        client.put(
            "/api/v1/qa/checklist-template?programme=SOM",
            json={"name": "x", "items": [{"code": "a", "text": "A"}, {"code": "a", "text": "again"}]},
            headers=qa_officer,
        ),
        client.put(
            "/api/v1/qa/checklist-template?programme=SOM",
            json={"name": "x", "items": [{"code": "DROP TABLE", "text": "A"}]},
            headers=qa_officer,
        ),
        client.put(
            "/api/v1/qa/checklist-template?programme=XXX", json={"name": "x", "items": []}, headers=qa_officer
        ),
        client.post("/api/v1/qa-visits", content=b"{", headers=json_headers),
        client.post("/api/v1/qa-visits", json=visit(visit_date="26/11/2026"), headers=qa_officer),
        client.post("/api/v1/qa-visits", json=visit(task_id=-1), headers=qa_officer),
    ]
    for index, response in enumerate(attempts):
        assert 400 <= response.status_code < 500, (index, response.status_code, response.text)
        assert response.headers["content-type"] == "application/problem+json", index
    after = row(
        engine,
        "SELECT (SELECT count(*) FROM audit_log) AS audit, (SELECT count(*) FROM qa_sampling_bands) AS bands",
    )
    assert after == before


def test_sample_lanes_are_reproducible_disjoint_and_inside_the_lot(
    client: TestClient, engine: Engine, coordinator: dict[str, str], qa_officer: dict[str, str]
) -> None:
    lot = _released_lot(client, engine, coordinator)
    params = {"land_release_id": lot["id"], "seed": 5, "layout": "lanes", "lane_width_m": 2}
    first = client.get("/api/v1/qa/sampling-plan", params=params, headers=qa_officer)
    assert first.status_code == 200, first.text
    plan = first.json()
    assert plan == client.get("/api/v1/qa/sampling-plan", params=params, headers=qa_officer).json()
    assert (
        plan["features"]
        != client.get("/api/v1/qa/sampling-plan", params={**params, "seed": 6}, headers=qa_officer).json()[
            "features"
        ]
    )
    # Enough lanes to cover the sample area, and no more than one lane beyond it.
    areas = [f["properties"]["area_m2"] for f in plan["features"]]
    assert sum(areas) >= plan["sample_area_m2"] > sum(areas) - max(areas)
    lot_shape = shape(lot["geometry"]).buffer(1e-9)
    lanes = [shape(f["geometry"]) for f in plan["features"]]
    assert all(lot_shape.contains(lane) for lane in lanes)
    assert len({f["properties"]["slot"] for f in plan["features"]}) == len(lanes)
    for i, a in enumerate(lanes):
        for b in lanes[i + 1 :]:
            assert a.intersection(b).area < 1e-12
    bad = client.get("/api/v1/qa/sampling-plan", params={**params, "lane_width_m": 0}, headers=qa_officer)
    assert bad.status_code == 422
