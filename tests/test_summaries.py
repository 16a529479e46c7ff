"""Land-release summaries: property-based checks of the figures against the records.

Random hazard areas, releases, tasks, items and QA visits are inserted straight into the real
database (tests/test_summaries_data.py); the summaries must then add up (rows to totals, for
every grouping), equal the direct sums of the records, ignore unapproved records, and give,
for an ``as_of`` moment, exactly the figures that were live at that moment.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.db import new_session
from clearance.reports import service
from survey.models import CONTAMINATION_TYPES
from tests.test_summaries_data import (
    START,
    STRIPS,
    HazardSpec,
    ReleaseSpec,
    Scenario,
    clear_records,
    insert_scenario,
    scenarios,
)

EXAMPLES = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ITEM_GROUP = {
    "ap_mine": "ap_mines",
    "at_mine": "at_mines",
    "submunition": "submunitions",
    "projectile": "other_uxo",
    "mortar": "other_uxo",
    "ied": "ied",
    "small_arms_ammunition": "small_arms_ammunition",
}


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    session = new_session()
    yield session
    session.close()


@pytest.fixture
def som(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT id FROM programmes WHERE code = 'SOM'")))


def fresh(engine: Engine, scenario: Scenario) -> dict[str, Any]:
    with engine.begin() as conn:
        clear_records(conn)
    return insert_scenario(engine, scenario)


def additive(figures: dict[str, Any]) -> dict[str, float]:
    """Every additive figure of a row, flattened (the pass rate is a ratio, not additive)."""
    flat = service._flatten("x", figures)
    return {
        k: float(v)
        for k, v in flat.items()
        if k not in ("row", "qa_pass_rate") and isinstance(v, int | float)
    }


def assert_rows_add_up(result: dict[str, Any]) -> None:
    totals = additive(result["totals"])
    sums = dict.fromkeys(totals, 0.0)
    for row in result["rows"]:
        for key, value in additive(row).items():
            if key in sums:
                sums[key] += value
    for key, total in totals.items():
        # m² are rounded to 0.01 per row: allow that rounding per row.
        assert abs(sums[key] - total) <= 0.006 * (len(result["rows"]) + 1), (key, sums[key], total)


def approved_area(engine: Engine, release_ids: list[int]) -> dict[int, float]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text("SELECT id, area_m2 FROM land_releases WHERE id = ANY(:ids)"), {"ids": release_ids}
            ).all()
        )


def expected_totals(engine: Engine, scenario: Scenario, ids: dict[str, Any]) -> dict[str, Any]:
    """The figures summed directly from what was inserted (areas as the database computed them)."""
    areas = approved_area(engine, ids["releases"])
    with engine.connect() as conn:
        hazard_m2: dict[int, float] = dict(
            conn.execute(
                text("SELECT id, area_m2 FROM hazard_areas WHERE id = ANY(:ids)"), {"ids": ids["hazards"]}
            ).all()
        )
    out: dict[str, Any] = dict.fromkeys(
        [
            "cancelled_m2",
            "reduced_m2",
            "cleared_m2",
            "bac_m2",
            "released_m2",
            "remaining_sha_m2",
            "remaining_cha_m2",
        ],
        0.0,
    )
    out.update(hazards_open=0, hazards_worked_on=0, hazards_closed=0, beneficiaries=0)
    release_ids = iter(ids["releases"])
    for h, hazard_id in zip(scenario.hazards, ids["hazards"], strict=True):
        released = 0.0
        approved = 0
        for r in h.releases:
            m2 = areas[next(release_ids)]
            if h.review_status != "approved" or r.review_status != "approved":
                continue
            approved += 1
            released += m2
            key = "bac_m2" if r.activity == "bac" else f"{r.method}_m2"
            out[key] += m2
            out["released_m2"] += m2
        if h.review_status != "approved":
            continue
        out[f"remaining_{h.classification.lower()}_m2"] += hazard_m2[hazard_id] - released
        if approved == STRIPS:
            out["hazards_closed"] += 1
            out["beneficiaries"] += sum(h.beneficiaries)
        elif approved:
            out["hazards_worked_on"] += 1
        else:
            out["hazards_open"] += 1
    items: dict[str, int] = dict.fromkeys(service.ITEM_GROUPS, 0)
    out["tasks_completed"] = sum(1 for t in scenario.tasks if t.status == "completed")
    out["qa_visits"] = sum(len(t.visits) for t in scenario.tasks)
    out["qa_passed"] = sum(1 for t in scenario.tasks for r, _ in t.visits if r != "fail")
    for t in scenario.tasks:
        for category, quantity, disposal, _, item_review in t.items:
            if disposal in service.DESTROYED and item_review == "approved":
                items[ITEM_GROUP[category]] += quantity
    out["items_destroyed"] = items
    return out


def check_totals(totals: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        if key == "items_destroyed":
            assert totals[key] == value
        elif key == "beneficiaries":
            assert totals["beneficiaries"]["total"] == value
        elif key.endswith("_m2"):
            assert abs(totals[key] - value) < 0.02, (key, totals[key], value)
        else:
            assert totals[key] == value, (key, totals[key], value)


GROUPINGS = st.lists(st.sampled_from(service.GROUP_KEYS), min_size=1, max_size=3, unique=True)


@EXAMPLES
@given(scenario=scenarios(), group_by=GROUPINGS)
def test_every_grouping_adds_up_to_the_totals_and_the_totals_to_the_records(
    engine: Engine, db: Session, som: int, scenario: Scenario, group_by: list[str]
) -> None:
    ids = fresh(engine, scenario)
    whole = service.summary(db, service.Filters(programme_ids=[som]))
    check_totals(whole["totals"], expected_totals(engine, scenario, ids))
    assert whole["rows"] == []
    grouped = service.summary(db, service.Filters(programme_ids=[som], group_by=group_by))
    assert grouped["totals"] == whole["totals"]  # grouping never changes the totals
    assert_rows_add_up(grouped)
    keys = [name for g in group_by for name in service.GROUP_COLUMNS[g]]
    seen = [tuple(r[k] for k in keys) for r in grouped["rows"]]
    assert len(seen) == len(set(seen))  # one row per group


def test_every_single_and_pair_grouping_adds_up(engine: Engine, db: Session, som: int) -> None:
    """All 8 keys alone and every pair of them, on one fixed mixed scenario."""
    scenario = _fixed_scenario()
    fresh(engine, scenario)
    whole = service.summary(db, service.Filters(programme_ids=[som]))
    assert whole["totals"]["released_m2"] > 0 and whole["totals"]["remaining_cha_m2"] > 0
    for size in (1, 2):
        for group_by in itertools.combinations(service.GROUP_KEYS, size):
            grouped = service.summary(db, service.Filters(programme_ids=[som], group_by=list(group_by)))
            assert grouped["totals"] == whole["totals"], group_by
            assert_rows_add_up(grouped)


def _fixed_scenario() -> Scenario:
    from tests.test_summaries_data import TaskSpec

    def rel(
        strip: int, method: str, activity: str, day: int, org: int, review: str = "approved"
    ) -> ReleaseSpec:
        return ReleaseSpec(strip, method, activity, review, day, org)

    hazards = [
        HazardSpec(
            0,
            "CHA",
            ["AP"],
            "approved",
            (1, 2, 3, 4),
            [rel(i, "cleared", "clearance", 30 * i, i % 3) for i in range(4)],
        ),
        HazardSpec(
            1,
            "SHA",
            ["CMR", "ERW"],
            "approved",
            (5, 5, 5, 5),
            [rel(0, "cancelled", "nts", 400, 1), rel(1, "cleared", "bac", 420, 2)],
        ),
        HazardSpec(
            2, "CHA", ["AP", "AT"], "approved", (0, 0, 0, 0), [rel(2, "reduced", "ts", 100, 0, "submitted")]
        ),
        HazardSpec(3, "SHA", [], "approved", (9, 9, 9, 9), []),
        HazardSpec(4, "CHA", ["IED"], "draft", (1, 1, 1, 1), [rel(0, "cleared", "clearance", 50, 0)]),
    ]
    tasks = [
        TaskSpec(
            0,
            0,
            "completed",
            0,
            60,
            [
                ("ap_mine", 7, "destroyed_in_situ", 40, "approved"),
                ("mortar", 2, "handed_over", 41, "approved"),
                # Reported, not yet approved: not in the figures.
                ("ap_mine", 4, "destroyed_in_situ", 40, "submitted"),
            ],
            [("pass", 45)],
        ),
        TaskSpec(
            None,
            3,
            "completed",
            1,
            500,
            [("submunition", 3, "removed_and_destroyed", 500, "approved")],
            [("fail", 501)],
        ),
        TaskSpec(
            1,
            1,
            "in_progress",
            2,
            410,
            [("ied", 1, "destroyed_in_situ", 415, "approved")],
            [("pass_with_findings", 416)],
        ),
    ]
    return Scenario(hazards, tasks)


@EXAMPLES
@given(scenario=scenarios(), extra=scenarios(max_hazards=3, max_tasks=0), group_by=GROUPINGS)
def test_unapproved_records_never_count(
    engine: Engine, db: Session, som: int, scenario: Scenario, extra: Scenario, group_by: list[str]
) -> None:
    fresh(engine, scenario)
    filters = service.Filters(programme_ids=[som], group_by=group_by)
    before = service.summary(db, filters)
    db.rollback()
    # Unapproved hazard areas, even with approved releases, and unapproved releases on the free
    # strips of approved hazard areas.
    for h in extra.hazards:
        h.review_status = "submitted" if h.review_status == "approved" else h.review_status
    for i, h in enumerate(scenario.hazards):
        used = {r.strip for r in h.releases}
        free = [s for s in range(STRIPS) if s not in used]
        extra.hazards.append(HazardSpec(h.place, h.classification, h.types, "submitted", h.beneficiaries, []))
        if free and h.review_status == "approved":
            _add_release(engine, som, scenario, i, free[0])
    insert_scenario(engine, Scenario(extra.hazards, []), offset=500)
    # Finds reported on every task (destroyed, in the period) but not approved, or rejected.
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO eo_items (programme_id, task_id, catalogue_id, quantity, disposal_method, found_on, "
                "review_status) SELECT t.programme_id, t.id, c.id, 5, 'destroyed_in_situ', t.actual_start, rs "
                "FROM tasks t CROSS JOIN (SELECT min(id) AS id FROM eo_catalogue) c "
                "CROSS JOIN unnest(ARRAY['submitted', 'rejected']) AS rs"
            )
        )
    assert service.summary(db, filters) == before


def _add_release(engine: Engine, som: int, scenario: Scenario, index: int, strip: int) -> None:
    from tests.test_summaries_data import _square, _wkt

    x, y = _square(scenario.hazards[index].place, index)
    with engine.begin() as conn:
        hazard_id = conn.scalar(
            text("SELECT id FROM hazard_areas WHERE reference = :r"), {"r": f"T-SOM-HA-{index:05d}"}
        )
        conn.execute(
            text(
                "INSERT INTO land_releases (programme_id, reference, hazard_area_id, method, activity, release_date, "
                "depth_cm, geom, area_m2, review_status) VALUES (:p, :ref, :h, 'cleared', 'clearance', :d, 20, "
                "ST_GeomFromText(:wkt, 4326), 0, 'submitted')"
            ),
            {
                "p": som,
                "ref": f"T-SOM-LR-EXTRA-{index}",
                "h": hazard_id,
                "d": START,
                "wkt": _wkt(x, y, strip / STRIPS, (strip + 1) / STRIPS),
            },
        )


@EXAMPLES
@given(scenario=scenarios(), later=scenarios(max_hazards=3, max_tasks=3), group_by=GROUPINGS, data=st.data())
def test_as_of_gives_the_figures_as_they_stood(
    engine: Engine,
    db: Session,
    som: int,
    scenario: Scenario,
    later: Scenario,
    group_by: list[str],
    data: st.DataObject,
) -> None:
    ids = fresh(engine, scenario)
    period = data.draw(st.sampled_from([(None, None), (START, START + timedelta(days=365))]))
    filters = service.Filters(programme_ids=[som], group_by=group_by, date_from=period[0], date_to=period[1])
    then = service.summary(db, filters)
    db.rollback()
    with engine.connect() as conn:
        moment = conn.scalar(text("SELECT clock_timestamp()"))
    # Afterwards: reviews change, records are edited and deleted, new records arrive.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE land_releases SET review_status = 'approved' WHERE review_status = 'submitted'")
        )
        conn.execute(
            text("UPDATE land_releases SET review_status = 'rejected' WHERE id = ANY(:ids)"),
            {"ids": ids["releases"][::3]},
        )
        conn.execute(text("UPDATE hazard_areas SET review_status = 'approved', classification = 'CHA'"))
        conn.execute(
            text(
                "UPDATE tasks SET status = 'completed', actual_end = actual_start WHERE status <> 'completed'"
            )
        )
        conn.execute(text("DELETE FROM eo_items WHERE id % 2 = 0"))
        conn.execute(text("UPDATE eo_items SET review_status = 'approved' WHERE review_status = 'submitted'"))
        conn.execute(text("UPDATE qa_visits SET result = 'fail'"))
    insert_scenario(engine, later, offset=500)
    as_of = service.summary(db, replace(filters, as_of=moment))
    assert as_of["totals"] == then["totals"]
    assert as_of["rows"] == then["rows"]
    db.rollback()
    with engine.connect() as conn:
        now = conn.scalar(text("SELECT clock_timestamp()"))
    live = service.summary(db, filters)
    assert service.summary(db, replace(filters, as_of=now))["totals"] == live["totals"]


def test_period_filters_flows_and_stock_is_at_the_end_of_the_period(
    engine: Engine, db: Session, som: int
) -> None:
    fresh(engine, _fixed_scenario())
    whole = service.summary(db, service.Filters(programme_ids=[som]))
    first = service.summary(
        db, service.Filters(programme_ids=[som], date_from=START, date_to=START + timedelta(days=99))
    )["totals"]
    # Hazard 0 strips released on days 0, 30, 60, 90: all inside; nothing else is.
    assert first["cleared_m2"] > 0 and first["bac_m2"] == 0 and first["cancelled_m2"] == 0
    assert first["hazards_closed"] == 1
    assert first["items_destroyed"]["ap_mines"] == 7
    # What remains at the end of a period = remaining now + what was released after it.
    later_release = whole["totals"]["released_m2"] - first["released_m2"]
    remaining_then = first["remaining_sha_m2"] + first["remaining_cha_m2"]
    remaining_now = whole["totals"]["remaining_sha_m2"] + whole["totals"]["remaining_cha_m2"]
    assert abs(remaining_then - (remaining_now + later_release)) < 0.05


def test_filters_by_organisation_admin_area_and_contamination(engine: Engine, db: Session, som: int) -> None:
    fresh(engine, _fixed_scenario())
    with engine.connect() as conn:
        org = conn.scalar(text("SELECT min(id) FROM organisations WHERE programme_id = :p"), {"p": som})
        area = conn.scalar(text("SELECT admin1_code FROM hazard_areas WHERE reference = 'T-SOM-HA-00000'"))
    by_org = service.summary(db, service.Filters(programme_ids=[som], group_by=["organisation"]))
    only = service.summary(db, service.Filters(programme_ids=[som], organisation_ids=[org]))["totals"]
    row = next(r for r in by_org["rows"] if r["organisation_id"] == org)
    assert row["organisation_name"] == "The HALO Trust"
    assert {k: v for k, v in only.items() if k != "qa_pass_rate"} == {
        k: v for k, v in row.items() if k not in ("organisation_id", "organisation_name", "qa_pass_rate")
    }
    # Stock figures have no organisation.
    assert only["remaining_cha_m2"] == 0 and only["hazards_open"] == 0

    by_area = service.summary(db, service.Filters(programme_ids=[som], group_by=["admin1"]))
    in_area = service.summary(db, service.Filters(programme_ids=[som], admin_area=area))["totals"]
    row = next(r for r in by_area["rows"] if r["admin1_code"] == area)
    assert (
        in_area["released_m2"] == row["released_m2"]
        and in_area["remaining_cha_m2"] == row["remaining_cha_m2"]
    )

    cmr = service.summary(db, service.Filters(programme_ids=[som], contamination_types=["CMR"]))["totals"]
    assert cmr["bac_m2"] > 0 and cmr["cleared_m2"] == 0  # only the CMR/ERW hazard
    assert cmr["remaining_by_contamination"]["CMR"]["sha_m2"] == cmr["remaining_sha_m2"]
    assert cmr["remaining_by_contamination"]["AP"]["cha_m2"] == 0


# ---------------------------------------------------------------- the HTTP endpoint


def test_summary_endpoint_json_csv_xlsx(
    client: Any, engine: Engine, som: int, make_user: Callable[..., dict[str, str]]
) -> None:
    fresh(engine, _fixed_scenario())
    with engine.begin() as conn:
        # A name that a spreadsheet would run as a formula.
        conn.execute(
            text(
                "UPDATE organisations SET name = '=HYPERLINK(\"http://x\")' WHERE id = (SELECT min(id) FROM organisations WHERE programme_id = :p)"
            ),
            {"p": som},
        )
    headers = make_user("coordinator", ("SOM",))
    url = "/api/v1/summaries/land-release?programme=SOM&group_by=organisation,year&group_by=method"
    answer = client.get(url, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["group_by"] == ["organisation", "year", "method"]
    assert {"organisation_id", "year", "method", "cleared_m2", "qa_pass_rate"} <= set(body["rows"][0])

    csv_answer = client.get(url + "&format=csv", headers=headers)
    assert csv_answer.status_code == 200 and csv_answer.headers["content-type"].startswith("text/csv")
    import csv
    import io

    table = list(csv.DictReader(io.StringIO(csv_answer.text)))
    assert len(table) == len(body["rows"]) + 1 and table[-1]["row"] == "total"
    assert float(table[-1]["cleared_m2"]) == body["totals"]["cleared_m2"]
    assert int(table[-1]["items_destroyed_ap_mines"]) == body["totals"]["items_destroyed"]["ap_mines"]
    names = {r["organisation_name"] for r in table if r["organisation_name"]}
    assert '\'=HYPERLINK("http://x")' in names and not any(n.startswith("=") for n in names)

    xlsx = client.get(url + "&format=xlsx", headers=headers)
    assert xlsx.status_code == 200
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(table[0].keys())
    assert (
        rows[-1][0] == "total" and rows[-1][list(rows[0]).index("cleared_m2")] == body["totals"]["cleared_m2"]
    )
    assert all(not (isinstance(v, str) and v.startswith("=")) for r in rows for v in r)


def test_summary_endpoint_refuses_bad_input_and_keeps_to_scope(
    client: Any, engine: Engine, make_user: Callable[..., dict[str, str]]
) -> None:
    fresh(engine, _fixed_scenario())
    headers = make_user("coordinator", ("SOM",))
    base = "/api/v1/summaries/land-release?programme=SOM"
    for query, field in [
        ("&group_by=district", "group_by"),
        ("&from=2025-02-01&to=2025-01-01", "from"),
        ("&contamination_type=NUKE", "contamination_type"),
        ("&as_of=yesterday", "as_of"),
        ("&as_of=2025-02-30", "as_of"),
        ("&organisation=HALO", "organisation"),
        ("&organisation=99999999999", "organisation"),
    ]:
        answer = client.get(base + query, headers=headers)
        assert answer.status_code == 422, (query, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"][0]["field"] == field
    # Extreme but valid moments are answered, not crashed on.
    for query in ["&as_of=9999-12-31", "&as_of=0001-01-01", "&as_of=2025-06-01T12:00:00%2B03:00"]:
        assert client.get(base + query, headers=headers).status_code == 200, query
    for query in ["&from=2025-13-01", "&format=pdf"]:
        answer = client.get(base + query, headers=headers)
        assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/summaries/land-release?programme=LBY", headers=headers).status_code == 403
    assert client.get(base).status_code == 401
    # A partner of the programme reads the same official figures.
    partner = make_user("partner", ("SOM",))
    mine = client.get(base, headers=headers).json()
    assert client.get(base, headers=partner).json()["totals"] == mine["totals"]
    # Without a programme: all of the caller's programmes (here only SOM).
    assert client.get("/api/v1/summaries/land-release", headers=headers).json()["totals"] == mine["totals"]
    # LBY's records never reach a SOM user.
    lby = make_user("coordinator", ("LBY",))
    assert client.get("/api/v1/summaries/land-release", headers=lby).json()["totals"]["released_m2"] == 0


# ---------------------------------------------------------------- time series


def test_time_series_burn_down_and_forecast(
    client: Any, engine: Engine, db: Session, som: int, make_user: Callable[..., dict[str, str]]
) -> None:
    fresh(engine, _fixed_scenario())
    end = date(2025, 6, 30)
    series = service.time_series(db, service.Filters(programme_ids=[som], date_to=end), forecast_months=6)
    months = series["months"]
    assert months[0]["month"] == "2024-01" and months[-1]["month"] == "2025-06"
    totals = service.summary(db, service.Filters(programme_ids=[som], date_to=end))["totals"]
    assert abs(months[-1]["remaining_m2"] - (totals["remaining_sha_m2"] + totals["remaining_cha_m2"])) < 0.02
    assert abs(sum(m["released_m2"] for m in months) - totals["released_m2"]) < 0.05
    for before, after in itertools.pairwise(months):
        # Each month's remaining falls by exactly what was released that month.
        assert abs(before["remaining_m2"] - after["remaining_m2"] - after["released_m2"]) < 0.05
        assert abs(after["remaining_m2"] - after["remaining_sha_m2"] - after["remaining_cha_m2"]) < 0.05
    assert sum(m["items_destroyed"]["ap_mines"] for m in months) == totals["items_destroyed"]["ap_mines"]
    forecast = series["forecast"]
    window = months[-6:]
    rate = sum(m["released_m2"] for m in window) / 6
    assert forecast["monthly_rate_m2"] == round(rate, 2) and "last 6 month" in forecast["assumption"]
    if rate > 0:
        assert forecast["completion_date"] > end.isoformat()
    else:
        assert forecast["completion_date"] is None and "no completion date" in forecast["assumption"]

    headers = make_user("coordinator", ("SOM",))
    answer = client.get(
        "/api/v1/summaries/time-series?programme=SOM&to=2025-06-30&forecast_months=3", headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["months"] == months and answer.json()["forecast"]["window_months"] == 3


FLOWS = ("cancelled_m2", "reduced_m2", "cleared_m2", "bac_m2", "released_m2", "tasks_completed", "qa_visits")


@EXAMPLES
@given(scenario=scenarios(), data=st.data())
def test_a_filter_gives_the_figures_of_its_group(
    engine: Engine, db: Session, som: int, scenario: Scenario, data: st.DataObject
) -> None:
    """Filtering by organisation, admin area or contamination type gives exactly the figures of
    the matching group(s) of the unfiltered summary; a period gives the months inside it."""
    fresh(engine, scenario)
    kind = data.draw(st.sampled_from(["organisation", "admin1", "contamination_type", "month"]))
    grouped = service.summary(db, service.Filters(programme_ids=[som], group_by=[kind]))
    if kind == "organisation":
        keys = [r["organisation_id"] for r in grouped["rows"] if r["organisation_id"] is not None]
        if not keys:
            return
        key = data.draw(st.sampled_from(keys))
        filtered = service.summary(db, service.Filters(programme_ids=[som], organisation_ids=[key]))
        expected = [r for r in grouped["rows"] if r["organisation_id"] == key]
    elif kind == "admin1":
        keys = [r["admin1_code"] for r in grouped["rows"] if r["admin1_code"] is not None]
        if not keys:
            return
        key = data.draw(st.sampled_from(keys))
        filtered = service.summary(db, service.Filters(programme_ids=[som], admin_area=key))
        expected = [r for r in grouped["rows"] if r["admin1_code"] == key]
    elif kind == "contamination_type":
        key = data.draw(st.sampled_from(CONTAMINATION_TYPES))
        filtered = service.summary(db, service.Filters(programme_ids=[som], contamination_types=[key]))
        expected = [
            r
            for r in grouped["rows"]
            if r["contamination_type"] and key in r["contamination_type"].split("+")
        ]
    else:
        # Whole months, so that the period compares with month rows.
        first = START + timedelta(days=data.draw(st.integers(0, 700)))
        last = START + timedelta(days=data.draw(st.integers(0, 730)))
        start, end = min(first, last).replace(day=1), max(first, last)
        end = date(end.year, end.month, calendar.monthrange(end.year, end.month)[1])
        filtered = service.summary(db, service.Filters(programme_ids=[som], date_from=start, date_to=end))
        expected = [
            r
            for r in grouped["rows"]
            if r["month"] is not None and start.isoformat()[:7] <= r["month"] <= end.isoformat()[:7]
        ]
        for name in FLOWS:
            assert abs(filtered["totals"][name] - sum(r[name] for r in expected)) < 0.01 * (
                len(expected) + 1
            ), name
        return
    assert_rows_add_up({"totals": filtered["totals"], "rows": expected})


def test_time_series_refuses_an_endless_period(client: Any, make_user: Callable[..., dict[str, str]]) -> None:
    headers = make_user("coordinator", ("SOM",))
    answer = client.get(
        "/api/v1/summaries/time-series?programme=SOM&from=0001-01-01&to=9999-12-31", headers=headers
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "from"
    fine = client.get(
        "/api/v1/summaries/time-series?programme=SOM&from=2020-01-01&to=2020-12-31", headers=headers
    )
    assert fine.status_code == 200 and len(fine.json()["months"]) == 12


def test_the_summary_reads_hazard_areas_and_releases_from_covering_indexes(
    sql: Callable[..., list[Any]],
) -> None:
    """The summary reads a dozen small columns of each hazard area and release; migration 0008
    keeps them in two indexes so that it never scans the wide rows (geometries, TOAST). A column
    the figures start reading must be added there too, or every summary reads the tables again."""

    def columns(index: str) -> set[str]:
        rows = sql(
            "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE c.relname = :index",
            index=index,
        )
        return {r[0] for r in rows}

    hazard = {*service.HAZARD_FIGURE_COLUMNS, "programme_id", "review_status", "contamination_types"}
    assert hazard <= columns("ix_hazard_areas_summary"), hazard - columns("ix_hazard_areas_summary")
    release = {c.strip() for c in service.SOURCES["land_releases"][0].split(",")}
    assert release <= columns("ix_land_releases_hazard_area_id"), release - columns(
        "ix_land_releases_hazard_area_id"
    )
