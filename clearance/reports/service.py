"""Land-release summaries, time series and treaty figures. No HTTP here.

Every figure is defined once, in the SQL built by :func:`_summary_sql`: a list of *facts*
(one row per approved land release, per approved hazard area, per item destroyed, per task
completed, per QA visit, per hazard area closed), each carrying its group keys and its
figures, then one ``GROUP BY GROUPING SETS ((keys), ())`` that gives the rows and the totals
in the same pass. Because each fact sits in exactly one group, every additive figure of the
rows adds up to the totals by construction. The time series, the dashboard and the treaty
reports read these same facts (docs/summaries.md explains each figure).

``as_of`` swaps the live tables for their state at that moment, rebuilt from the audit log
(``sg_rows_as_of``, migration 0007): the same SQL then gives the figures as they stood then.
"""

from __future__ import annotations

import calendar
import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.errors import Problem
from app.settings import get_settings
from survey.models import CONTAMINATION_TYPES

GROUP_KEYS = (
    "admin1",
    "admin2",
    "organisation",
    "year",
    "month",
    "method",
    "contamination_type",
    "hazard_classification",
)
ITEM_GROUPS = ("ap_mines", "at_mines", "submunitions", "other_uxo", "ied", "small_arms_ammunition")
DESTROYED = ("destroyed_in_situ", "removed_and_destroyed")
QA_PASSED = ("pass", "pass_with_findings")
SADD = ("women", "men", "girls", "boys")
AREA_FIGURES = ("cancelled_m2", "reduced_m2", "cleared_m2", "bac_m2", "released_m2")
STATUS_FIGURES = ("hazards_open", "hazards_worked_on", "hazards_closed")

# Every summed column of the facts, in output order. Each fact branch gives some; the others are 0.
MEASURES: tuple[str, ...] = (
    *AREA_FIGURES,
    "remaining_sha_m2",
    "remaining_cha_m2",
    *(f"remaining_{t.lower()}_{c}_m2" for t in CONTAMINATION_TYPES for c in ("sha", "cha")),
    *STATUS_FIGURES,
    *(f"items_{g}" for g in ITEM_GROUPS),
    "tasks_completed",
    "qa_visits",
    "qa_passed",
    *(f"beneficiaries_{s}" for s in SADD),
)

# What each group key selects from the facts (output name, SQL expression).
GROUP_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "admin1": (("admin1_code", "f.admin1_code"), ("admin1_name", "f.admin1_name")),
    "admin2": (("admin2_code", "f.admin2_code"), ("admin2_name", "f.admin2_name")),
    "organisation": (("organisation_id", "f.organisation_id"),),
    "year": (("year", "extract(year FROM f.d)::int"),),
    "month": (("month", "to_char(f.d, 'YYYY-MM')"),),
    "method": (("method", "f.method"),),
    "contamination_type": (("contamination_type", "f.ckey"),),
    "hazard_classification": (("hazard_classification", "f.classification"),),
}

# Columns read from each table, and its geometry columns (rebuilt from GeoJSON in as_of mode).
SOURCES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "hazard_areas": (
        "id, programme_id, reference, name, classification, status, status_date, created_at, "
        "contamination_types, area_m2, admin1_code, admin1_name, admin2_code, admin2_name, "
        "beneficiaries_women, beneficiaries_men, beneficiaries_girls, beneficiaries_boys, review_status",
        ("geom", "raw_geom", "remaining_geom"),
        (),
    ),
    "land_releases": (
        "id, programme_id, hazard_area_id, method, activity, organisation_id, release_date, area_m2, "
        "review_status",
        ("geom", "input_geom", "submitted_geom"),
        (),
    ),
    "tasks": ("id, programme_id, status, organisation_id, actual_end, updated_at", ("point",), ("point",)),
    "task_hazards": ("id, task_id, hazard_area_id", (), ()),
    "eo_items": (
        "id, programme_id, task_id, catalogue_id, quantity, disposal_method, found_on",
        ("location",),
        ("location",),
    ),
    "qa_visits": (
        "id, programme_id, task_id, organisation_id, visit_date, result, land_release_id",
        ("location",),
        ("location",),
    ),
}


@dataclass(frozen=True)
class Filters:
    """What a summary covers. ``programme_ids`` is already limited to the caller's scope."""

    programme_ids: list[int]
    date_from: date | None = None
    date_to: date | None = None
    organisation_ids: list[int] | None = None
    admin_area: str | None = None
    contamination_types: list[str] | None = None
    as_of: datetime | None = None
    group_by: list[str] = field(default_factory=list)


def _source(table: str, as_of: datetime | None) -> str:
    """The rows of ``table`` the summary reads: live, or as they stood at ``as_of``."""
    columns, geometry_columns, wanted_geometry = SOURCES[table]
    if as_of is None:
        extra = "".join(f", {g}" for g in wanted_geometry)
        return f"SELECT {columns}{extra} FROM {table} WHERE {_programme_clause(table, '')}"
    prefixed = ", ".join(f"r.{c.strip()}" for c in columns.split(","))
    extra = "".join(f", ST_SetSRID(ST_GeomFromGeoJSON(s.j ->> '{g}'), 4326) AS {g}" for g in wanted_geometry)
    drop = ", ".join(f"'{g}'" for g in geometry_columns)
    minus = f" - ARRAY[{drop}]::text[]" if drop else ""
    return (
        f"SELECT {prefixed}{extra} FROM sg_rows_as_of('{table}', :as_of) AS s(j) "
        f"CROSS JOIN LATERAL jsonb_populate_record(NULL::{table}, s.j{minus}) r "
        f"WHERE {_programme_clause(table, 'r.')}"
    )


def _programme_clause(table: str, prefix: str) -> str:
    if table == "task_hazards":  # no programme column: its tasks carry it
        return "true"
    return f"{prefix}programme_id = ANY(:ids)"


def _admin_lateral(alias: str, level: int, point: str, only_if: str) -> str:
    """The admin area of ``level`` containing ``point`` (for records without a hazard area)."""
    return (
        f"LEFT JOIN LATERAL (SELECT a.code, a.name FROM admin_areas a "
        f"WHERE {only_if} AND a.level = {level} AND a.programme_id = ANY(:ids) "
        f"AND ST_Intersects(a.geom, {point}) ORDER BY a.id LIMIT 1) {alias} ON true"
    )


def _branch(dims: dict[str, str], measures: dict[str, str], body: str) -> str:
    """One SELECT of the facts union: the dimensions, the given figures, and 0 for the rest."""
    unknown = set(measures) - set(MEASURES)
    assert not unknown, unknown  # a typo here would silently lose a figure
    columns = [f"{dims[d]} AS {d}" for d in DIMENSIONS]
    columns += [f"({measures[m]})::float8 AS {m}" if m in measures else f"0::float8 AS {m}" for m in MEASURES]
    return "SELECT " + ", ".join(columns) + "\n" + body


DIMENSIONS = (
    "programme_id",
    "hazard_area_id",
    "admin1_code",
    "admin1_name",
    "admin2_code",
    "admin2_name",
    "organisation_id",
    "d",
    "method",
    "ckey",
    "classification",
    "ctypes",
)


def _hazard_dims(h: str, **overrides: str) -> dict[str, str]:
    dims = {
        "programme_id": f"{h}.programme_id",
        "hazard_area_id": f"{h}.id",
        "admin1_code": f"{h}.admin1_code",
        "admin1_name": f"{h}.admin1_name",
        "admin2_code": f"{h}.admin2_code",
        "admin2_name": f"{h}.admin2_name",
        "organisation_id": "NULL::int",
        "d": "NULL::date",
        "method": "NULL::text",
        "ckey": f"sg_contamination_key({h}.contamination_types)",
        "classification": f"{h}.classification",
        "ctypes": f"{h}.contamination_types",
    }
    dims.update(overrides)
    return dims


def _place_dims(programme: str, h: str, a1: str, a2: str, organisation: str, d: str) -> dict[str, str]:
    """Dimensions of a record placed by its hazard area if it has one, else by its location."""
    return _hazard_dims(
        h,
        programme_id=programme,
        admin1_code=f"coalesce({h}.admin1_code, {a1}.code)",
        admin1_name=f"coalesce({h}.admin1_name, {a1}.name)",
        admin2_code=f"coalesce({h}.admin2_code, {a2}.code)",
        admin2_name=f"coalesce({h}.admin2_name, {a2}.name)",
        organisation_id=organisation,
        d=d,
    )


def _ctes(as_of: datetime | None) -> str:
    """The sources, and the per-hazard official figures as at the end of the period (``:date_to``).

    A hazard area's official status follows its approved releases only (drafts, and the
    status a task start records, do not count): closed when what remains is below the
    closure threshold, worked on when some land was released, open otherwise.
    """
    return f"""
hall AS MATERIALIZED ({_source("hazard_areas", as_of)}),
ha AS (SELECT * FROM hall WHERE review_status = 'approved'),
lr AS ({_source("land_releases", as_of)}),
-- Official releases: approved, of an approved hazard area, dated up to the end of the period.
rel AS MATERIALIZED (
    SELECT r.* FROM lr r JOIN ha h ON h.id = r.hazard_area_id
    WHERE r.review_status = 'approved' AND (CAST(:date_to AS date) IS NULL OR r.release_date <= :date_to)
),
per_hazard AS (
    SELECT hazard_area_id, sum(area_m2) AS released_m2, count(*) AS releases
    FROM rel GROUP BY hazard_area_id
),
-- The release that closed a hazard area: its last one (by date, then id).
last_release AS (
    SELECT DISTINCT ON (hazard_area_id) hazard_area_id, id, organisation_id, release_date, method
    FROM rel ORDER BY hazard_area_id, release_date DESC, id DESC
),
hz AS MATERIALIZED (
    SELECT h.*, sg_contamination_key(h.contamination_types) AS ckey,
           coalesce(p.released_m2, 0) AS released_m2,
           h.area_m2 - coalesce(p.released_m2, 0) AS remaining_m2,
           CASE
               WHEN p.releases > 0 AND h.area_m2 - p.released_m2 < :closure_m2 THEN 'closed'
               WHEN p.releases > 0 THEN 'worked_on'
               ELSE 'open'
           END AS official_status
    FROM ha h LEFT JOIN per_hazard p ON p.hazard_area_id = h.id
),
tk AS MATERIALIZED ({_source("tasks", as_of)}),
th AS ({_source("task_hazards", as_of)}),
-- A task is placed by the first hazard area it targets (tasks usually target one).
task_hazard AS (SELECT DISTINCT ON (task_id) task_id, hazard_area_id FROM th ORDER BY task_id, hazard_area_id),
ei AS ({_source("eo_items", as_of)}),
qv AS ({_source("qa_visits", as_of)})"""


def _in_period(column: str) -> str:
    return (
        f"(CAST(:date_from AS date) IS NULL OR {column} >= :date_from) "
        f"AND (CAST(:date_to AS date) IS NULL OR {column} <= :date_to)"
    )


def _facts() -> str:
    """Every fact that feeds a figure: one branch per kind of record."""
    area_cases = {
        "cancelled_m2": "CASE WHEN r.method = 'cancelled' AND r.activity <> 'bac' THEN r.area_m2 ELSE 0 END",
        "reduced_m2": "CASE WHEN r.method = 'reduced' AND r.activity <> 'bac' THEN r.area_m2 ELSE 0 END",
        "cleared_m2": "CASE WHEN r.method = 'cleared' AND r.activity <> 'bac' THEN r.area_m2 ELSE 0 END",
        "bac_m2": "CASE WHEN r.activity = 'bac' THEN r.area_m2 ELSE 0 END",
        "released_m2": "r.area_m2",
    }
    releases = _branch(
        _hazard_dims("h", organisation_id="r.organisation_id", d="r.release_date", method="r.method"),
        area_cases,
        f"FROM rel r JOIN hz h ON h.id = r.hazard_area_id WHERE {_in_period('r.release_date')}",
    )

    stock: dict[str, str] = {
        "remaining_sha_m2": "CASE WHEN h.classification = 'SHA' THEN h.remaining_m2 ELSE 0 END",
        "remaining_cha_m2": "CASE WHEN h.classification = 'CHA' THEN h.remaining_m2 ELSE 0 END",
        "hazards_open": "(h.official_status = 'open')::int",
        "hazards_worked_on": "(h.official_status = 'worked_on')::int",
        "hazards_closed": "(h.official_status = 'closed')::int",
    }
    for t in CONTAMINATION_TYPES:
        for c in ("sha", "cha"):
            stock[f"remaining_{t.lower()}_{c}_m2"] = (
                f"CASE WHEN h.classification = '{c.upper()}' AND '{t}' = ANY(h.contamination_types) "
                "THEN h.remaining_m2 ELSE 0 END"
            )
    hazards = _branch(_hazard_dims("h"), stock, "FROM hz h")

    closed = _branch(
        _hazard_dims("h", organisation_id="l.organisation_id", d="l.release_date", method="l.method"),
        {f"beneficiaries_{s}": f"h.beneficiaries_{s}" for s in SADD},
        "FROM hz h JOIN last_release l ON l.hazard_area_id = h.id "
        f"WHERE h.official_status = 'closed' AND {_in_period('l.release_date')}",
    )

    items = _branch(
        _place_dims("i.programme_id", "h", "a1", "a2", "t.organisation_id", "i.found_on"),
        {f"items_{g}": f"CASE WHEN c.report_group = '{g}' THEN i.quantity ELSE 0 END" for g in ITEM_GROUPS},
        f"""FROM ei i
JOIN eo_catalogue c ON c.id = i.catalogue_id
LEFT JOIN tk t ON t.id = i.task_id
LEFT JOIN task_hazard x ON x.task_id = i.task_id
LEFT JOIN hall h ON h.id = x.hazard_area_id
{_admin_lateral("a1", 1, "coalesce(i.location, t.point)", "h.id IS NULL")}
{_admin_lateral("a2", 2, "coalesce(i.location, t.point)", "h.id IS NULL")}
WHERE i.disposal_method IN {DESTROYED!r} AND {_in_period("i.found_on")}""",
    )

    task_day = "coalesce(t.actual_end, t.updated_at::date)"
    tasks = _branch(
        _place_dims("t.programme_id", "h", "a1", "a2", "t.organisation_id", task_day),
        {"tasks_completed": "1"},
        f"""FROM tk t
LEFT JOIN task_hazard x ON x.task_id = t.id
LEFT JOIN hall h ON h.id = x.hazard_area_id
{_admin_lateral("a1", 1, "t.point", "h.id IS NULL")}
{_admin_lateral("a2", 2, "t.point", "h.id IS NULL")}
WHERE t.status = 'completed' AND {_in_period(task_day)}""",
    )

    visit_point = "ST_PointOnSurface(v.location)"
    visits = _branch(
        _place_dims("v.programme_id", "h", "a1", "a2", "v.organisation_id", "v.visit_date"),
        {"qa_visits": "1", "qa_passed": f"(v.result IN {QA_PASSED!r})::int"},
        f"""FROM qv v
LEFT JOIN lr r ON r.id = v.land_release_id
LEFT JOIN task_hazard x ON x.task_id = v.task_id
LEFT JOIN hall h ON h.id = coalesce(r.hazard_area_id, x.hazard_area_id)
{_admin_lateral("a1", 1, visit_point, "h.id IS NULL AND v.location IS NOT NULL")}
{_admin_lateral("a2", 2, visit_point, "h.id IS NULL AND v.location IS NOT NULL")}
WHERE {_in_period("v.visit_date")}""",
    )
    return "\nUNION ALL\n".join([releases, hazards, closed, items, tasks, visits])


def _fact_filters(f: Filters) -> str:
    where = ["true"]
    if f.organisation_ids:
        where.append("f.organisation_id = ANY(:organisation_ids)")
    if f.admin_area:
        where.append("(f.admin1_code = :admin_area OR f.admin2_code = :admin_area)")
    if f.contamination_types:
        where.append("f.ctypes && CAST(:contamination_types AS text[])")
    return " AND ".join(where)


def _params(f: Filters) -> dict[str, Any]:
    return {
        "ids": f.programme_ids,
        "date_from": f.date_from,
        "date_to": f.date_to,
        "organisation_ids": f.organisation_ids,
        "admin_area": f.admin_area,
        "contamination_types": f.contamination_types,
        "as_of": f.as_of,
        "closure_m2": get_settings().closure_threshold_m2,
    }


def _summary_sql(f: Filters) -> str:
    keys = [column for g in f.group_by for column in GROUP_COLUMNS[g]]
    select_keys = "".join(f"{expr} AS {name}, " for name, expr in keys)
    sums = ", ".join(f"sum(f.{m}) AS {m}" for m in MEASURES)
    if keys:
        key_list = ", ".join(expr for _, expr in keys)
        grouping = f"GROUPING SETS (({key_list}), ())"
        is_total = f"GROUPING({key_list}) <> 0"
        order = "is_total, " + ", ".join(f"{i + 1} NULLS LAST" for i in range(len(keys)))
    else:
        grouping, is_total, order = "()", "true", "is_total"
    return f"""
WITH {_ctes(f.as_of)},
facts AS ({_facts()})
SELECT {select_keys}{is_total} AS is_total, {sums}
FROM facts f
WHERE {_fact_filters(f)}
GROUP BY {grouping}
ORDER BY {order}"""


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    """The figures of one row as clients see them (m² rounded to 0.01, counts as integers)."""

    def m2(name: str) -> float:
        return round(float(row[name] or 0), 2)

    def count(name: str) -> int:
        return round(float(row[name] or 0))

    visits, passed = count("qa_visits"), count("qa_passed")
    out: dict[str, Any] = {name: m2(name) for name in AREA_FIGURES}
    out["remaining_sha_m2"] = m2("remaining_sha_m2")
    out["remaining_cha_m2"] = m2("remaining_cha_m2")
    out["remaining_by_contamination"] = {
        t: {c + "_m2": m2(f"remaining_{t.lower()}_{c}_m2") for c in ("sha", "cha")}
        for t in CONTAMINATION_TYPES
    }
    out.update({name: count(name) for name in STATUS_FIGURES})
    out["items_destroyed"] = {g: count(f"items_{g}") for g in ITEM_GROUPS}
    out["tasks_completed"] = count("tasks_completed")
    out["qa_visits"] = visits
    out["qa_passed"] = passed
    out["qa_pass_rate"] = round(passed / visits, 4) if visits else None
    beneficiaries = {s: count(f"beneficiaries_{s}") for s in SADD}
    out["beneficiaries"] = {**beneficiaries, "total": sum(beneficiaries.values())}
    return out


def summary(db: Session, f: Filters) -> dict[str, Any]:
    """``{"filters", "group_by", "totals", "rows"}``: one row per group with its keys and figures."""
    result = db.execute(text(_summary_sql(f)), _params(f)).mappings().all()
    key_names = [name for g in f.group_by for name, _ in GROUP_COLUMNS[g]]
    rows: list[dict[str, Any]] = []
    totals: dict[str, Any] | None = None
    for record in result:
        figures = _figures(dict(record))
        if record["is_total"]:
            totals = figures
        else:
            rows.append({**{k: record[k] for k in key_names}, **figures})
    if totals is None:  # no fact at all
        totals = _figures({m: 0 for m in MEASURES})
    if "organisation" in f.group_by:
        names = _organisation_names(db, [r["organisation_id"] for r in rows])
        for r in rows:
            r["organisation_name"] = names.get(r["organisation_id"])
    return {
        "filters": _describe(db, f),
        "group_by": f.group_by,
        "totals": totals,
        "rows": rows,
    }


def _organisation_names(db: Session, ids: list[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    found = db.execute(text("SELECT id, name FROM organisations WHERE id = ANY(:ids)"), {"ids": wanted})
    return {int(i): str(n) for i, n in found}


def _describe(db: Session, f: Filters) -> dict[str, Any]:
    codes = db.scalars(
        text("SELECT code FROM programmes WHERE id = ANY(:ids) ORDER BY code"), {"ids": f.programme_ids}
    ).all()
    return {
        "programmes": list(codes),
        "from": f.date_from.isoformat() if f.date_from else None,
        "to": f.date_to.isoformat() if f.date_to else None,
        "organisation": f.organisation_ids,
        "admin_area": f.admin_area,
        "contamination_type": f.contamination_types,
        "as_of": f.as_of.isoformat() if f.as_of else None,
        "approved_only": True,
    }


# ---------------------------------------------------------------- tables (CSV, XLSX)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def flat_columns(group_by: list[str]) -> list[str]:
    """The CSV/XLSX columns: the group keys, then one column per figure."""
    keys = [name for g in group_by for name, _ in GROUP_COLUMNS[g]]
    if "organisation" in group_by:
        keys.append("organisation_name")
    figures = [
        *AREA_FIGURES,
        "remaining_sha_m2",
        "remaining_cha_m2",
        *(f"remaining_{t.lower()}_{c}_m2" for t in CONTAMINATION_TYPES for c in ("sha", "cha")),
        *STATUS_FIGURES,
        *(f"items_destroyed_{g}" for g in ITEM_GROUPS),
        "tasks_completed",
        "qa_visits",
        "qa_passed",
        "qa_pass_rate",
        *(f"beneficiaries_{s}" for s in (*SADD, "total")),
    ]
    return ["row", *keys, *figures]


def _flatten(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"row": kind}
    for key, value in record.items():
        if key == "remaining_by_contamination":
            for t, by_class in value.items():
                for c, m2 in by_class.items():
                    out[f"remaining_{t.lower()}_{c}"] = m2
        elif key == "items_destroyed":
            out.update({f"items_destroyed_{g}": n for g, n in value.items()})
        elif key == "beneficiaries":
            out.update({f"beneficiaries_{s}": n for s, n in value.items()})
        else:
            out[key] = value
    return out


def safe_cell(value: Any) -> Any:
    """Spreadsheet programs run cells starting with = + - @ as formulas: quote such text."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def table_rows(result: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    columns = flat_columns(result["group_by"])
    flat = [_flatten("group", r) for r in result["rows"]] + [_flatten("total", result["totals"])]
    return columns, [[safe_cell(r.get(c)) for c in columns] for r in flat]


def to_csv(columns: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buffer.getvalue()


def to_xlsx(sheets: list[tuple[str, list[str], list[list[Any]]]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for title, columns, rows in sheets:
        sheet = workbook.create_sheet(title[:31])
        sheet.append(columns)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- time series and forecast


def _months(first: date, last: date) -> list[str]:
    out: list[str] = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _month_end(month: str) -> date:
    y, m = int(month[:4]), int(month[5:7])
    return date(y, m, calendar.monthrange(y, m)[1])


def time_series(
    db: Session, f: Filters, forecast_months: int = 6, today: date | None = None
) -> dict[str, Any]:
    """Released m² per month by method, items per month, remaining area at each month end, and
    a linear forecast of the completion date.

    One summary grouped by month and hazard classification feeds it all. The burn-down comes
    from the same facts: what remains at the end of a month is what remains at the end of the
    period plus what was released after that month, so it falls each month by exactly that
    month's releases.
    """
    today = today or datetime.now(UTC).date()
    grouped = summary(db, Filters(**{**f.__dict__, "group_by": ["month", "hazard_classification"]}))
    per_month: dict[str, dict[str, Any]] = {}
    released_by_class: dict[tuple[str, str], float] = {}
    for r in grouped["rows"]:
        month = r["month"]
        if month is None:  # stock facts (hazard areas) have no month
            continue
        entry = per_month.setdefault(
            month, {**{name: 0.0 for name in AREA_FIGURES}, "items_destroyed": {g: 0 for g in ITEM_GROUPS}}
        )
        for name in AREA_FIGURES:
            entry[name] += r[name]
        for g in ITEM_GROUPS:
            entry["items_destroyed"][g] += r["items_destroyed"][g]
        if r["hazard_classification"] is not None:
            key = (month, r["hazard_classification"])
            released_by_class[key] = released_by_class.get(key, 0.0) + r["released_m2"]
    end = f.date_to or today
    starts = [date(int(m[:4]), int(m[5:7]), 1) for m in per_month]
    start = f.date_from or (min(starts) if starts else end.replace(day=1))
    months = _months(min(start, end), end)
    # Remaining area is a stock of hazard areas: it has no organisation, so it is not given
    # when the figures are limited to organisations.
    stock_known = not f.organisation_ids
    sha = grouped["totals"]["remaining_sha_m2"]
    cha = grouped["totals"]["remaining_cha_m2"]
    series: list[dict[str, Any]] = []
    for month in reversed(months):  # walk back from the end, adding back later releases
        entry = per_month.get(month) or {
            **{name: 0.0 for name in AREA_FIGURES},
            "items_destroyed": {g: 0 for g in ITEM_GROUPS},
        }
        series.append(
            {
                "month": month,
                **{name: round(entry[name], 2) for name in AREA_FIGURES},
                "items_destroyed": entry["items_destroyed"],
                "remaining_m2": round(sha + cha, 2) if stock_known else None,
                "remaining_sha_m2": round(sha, 2) if stock_known else None,
                "remaining_cha_m2": round(cha, 2) if stock_known else None,
            }
        )
        sha += released_by_class.get((month, "SHA"), 0.0)
        cha += released_by_class.get((month, "CHA"), 0.0)
    series.reverse()
    return {
        "filters": grouped["filters"],
        "months": series,
        "forecast": forecast(series, forecast_months, end) if stock_known else None,
    }


def forecast(series: list[dict[str, Any]], window: int, end: date) -> dict[str, Any]:
    """When the remaining area would be released at the recent rate (linear)."""
    recent = series[-window:] if window > 0 else []
    remaining = series[-1]["remaining_m2"] if series else 0.0
    released = sum(m["released_m2"] for m in recent)
    rate = released / len(recent) if recent else 0.0
    assumption = (
        f"Linear: the remaining area is released at the average monthly rate of the last "
        f"{len(recent)} month(s) of the period ({recent[0]['month'] if recent else '-'} to "
        f"{recent[-1]['month'] if recent else '-'}), counting approved releases of every method; "
        "the rate stays constant and no new hazard area is found."
    )
    out: dict[str, Any] = {
        "method": "linear",
        "window_months": len(recent),
        "released_in_window_m2": round(released, 2),
        "monthly_rate_m2": round(rate, 2),
        "remaining_m2": remaining,
        "from": end.isoformat(),
        "assumption": assumption,
        "months_to_completion": None,
        "completion_date": None,
    }
    if remaining is not None and remaining <= 0:
        out["months_to_completion"] = 0.0
        out["completion_date"] = end.isoformat()
    elif rate > 0 and remaining is not None:
        months = remaining / rate
        out["months_to_completion"] = round(months, 1)
        # An average month (365.25 / 12 days); past the calendar's range, no date.
        days = months * 365.25 / 12
        if days < (date.max - end).days:
            out["completion_date"] = (end + timedelta(days=round(days))).isoformat()
    else:
        out["assumption"] += " No land was released in that window, so no completion date can be forecast."
    return out


# ---------------------------------------------------------------- treaty reports

TREATIES = {
    # APMBC Article 7: areas containing (or suspected to contain) anti-personnel mines.
    "apmbc": (["AP", "MIXED"], "ap_mines"),
    # CCM Article 7 Form F: areas contaminated by cluster munition remnants.
    "ccm": (["CMR"], "submunitions"),
}


def _hazard_list_sql(as_of: datetime | None) -> str:
    """Per hazard area of the report: its official status, estimated and remaining area at the
    end of the year, and what was released on it during the year (from the same CTEs)."""
    return f"""
WITH {_ctes(as_of)}
SELECT h.id, h.reference, h.name, h.classification, h.contamination_types, h.admin1_code, h.admin1_name,
       h.admin2_code, h.admin2_name, h.official_status AS status, h.area_m2, h.remaining_m2,
       coalesce(y.released_m2, 0) AS released_in_period_m2
FROM hz h
LEFT JOIN (SELECT hazard_area_id, sum(area_m2) AS released_m2 FROM rel
           WHERE {_in_period("release_date")} GROUP BY hazard_area_id) y ON y.hazard_area_id = h.id
WHERE h.contamination_types && CAST(:contamination_types AS text[])
  AND (h.official_status <> 'closed' OR y.released_m2 IS NOT NULL)
ORDER BY h.admin1_name NULLS LAST, h.reference"""


def article7(
    db: Session, programme_id: int, year: int, treaty: str, as_of: datetime | None = None
) -> dict[str, Any]:
    """The figures of an APMBC Article 7 or CCM Article 7 Form F report for one calendar year."""
    types, item_group = TREATIES[treaty]
    base = Filters(
        programme_ids=[programme_id],
        date_from=date(year, 1, 1),
        date_to=date(year, 12, 31),
        contamination_types=types,
        as_of=as_of,
    )
    areas = [
        {
            "reference": r["reference"],
            "name": r["name"],
            "admin1": r["admin1_name"],
            "admin1_code": r["admin1_code"],
            "admin2": r["admin2_name"],
            "classification": r["classification"],
            "contamination_types": list(r["contamination_types"] or []),
            "status": r["status"],
            "estimated_area_m2": round(float(r["area_m2"]), 2),
            "released_in_year_m2": round(float(r["released_in_period_m2"]), 2),
            "remaining_area_m2": round(float(r["remaining_m2"]), 2),
        }
        for r in db.execute(text(_hazard_list_sql(as_of)), _params(base)).mappings()
    ]
    by_admin = summary(db, Filters(**{**base.__dict__, "group_by": ["admin1", "hazard_classification"]}))
    # Items are counted wherever they were found, not only on the areas of this treaty.
    items = summary(db, Filters(**{**base.__dict__, "contamination_types": None}))["totals"][
        "items_destroyed"
    ]
    totals = by_admin["totals"]
    released = {name: totals[name] for name in AREA_FIGURES}
    remaining = {
        "sha_m2": round(sum(totals["remaining_by_contamination"][t]["sha_m2"] for t in types), 2),
        "cha_m2": round(sum(totals["remaining_by_contamination"][t]["cha_m2"] for t in types), 2),
    }
    programme = db.execute(
        text("SELECT code, name, iso3 FROM programmes WHERE id = :id"), {"id": programme_id}
    ).one()
    report: dict[str, Any] = {
        "treaty": treaty,
        "title": (
            "APMBC Article 7 — mined areas and anti-personnel mines destroyed"
            if treaty == "apmbc"
            else "CCM Article 7 Form F — areas contaminated by cluster munition remnants and their clearance"
        ),
        "programme": {"code": programme.code, "name": programme.name, "iso3": programme.iso3},
        "year": year,
        "period": {"from": base.date_from.isoformat(), "to": base.date_to.isoformat()},  # type: ignore[union-attr]
        "as_of": as_of.isoformat() if as_of else None,
        "contamination_types": types,
        "areas": areas,
        "areas_summary": {
            "count": len(areas),
            "estimated_area_m2": round(sum(a["estimated_area_m2"] for a in areas), 2),
            "remaining_area_m2": round(sum(a["remaining_area_m2"] for a in areas), 2),
            "by_status": {
                s: sum(1 for a in areas if a["status"] == s) for s in ("open", "worked_on", "closed")
            },
        },
        "remaining": remaining,
        "released": released,
        "released_by_admin1": [
            {
                "admin1": r["admin1_name"],
                "admin1_code": r["admin1_code"],
                "classification": r["hazard_classification"],
                **{name: r[name] for name in AREA_FIGURES},
            }
            for r in by_admin["rows"]
            if r["released_m2"] > 0
        ],
        "items_destroyed": items,
        "destroyed_in_year": {item_group: items[item_group]},
    }
    return report


def article7_tables(report: dict[str, Any]) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """The report as tables (for CSV): the areas, the land released, the items destroyed."""
    area_columns = [
        "reference",
        "name",
        "admin1",
        "admin2",
        "classification",
        "contamination_types",
        "status",
        "estimated_area_m2",
        "released_in_year_m2",
        "remaining_area_m2",
    ]
    areas = [
        [safe_cell("+".join(a[c]) if c == "contamination_types" else a[c]) for c in area_columns]
        for a in report["areas"]
    ]
    released_columns = ["admin1", "classification", *AREA_FIGURES]
    released = [[safe_cell(r[c]) for c in released_columns] for r in report["released_by_admin1"]]
    released.append(["total", "", *(report["released"][c] for c in AREA_FIGURES)])
    items = [[g, n] for g, n in report["items_destroyed"].items()]
    return {
        "areas": (area_columns, areas),
        "released": (released_columns, released),
        "items": (["category", "destroyed"], items),
    }


def parse_as_of(value: str | None) -> datetime | None:
    """``as_of`` as a moment: a date means the end of that day (UTC); a time without zone is UTC."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, microseconds=-1)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Problem(
            422,
            f"as_of: {value!r} is not a date (YYYY-MM-DD) or date-time (ISO 8601).",
            errors=[{"field": "as_of", "message": "not a date or date-time"}],
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
