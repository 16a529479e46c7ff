"""NTS cancellation, daily progress reports and completion/handover."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.factories import insert_hazard_area, row
from tests.test_land_release import HAZARD, box, figures, release
from tests.test_qa import insert_task, org_id


def insert_survey(engine: Engine, hazard: int, outcome: str, organisation: int) -> int:
    with engine.begin() as conn:
        survey = conn.execute(
            text(
                "INSERT INTO surveys (programme_id, reference, organisation_id, survey_date, method) "
                "SELECT programme_id, 'NTS-' || :o || '-' || :h, :org, '2026-01-30', 'site_visit' "
                "FROM hazard_areas WHERE id = :h RETURNING id"
            ),
            {"h": hazard, "o": outcome, "org": organisation},
        ).scalar_one()
        conn.execute(
            text("INSERT INTO survey_hazards (survey_id, hazard_area_id, outcome) VALUES (:s, :h, :o)"),
            {"s": survey, "h": hazard, "o": outcome},
        )
    return int(survey)


def test_nts_cancel_whole_or_part(client: TestClient, engine: Engine, surveyor: dict[str, str]) -> None:
    hazard = insert_hazard_area(engine, HAZARD)
    total = figures(engine, hazard).area_m2
    mag = org_id(engine, "MAG")
    defining = insert_survey(engine, hazard, "define_cha", mag)
    survey = insert_survey(engine, hazard, "cancel", mag)
    not_cancel = client.post(
        f"/api/v1/hazard-areas/{hazard}/cancel",
        json={"date": "2026-02-01", "geometry": box(0, 0, 1, 0.25), "survey_id": defining},
        headers=surveyor,
    )
    assert not_cancel.status_code == 422
    assert not_cancel.json()["errors"][0]["field"] == "survey_id"
    part = client.post(
        f"/api/v1/hazard-areas/{hazard}/cancel",
        json={"date": "2026-02-01", "geometry": box(0, 0, 1, 0.25), "survey_id": survey},
        headers=surveyor,
    )
    assert part.status_code == 201, part.text
    props = part.json()["properties"]
    assert (props["method"], props["activity"], props["survey_id"]) == ("cancelled", "nts", survey)
    assert props["organisation_id"] == mag  # the survey's organisation
    assert abs(figures(engine, hazard).cancelled_m2 - total / 4) < 1
    rest = client.post(f"/api/v1/hazard-areas/{hazard}/cancel", json={"date": "2026-02-02"}, headers=surveyor)
    assert rest.status_code == 201
    after = figures(engine, hazard)
    assert after.status == "closed" and after.remaining_m2 < 0.01
    assert abs(after.cancelled_m2 - total) < 1
    # Nothing left to cancel.
    again = client.post(
        f"/api/v1/hazard-areas/{hazard}/cancel", json={"date": "2026-02-03"}, headers=surveyor
    )
    assert again.status_code == 422
    assert (
        client.post(
            "/api/v1/hazard-areas/999999/cancel", json={"date": "2026-02-03"}, headers=surveyor
        ).status_code
        == 404
    )


def test_progress_reports_feed_releases_and_completion_hands_over(
    client: TestClient, engine: Engine, coordinator: dict[str, str]
) -> None:
    hazard = insert_hazard_area(engine, HAZARD)
    total = figures(engine, hazard).area_m2
    halo = org_id(engine, "HALO")
    task = insert_task(engine, halo, "clearance")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO task_hazards (task_id, hazard_area_id) VALUES (:t, :h)"),
            {"t": task, "h": hazard},
        )
    day1 = {
        "task_id": task,
        "date": "2026-03-01",
        "items_found": 2,
        "working_hours": 6.5,
        "releases": [
            {"hazard_area_id": hazard, "method": "cleared", "depth_cm": 15, "geometry": box(0, 0, 0.25, 1)},
            {"hazard_area_id": hazard, "method": "reduced", "geometry": box(0.25, 0, 0.5, 1)},
        ],
    }
    report = client.post("/api/v1/progress-reports", json=day1, headers=coordinator)
    assert report.status_code == 201, report.text
    body = report.json()
    assert len(body["land_release_ids"]) == 2
    assert abs(body["released_m2"]["cleared"] - total / 4) < 1
    releases = client.get("/api/v1/land-releases", params={"task_id": task}, headers=coordinator).json()[
        "features"
    ]
    assert {f["properties"]["organisation_id"] for f in releases} == {halo}
    assert {f["properties"]["activity"] for f in releases} == {"clearance"}
    # Same task, same day: one report only.
    assert client.post("/api/v1/progress-reports", json=day1, headers=coordinator).status_code == 409
    # A bad polygon in the second item: the whole report is refused, with its index.
    day2 = {
        **day1,
        "date": "2026-03-02",
        "releases": [
            {"hazard_area_id": hazard, "method": "cleared", "depth_cm": 15, "geometry": box(0.5, 0, 0.6, 1)},
            {"hazard_area_id": hazard, "method": "cleared", "depth_cm": 15, "geometry": box(0, 0, 0.3, 1)},
        ],
    }
    refused = client.post("/api/v1/progress-reports", json=day2, headers=coordinator)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["index"] == 1
    assert refused.json()["errors"][0]["field"] == "releases.1.geometry"
    assert row(engine, "SELECT count(*) AS n FROM progress_reports").n == 1

    # Items the tasks package recorded on the task are counted in the handover, by category.
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO eo_items (programme_id, task_id, catalogue_id, quantity, disposal_method, found_on) "
                "SELECT t.programme_id, t.id, c.id, q, 'destroyed_in_situ', '2026-03-01' FROM tasks t, "
                "(SELECT id, 3 AS q FROM eo_catalogue WHERE subcategory IS NULL ORDER BY id LIMIT 1) c WHERE t.id = :t"
            ),
            {"t": task},
        )
        category = conn.execute(
            text("SELECT category FROM eo_catalogue WHERE subcategory IS NULL ORDER BY id LIMIT 1")
        ).scalar_one()
    done = client.post(
        f"/api/v1/hazard-areas/{hazard}/complete",
        json={
            "method": "cleared",
            "date": "2026-03-05",
            "task_id": task,
            "depth_cm": 15,
            "participants": ["Village chief"],
        },
        headers=coordinator,
    )
    assert done.status_code == 201, done.text
    handover = done.json()
    assert handover["hazard_status"] == "closed"
    area = handover["area_by_method"]
    assert abs(area["cleared"] - total * 0.75) < 1 and abs(area["reduced"] - total / 4) < 1
    assert area["remaining"] < 0.01
    assert "Village chief" in handover["participants"] and "The HALO Trust" in handover["participants"]
    assert len(handover["land_release_ids"]) == 1
    assert handover["items_by_category"] == {category: 3}
    assert (
        client.get(f"/api/v1/completions/{handover['id']}", headers=coordinator).json()["reference"]
        == handover["reference"]
    )
    again = client.post(
        f"/api/v1/hazard-areas/{hazard}/complete",
        json={"method": "reduced", "date": "2026-03-06"},
        headers=coordinator,
    )
    assert again.status_code == 409


def test_complete_needs_depth_for_clearance(
    client: TestClient, engine: Engine, coordinator: dict[str, str]
) -> None:
    hazard = insert_hazard_area(engine, HAZARD)
    response = client.post(
        f"/api/v1/hazard-areas/{hazard}/complete",
        json={"method": "cleared", "date": "2026-03-05"},
        headers=coordinator,
    )
    assert response.status_code == 422
    assert figures(engine, hazard).status == "open"
    reduced = client.post(
        f"/api/v1/hazard-areas/{hazard}/complete",
        json={"method": "reduced", "date": "2026-03-05"},
        headers=coordinator,
    )
    assert reduced.status_code == 201
    assert (
        client.post(
            "/api/v1/land-releases", json=release(hazard, box(0, 0, 1, 1)), headers=coordinator
        ).status_code
        == 422
    )
