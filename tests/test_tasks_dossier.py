"""The task dossier: printable HTML with a folium map, every asset served by SafeGround.

The browser test opens the page in real headless Chromium against a live server, counts the
map's features, and records every request: none may leave the app.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.browser import launch_chromium
from tests.factories import insert_hazard_area
from tests.test_tasks import Headers, move, new_task, square, team_id
from tests.test_tasks_eod import item

SQL = Callable[..., list[Any]]


def clearance_task_with_items(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL
) -> dict[str, Any]:
    """A clearance task on a CHA and an SHA (one multipolygon), started, with three item records
    (two located, one not) — everything a dossier shows."""
    cha = insert_hazard_area(engine, square(45.30, 2.00))
    sha = insert_hazard_area(
        engine,
        "MULTIPOLYGON(((45.32 2.00, 45.33 2.00, 45.33 2.01, 45.32 2.00)),"
        "((45.34 2.00, 45.35 2.00, 45.35 2.01, 45.34 2.00)))",
        classification="SHA",
    )
    task = new_task(
        client,
        coordinator,
        type="clearance",
        hazard_area_ids=[cha, sha],
        team_id=team_id(sql, "MAG Manual 1"),
        planned_start="2027-01-01",
        planned_end="2027-01-31",
        notes="<script>alert('notes are text')</script>",
    )
    move(client, coordinator, task["id"], "assigned", "MAG has capacity")
    move(client, coordinator, task["id"], "in_progress", "team on site")
    url = f"/api/v1/tasks/{task['id']}/items"
    for body in (
        item(location="2.005, 45.305", quantity=2),
        item(category="submunition", subcategory="bomblet", location="2.004, 45.325"),
        item(category="mortar", subcategory=None),  # no fix: listed, not mapped
    ):
        assert client.post(url, json=body, headers=coordinator).status_code == 201
    return task


EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def test_dossier_html_names_only_local_assets(
    client: TestClient, engine: Engine, coordinator: Headers, sql: SQL
) -> None:
    task = clearance_task_with_items(client, engine, coordinator, sql)
    response = client.get(f"/api/v1/tasks/{task['id']}/dossier", headers=coordinator)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert task["properties"]["reference"] in page
    assert "MAG Manual 1" in page and "team on site" in page
    # The admin-1 area(s) the task lies in, from the real boundaries.
    admin_names = sql(
        "SELECT DISTINCT a.name FROM admin_areas a JOIN hazard_areas h ON ST_Intersects(a.geom, h.geom) "
        "JOIN task_hazards th ON th.hazard_area_id = h.id WHERE th.task_id = :t AND a.level = 1",
        t=task["id"],
    )
    assert admin_names and all(name in page for (name,) in admin_names)
    assert "<script>alert(" not in page and "&lt;script&gt;alert(" in page  # notes escaped
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assets = re.findall(r"""(?:src|href)=["'](/assets/[^"']+)""", page)
    assert any("leaflet.js" in a for a in assets) and any("leaflet.css" in a for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_dossier_access(
    client: TestClient, engine: Engine, coordinator: Headers, make_user: Callable[..., Headers], sql: SQL
) -> None:
    task = clearance_task_with_items(client, engine, coordinator, sql)
    url = f"/api/v1/tasks/{task['id']}/dossier"
    anonymous = client.get(url)
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == "application/problem+json"
    browser = client.get(url, headers={"accept": "text/html"}, follow_redirects=False)
    assert browser.status_code == 303 and browser.headers["location"].startswith("/login?next=")
    partner = make_user("partner", ("SOM",))
    assert client.get(url, headers=partner).status_code == 404  # not completed yet
    move(client, coordinator, task["id"], "completed")
    assert client.get(url, headers=partner).status_code == 200
    assert client.get(url, headers=make_user("coordinator", ("LBY",))).status_code == 404
    assert client.get("/api/v1/tasks/987654/dossier", headers=coordinator).status_code == 404


def test_spot_task_dossier_shows_the_call_out(client: TestClient, coordinator: Headers, sql: SQL) -> None:
    task = new_task(
        client, coordinator, type="eod_spot", location="38N 424000 226000", team_id=team_id(sql, "SEMA EOD 1")
    )
    page = client.get(f"/api/v1/tasks/{task['id']}/dossier", headers=coordinator).text
    assert "38N 424000 226000" in page and "UTM" in page and "EPSG:32638" in page
    assert "sg-callout" in page


@pytest.mark.browser
def test_dossier_renders_offline_in_chromium(
    client: TestClient,
    engine: Engine,
    live_server: Any,
    make_user: Callable[..., Headers],
    sql: SQL,
) -> None:
    from playwright.sync_api import sync_playwright

    coordinator = make_user("coordinator", ("SOM",), username="amina", password="field-office-42")
    task = clearance_task_with_items(client, engine, coordinator, sql)
    # Evidence points (the survey package's table): one in the CHA, one 50 m outside it, one far
    # away that is not the task's.
    evidence_expected = 0
    if sql("SELECT to_regclass('evidence_points') IS NOT NULL")[0][0]:
        for lon, lat in ((45.305, 2.006), (45.2995, 2.005), (45.60, 2.30)):
            sql(
                "INSERT INTO evidence_points (programme_id, geom, evidence_type, direct) "
                "SELECT id, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 'craters', false FROM programmes "
                "WHERE code = 'SOM'",
                lon=lon,
                lat=lat,
            )
        evidence_expected = 2
    app_origin = urlparse(live_server.url)
    requests: list[str] = []
    failures: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failures.append(r.url))
            page.on("response", lambda r: r.status >= 400 and failures.append(f"{r.status} {r.url}"))
            page.on("pageerror", lambda e: errors.append(str(e)))
            # A browser session: log in through the form, then open the dossier by its URL.
            dossier = f"{live_server.url}/api/v1/tasks/{task['id']}/dossier"
            page.goto(dossier)
            assert "/login" in page.url
            page.fill("input[name=username]", "amina")
            page.fill("input[name=password]", "field-office-42")
            page.click("button[type=submit]")
            page.wait_for_url(dossier)
            page.wait_for_selector("path.sg-hazard", state="attached")
            hazards = page.locator("path.sg-hazard").count()
            items = page.locator("path.sg-item").count()
            team = page.locator("path.sg-team").count()
            admin = page.locator("path.sg-admin").count()
            evidence = page.locator("path.sg-evidence").count()
            # Leaflet really laid the features out: the hazard paths have a drawn shape.
            drawn = page.eval_on_selector_all("path.sg-hazard", "els => els.map(e => e.getBBox().width > 1)")
            heading = page.locator("h1").inner_text()
        finally:
            browser.close()

    assert heading.endswith(task["properties"]["reference"])
    assert hazards == 2  # the CHA and the two-part SHA: one path each
    assert drawn == [True, True]
    assert items == 2  # the third item has no location
    assert team == 1 and admin >= 1
    assert evidence == evidence_expected
    assert not errors, errors
    assert not failures, failures
    assert requests, "the browser made no requests?"
    outside = [u for u in requests if urlparse(u).netloc != app_origin.netloc and not u.startswith("data:")]
    assert outside == [], outside
    assert any(u.endswith("/assets/leaflet/dist/leaflet.js") for u in requests)
