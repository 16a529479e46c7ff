"""OGC API – Features behaviour: documents, paging, filters, CQL2, CRS and who sees what."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.factories import insert_hazard_area
from tests.test_ogc_clients import insert_hazards

ITEMS = "/ogc/collections/hazard_areas/items"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def page_through(client: TestClient, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["numberReturned"] == len(body["features"])
        seen += body["features"]
        next_url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    return seen


def test_landing_conformance_and_collection(
    client: TestClient, coordinator: dict[str, str], engine: Engine
) -> None:
    insert_hazard_area(engine, "POLYGON((45.3 2.0, 45.4 2.0, 45.4 2.1, 45.3 2.0))")
    landing = client.get("/ogc").json()
    rels = {link["rel"]: link["href"] for link in landing["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
    assert (
        rels["service-desc"].endswith("/openapi.json") and client.get(rels["service-desc"]).status_code == 200
    )
    conformance = client.get("/ogc/conformance").json()["conformsTo"]
    for part in (
        "features-1/1.0/conf/core",
        "features-2/1.0/conf/crs",
        "features-3/1.0/conf/filter",
        "cql2/1.0/conf/basic-cql2",
    ):
        assert any(c.endswith(part) for c in conformance), part

    collection = client.get("/ogc/collections/hazard_areas", headers=coordinator).json()
    assert collection["storageCrs"] == CRS84
    assert (
        CRS84 in collection["crs"]
        and f"{EPSG}4326" in collection["crs"]
        and f"{EPSG}3857" in collection["crs"]
    )
    assert f"{EPSG}32638" in collection["crs"]  # a Somalia UTM zone
    assert collection["extent"]["spatial"]["bbox"][0] == pytest.approx([45.3, 2.0, 45.4, 2.1])
    assert collection["extent"]["temporal"]["interval"][0][0] is not None

    # The OpenAPI publishes the page size limits.
    openapi = client.get("/openapi.json").json()
    limit = next(
        p
        for p in openapi["paths"]["/ogc/collections/{collection_id}/items"]["get"]["parameters"]
        if p["name"] == "limit"
    )
    assert limit["schema"]["maximum"] == 10_000 and limit["schema"]["default"] == 100

    html = client.get("/ogc/collections/hazard_areas/items?f=html", headers=coordinator)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]


def test_paging_covers_everything_once_with_and_without_sortby(
    client: TestClient, coordinator: dict[str, str], engine: Engine
) -> None:
    insert_hazards(engine, 57)
    with engine.begin() as conn:  # ties and NULLs in the sort key
        conn.execute(
            text("UPDATE hazard_areas SET priority = CASE WHEN id % 4 = 0 THEN NULL ELSE id % 3 END")
        )
    by_id = page_through(client, f"{ITEMS}?limit=10", coordinator)
    assert [f["id"] for f in by_id] == sorted(f["id"] for f in by_id) and len(by_id) == 57

    sorted_pages = page_through(client, f"{ITEMS}?limit=7&sortby=-priority,reference", coordinator)
    ids = [f["id"] for f in sorted_pages]
    assert len(ids) == len(set(ids)) == 57
    priorities = [f["properties"]["priority"] for f in sorted_pages]
    non_null = [p for p in priorities if p is not None]
    assert non_null == sorted(non_null, reverse=True)
    assert all(p is None for p in priorities[len(non_null) :])  # NULLs last

    first = client.get(f"{ITEMS}?limit=10", headers=coordinator).json()
    assert first["numberMatched"] == 57 and first["numberReturned"] == 10


@pytest.mark.parametrize("limit", [5, 6, 13])
def test_pages_spanning_several_fetch_batches(
    client: TestClient,
    coordinator: dict[str, str],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    limit: int,
) -> None:
    """A page is read from the database in batches; page edges that fall inside a batch, on a
    batch edge, or past the last row must neither drop nor repeat a feature, and every
    connection goes back to the pool."""
    from app.ogc import features

    monkeypatch.setattr(features, "FETCH_ROWS", 3)
    insert_hazards(engine, 13)
    seen = page_through(client, f"{ITEMS}?limit={limit}", coordinator)
    ids = [f["id"] for f in seen]
    assert ids == sorted(set(ids)) and len(ids) == 13
    second = client.get(f"{ITEMS}?limit={limit}", headers=coordinator).json()
    assert second["numberMatched"] == 13
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_filters_bbox_datetime_properties(
    client: TestClient, coordinator: dict[str, str], engine: Engine, sql: Callable[..., list[Any]]
) -> None:
    insert_hazards(engine, 40)
    sql("UPDATE hazard_areas SET created_at = '2024-03-01T10:00:00Z' WHERE id <= 10")
    body = client.get(
        ITEMS, params={"bbox": "45.0,2.0,45.05,2.05", "limit": 1000}, headers=coordinator
    ).json()
    expected = sql(
        "SELECT count(*) FROM hazard_areas WHERE ST_Intersects(geom, ST_MakeEnvelope(45.0,2.0,45.05,2.05,4326))"
    )[0][0]
    assert 0 < len(body["features"]) == expected < 40

    march = client.get(ITEMS, params={"datetime": "2024-03-01", "limit": 1000}, headers=coordinator).json()
    assert len(march["features"]) == 10
    interval = client.get(
        ITEMS, params={"datetime": "../2024-12-31T00:00:00Z", "limit": 1000}, headers=coordinator
    ).json()
    assert len(interval["features"]) == 10

    cha_open = client.get(
        ITEMS, params={"classification": "CHA", "status": "open", "limit": 1000}, headers=coordinator
    ).json()
    expected = sql("SELECT count(*) FROM hazard_areas WHERE classification='CHA' AND status='open'")[0][0]
    assert len(cha_open["features"]) == expected > 0
    assert (
        client.get(ITEMS, params={"contamination_types": "AP"}, headers=coordinator).json()["numberMatched"]
        == 40
    )


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "10001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "1,2,nan,4"}, "bbox"),
        ({"bbox": "10,2,3,4"}, "bbox"),
        ({"datetime": "yesterday"}, "datetime"),
        ({"crs": "EPSG:2154"}, "crs"),
        ({"bbox": "1,2,3,4", "bbox-crs": "urn:nonsense"}, "bbox-crs"),
        ({"unknown": "1"}, "unknown"),
        ({"priority": "high"}, "priority"),
        ({"classification": "XYZ"}, "classification"),
        ({"sortby": "geometry"}, "sortby"),
        ({"sortby": "contamination_types"}, "sortby"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"sortby": "priority", "cursor": "WzEsMiwzXQ"}, "cursor"),
        ({"f": "xml"}, "f"),
        ({"filter": "classification = 'CHA'", "filter-lang": "sql"}, "filter-lang"),
    ],
)
def test_invalid_parameters_are_400_problems(
    client: TestClient, coordinator: dict[str, str], params: dict[str, str], parameter: str
) -> None:
    response = client.get(ITEMS, params=params, headers=coordinator)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400 and body["detail"]
    assert parameter in (body.get("parameter"), *[e.get("parameter") for e in body.get("errors", [])])


def test_unknown_collection_and_feature_are_404(
    client: TestClient, coordinator: dict[str, str], engine: Engine
) -> None:
    assert client.get("/ogc/collections/nope/items", headers=coordinator).status_code == 404
    assert client.get(f"{ITEMS}/999999", headers=coordinator).status_code == 404
    assert client.get(f"{ITEMS}/abc", headers=coordinator).status_code == 404
    libya_id = insert_hazard_area(
        engine, "POLYGON((13.1 32.8, 13.2 32.8, 13.2 32.9, 13.1 32.8))", programme="LBY"
    )
    response = client.get(f"{ITEMS}/{libya_id}", headers=coordinator)  # another programme's record
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


# --- CQL2 ----------------------------------------------------------------------------------------


@pytest.fixture
def mixed(engine: Engine) -> dict[str, int]:
    ids = {
        "cha_open": insert_hazard_area(
            engine, "POLYGON((45.30 2.00, 45.31 2.00, 45.31 2.01, 45.30 2.00))", classification="CHA"
        ),
        "sha_open": insert_hazard_area(
            engine, "POLYGON((45.50 2.00, 45.51 2.00, 45.51 2.01, 45.50 2.00))", classification="SHA"
        ),
        "cha_closed": insert_hazard_area(
            engine,
            "POLYGON((44.00 1.00, 44.01 1.00, 44.01 1.01, 44.00 1.00))",
            classification="CHA",
            status="closed",
            contamination_types=("AT", "CMR"),
        ),
    }
    with engine.begin() as conn:
        conn.execute(text("UPDATE hazard_areas SET name = 'Quarry ' || id, priority = id"))
    return ids


def ids_for(client: TestClient, headers: dict[str, str], **params: str) -> set[int]:
    response = client.get(ITEMS, params={"limit": "1000", **params}, headers=headers)
    assert response.status_code == 200, response.text
    return {f["id"] for f in response.json()["features"]}


def test_cql2_text_filters(client: TestClient, coordinator: dict[str, str], mixed: dict[str, int]) -> None:
    def q(expression: str) -> set[int]:
        return ids_for(client, coordinator, filter=expression)

    assert q("classification = 'CHA' AND status = 'open'") == {mixed["cha_open"]}
    assert q("status IN ('closed', 'worked_on')") == {mixed["cha_closed"]}
    assert q("NOT (classification = 'CHA')") == {mixed["sha_open"]}
    assert q("S_INTERSECTS(geometry, BBOX(45.2, 1.9, 45.6, 2.1))") == {mixed["cha_open"], mixed["sha_open"]}
    assert q("S_WITHIN(geometry, POLYGON((43.9 0.9, 44.1 0.9, 44.1 1.1, 43.9 1.1, 43.9 0.9)))") == {
        mixed["cha_closed"]
    }
    assert q("name LIKE 'Quarry%' AND priority > 0") == set(mixed.values())
    assert q(f"priority BETWEEN {mixed['sha_open']} AND {mixed['cha_closed']}") == {
        mixed["sha_open"],
        mixed["cha_closed"],
    }
    assert q("CASEI(classification) = casei('sha')") == {mixed["sha_open"]}
    assert q("status_date IS NULL") == set(mixed.values())
    assert q("created_at > TIMESTAMP('2000-01-01T00:00:00Z')") == set(mixed.values())


def test_cql2_json_filters(client: TestClient, coordinator: dict[str, str], mixed: dict[str, int]) -> None:
    def q(expression: dict[str, Any]) -> set[int]:
        return ids_for(
            client, coordinator, filter=orjson.dumps(expression).decode(), **{"filter-lang": "cql2-json"}
        )

    assert q({"op": "=", "args": [{"property": "classification"}, "SHA"]}) == {mixed["sha_open"]}
    assert q(
        {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [43.9, 0.9, 44.1, 1.1]}]}
    ) == {mixed["cha_closed"]}
    assert q({"op": "a_overlaps", "args": [{"property": "contamination_types"}, ["CMR", "IED"]]}) == {
        mixed["cha_closed"]
    }
    assert q(
        {"op": "t_after", "args": [{"property": "created_at"}, {"timestamp": "2000-01-01T00:00:00Z"}]}
    ) == set(mixed.values())
    assert q(
        {
            "op": "and",
            "args": [
                {"op": "=", "args": [{"property": "status"}, "open"]},
                {"op": "in", "args": [{"property": "classification"}, ["CHA"]]},
            ],
        }
    ) == {mixed["cha_open"]}


@pytest.mark.parametrize(
    "expression",
    [
        "classification = 'CHA' OR 1=1",  # not a property on either side
        "review_status; DROP TABLE hazard_areas = 'x'",
        "\"classification\" = 'CHA' --",
        "pg_sleep(1) = 1",
        "secret_column = 'x'",
        "priority = 'one'",
        "S_INTERSECTS(geometry, POLYGON((1 1, 2 2)))",
        "S_INTERSECTS(reference, BBOX(1,2,3,4))",
        "name LIKE 5",
        "",
    ],
)
def test_cql2_injection_and_nonsense_are_400(
    client: TestClient,
    coordinator: dict[str, str],
    mixed: dict[str, int],
    expression: str,
    sql: Callable[..., list[Any]],
) -> None:
    response = client.get(ITEMS, params={"filter": expression}, headers=coordinator)
    assert response.status_code == 400, (expression, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert sql("SELECT count(*) FROM hazard_areas")[0][0] == 3


def test_sql_in_values_is_bound_not_run(
    client: TestClient, coordinator: dict[str, str], mixed: dict[str, int], sql: Callable[..., list[Any]]
) -> None:
    nasty = "x' OR '1'='1"
    assert ids_for(client, coordinator, name=nasty) == set()
    assert ids_for(client, coordinator, filter="name = 'x OR 1=1; DROP TABLE hazard_areas; --'") == set()
    # The same text stored as a name is found exactly: it travelled as a value, not as SQL.
    sql("UPDATE hazard_areas SET name = :n WHERE id = :i", n=nasty, i=mixed["sha_open"])
    assert ids_for(client, coordinator, name=nasty) == {mixed["sha_open"]}
    body = orjson.dumps(
        {"op": "=", "args": [{"property": "name"}, "'); DELETE FROM hazard_areas; --"]}
    ).decode()
    assert ids_for(client, coordinator, filter=body, **{"filter-lang": "cql2-json"}) == set()
    assert sql("SELECT count(*) FROM hazard_areas")[0][0] == 3


def test_partner_cannot_filter_on_a_sensitive_field(
    client: TestClient,
    make_user: Callable[..., dict[str, str]],
    mixed: dict[str, int],
    sql: Callable[..., list[Any]],
) -> None:
    sql("UPDATE programmes SET sensitive_fields = '{hazard_areas.name}' WHERE code = 'SOM'")
    partner = make_user("partner", ("SOM",))
    for params in ({"filter": "name LIKE 'Q%'"}, {"name": "Quarry 1"}, {"sortby": "name"}):
        assert client.get(ITEMS, params=params, headers=partner).status_code == 400, params
    queryables = client.get("/ogc/collections/hazard_areas/queryables", headers=partner).json()
    assert "name" not in queryables["properties"] and "classification" in queryables["properties"]
    feature = client.get(f"{ITEMS}/{mixed['cha_open']}", headers=partner).json()
    assert "name" not in feature["properties"] and feature["properties"]["reference"]


# --- CRS -----------------------------------------------------------------------------------------

SQUARE = "POLYGON((45.30 2.00, 45.32 2.00, 45.32 2.03, 45.30 2.03, 45.30 2.00))"


@pytest.mark.parametrize("epsg", [3857, 32638, 32738])
def test_output_crs_matches_pyproj(
    client: TestClient, coordinator: dict[str, str], engine: Engine, epsg: int
) -> None:
    feature_id = insert_hazard_area(engine, SQUARE)
    response = client.get(f"{ITEMS}/{feature_id}", params={"crs": f"{EPSG}{epsg}"}, headers=coordinator)
    assert response.status_code == 200
    assert response.headers["content-crs"] == f"<{EPSG}{epsg}>"
    ring = response.json()["geometry"]["coordinates"][0][0]
    transformer = Transformer.from_crs("OGC:CRS84", f"EPSG:{epsg}", always_xy=True)
    for (lon, lat), (x, y) in zip(
        [(45.30, 2.00), (45.32, 2.00), (45.32, 2.03), (45.30, 2.03)], ring, strict=False
    ):
        ex, ey = transformer.transform(lon, lat)
        assert math.isclose(x, ex, abs_tol=0.01) and math.isclose(y, ey, abs_tol=0.01)


def test_epsg_4326_is_latitude_first(client: TestClient, coordinator: dict[str, str], engine: Engine) -> None:
    feature_id = insert_hazard_area(engine, SQUARE)
    body = client.get(ITEMS, params={"crs": f"{EPSG}4326"}, headers=coordinator)
    assert body.headers["content-crs"] == f"<{EPSG}4326>"
    lat, lon = body.json()["features"][0]["geometry"]["coordinates"][0][0][0]
    transformer = Transformer.from_crs("OGC:CRS84", "EPSG:4326")  # authority axis order: lat, lon
    assert (lat, lon) == pytest.approx(transformer.transform(45.30, 2.00))
    default = client.get(f"{ITEMS}/{feature_id}", headers=coordinator)
    assert default.headers["content-crs"] == f"<{CRS84}>"
    assert default.json()["geometry"]["coordinates"][0][0][0] == pytest.approx([45.30, 2.00])


def test_bbox_crs(client: TestClient, coordinator: dict[str, str], engine: Engine) -> None:
    inside = insert_hazard_area(engine, SQUARE)
    insert_hazard_area(engine, "POLYGON((44.0 1.0, 44.01 1.0, 44.01 1.01, 44.0 1.0))")
    # The square's surroundings, as EPSG:4326 (lat, lon order) and as UTM 38N metres.
    lat_lon = "1.99,45.29,2.04,45.33"
    assert ids_for(client, coordinator, bbox=lat_lon, **{"bbox-crs": f"{EPSG}4326"}) == {inside}
    to_utm = Transformer.from_crs("OGC:CRS84", "EPSG:32638", always_xy=True)
    x1, y1 = to_utm.transform(45.29, 1.99)
    x2, y2 = to_utm.transform(45.33, 2.04)
    assert ids_for(client, coordinator, bbox=f"{x1},{y1},{x2},{y2}", **{"bbox-crs": f"{EPSG}32638"}) == {
        inside
    }


# --- who sees what -------------------------------------------------------------------------------


def test_who_sees_what(
    client: TestClient,
    make_user: Callable[..., dict[str, str]],
    engine: Engine,
    sql: Callable[..., list[Any]],
) -> None:
    approved = insert_hazard_area(engine, SQUARE, review_status="approved")
    draft = insert_hazard_area(engine, SQUARE, review_status="draft")
    libya = insert_hazard_area(
        engine, "POLYGON((13.1 32.8, 13.2 32.8, 13.2 32.9, 13.1 32.8))", programme="LBY"
    )
    sql("UPDATE hazard_areas SET notes = 'informant: Ahmed'")
    sql("UPDATE programmes SET sensitive_fields = '{notes}'")

    coordinator = make_user("coordinator", ("SOM",))
    staff = ids_for(client, coordinator)
    assert staff == {approved, draft}
    notes = client.get(f"{ITEMS}/{approved}", headers=coordinator).json()["properties"]["notes"]
    assert notes == "informant: Ahmed"  # staff see sensitive fields

    partner = make_user("partner", ("SOM", "LBY"))
    assert ids_for(client, partner) == {approved, libya}
    body = client.get(ITEMS, headers=partner).json()
    assert all("notes" not in f["properties"] for f in body["features"])
    csv_text = client.get(ITEMS, params={"f": "csv"}, headers=partner).text
    assert "informant" not in csv_text and "notes" not in csv_text.splitlines()[0]

    # Anonymous: default deny, then only what a programme publishes.
    assert client.get(ITEMS).status_code == 401
    assert client.get("/ogc/collections").status_code == 401
    sql("UPDATE programmes SET published_layers = '{hazard_areas}' WHERE code = 'LBY'")
    assert ids_for(client, {}) == {libya}
    assert [c["id"] for c in client.get("/ogc/collections").json()["collections"]] == ["hazard_areas"]
    assert client.get("/ogc/collections/admin_areas/items").status_code == 401
    assert client.get(ITEMS, headers={"Authorization": "Bearer sg_wrong"}).status_code == 401


def test_programme_sensitive_fields_differ(
    client: TestClient,
    make_user: Callable[..., dict[str, str]],
    engine: Engine,
    sql: Callable[..., list[Any]],
) -> None:
    som = insert_hazard_area(engine, SQUARE)
    lby = insert_hazard_area(engine, "POLYGON((13.1 32.8, 13.2 32.8, 13.2 32.9, 13.1 32.8))", programme="LBY")
    sql("UPDATE hazard_areas SET notes = 'n', information_source = 's'")
    sql("UPDATE programmes SET sensitive_fields = '{notes}' WHERE code = 'SOM'")
    sql("UPDATE programmes SET sensitive_fields = '{information_source}' WHERE code = 'LBY'")
    partner = make_user("partner", ("SOM", "LBY"))
    features = {f["id"]: f["properties"] for f in client.get(ITEMS, headers=partner).json()["features"]}
    assert "notes" not in features[som] and features[som]["information_source"] == "s"
    assert "information_source" not in features[lby] and features[lby]["notes"] == "n"


def test_cli_publishes_a_layer_and_marks_fields_sensitive(
    database_url: str, client: TestClient, engine: Engine, make_user: Callable[..., dict[str, str]]
) -> None:
    from tests.test_platform import _cli

    feature_id = insert_hazard_area(engine, SQUARE)
    assert client.get(ITEMS).status_code == 401  # off by default
    result = _cli(
        ["programme", "sharing", "SOM", "--publish", "hazard_areas", "--sensitive", "hazard_areas.notes"],
        database_url,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "published layers: hazard_areas" in result.stdout
    anonymous = client.get(f"{ITEMS}/{feature_id}")
    assert anonymous.status_code == 200 and "notes" not in anonymous.json()["properties"]
    assert client.get("/ogc/collections/tasks/items").status_code == 401  # only what is published
    refused = _cli(["programme", "sharing", "SOM", "--publish", "qa_visits"], database_url)
    assert refused.returncode != 0 and "staff only" in refused.stdout
    assert _cli(["programme", "sharing", "SOM", "--unpublish-all"], database_url).returncode == 0
    assert client.get(ITEMS).status_code == 401


def test_html_pages_page_through(client: TestClient, coordinator: dict[str, str], engine: Engine) -> None:
    insert_hazards(engine, 5)
    url: str | None = f"{ITEMS}?f=html&limit=2"
    pages = 0
    while url:
        response = client.get(url, headers=coordinator)
        assert response.status_code == 200, response.text
        assert "text/html" in response.headers["content-type"]
        pages += 1
        html = response.text
        url = None
        if "(next, text/html)" in html:
            start = html.rindex('<a href="', 0, html.index("(next, text/html)")) + len('<a href="')
            url = html[start : html.index('"', start)].replace("&amp;", "&")
    assert pages == 3
    assert client.get("/ogc/collections?f=html", headers=coordinator).status_code == 200
    assert (
        "hazard_areas" in client.get("/ogc/collections", headers={**coordinator, "Accept": "text/html"}).text
    )
