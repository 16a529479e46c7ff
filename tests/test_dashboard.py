"""The dashboard in a real headless Chromium against a live server: it shows the official
figures of the summary API, redraws on new filters, prints without its filters, and never
sends a request anywhere but SafeGround."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.db import new_session
from clearance.reports import service
from tests.browser import launch_chromium
from tests.conftest import LiveServer
from tests.test_summaries import _fixed_scenario, fresh

PASSWORD = "dashboard-test-password-1"


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        yield context.new_page()
        context.close()
        browser.close()


def watch(page: Page) -> tuple[list[str], list[str]]:
    """Every URL the page requests, and every console/page error or failed response."""
    urls: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    page.on("console", lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return urls, errors


def log_in(page: Page, live: str, username: str, target: str) -> None:
    """Through the login form, as a person would: the page sends us to /login and back."""
    page.goto(f"{live}{target}")
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live}/dashboard**")


def wait_ready(page: Page) -> None:
    page.wait_for_function("() => document.getElementById('dashboard').dataset.ready === 'true'")


def m2(value: float) -> str:
    return f"{round(value):,}"


def official(som: int, **filters: Any) -> dict[str, Any]:
    db = new_session()
    try:
        return service.summary(db, service.Filters(programme_ids=[som], **filters))
    finally:
        db.close()


def test_dashboard_shows_the_official_figures_offline(
    live_server: LiveServer, engine: Engine, make_user: Callable[..., dict[str, str]], page: Page
) -> None:
    fresh(engine, _fixed_scenario())
    make_user("coordinator", ("SOM",), username="dash-user", password=PASSWORD)
    with engine.connect() as conn:
        som = int(conn.scalar(text("SELECT id FROM programmes WHERE code = 'SOM'")))
    live = live_server.url
    urls, errors = watch(page)

    log_in(page, live, "dash-user", "/dashboard")
    wait_ready(page)
    assert not page.locator("#error").is_visible(), page.locator("#error").text_content()
    totals = official(som)["totals"]
    assert totals["released_m2"] > 0  # the scenario has released land to show
    for key in ("released_m2", "cleared_m2", "bac_m2", "remaining_sha_m2", "remaining_cha_m2"):
        assert page.locator(f"#card-{key} .value").text_content() == m2(totals[key]), key
    assert page.locator("#card-hazards .value").text_content() == (
        f"{totals['hazards_open']} / {totals['hazards_worked_on']} / {totals['hazards_closed']}"
    )
    assert page.locator("#card-items .value").text_content() == str(sum(totals["items_destroyed"].values()))

    # The charts hold the time series: cleared m² per month add up to the cleared total, and
    # the burn-down ends at what remains.
    cleared = page.evaluate(
        "Chart.getChart('released-chart').data.datasets[2].data.reduce((a, b) => a + b, 0)"
    )
    assert abs(cleared - totals["cleared_m2"]) < 0.05
    last = page.evaluate(
        "(() => { const d = Chart.getChart('burndown-chart').data.datasets[0].data; return d[d.length - 1]; })()"
    )
    assert abs(last - (totals["remaining_sha_m2"] + totals["remaining_cha_m2"])) < 0.05
    ap_mines = page.evaluate("Chart.getChart('items-chart').data.datasets[0].data.reduce((a, b) => a + b, 0)")
    assert ap_mines == totals["items_destroyed"]["ap_mines"]
    assert "Linear" in (page.locator("#forecast").text_content() or "")

    # The choropleth: one shape per admin-1 area, coloured by its remaining area.
    by_admin = {r["admin1_code"]: r for r in official(som, group_by=["admin1"])["rows"]}
    shapes = page.locator("#choropleth svg path")
    assert shapes.count() == 18  # Somalia's admin-1 areas
    for code, row in by_admin.items():
        if code is None:
            continue
        shape = page.locator(f"#choropleth path[data-code='{code}']")
        remaining = float(shape.get_attribute("data-remaining") or 0)
        assert abs(remaining - (row["remaining_sha_m2"] + row["remaining_cha_m2"])) < 0.05
        if remaining > 0:
            assert shape.get_attribute("fill") != "#eeeeee"

    # New filters redraw the figures (and land in the address, to share).
    page.fill("#from", "2024-01-01")
    page.fill("#to", "2024-12-31")
    page.click("#filters button[type=submit]")
    wait_ready(page)
    year = official(som, date_from=date(2024, 1, 1), date_to=date(2024, 12, 31))["totals"]
    assert year["released_m2"] != totals["released_m2"]
    assert page.locator("#card-released_m2 .value").text_content() == m2(year["released_m2"])
    assert "from=2024-01-01" in page.url

    # Printing hides the filters and keeps the figures.
    page.emulate_media(media="print")
    assert not page.locator("#filters").is_visible()
    assert page.locator("#card-released_m2").is_visible()

    # (The login page, not ours, has no icon: Chromium's own /favicon.ico request may 404.)
    assert [e for e in errors if "/favicon.ico" not in e] == []
    assert urls and all(u.startswith(live) for u in urls), [u for u in urls if not u.startswith(live)]
    assert any("/assets/chart.js/dist/chart.umd.js" in u for u in urls)


def test_dashboard_needs_a_login(client: Any) -> None:
    answer = client.get("/dashboard", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
