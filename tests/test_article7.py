"""Treaty reports: APMBC Article 7 and CCM Article 7 Form F, as JSON, CSV and a printable page
opened in a real headless Chromium."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.conftest import LiveServer
from tests.test_dashboard import PASSWORD, page, watch  # noqa: F401 - page is a fixture
from tests.test_summaries import _fixed_scenario, fresh

Headers = dict[str, str]


def areas(engine: Engine, ids: dict[str, Any]) -> dict[str, float]:
    """Hazard and release areas as the database computed them, by reference."""
    with engine.connect() as conn:
        out: dict[str, float] = dict(conn.execute(text("SELECT reference, area_m2 FROM hazard_areas")).all())
        out.update(conn.execute(text("SELECT reference, area_m2 FROM land_releases")).all())
    return out


def test_apmbc_article7_figures(client: Any, engine: Engine, make_user: Callable[..., Headers]) -> None:
    a = areas(engine, fresh(engine, _fixed_scenario()))
    headers = make_user("coordinator", ("SOM",))
    answer = client.get("/api/v1/reports/article7?programme=SOM&year=2024&treaty=apmbc", headers=headers)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    # Mined areas: the approved AP hazard areas; the AP one cleared in 2024 is closed, the AP+AT
    # one has only a submitted release (not counted) and stays open at its full area.
    listed = {r["reference"]: r for r in report["areas"]}
    assert set(listed) == {"T-SOM-HA-00000", "T-SOM-HA-00002"}
    closed, still_open = listed["T-SOM-HA-00000"], listed["T-SOM-HA-00002"]
    assert closed["status"] == "closed" and abs(closed["remaining_area_m2"]) < 1
    assert abs(closed["released_in_year_m2"] - sum(a[f"T-SOM-LR-00000-{j}"] for j in range(4))) < 0.02
    assert still_open["status"] == "open"
    assert abs(still_open["remaining_area_m2"] - a["T-SOM-HA-00002"]) < 0.02
    assert abs(report["remaining"]["cha_m2"] - still_open["remaining_area_m2"]) < 0.02
    assert abs(report["released"]["cleared_m2"] - closed["released_in_year_m2"]) < 0.02
    assert report["released"]["cancelled_m2"] == 0 and report["released"]["bac_m2"] == 0
    assert report["destroyed_in_year"] == {"ap_mines": 7}
    assert report["areas_summary"]["by_status"] == {"open": 1, "worked_on": 0, "closed": 1}

    # A year without activity: nothing released, the open area still listed.
    later = client.get(
        "/api/v1/reports/article7?programme=SOM&year=2026&treaty=apmbc", headers=headers
    ).json()
    assert [r["reference"] for r in later["areas"]] == ["T-SOM-HA-00002"]
    assert later["released"]["released_m2"] == 0 and later["destroyed_in_year"] == {"ap_mines": 0}


def test_ccm_form_f_figures_and_csv(client: Any, engine: Engine, make_user: Callable[..., Headers]) -> None:
    a = areas(engine, fresh(engine, _fixed_scenario()))
    headers = make_user("coordinator", ("SOM",))
    url = "/api/v1/reports/article7?programme=SOM&year=2025&treaty=ccm"
    report = client.get(url, headers=headers).json()
    assert [r["reference"] for r in report["areas"]] == ["T-SOM-HA-00001"]
    area = report["areas"][0]
    released = a["T-SOM-LR-00001-0"] + a["T-SOM-LR-00001-1"]
    assert area["status"] == "worked_on" and area["contamination_types"] == ["CMR", "ERW"]
    assert abs(area["remaining_area_m2"] - (a["T-SOM-HA-00001"] - released)) < 0.02
    assert abs(report["released"]["cancelled_m2"] - a["T-SOM-LR-00001-0"]) < 0.02
    assert abs(report["released"]["bac_m2"] - a["T-SOM-LR-00001-1"]) < 0.02
    assert report["destroyed_in_year"] == {"submunitions": 3}

    tables = {}
    for table in ("areas", "released", "items"):
        answer = client.get(f"{url}&format=csv&table={table}", headers=headers)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        tables[table] = list(csv.DictReader(io.StringIO(answer.text)))
    assert tables["areas"][0]["reference"] == "T-SOM-HA-00001"
    assert tables["areas"][0]["contamination_types"] == "CMR+ERW"
    assert float(tables["released"][-1]["bac_m2"]) == report["released"]["bac_m2"]
    assert {r["category"]: int(r["destroyed"]) for r in tables["items"]}["submunitions"] == 3


def test_article7_refuses_bad_input(client: Any, engine: Engine, make_user: Callable[..., Headers]) -> None:
    headers = make_user("coordinator", ("SOM",))
    for query in ["year=2025&treaty=ottawa", "year=1800", "year=abc", "", "year=2025&format=pdf"]:
        answer = client.get(f"/api/v1/reports/article7?programme=SOM&{query}", headers=headers)
        assert answer.status_code == 422, query
        assert answer.headers["content-type"] == "application/problem+json"
    other = client.get("/api/v1/reports/article7?programme=LBY&year=2025", headers=headers)
    assert other.status_code == 403
    assert client.get("/api/v1/reports/article7?programme=SOM&year=2025").status_code == 401


def test_printable_report_in_chromium(
    live_server: LiveServer,
    client: Any,
    engine: Engine,
    make_user: Callable[..., Headers],
    page: Page,  # noqa: F811 - the fixture imported above
) -> None:
    fresh(engine, _fixed_scenario())
    make_user("coordinator", ("SOM",), username="treaty-user", password=PASSWORD)
    headers = make_user("coordinator", ("SOM",))
    live = live_server.url
    urls, errors = watch(page)
    response = page.context.request.post(
        f"{live}/login", form={"username": "treaty-user", "password": PASSWORD, "next": "/"}, max_redirects=0
    )
    assert response.status == 303
    url = "/api/v1/reports/article7?programme=SOM&year=2024&treaty=apmbc"
    page.goto(f"{live}{url}&format=html")
    report = client.get(url, headers=headers).json()
    assert page.locator("h1").text_content() == report["title"]
    assert page.locator("#areas tbody tr").count() == len(report["areas"]) == 2
    assert page.locator("#released-cleared").text_content() == f"{report['released']['cleared_m2']:,.2f}"
    assert page.locator("#released-total").text_content() == f"{report['released']['released_m2']:,.2f}"
    assert (
        page.locator("#total-remaining").text_content()
        == f"{report['areas_summary']['remaining_area_m2']:,.2f}"
    )
    assert page.locator("#items tr[data-group=ap_mines] td.num").text_content() == "7"
    assert page.locator("#treaty-items").text_content() == "7"
    page.emulate_media(media="print")
    assert not page.locator(".topbar").is_visible()  # printed without the app's bar
    assert page.locator("#areas").is_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    assert errors == []
    assert all(u.startswith(live) for u in urls)
