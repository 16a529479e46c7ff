"""The operations map in a real headless Chromium against a live server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, sync_playwright
from sqlalchemy.engine import Engine

from tests.browser import launch_chromium
from tests.test_ogc_clients import insert_hazards

PASSWORD = "map-test-password-1"


@pytest.fixture
def live(live_server: Any) -> str:
    """The live server's base URL (conftest's ``live_server``: uvicorn on a loopback port)."""
    return str(live_server.url)


@pytest.fixture
def browser_page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        yield page
        context.close()
        browser.close()


class Recorder:
    """Every request the page makes, and every console error or page error."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on(
            "response",
            lambda response: (
                self.errors.append(f"HTTP {response.status} {response.url}")
                if response.status >= 400
                else None
            ),
        )


def log_in(page: Page, live: str, username: str) -> None:
    """Log in through the login form's endpoint (cookies land in the browser context), then
    open the map: the page under test is loaded fresh with the recorder listening."""
    response = page.context.request.post(
        f"{live}/login", form={"username": username, "password": PASSWORD, "next": "/map"}, max_redirects=0
    )
    assert response.status == 303, response.text()
    page.goto(f"{live}/map")


def wait_for_hazards(page: Page) -> int:
    page.wait_for_function(
        "() => window.map && window.map.getLayer('hazard-fill') && window.map.loaded()"
        " && window.map.queryRenderedFeatures({layers: ['hazard-fill']}).length > 0",
        timeout=30_000,
    )
    return int(page.evaluate("window.map.queryRenderedFeatures({layers: ['hazard-fill']}).length"))


def screen_point(page: Page, lon: float, lat: float) -> tuple[float, float]:
    """Page coordinates of a map position."""
    point = page.evaluate(f"(() => {{ const p = window.map.project([{lon}, {lat}]); return [p.x, p.y]; }})()")
    box = page.locator("#operations-map").bounding_box()
    assert box is not None
    return box["x"] + point[0], box["y"] + point[1]


def test_map_shows_hazards_offline_and_opens_a_popup(
    live: str, engine: Engine, make_user: Callable[..., dict[str, str]], browser_page: Page
) -> None:
    insert_hazards(engine, 40)
    make_user("coordinator", ("SOM",), username="map-coordinator", password=PASSWORD)
    page = browser_page
    recorder = Recorder(page)
    log_in(page, live, "map-coordinator")

    rendered = wait_for_hazards(page)
    assert rendered > 0
    # The style and every request stay on SafeGround: no basemap, no CDN, no fonts.
    outside = [u for u in recorder.urls if not u.startswith(live) and not u.startswith(("data:", "blob:"))]
    assert outside == []
    assert any("/ogc/collections/hazard_areas/tiles/WebMercatorQuad/" in u for u in recorder.urls)
    assert any(u.startswith(f"{live}/assets/maplibre-gl/dist/") for u in recorder.urls)
    style = page.evaluate("JSON.stringify(window.map.getStyle())")
    assert "glyphs" not in style and "sprite" not in style

    # TN 07.11/01 symbology of the hazard layer.
    fill = page.evaluate("JSON.stringify(window.map.getPaintProperty('hazard-fill', 'fill-color'))")
    assert "#FF0000" in fill and "#F4A718" in fill
    assert page.evaluate("window.map.getPaintProperty('hazard-fill', 'fill-opacity')") == 0.5

    # Click the middle of the first inserted hazard (45.02–45.03 E, 2.00–2.01 N).
    x, y = screen_point(page, 45.025, 2.005)
    page.mouse.click(x, y)
    popup = page.locator(".maplibregl-popup")
    popup.wait_for(state="visible", timeout=10_000)
    assert "SOM-HA-T" in popup.inner_text()
    assert popup.locator("a", has_text="Details").get_attribute("href", timeout=5_000)

    assert recorder.errors == []


def test_filters_hide_hazards(
    live: str, engine: Engine, make_user: Callable[..., dict[str, str]], browser_page: Page
) -> None:
    insert_hazards(engine, 40)
    make_user("coordinator", ("SOM",), username="map-filter", password=PASSWORD)
    page = browser_page
    log_in(page, live, "map-filter")
    before = wait_for_hazards(page)
    page.uncheck(".filter-classification[value=CHA]")
    page.wait_for_function("() => window.map.loaded()")
    classes = page.evaluate(
        "Array.from(new Set(window.map.queryRenderedFeatures({layers: ['hazard-fill']}).map(f => f.properties.classification)))"
    )
    assert classes == ["SHA"]
    page.uncheck("input[data-group=hazard_areas]")
    assert page.evaluate("window.map.getLayoutProperty('hazard-fill', 'visibility')") == "none"
    assert before > 0


def test_planning_panel_creates_a_task(
    live: str,
    engine: Engine,
    make_user: Callable[..., dict[str, str]],
    browser_page: Page,
    sql: Callable[..., list[Any]],
) -> None:
    insert_hazards(engine, 40)
    make_user("coordinator", ("SOM",), username="map-planner", password=PASSWORD)
    page = browser_page
    recorder = Recorder(page)
    log_in(page, live, "map-planner")
    wait_for_hazards(page)
    page.check("#select-mode")
    for lon, lat in ((45.065, 2.005), (45.125, 2.005)):  # two open hazards (i = 3 and 6)
        x, y = screen_point(page, lon, lat)
        page.mouse.click(x, y)
    page.wait_for_function("() => document.querySelectorAll('#selection-list li').length === 2")
    page.select_option("#plan-type", "clearance")
    page.click("#plan-create")
    page.wait_for_function("() => document.getElementById('plan-message').textContent !== ''")
    assert page.inner_text("#plan-message").startswith("Created"), page.inner_text("#plan-message")
    rows = sql(
        "SELECT t.type, array_agg(h.reference ORDER BY h.reference) FROM tasks t "
        "JOIN task_hazards th ON th.task_id = t.id JOIN hazard_areas h ON h.id = th.hazard_area_id GROUP BY t.id, t.type"
    )
    assert len(rows) == 1
    task_type, references = rows[0]
    assert task_type == "clearance" and len(references) == 2
    assert recorder.errors == []


def test_map_needs_a_login(client: TestClient) -> None:
    response = client.get("/map", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
