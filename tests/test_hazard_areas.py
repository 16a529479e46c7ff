"""Hazard areas through the API on a real PostGIS: create, read, edit with ETag/If-Match,
review rights, programme scope, history and as_of, hostile bodies, paging, bulk insert, demo."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from rich.console import Console
from shapely.geometry import Point, box, mapping, shape
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.db import new_session
from app.reference.models import Programme
from geo.checks import check_polygons
from geo.synthetic import synthetic_hazards
from survey import demo
from survey.service import insert_hazard_areas

GEOD = Geod(ellps="WGS84")
URL = "/api/v1/hazard-areas"
BAY = box(43.60, 3.10, 43.61, 3.11)  # inland Somalia, Bay region (SO-BY)
TRIPOLI = box(13.18, 32.80, 13.19, 32.81)

Sql = Callable[..., list[Any]]


def feature(geom: Any = BAY, programme: str = "SOM", **properties: Any) -> dict[str, Any]:
    props = {"programme": programme, "classification": "SHA", "contamination_types": ["AP", "ERW"]}
    props.update(properties)
    return {"type": "Feature", "geometry": mapping(geom), "properties": props}


def create(client: TestClient, headers: dict[str, str], **kw: Any) -> dict[str, Any]:
    response = client.post(URL, json=feature(**kw), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def counts(sql: Sql) -> tuple[int, int, int]:
    return (
        sql("SELECT count(*) FROM hazard_areas")[0][0],
        sql("SELECT count(*) FROM audit_log")[0][0],
        sql("SELECT coalesce(sum(last_value), 0) FROM reference_counters WHERE kind = 'HA'")[0][0],
    )


def geod_area(geom: Any) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def test_create_returns_the_feature_with_computed_values(
    client: TestClient, surveyor: dict[str, str]
) -> None:
    response = client.post(
        URL,
        json=feature(
            name="Bay field 1",
            evidence={"direct": ["mine seen"], "indirect": ["craters"]},
            beneficiaries={"women": 12, "men": 10, "girls": 7, "boys": 9},
            blockages="agriculture, road",
            priority=2,
        ),
        headers=surveyor,
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    props = body["properties"]
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"{URL}/{body['id']}"
    assert body["type"] == "Feature" and isinstance(body["id"], int)
    assert re.fullmatch(r"SOM-HA-\d{6}", props["reference"])
    assert props["programme"] == "SOM"
    assert props["admin1_code"] == "SO-BY" and props["admin1_name"]
    assert props["admin2_code"] is None  # no admin-2 boundaries loaded
    assert props["review_status"] == "draft" and props["version"] == 1
    assert props["contamination_types"] == ["AP", "ERW"]
    assert props["blockages"] == ["agriculture", "road"]
    assert props["beneficiaries"] == {"women": 12, "men": 10, "girls": 7, "boys": 9}
    assert props["area_m2"] == pytest.approx(geod_area(BAY), rel=1e-3)
    assert props["remaining_m2"] == props["area_m2"]
    assert props["cancelled_m2"] == props["reduced_m2"] == props["cleared_m2"] == 0
    assert body["geometry"]["type"] == "MultiPolygon"
    assert shape(body["geometry"]).equals(BAY)
    assert body["checks"]["status"] == "valid"
    got = client.get(f"{URL}/{body['id']}", headers=surveyor)
    assert got.status_code == 200 and got.headers["ETag"] == '"1"'
    assert got.json()["properties"]["reference"] == props["reference"]
    unchanged = client.get(f"{URL}/{body['id']}", headers={**surveyor, "If-None-Match": '"1"'})
    assert unchanged.status_code == 304 and not unchanged.content


@pytest.mark.parametrize(
    ("programme", "geom"),
    [
        ("SOM", Point(45.30, 2.06).buffer(0.00016, quad_segs=8)),  # ~0.1 ha, Mogadishu
        ("SOM", Point(43.60, 3.10).buffer(0.2, quad_segs=64)),  # ~1,500 km², Bay
        ("LBY", Point(13.10, 32.70).buffer(0.0002, quad_segs=8)),  # small, near Tripoli
        ("LBY", Point(14.50, 27.50).buffer(0.25, quad_segs=64)),  # ~2,000 km², Fezzan
    ],
)
def test_stored_area_agrees_with_pyproj_geod(
    client: TestClient, admin: dict[str, str], programme: str, geom: Any
) -> None:
    body = create(client, admin, geom=geom, programme=programme)
    expected = geod_area(geom)
    assert body["properties"]["area_m2"] == pytest.approx(expected, rel=1e-3)


def test_area_and_computed_fields_cannot_be_sent(
    client: TestClient, surveyor: dict[str, str], sql: Sql
) -> None:
    before = counts(sql)
    for field, value in (("area_m2", 5.0), ("reference", "SOM-HA-999999"), ("review_status", "approved")):
        response = client.post(URL, json=feature(**{field: value}), headers=surveyor)
        assert response.status_code == 422, field
        assert response.headers["content-type"] == "application/problem+json"
        assert any(e["field"] == f"properties.{field}" for e in response.json()["errors"])
    assert counts(sql) == before


def _hostile_bodies() -> list[tuple[str, bytes | dict[str, Any]]]:
    big = Point(43.6, 3.1).buffer(0.01, quad_segs=300)  # 1,201 vertices
    return [
        ("not json", b"{this is not json"),
        ("empty", b""),
        ("a list", b"[1, 2, 3]"),
        ("FeatureCollection", {"type": "FeatureCollection", "features": [feature()]}),
        ("point", feature(Point(43.6, 3.1))),
        (
            "line",
            {**feature(), "geometry": {"type": "LineString", "coordinates": [[43.6, 3.1], [43.61, 3.1]]}},
        ),
        (
            "collection",
            {**feature(), "geometry": {"type": "GeometryCollection", "geometries": [mapping(BAY)]}},
        ),
        ("no geometry", {**feature(), "geometry": None}),
        (
            "NaN literal",
            b'{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[NaN,3.1],[43.61,3.1],[43.61,3.11],[NaN,3.1]]]},"properties":{"programme":"SOM","classification":"SHA"}}',
        ),
        (
            "1e400",
            b'{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[1e400,3.1],[43.61,3.1],[43.61,3.11],[1e400,3.1]]]},"properties":{"programme":"SOM","classification":"SHA"}}',
        ),
        (
            "1e308",
            {
                **feature(),
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[1e308, 3.1], [43.61, 3.1], [43.61, 3.11], [1e308, 3.1]]],
                },
            },
        ),
        (
            "strings as coordinates",
            {
                **feature(),
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[["a", "b"], [43.61, 3.1], [43.61, 3.11], ["a", "b"]]],
                },
            },
        ),
        (
            "too shallow",
            {**feature(), "geometry": {"type": "Polygon", "coordinates": [[43.6, 3.1], [43.61, 3.1]]}},
        ),
        (
            "bool coordinate",
            {
                **feature(),
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[True, 3.1], [43.61, 3.1], [43.61, 3.11], [True, 3.1]]],
                },
            },
        ),
        ("vertex count", feature(big)),
        ("classification number", feature(classification=5)),
        ("unknown classification", feature(classification="maybe")),
        ("unknown contamination", feature(contamination_types=["XYZ"])),
        ("contamination object", feature(contamination_types={"AP": True})),
        ("negative beneficiaries", feature(beneficiaries={"women": -1})),
        ("priority text", feature(priority="high")),
        ("properties a list", {**feature(), "properties": ["SOM"]}),
        ("unknown property", feature(colour="red")),
        ("no programme", {**feature(), "properties": {"classification": "SHA"}}),
        ("programme a number", feature(programme=7)),
        ("huge beneficiaries", feature(beneficiaries={"women": 10**30})),
    ]


@pytest.mark.parametrize(("label", "body"), _hostile_bodies(), ids=[b[0] for b in _hostile_bodies()])
def test_hostile_bodies_are_4xx_and_change_nothing(
    client: TestClient,
    surveyor: dict[str, str],
    sql: Sql,
    monkeypatch: pytest.MonkeyPatch,
    label: str,
    body: bytes | dict[str, Any],
) -> None:
    from app.settings import get_settings

    monkeypatch.setattr(get_settings(), "max_vertices_per_feature", 1000)
    before = counts(sql)
    if isinstance(body, bytes):
        response = client.post(URL, content=body, headers={**surveyor, "content-type": "application/json"})
    else:
        response = client.post(URL, json=body, headers=surveyor)
    assert 400 <= response.status_code < 500, (label, response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json", label
    assert response.json()["detail"], label
    assert counts(sql) == before, label


def test_wrong_content_type_is_415(client: TestClient, surveyor: dict[str, str]) -> None:
    response = client.post(URL, content=b"<xml/>", headers={**surveyor, "content-type": "application/xml"})
    assert response.status_code == 415


def test_patch_needs_if_match_and_refuses_stale_versions(
    client: TestClient, surveyor: dict[str, str], sql: Sql
) -> None:
    body = create(client, surveyor, name="first")
    hazard = f"{URL}/{body['id']}"
    patch = {"properties": {"name": "second"}}
    before = counts(sql)

    response = client.patch(hazard, json=patch, headers=surveyor)
    assert response.status_code == 428
    assert response.headers["content-type"] == "application/problem+json"
    assert counts(sql) == before

    response = client.patch(hazard, json=patch, headers={**surveyor, "If-Match": '"7"'})
    assert response.status_code == 412
    assert counts(sql) == before
    assert sql("SELECT name, version FROM hazard_areas WHERE id = :i", i=body["id"]) == [("first", 1)]

    response = client.patch(
        hazard,
        json=patch,
        headers={**surveyor, "If-Match": '"1"', "content-type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    props = response.json()["properties"]
    assert props["name"] == "second" and props["version"] == 2
    # Untouched properties stay; the old ETag is stale now.
    assert props["contamination_types"] == ["AP", "ERW"]
    again = client.patch(
        hazard, json={"properties": {"name": "third"}}, headers={**surveyor, "If-Match": '"1"'}
    )
    assert again.status_code == 412
    assert sql("SELECT name FROM hazard_areas WHERE id = :i", i=body["id"]) == [("second",)]


def test_merge_patch_semantics_and_geometry_edit_recomputes(
    client: TestClient, coordinator: dict[str, str], sql: Sql
) -> None:
    body = create(
        client, coordinator, name="n", notes="remove me", beneficiaries={"women": 5, "men": 6}, priority=3
    )
    hazard = f"{URL}/{body['id']}"
    moved = box(44.70, 1.70, 44.71, 1.71)  # near Marka, another admin-1 area than Bay
    [(region,)] = sql(
        "SELECT code FROM admin_areas WHERE level = 1 AND ST_Contains(geom, ST_GeomFromText(:w, 4326))",
        w=moved.wkt,
    )
    assert region != body["properties"]["admin1_code"]
    response = client.patch(
        hazard,
        json={"properties": {"notes": None, "beneficiaries": {"men": 8}}, "geometry": mapping(moved)},
        headers={**coordinator, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    props = response.json()["properties"]
    assert props["notes"] is None  # null removes
    assert props["beneficiaries"] == {"women": 5, "men": 8, "girls": 0, "boys": 0}  # objects merge
    assert props["priority"] == 3 and props["name"] == "n"
    assert props["area_m2"] == pytest.approx(geod_area(moved), rel=1e-3)
    assert props["remaining_m2"] == pytest.approx(props["area_m2"])
    assert props["admin1_code"] == region
    # A required property cannot be removed; a bad geometry is refused; nothing changes.
    for bad in ({"properties": {"classification": None}}, {"geometry": mapping(Point(43, 3))}, {"colour": 1}):
        response = client.patch(hazard, json=bad, headers={**coordinator, "If-Match": '"2"'})
        assert response.status_code == 422, bad
    assert client.get(hazard, headers=coordinator).json()["properties"]["version"] == 2


def test_review_rights_and_partner_visibility(
    client: TestClient, make_user: Callable[..., dict[str, str]], sql: Sql
) -> None:
    surveyor = make_user("surveyor", ("SOM",))
    coordinator = make_user("coordinator", ("SOM",))
    partner = make_user("partner", ("SOM",))
    qa = make_user("qa_officer", ("SOM",))
    draft = create(client, surveyor, name="stays draft")
    body = create(client, surveyor, name="to approve")
    hazard = f"{URL}/{body['id']}"

    assert client.post(f"{hazard}/approve", headers=surveyor).status_code == 403  # not before submit either
    assert client.post(f"{hazard}/submit", headers=surveyor).status_code == 200
    assert client.post(f"{hazard}/approve", headers=surveyor).status_code == 403
    assert client.post(f"{hazard}/reject", headers=surveyor, json={"reason": "x"}).status_code == 403
    # Reject needs a reason.
    assert client.post(f"{hazard}/reject", headers=coordinator).status_code == 422
    rejected = client.post(f"{hazard}/reject", headers=coordinator, json={"reason": "polygon too coarse"})
    assert rejected.status_code == 200
    assert rejected.json()["properties"]["review_status"] == "rejected"
    assert rejected.json()["properties"]["review_reason"] == "polygon too coarse"
    # The surveyor corrects it (back to draft), submits again; the coordinator approves.
    version = rejected.json()["properties"]["version"]
    fixed = client.patch(
        hazard, json={"properties": {"priority": 1}}, headers={**surveyor, "If-Match": f'"{version}"'}
    )
    assert fixed.status_code == 200 and fixed.json()["properties"]["review_status"] == "draft"
    assert client.post(f"{hazard}/submit", headers=surveyor).status_code == 200
    approved = client.post(f"{hazard}/approve", headers=coordinator)
    assert approved.status_code == 200
    assert approved.json()["properties"]["review_status"] == "approved"
    assert approved.json()["properties"]["reviewed_by"]
    assert client.post(f"{hazard}/approve", headers=coordinator).status_code == 409
    # A surveyor cannot edit an approved hazard; a coordinator can.
    v = approved.json()["properties"]["version"]
    assert (
        client.patch(
            hazard, json={"properties": {"priority": 2}}, headers={**surveyor, "If-Match": f'"{v}"'}
        ).status_code
        == 403
    )

    # Partners see approved ones only, and never drafts, even asked for by id or status.
    seen = client.get(URL, headers=partner).json()
    assert [f["id"] for f in seen["features"]] == [body["id"]]
    assert client.get(URL, params={"review_status": "draft"}, headers=partner).json()["features"] == []
    assert client.get(f"{URL}/{draft['id']}", headers=partner).status_code == 404
    assert client.get(hazard, headers=partner).status_code == 200
    assert client.post(URL, json=feature(), headers=partner).status_code == 403
    assert client.post(f"{hazard}/approve", headers=partner).status_code == 404
    assert client.get(f"{hazard}/history", headers=partner).status_code == 403
    # QA officers read everything of their programme but do not create.
    assert {f["id"] for f in client.get(URL, headers=qa).json()["features"]} == {draft["id"], body["id"]}
    assert client.post(URL, json=feature(), headers=qa).status_code == 403


def test_programme_scope(client: TestClient, make_user: Callable[..., dict[str, str]], sql: Sql) -> None:
    somali = make_user("coordinator", ("SOM",))
    libyan = make_user("coordinator", ("LBY",))
    som = create(client, somali)
    lby = create(client, libyan, geom=TRIPOLI, programme="LBY")
    assert lby["properties"]["reference"].startswith("LBY-HA-")
    hazard = f"{URL}/{som['id']}"
    before = counts(sql)
    assert client.get(hazard, headers=libyan).status_code == 404
    assert (
        client.patch(
            hazard, json={"properties": {"name": "x"}}, headers={**libyan, "If-Match": '"1"'}
        ).status_code
        == 404
    )
    assert client.post(f"{hazard}/approve", headers=libyan).status_code == 404
    assert client.delete(hazard, headers=libyan).status_code == 404
    assert client.get(f"{hazard}/history", headers=libyan).status_code == 404
    assert client.post(URL, json=feature(), headers=libyan).status_code == 403
    assert client.get(URL, params={"programme": "SOM"}, headers=libyan).status_code == 403
    assert [f["id"] for f in client.get(URL, headers=libyan).json()["features"]] == [lby["id"]]
    assert client.get(f"{URL}/999999", headers=libyan).status_code == 404
    assert counts(sql) == before


def test_history_and_as_of(client: TestClient, coordinator: dict[str, str], sql: Sql) -> None:
    before_creation = sql("SELECT clock_timestamp()")[0][0]
    body = create(client, coordinator, name="as surveyed", classification="SHA")
    hazard = f"{URL}/{body['id']}"
    between = sql("SELECT clock_timestamp()")[0][0]
    bigger = box(43.60, 3.10, 43.62, 3.12)
    response = client.patch(
        hazard,
        json={"properties": {"name": "after TS", "classification": "CHA"}, "geometry": mapping(bigger)},
        headers={**coordinator, "If-Match": '"1"'},
    )
    assert response.status_code == 200
    assert client.post(f"{hazard}/approve", headers=coordinator).status_code == 200

    history = client.get(f"{hazard}/history", headers=coordinator).json()
    versions = history["versions"]
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert [v["action"] for v in versions] == ["insert", "update", "update"]
    assert all(v["actor"] and v["changed_at"] for v in versions)
    assert versions[1]["changes"]["name"] == {"from": "as surveyed", "to": "after TS"}
    assert versions[1]["changes"]["classification"] == {"from": "SHA", "to": "CHA"}
    assert versions[1]["changes"]["geom"] == "changed"
    assert versions[2]["changes"]["review_status"] == {"from": "draft", "to": "approved"}

    then = client.get(URL, params={"as_of": between.isoformat()}, headers=coordinator).json()
    [old] = then["features"]
    assert old["properties"]["name"] == "as surveyed"
    assert old["properties"]["classification"] == "SHA"
    assert old["properties"]["version"] == 1
    assert shape(old["geometry"]).equals(BAY)
    now = client.get(URL, headers=coordinator).json()["features"][0]
    assert shape(now["geometry"]).equals(bigger)
    empty = client.get(URL, params={"as_of": before_creation.isoformat()}, headers=coordinator).json()
    assert empty["features"] == []


def test_history_and_as_of_of_a_hazard_untouched_since_created(
    db: Session, client: TestClient, coordinator: dict[str, str], sql: Sql
) -> None:
    """An insert is logged without a copy of the row (migration 0010): history, the list's as_of
    and the summaries' as_of (sg_rows_as_of) read the inserted version from the live row."""
    body = create(client, coordinator, name="never edited", classification="CHA")
    moment = sql("SELECT clock_timestamp()")[0][0]
    assert sql(
        "SELECT action, after IS NULL FROM audit_log WHERE table_name = 'hazard_areas' AND record_id = :i",
        i=str(body["id"]),
    ) == [("insert", True)]

    [version] = client.get(f"{URL}/{body['id']}/history", headers=coordinator).json()["versions"]
    assert (version["version"], version["action"], version["review_status"]) == (1, "insert", "draft")
    assert version["area_m2"] == pytest.approx(body["properties"]["area_m2"])
    assert version["changes"]["name"] == {"from": None, "to": "never edited"}
    assert version["changes"]["geom"] == "set"
    assert "remaining_geom" not in version["changes"]

    then = client.get(URL, params={"as_of": moment.isoformat()}, headers=coordinator).json()
    [old] = then["features"]
    assert old["properties"]["name"] == "never edited" and shape(old["geometry"]).equals(BAY)

    logged = sql(
        "SELECT j->>'reference', j->>'classification', (j->>'area_m2')::float8 "
        "FROM sg_rows_as_of('hazard_areas', :t) j",
        t=moment,
    )
    assert logged == [(body["properties"]["reference"], "CHA", pytest.approx(body["properties"]["area_m2"]))]
    # Once edited, the inserted version is the edit's "before", and as_of still answers it.
    response = client.patch(
        f"{URL}/{body['id']}",
        json={"properties": {"name": "edited"}},
        headers={**coordinator, "If-Match": '"1"'},
    )
    assert response.status_code == 200
    assert sql("SELECT j->>'name' FROM sg_rows_as_of('hazard_areas', :t) j", t=moment) == [("never edited",)]
    then = client.get(URL, params={"as_of": moment.isoformat()}, headers=coordinator).json()
    assert [f["properties"]["name"] for f in then["features"]] == ["never edited"]


def test_deleted_draft_reference_is_never_reused(
    client: TestClient, surveyor: dict[str, str], sql: Sql
) -> None:
    first = create(client, surveyor)
    assert client.delete(f"{URL}/{first['id']}", headers={**surveyor, "If-Match": '"7"'}).status_code == 412
    assert client.delete(f"{URL}/{first['id']}", headers=surveyor).status_code == 204
    assert client.get(f"{URL}/{first['id']}", headers=surveyor).status_code == 404
    second = create(client, surveyor)
    number = int(first["properties"]["reference"][-6:])
    assert second["properties"]["reference"] == f"SOM-HA-{number + 1:06d}"
    # The deleted draft's history is still there.
    history = client.get(f"{URL}/{first['id']}/history", headers=surveyor).json()
    assert [v["action"] for v in history["versions"]] == ["insert", "delete"]


def test_only_drafts_can_be_deleted(client: TestClient, coordinator: dict[str, str], sql: Sql) -> None:
    body = create(client, coordinator)
    assert client.post(f"{URL}/{body['id']}/approve", headers=coordinator).status_code == 200
    response = client.delete(f"{URL}/{body['id']}", headers=coordinator)
    assert response.status_code == 409
    assert sql("SELECT count(*) FROM hazard_areas WHERE id = :i", i=body["id"]) == [(1,)]


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    session = new_session("bulk-test")
    yield session
    session.close()


def _bulk(db: Session, code: str, count: int, seed: int) -> tuple[list[int], Any]:
    programme = db.query(Programme).filter_by(code=code).one()
    frame = synthetic_hazards(code, count, seed=seed, truth=True)
    checks = check_polygons(frame.geometry.to_numpy(), programme.id, db)
    assert all(c.ok for c in checks)
    attributes = frame.drop(columns=["geometry", "generated_in"])
    ids = insert_hazard_areas(db, programme, checks, attributes, import_id=None)
    db.commit()
    return ids, frame


def test_bulk_insert_is_one_code_path_with_areas_admin_and_audit(db: Session, sql: Sql) -> None:
    ids, frame = _bulk(db, "LBY", 120, seed=4)
    assert len(ids) == len(set(ids)) == 120
    rows = sql(
        "SELECT id, reference, admin1_code, area_m2, remaining_m2, created_by FROM hazard_areas "
        "WHERE id = ANY(:ids)",
        ids=ids,
    )
    by_id = {r[0]: r for r in rows}
    references = [by_id[i][1] for i in ids]
    numbers = [int(r[-6:]) for r in references]
    assert numbers == list(range(numbers[0], numbers[0] + 120))  # reserved in one block, in order
    assert [by_id[i][2] for i in ids] == list(frame["generated_in"])
    for i, geom in zip(ids, frame.geometry, strict=True):
        assert by_id[i][3] == pytest.approx(geod_area(geom), rel=1e-3)
        assert by_id[i][4] == by_id[i][3]
    assert {r[5] for r in rows} == {"bulk-test"}
    audited = sql(
        "SELECT count(*) FROM audit_log WHERE table_name = 'hazard_areas' AND action = 'insert' "
        "AND record_id = ANY(:ids) AND actor = 'bulk-test'",
        ids=[str(i) for i in ids],
    )
    assert audited == [(120,)]


def test_list_pages_without_gaps_or_repeats_and_filters(
    db: Session, client: TestClient, admin: dict[str, str]
) -> None:
    ids, frame = _bulk(db, "SOM", 37, seed=8)
    seen: list[int] = []
    url: str | None = f"{URL}?limit=5"
    pages = 0
    while url:
        page = client.get(url, headers=admin)
        assert page.status_code == 200
        body = page.json()
        assert body["numberReturned"] == len(body["features"]) <= 5
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
        pages += 1
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    assert pages == math.ceil(37 / 5)

    cha = client.get(URL, params={"classification": "CHA"}, headers=admin).json()["features"]
    assert {f["id"] for f in cha} == {
        i for i, c in zip(ids, frame["classification"], strict=True) if c == "CHA"
    }

    minx, miny, maxx, maxy = frame.geometry.iloc[0].bounds
    bbox = f"{minx - 0.05},{miny - 0.05},{maxx + 0.05},{maxy + 0.05}"
    inside = client.get(URL, params={"bbox": bbox}, headers=admin).json()["features"]
    expected = {
        i
        for i, g in zip(ids, frame.geometry, strict=True)
        if g.intersects(box(minx - 0.05, miny - 0.05, maxx + 0.05, maxy + 0.05))
    }
    assert ids[0] in {f["id"] for f in inside}
    assert {f["id"] for f in inside} == expected
    for bad in ("1,2,3", "a,b,c,d", "50,10,40,12", "0,0,200,10", "nan,0,1,1"):
        response = client.get(URL, params={"bbox": bad}, headers=admin)
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"


def test_updated_since_filter(client: TestClient, coordinator: dict[str, str], sql: Sql) -> None:
    old = create(client, coordinator)
    cut = sql("SELECT clock_timestamp()")[0][0]
    new = create(client, coordinator, geom=box(43.62, 3.10, 43.63, 3.11))
    got = client.get(URL, params={"updated_since": cut.isoformat()}, headers=coordinator).json()["features"]
    assert [f["id"] for f in got] == [new["id"]]
    assert old["id"] not in [f["id"] for f in got]


def test_demo_is_idempotent(db: Session, sql: Sql) -> None:
    console = Console(quiet=True)
    demo.load(db, console)
    db.commit()
    first = sql(
        "SELECT p.code, h.review_status, count(*) FROM hazard_areas h JOIN programmes p ON p.id = h.programme_id GROUP BY 1, 2"
    )
    total = sum(r[2] for r in first)
    assert 300 <= total <= 500
    assert {r[0] for r in first} == {"SOM", "LBY"}
    assert {r[1] for r in first} == {"approved", "submitted", "draft"}
    assert sql("SELECT count(*) FROM hazard_areas WHERE admin1_code IS NULL") == [(0,)]
    demo.load(db, console)
    db.commit()
    assert sql("SELECT count(*) FROM hazard_areas")[0][0] == total


def test_partners_do_not_see_what_the_programme_hides(
    client: TestClient, coordinator: dict[str, str], partner: dict[str, str], sql: Sql
) -> None:
    body = create(client, coordinator, notes="informant: Ahmed, phone 0612…", name="well field")
    assert client.post(f"{URL}/{body['id']}/approve", headers=coordinator).status_code == 200
    sql("UPDATE programmes SET sensitive_fields = '{hazard_areas.notes, informant_phone}' WHERE code = 'SOM'")
    listed = client.get(URL, headers=partner).json()["features"][0]["properties"]
    single = client.get(f"{URL}/{body['id']}", headers=partner).json()["properties"]
    for props in (listed, single):
        assert "notes" not in props
        assert props["name"] == "well field" and props["reference"] == body["properties"]["reference"]
    # Staff still see everything.
    assert (
        client.get(f"{URL}/{body['id']}", headers=coordinator)
        .json()["properties"]["notes"]
        .startswith("informant")
    )


def test_geometry_is_frozen_once_land_is_released(client: TestClient, coordinator: dict[str, str]) -> None:
    body = create(client, coordinator, geom=box(45.300, 2.050, 45.301, 2.051))
    hazard = f"{URL}/{body['id']}"
    assert client.post(f"{hazard}/approve", headers=coordinator).status_code == 200
    half = box(45.300, 2.050, 45.3005, 2.051)
    release = {
        "hazard_area_id": body["id"],
        "method": "cancelled",
        "date": "2026-03-01",
        "geometry": mapping(half),
    }
    response = client.post("/api/v1/land-releases", json=release, headers=coordinator)
    assert response.status_code == 201, response.text
    current = client.get(hazard, headers=coordinator)
    props = current.json()["properties"]
    assert props["cancelled_m2"] == pytest.approx(props["area_m2"] / 2, rel=0.01)
    etag = current.headers["ETag"]
    moved = client.patch(hazard, json={"geometry": mapping(BAY)}, headers={**coordinator, "If-Match": etag})
    assert moved.status_code == 409
    assert client.get(hazard, headers=coordinator).headers["ETag"] == etag
    # Properties may still be edited.
    renamed = client.patch(
        hazard, json={"properties": {"name": "renamed"}}, headers={**coordinator, "If-Match": etag}
    )
    assert renamed.status_code == 200
    assert renamed.json()["properties"]["cancelled_m2"] == props["cancelled_m2"]


def test_unknown_and_absurd_ids_and_parameters_are_4xx(
    client: TestClient, coordinator: dict[str, str]
) -> None:
    huge = "9" * 25
    for path in (f"{URL}/0", f"{URL}/{2**31}", f"{URL}/{huge}", f"{URL}/abc", f"{URL}/{2**63}/history"):
        response = client.get(path, headers=coordinator)
        assert response.status_code in (404, 422), (path, response.status_code)
        assert response.headers["content-type"] == "application/problem+json"
    for params in (
        {"after": huge},
        {"after": -1},
        {"limit": 0},
        {"limit": 10**9},
        {"as_of": "yesterday"},
        {"updated_since": "2026-13-45"},
        {"status": "exploded"},
        {"programme": "XXX"},
    ):
        response = client.get(URL, params=params, headers=coordinator)
        assert 400 <= response.status_code < 500, (params, response.status_code)
        assert response.headers["content-type"] == "application/problem+json"
    response = client.patch(
        f"{URL}/{huge}", json={"properties": {}}, headers={**coordinator, "If-Match": '"1"'}
    )
    assert response.status_code in (404, 422)
    assert client.post(f"{URL}/{2**40}/approve", headers=coordinator).status_code == 404


def test_concurrent_edits_with_the_same_etag_one_wins_one_gets_412(
    client: TestClient, coordinator: dict[str, str]
) -> None:
    import threading

    from app.auth.service import Principal
    from app.deps import Scope
    from app.errors import Problem
    from survey.service import update_hazard

    body = create(client, coordinator, name="original")
    with new_session() as db:
        programme_id = db.query(Programme).filter_by(code="SOM").one().id
    principal = Principal(
        user_id=0, username="a", role="coordinator", programme_ids=frozenset({programme_id})
    )
    scope = Scope(principal)
    first = new_session("editor-a")
    update_hazard(first, scope, principal, body["id"], frozenset({1}), {"properties": {"name": "edit A"}})
    outcome: list[object] = []

    def second_editor() -> None:
        with new_session("editor-b") as db:
            try:
                update_hazard(
                    db, scope, principal, body["id"], frozenset({1}), {"properties": {"name": "edit B"}}
                )
                db.commit()
                outcome.append("saved")
            except Problem as exc:
                db.rollback()
                outcome.append(exc.status)

    thread = threading.Thread(target=second_editor)
    thread.start()  # blocks on A's row lock, or starts after A's commit: 412 either way
    first.commit()
    first.close()
    thread.join(timeout=60)
    assert outcome == [412]
    final = client.get(f"{URL}/{body['id']}", headers=coordinator).json()["properties"]
    assert final["name"] == "edit A" and final["version"] == 2


def test_as_of_still_shows_a_draft_deleted_later(
    client: TestClient, surveyor: dict[str, str], sql: Sql
) -> None:
    body = create(client, surveyor, name="short-lived")
    while_it_existed = sql("SELECT clock_timestamp()")[0][0]
    assert client.delete(f"{URL}/{body['id']}", headers=surveyor).status_code == 204
    then = client.get(URL, params={"as_of": while_it_existed.isoformat()}, headers=surveyor).json()
    assert [f["properties"]["name"] for f in then["features"]] == ["short-lived"]
    assert client.get(URL, headers=surveyor).json()["features"] == []


def test_as_of_pages_without_gaps_or_repeats(
    db: Session, client: TestClient, admin: dict[str, str], sql: Sql
) -> None:
    ids, _frame = _bulk(db, "LBY", 11, seed=12)
    moment = sql("SELECT clock_timestamp()")[0][0]
    later, _ = _bulk(db, "LBY", 3, seed=13)  # created after the moment: not in the answer
    seen: list[int] = []
    url: str | None = f"{URL}?limit=4&as_of={moment.isoformat().replace('+', '%2B')}"
    while url:
        body = client.get(url, headers=admin).json()
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert seen == sorted(ids)
    assert not set(later) & set(seen)


def test_awkward_text_is_stored_as_sent(client: TestClient, surveyor: dict[str, str], sql: Sql) -> None:
    """Properties travel to the database as COPY text: quotes, backslashes, tabs, newlines,
    braces and 'NULL' come back exactly as sent, in text, list and JSON properties alike."""
    awkward = 'a "quoted" \\ back\\slash\ttab\nline {brace} NULL, 😀 عربي'
    created = create(
        client,
        surveyor,
        name=awkward[:200],
        notes=awkward + "\r\n\\N\x1e",
        evidence={"direct": [awkward, "NULL", ""], "indirect": ['{"x": 1}']},
        blockages=[awkward, "\\N"],
        status_date="2026-03-01T10:00:00+03:00",
    )
    props = client.get(f"{URL}/{created['id']}", headers=surveyor).json()["properties"]
    assert props["name"] == awkward[:200]
    assert props["notes"] == awkward + "\r\n\\N\x1e"
    assert props["evidence"] == {"direct": [awkward, "NULL", ""], "indirect": ['{"x": 1}']}
    assert props["blockages"] == [awkward, "\\N"]
    stored = sql("SELECT status_date = '2026-03-01T07:00:00Z', blockages[2] FROM hazard_areas")[0]
    assert stored == (True, "\\N")


def test_row_triggers_still_fill_and_check_what_an_insert_leaves_out(engine: Engine) -> None:
    """0009 lets the insert triggers skip rows with nothing to do; rows that need them get them.
    0011: a new hazard area's remaining geometry stays NULL (the whole extent remains)."""
    insert = (
        "INSERT INTO hazard_areas (programme_id, reference, classification, geom{cols}) "
        "SELECT p.id, :ref, 'SHA', ST_Multi(ST_GeomFromText(:wkt, 4326)){vals} FROM programmes p "
        "WHERE p.code = 'SOM' RETURNING area_m2, remaining_m2, remaining_geom IS NULL"
    )
    with engine.begin() as conn:  # nothing computed: the trigger fills area and remaining
        area, remaining, whole = conn.execute(
            text(insert.format(cols="", vals="")), {"ref": "SOM-HA-T1", "wkt": BAY.wkt}
        ).one()
    assert area == remaining == pytest.approx(geod_area(BAY), rel=1e-6) and whole
    broken = insert.format(cols=", area_m2, remaining_m2", vals=", 1000.0, 990.0")
    with pytest.raises(DBAPIError, match="Area accounting broken"), engine.begin() as conn:
        conn.execute(text(broken), {"ref": "SOM-HA-T2", "wkt": BAY.wkt})  # checked at commit
    released = insert.format(cols=", area_m2, remaining_m2, cleared_m2", vals=", 1000.0, 1000.0, 5.0")
    with pytest.raises(DBAPIError, match="Area accounting broken"), engine.begin() as conn:
        conn.execute(text(released), {"ref": "SOM-HA-T3", "wkt": BAY.wkt})
    # The books balance, but with no remaining geometry the remaining area must be the area.
    partly = insert.format(cols=", area_m2, remaining_m2, cleared_m2", vals=", 1000.0, 995.0, 5.0")
    with pytest.raises(DBAPIError, match="remaining geometry is the whole extent"), engine.begin() as conn:
        conn.execute(text(partly), {"ref": "SOM-HA-T4", "wkt": BAY.wkt})


def test_the_openapi_document_declares_the_hazard_area_bodies(
    client: TestClient, surveyor: dict[str, str]
) -> None:
    """The service parses these bodies itself; the document still tells partners' generated
    clients their shape, with the property names their scripts rely on."""
    from survey.schemas import HazardFeatureIn, HazardPatchIn

    spec = client.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    hazards = spec["paths"]["/api/v1/hazard-areas"]["post"]["requestBody"]["content"]
    assert hazards["application/geo+json"]["schema"] == {"$ref": "#/components/schemas/HazardFeatureIn"}
    patch = spec["paths"]["/api/v1/hazard-areas/{hazard_id}"]["patch"]["requestBody"]["content"]
    assert patch["application/merge-patch+json"]["schema"] == {"$ref": "#/components/schemas/HazardPatchIn"}
    properties = components["HazardFeatureProperties"]["properties"]
    assert {"programme", "classification", "status", "contamination_types", "beneficiaries"} <= set(
        properties
    )
    assert "Evidence" in components and "PolygonGeometry" in components
    # What the service accepts, the declared models accept too.
    body = feature(priority=2, notes="near the well")
    assert client.post(URL, json=body, headers=surveyor).status_code == 201
    HazardFeatureIn.model_validate(body)
    HazardPatchIn.model_validate({"properties": {"priority": 1}, "geometry": body["geometry"]})
