"""Non-technical survey reports and evidence points through the API, on the real database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mgrs
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy.engine import Engine

from tests.factories import insert_hazard_area

Headers = dict[str, str]
SQL = Callable[..., list[Any]]
MOGADISHU_HAZARD = "POLYGON((45.30 2.03, 45.32 2.03, 45.32 2.05, 45.30 2.05, 45.30 2.03))"


def _org_team(sql: SQL, programme: str = "SOM") -> tuple[int, int]:
    row = sql(
        "SELECT t.organisation_id, t.id FROM teams t JOIN programmes p ON p.id = t.programme_id "
        "WHERE p.code = :c ORDER BY t.id LIMIT 1",
        c=programme,
    )[0]
    return int(row[0]), int(row[1])


def _survey_body(sql: SQL, **overrides: Any) -> dict[str, Any]:
    organisation_id, team_id = _org_team(sql)
    body: dict[str, Any] = {
        "programme": "SOM",
        "organisation_id": organisation_id,
        "team_id": team_id,
        "survey_date": "2026-03-02",
        "end_date": "2026-03-04",
        "method": "community_visit",
        "informants": {"women": 4, "men": 3, "girls": 1, "boys": 2},
        "summary": "Villagers report mines near the old checkpoint.",
    }
    body.update(overrides)
    return body


def _create(client: TestClient, headers: Headers, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/surveys", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_create_survey_with_outcomes_and_reference(
    client: TestClient, surveyor: Headers, sql: SQL, engine: Engine
) -> None:
    hazard = insert_hazard_area(engine, MOGADISHU_HAZARD, review_status="draft")
    body = _survey_body(sql, outcomes=[{"hazard_area_id": hazard, "outcome": "define_cha"}])
    response = client.post("/api/v1/surveys", json=body, headers=surveyor)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["ETag"] == '"1"'
    assert created["reference"] == "SOM-NTS-000001"
    assert created["informants"] == {"women": 4, "men": 3, "girls": 1, "boys": 2}
    assert created["review_status"] == "draft" and created["version"] == 1
    reference = sql("SELECT reference FROM hazard_areas WHERE id = :i", i=hazard)[0][0]
    assert created["outcomes"] == [
        {"hazard_area_id": hazard, "hazard_reference": reference, "outcome": "define_cha", "notes": None}
    ]
    second = _create(client, surveyor, _survey_body(sql))
    assert second["reference"] == "SOM-NTS-000002"
    # Stored and audited with who did it.
    rows = sql(
        "SELECT actor, action FROM audit_log WHERE table_name = 'surveys' AND record_id = :i",
        i=str(created["id"]),
    )
    assert rows and rows[0][1] == "insert" and rows[0][0].startswith("surveyor-")
    assert sql("SELECT count(*) FROM audit_log WHERE table_name = 'survey_hazards'")[0][0] == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"organisation_id": 999_999}, "organisation_id"),
        ({"team_id": 999_999}, "team_id"),
        ({"end_date": "2026-03-01"}, "end_date"),
        ({"outcomes": [{"hazard_area_id": 999_999, "outcome": "define_sha"}]}, "outcomes.0.hazard_area_id"),
        ({"outcomes": [{"outcome": "cancel"}]}, "outcomes.0.hazard_area_id"),
        ({"method": "guesswork"}, "body.method"),
        ({"informants": {"women": -1}}, "body.informants.women"),
        ({"survey_date": "yesterday"}, "body.survey_date"),
    ],
)
def test_bad_survey_is_422_naming_the_field(
    client: TestClient, surveyor: Headers, sql: SQL, overrides: dict[str, Any], field: str
) -> None:
    before = sql("SELECT count(*) FROM surveys")[0][0]
    response = client.post("/api/v1/surveys", json=_survey_body(sql, **overrides), headers=surveyor)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["field"] == field for e in response.json()["errors"]), response.json()
    assert sql("SELECT count(*) FROM surveys")[0][0] == before


def test_team_of_another_programme_or_organisation_is_refused(
    client: TestClient, surveyor: Headers, sql: SQL
) -> None:
    _, lby_team = _org_team(sql, "LBY")
    response = client.post("/api/v1/surveys", json=_survey_body(sql, team_id=lby_team), headers=surveyor)
    assert response.status_code == 422
    organisation_id, _ = _org_team(sql)
    other_team = sql(
        "SELECT t.id FROM teams t JOIN programmes p ON p.id = t.programme_id "
        "WHERE p.code = 'SOM' AND t.organisation_id <> :o LIMIT 1",
        o=organisation_id,
    )[0][0]
    response = client.post("/api/v1/surveys", json=_survey_body(sql, team_id=other_team), headers=surveyor)
    assert response.status_code == 422
    assert "another organisation" in response.json()["errors"][0]["message"]


def test_hazard_of_another_programme_is_refused(
    client: TestClient, surveyor: Headers, sql: SQL, engine: Engine
) -> None:
    lby_hazard = insert_hazard_area(
        engine, "POLYGON((13.1 32.8, 13.2 32.8, 13.2 32.9, 13.1 32.8))", programme="LBY"
    )
    body = _survey_body(sql, outcomes=[{"hazard_area_id": lby_hazard, "outcome": "cancel"}])
    response = client.post("/api/v1/surveys", json=body, headers=surveyor)
    assert response.status_code == 422


def test_roles_and_scope(
    client: TestClient,
    surveyor: Headers,
    partner: Headers,
    qa_officer: Headers,
    make_user: Callable[..., Headers],
    sql: SQL,
) -> None:
    body = _survey_body(sql)
    assert client.post("/api/v1/surveys", json=body, headers=partner).status_code == 403
    assert client.post("/api/v1/surveys", json=body, headers=qa_officer).status_code == 403
    libya_only = make_user("surveyor", ("LBY",))
    assert client.post("/api/v1/surveys", json=body, headers=libya_only).status_code == 403
    created = _create(client, surveyor, body)
    # Another programme's record: 404, as if it did not exist.
    assert client.get(f"/api/v1/surveys/{created['id']}", headers=libya_only).status_code == 404
    assert client.get("/api/v1/surveys", headers=libya_only).json()["items"] == []
    # Partners see approved reports only.
    assert client.get(f"/api/v1/surveys/{created['id']}", headers=partner).status_code == 404
    assert client.get("/api/v1/surveys", headers=partner).json()["items"] == []


def test_review_cycle_and_rights(
    client: TestClient, surveyor: Headers, coordinator: Headers, partner: Headers, sql: SQL
) -> None:
    created = _create(client, surveyor, _survey_body(sql))
    url = f"/api/v1/surveys/{created['id']}"
    # Only submitted reports are reviewed; surveyors cannot approve.
    assert client.post(f"{url}/approve", headers=coordinator).status_code == 409
    submitted = client.post(f"{url}/submit", headers=surveyor)
    assert submitted.status_code == 200 and submitted.json()["review_status"] == "submitted"
    assert submitted.headers["ETag"] == '"2"'
    assert client.post(f"{url}/approve", headers=surveyor).status_code == 403
    # Reject needs a reason; then the surveyor corrects (back to draft) and submits again.
    assert client.post(f"{url}/reject", json={}, headers=coordinator).status_code == 422
    rejected = client.post(f"{url}/reject", json={"reason": "informant counts missing"}, headers=coordinator)
    assert rejected.status_code == 200 and rejected.json()["review_status"] == "rejected"
    assert rejected.json()["reviewed_by"].startswith("coordinator-")
    fixed = client.patch(
        url, json={"informants": {"women": 5}}, headers={**surveyor, "If-Match": rejected.headers["ETag"]}
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["review_status"] == "draft"
    assert fixed.json()["informants"] == {"women": 5, "men": 0, "girls": 0, "boys": 0}
    client.post(f"{url}/submit", headers=surveyor)
    approved = client.post(f"{url}/approve", headers=coordinator)
    assert approved.status_code == 200 and approved.json()["review_status"] == "approved"
    # Approved: visible to partners, never changed or deleted.
    assert client.get(url, headers=partner).status_code == 200
    assert [s["id"] for s in client.get("/api/v1/surveys", headers=partner).json()["items"]] == [
        created["id"]
    ]
    etag = approved.headers["ETag"]
    assert (
        client.patch(url, json={"summary": "x"}, headers={**coordinator, "If-Match": etag}).status_code == 409
    )
    assert client.delete(url, headers=coordinator).status_code == 409
    assert sql("SELECT review_status, version FROM surveys WHERE id = :i", i=created["id"]) == [
        ("approved", 6)
    ]


def test_patch_needs_if_match_and_refuses_stale(client: TestClient, surveyor: Headers, sql: SQL) -> None:
    created = _create(client, surveyor, _survey_body(sql))
    url = f"/api/v1/surveys/{created['id']}"
    assert client.patch(url, json={"summary": "new"}, headers=surveyor).status_code == 428
    first = client.patch(url, json={"summary": "new"}, headers={**surveyor, "If-Match": '"1"'})
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    stale = client.patch(url, json={"summary": "lost update"}, headers={**surveyor, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert sql("SELECT summary, version FROM surveys WHERE id = :i", i=created["id"]) == [("new", 2)]
    # Clearing a required field is refused; clearing an optional one works.
    bad = client.patch(url, json={"method": None}, headers={**surveyor, "If-Match": '"2"'})
    assert bad.status_code == 422
    cleared = client.patch(url, json={"end_date": None}, headers={**surveyor, "If-Match": '"2"'})
    assert cleared.status_code == 200 and cleared.json()["end_date"] is None


def test_outcomes_replaced_by_patch_and_delete_of_draft(
    client: TestClient, surveyor: Headers, sql: SQL, engine: Engine
) -> None:
    first = insert_hazard_area(engine, MOGADISHU_HAZARD)
    second = insert_hazard_area(engine, MOGADISHU_HAZARD.replace("45.30", "45.25"))
    created = _create(
        client, surveyor, _survey_body(sql, outcomes=[{"hazard_area_id": first, "outcome": "define_sha"}])
    )
    url = f"/api/v1/surveys/{created['id']}"
    patched = client.patch(
        url,
        json={"outcomes": [{"hazard_area_id": second, "outcome": "cancel"}, {"outcome": "no_evidence"}]},
        headers={**surveyor, "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert [(o["hazard_area_id"], o["outcome"]) for o in patched.json()["outcomes"]] == [
        (second, "cancel"),
        (None, "no_evidence"),
    ]
    by_hazard = client.get(f"/api/v1/surveys?hazard_area_id={second}", headers=surveyor).json()["items"]
    assert [s["id"] for s in by_hazard] == [created["id"]]
    assert client.delete(url, headers=surveyor).status_code == 204
    assert sql("SELECT count(*) FROM surveys")[0][0] == 0
    assert sql("SELECT count(*) FROM survey_hazards")[0][0] == 0


def _independent_utm(easting: float, northing: float, epsg: int) -> tuple[float, float]:
    lon, lat = Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True).transform(easting, northing)
    return lon, lat


# Reference values computed independently of SafeGround's parser (pyproj, the mgrs library).
_MGRS_LAT, _MGRS_LON = mgrs.MGRS().toLatLon("38NNH3538526248")
_UTM_LON, _UTM_LAT = _independent_utm(412345, 234567, 32638)
_DMS_LAT = 2 + 2 / 60 + 49 / 3600
_DMS_LON = 45 + 19 / 60 + 5 / 3600


@pytest.mark.parametrize(
    ("typed", "fmt", "crs", "lon", "lat"),
    [
        ("38NNH3538526248", "mgrs", "EPSG:4326", _MGRS_LON, _MGRS_LAT),
        ("38N 412345 234567", "utm", "EPSG:32638", _UTM_LON, _UTM_LAT),
        ("2°02'49\"N 45°19'05\"E", "dms", "EPSG:4326", _DMS_LON, _DMS_LAT),
        ("2.0469, 45.3182", "dd", "EPSG:4326", 45.3182, 2.0469),
    ],
)
def test_evidence_coordinate_as_typed_round_trip(
    client: TestClient,
    surveyor: Headers,
    sql: SQL,
    typed: str,
    fmt: str,
    crs: str,
    lon: float,
    lat: float,
) -> None:
    created = _create(client, surveyor, _survey_body(sql))
    url = f"/api/v1/surveys/{created['id']}/evidence"
    body = {"coordinate": typed, "evidence_type": "mine_seen", "description": "AP mine by the well"}
    response = client.post(url, json=body, headers=surveyor)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/geo+json"
    feature = response.json()
    assert feature["properties"]["coordinate"] == typed
    assert feature["properties"]["coordinate_format"] == fmt
    assert feature["properties"]["coordinate_crs"] == crs
    assert feature["properties"]["direct"] is True  # mine seen is direct evidence
    got_lon, got_lat = feature["geometry"]["coordinates"]
    assert got_lon == pytest.approx(lon, abs=1e-6) and got_lat == pytest.approx(lat, abs=1e-6)
    collection = client.get(url, headers=surveyor).json()
    assert collection["type"] == "FeatureCollection"
    assert [f["properties"]["coordinate"] for f in collection["features"]] == [typed]
    stored = sql("SELECT coordinate_text, coordinate_format, ST_X(geom), ST_Y(geom) FROM evidence_points")
    assert stored[0][0] == typed and stored[0][1] == fmt
    assert stored[0][2] == pytest.approx(lon, abs=1e-6) and stored[0][3] == pytest.approx(lat, abs=1e-6)
    assert client.get(f"/api/v1/surveys/{created['id']}", headers=surveyor).json()["evidence_count"] == 1


def test_evidence_from_geojson_point_and_bad_input(client: TestClient, surveyor: Headers, sql: SQL) -> None:
    created = _create(client, surveyor, _survey_body(sql))
    url = f"/api/v1/surveys/{created['id']}/evidence"
    ok = client.post(
        url,
        json={"geometry": {"type": "Point", "coordinates": [45.31, 2.04]}, "evidence_type": "craters"},
        headers=surveyor,
    )
    assert ok.status_code == 201
    assert ok.json()["properties"]["direct"] is False and ok.json()["properties"]["coordinate"] is None
    bad_bodies: list[tuple[dict[str, Any], str]] = [
        (
            {
                "coordinate": "38NNF12345",
                "geometry": {"type": "Point", "coordinates": [45, 2]},
                "evidence_type": "scrap",
            },
            "body",
        ),
        ({"evidence_type": "scrap"}, "body"),
        ({"coordinate": "somewhere near the well", "evidence_type": "scrap"}, "coordinate"),
        ({"coordinate": "38NNF123456789", "evidence_type": "scrap"}, "coordinate"),  # odd digit count
        ({"geometry": {"type": "Point", "coordinates": [45.3, "x"]}, "evidence_type": "scrap"}, "geometry"),
        (
            {"geometry": {"type": "Point", "coordinates": [13.18, 32.89]}, "evidence_type": "scrap"},
            "geometry",
        ),  # Libya
        ({"coordinate": "2.04, 45.31", "evidence_type": "rumours"}, "body.evidence_type"),
    ]
    for body, field in bad_bodies:
        response = client.post(url, json=body, headers=surveyor)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert any(e["field"].startswith(field) for e in response.json()["errors"]), (body, response.json())
    assert sql("SELECT count(*) FROM evidence_points")[0][0] == 1


def test_swapped_lat_lon_is_explained(client: TestClient, surveyor: Headers, sql: SQL) -> None:
    created = _create(client, surveyor, _survey_body(sql))
    response = client.post(
        f"/api/v1/surveys/{created['id']}/evidence",
        json={"geometry": {"type": "Point", "coordinates": [2.04, 45.31]}, "evidence_type": "hearsay"},
        headers=surveyor,
    )
    assert response.status_code == 422
    assert "swapped" in response.json()["detail"]


def test_evidence_of_approved_report_is_frozen_and_partner_reads_it(
    client: TestClient, surveyor: Headers, coordinator: Headers, partner: Headers, sql: SQL
) -> None:
    created = _create(client, surveyor, _survey_body(sql))
    url = f"/api/v1/surveys/{created['id']}"
    point = {"coordinate": "38NNH3538526248", "evidence_type": "marking"}
    evidence_id = client.post(f"{url}/evidence", json=point, headers=surveyor).json()["id"]
    assert client.get(f"{url}/evidence", headers=partner).status_code == 404
    client.post(f"{url}/submit", headers=surveyor)
    client.post(f"{url}/approve", headers=coordinator)
    assert client.post(f"{url}/evidence", json=point, headers=surveyor).status_code == 409
    assert client.delete(f"{url}/evidence/{evidence_id}", headers=coordinator).status_code == 409
    features = client.get(f"{url}/evidence", headers=partner).json()["features"]
    assert [f["id"] for f in features] == [evidence_id]


def test_evidence_paging(client: TestClient, surveyor: Headers, sql: SQL) -> None:
    created = _create(client, surveyor, _survey_body(sql))
    url = f"/api/v1/surveys/{created['id']}/evidence"
    for i in range(3):
        body = {
            "geometry": {"type": "Point", "coordinates": [45.3 + i / 100, 2.04]},
            "evidence_type": "scrap",
        }
        assert client.post(url, json=body, headers=surveyor).status_code == 201
    page = client.get(f"{url}?limit=2", headers=surveyor).json()
    assert len(page["features"]) == 2
    next_href = next(link["href"] for link in page["links"] if link["rel"] == "next")
    rest = client.get(next_href, headers=surveyor).json()
    assert len(rest["features"]) == 1 and rest["links"] == []


def test_demo_survey_reports(engine: Engine, sql: SQL) -> None:
    from rich.console import Console

    from app.demo import load_demo

    load_demo(Console(quiet=True))
    counts = sql("SELECT count(*), count(DISTINCT programme_id) FROM surveys")[0]
    assert counts[0] >= 100 and counts[1] == 2
    # Each demo report defines its hazard as the hazard is classified, and its evidence point,
    # typed as MGRS, lies inside that hazard.
    mismatched = sql(
        """
        SELECT count(*) FROM survey_hazards l JOIN hazard_areas h ON h.id = l.hazard_area_id
        WHERE l.outcome <> CASE h.classification WHEN 'CHA' THEN 'define_cha' ELSE 'define_sha' END
        """
    )[0][0]
    assert mismatched == 0
    points = sql(
        """
        SELECT e.coordinate_text, ST_X(e.geom), ST_Y(e.geom), ST_DWithin(h.geom::geography, e.geom::geography, 2)
        FROM evidence_points e JOIN survey_hazards l ON l.survey_id = e.survey_id
        JOIN hazard_areas h ON h.id = l.hazard_area_id
        """
    )
    assert len(points) == counts[0]
    for typed, lon, lat, inside in points:
        expected_lat, expected_lon = mgrs.MGRS().toLatLon(typed)
        assert (lon, lat) == pytest.approx((expected_lon, expected_lat), abs=1e-9) and inside
    load_demo(Console(quiet=True))
    assert sql("SELECT count(*) FROM surveys")[0][0] == counts[0]


@pytest.mark.parametrize(
    "body",
    [
        b'{"programme": "SOM", "organisation_id": 99999999999999999999, "survey_date": "2026-03-02", "method": "desk_study"}',
        b'{"programme": "SOM", "organisation_id": 1, "survey_date": "2026-03-02", "method": "desk_study", "informants": {"women": NaN}}',
        b'{"programme": "SOM", "organisation_id": 1, "survey_date": "99999-01-01", "method": "desk_study"}',
        b'{"programme": "SOM", "organisation_id": "one", "survey_date": "2026-03-02", "method": "desk_study"}',
        b'{"programme": "ZZZ", "organisation_id": 1, "survey_date": "2026-03-02", "method": "desk_study"}',
        b'{"programme": "SOM", "organisation_id": 1, "survey_date": "2026-03-02", "method": "desk_study", "extra": 1}',
        b"[1, 2, 3]",
        b"{not json",
    ],
)
def test_hostile_survey_bodies_are_4xx(client: TestClient, surveyor: Headers, sql: SQL, body: bytes) -> None:
    response = client.post(
        "/api/v1/surveys", content=body, headers={**surveyor, "content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert sql("SELECT count(*) FROM surveys")[0][0] == 0


@pytest.mark.parametrize(
    "path", ["/api/v1/surveys/99999999999999999999", "/api/v1/surveys/0", "/api/v1/surveys/x"]
)
def test_unknown_survey_ids_are_4xx(client: TestClient, surveyor: Headers, path: str) -> None:
    for response in (
        client.get(path, headers=surveyor),
        client.get(f"{path}/evidence", headers=surveyor),
        client.post(f"{path}/submit", headers=surveyor),
    ):
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"] == "application/problem+json"
