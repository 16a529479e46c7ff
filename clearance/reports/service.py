"""Land-release summaries, time series and treaty figures. No HTTP here.

Every figure is defined once, in the SQL built by :func:`_summary_sql`. Each kind of record is
a *branch* of facts (approved land releases, approved hazard areas, hazard areas closed, items
destroyed, tasks completed, QA visits) with its group keys and the figures it adds; each branch
is summed per group on its own (set-wise scans and hash joins, no correlated subquery), and one
``GROUP BY GROUPING SETS ((keys), ())`` over those few rows gives the rows and the totals in the
same pass. Each fact sits in exactly one group, so every additive figure of the rows adds up to
the totals by construction. PostgreSQL also rounds the figures and builds the JSON of the rows
and totals (:func:`_figures_json`): Python parses it once with orjson and adds nothing but the
organisation names, so thousands of groups cost no Python loop over their figures. The time series, the dashboard and the treaty reports read these
same figures (docs/summaries.md explains each one).

``as_of`` swaps the live tables for their state at that moment, rebuilt from the audit log
(``sg_rows_as_of``, migration 0007): the same SQL then gives the figures as they stood then.
"""

from __future__ import annotations

import calendar
import csv
import io
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
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
SUMMARY_WORK_MEM = "64MB"  # per sort or hash of the summary statement; see summary()
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

# What each group key selects: output columns, each a dimension every fact branch provides.
GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "admin1": ("admin1_code", "admin1_name"),
    "admin2": ("admin2_code", "admin2_name"),
    "organisation": ("organisation_id",),
    "year": ("year",),
    "month": ("month",),
    "method": ("method",),
    "contamination_type": ("contamination_type",),
    "hazard_classification": ("hazard_classification",),
}
ADMIN_COLUMNS = ("admin1_code", "admin1_name", "admin2_code", "admin2_name")

# Columns read from each table, its geometry columns, and the geometry columns the summary needs
# (in as_of mode these are rebuilt from the GeoJSON the audit log holds).
SOURCES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "hazard_areas": (
        "id, programme_id, reference, name, classification, contamination_types, area_m2, "
        "admin1_code, admin1_name, admin2_code, admin2_name, "
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
        "id, programme_id, task_id, catalogue_id, quantity, disposal_method, found_on, review_status",
        ("location",),
        ("location",),
    ),
    "qa_visits": (
        "id, programme_id, task_id, organisation_id, visit_date, result, land_release_id",
        ("location",),
        ("location",),
    ),
}

# The columns of a hazard area its figures and group keys need. The covering index
# ix_hazard_areas_programme_id_id (migration 0008) holds exactly these (and review_status), so the
# summary reads them from the index instead of the wide rows and their TOAST.
HAZARD_FIGURE_COLUMNS = (
    "id",
    "classification",
    "area_m2",
    "admin1_code",
    "admin1_name",
    "admin2_code",
    "admin2_name",
    "beneficiaries_women",
    "beneficiaries_men",
    "beneficiaries_girls",
    "beneficiaries_boys",
)


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
    # task_hazards has no programme column: it is reached through its tasks.
    where = "true" if table == "task_hazards" else "{p}programme_id = ANY(:ids)"
    if as_of is None:
        extra = "".join(f", {g}" for g in wanted_geometry)
        return f"SELECT {columns}{extra} FROM {table} WHERE {where.format(p='')}"
    prefixed = ", ".join(f"r.{c.strip()}" for c in columns.split(","))
    extra = "".join(f", ST_SetSRID(ST_GeomFromGeoJSON(s.j ->> '{g}'), 4326) AS {g}" for g in wanted_geometry)
    minus = (
        " - ARRAY[" + ", ".join(f"'{g}'" for g in geometry_columns) + "]::text[]" if geometry_columns else ""
    )
    return (
        f"SELECT {prefixed}{extra} FROM sg_rows_as_of('{table}', :as_of) AS s(j) "
        f"CROSS JOIN LATERAL jsonb_populate_record(NULL::{table}, s.j{minus}) r WHERE {where.format(p='r.')}"
    )


def _in_period(column: str) -> str:
    return (
        f"(CAST(:date_from AS date) IS NULL OR {column} >= :date_from) "
        f"AND (CAST(:date_to AS date) IS NULL OR {column} <= :date_to)"
    )


def _ctes(as_of: datetime | None) -> str:
    """The sources, and the per-hazard official figures as at the end of the period (``:date_to``).

    A hazard area's official status follows its approved releases only (drafts, and the
    status a task start records, do not count): closed when what remains is below the
    closure threshold, worked on when some land was released, open otherwise.
    """
    # Live tables are inlined so that the planner sees their statistics; rows rebuilt from the
    # audit log are computed once.
    how = "NOT MATERIALIZED" if as_of is None else "MATERIALIZED"
    sources = ",\n".join(
        f"{alias} AS {how} ({_source(table, as_of)})"
        for alias, table in (
            ("hall", "hazard_areas"),
            ("lr", "land_releases"),
            ("tk", "tasks"),
            ("th", "task_hazards"),
            ("ei", "eo_items"),
            ("qv", "qa_visits"),
        )
    )
    return f"""{sources},
ha AS NOT MATERIALIZED (SELECT * FROM hall WHERE review_status = 'approved'),
-- Official releases: approved, dated up to the end of the period (their hazard area must be
-- approved too: the joins with ha below see to that).
rel AS NOT MATERIALIZED (
    SELECT * FROM lr
    WHERE review_status = 'approved' AND (CAST(:date_to AS date) IS NULL OR release_date <= :date_to)
),
per_hazard AS (
    SELECT hazard_area_id, sum(area_m2) AS released_m2, count(*) AS releases, max(release_date) AS last_date
    FROM rel GROUP BY hazard_area_id
),
-- contamination_types is re-read here once: hazard areas are wide rows (their geometries stay
-- in the row), so PostgreSQL moves small arrays out to TOAST and each reference would fetch
-- it again (14 filters of the stock figures x 100,000 hazards = 0.6 s). The copy is inline.
hz AS (
    SELECT {", ".join(f"h.{c}" for c in HAZARD_FIGURE_COLUMNS)},
           h.contamination_types || ARRAY[]::text[] AS types, coalesce(p.released_m2, 0) AS released_m2,
           h.area_m2 - coalesce(p.released_m2, 0) AS remaining_m2, p.last_date,
           CASE
               WHEN p.releases > 0 AND h.area_m2 - p.released_m2 < :closure_m2 THEN 'closed'
               WHEN p.releases > 0 THEN 'worked_on'
               ELSE 'open'
           END AS official_status
    FROM ha h LEFT JOIN per_hazard p ON p.hazard_area_id = h.id
),
-- A task is placed by the first hazard area it targets (tasks usually target one).
task_hazard AS (SELECT DISTINCT ON (task_id) task_id, hazard_area_id FROM th ORDER BY task_id, hazard_area_id),
-- That hazard area, looked up once for the items and the tasks.
task_place AS (
    SELECT x.task_id, {", ".join(f"h.{c}" for c in HAZARD_FIGURE_COLUMNS)}, h.contamination_types
    FROM task_hazard x JOIN hall h ON h.id = x.hazard_area_id
)"""


def _dims(
    h: str,
    organisation: str,
    day: str,
    method: str,
    a1: str | None = None,
    a2: str | None = None,
    types: str = "contamination_types",
) -> dict[str, str]:
    """The group keys of a fact: from its hazard area ``h``, and, for records without one, the
    admin areas ``a1``/``a2`` that contain its location. ``types``: the column of ``h`` holding
    its contamination types (``types``, the inline copy, for facts read from ``hz``)."""

    def place(column: str, alias: str | None, field_: str) -> str:
        return f"coalesce({h}.{column}, {alias}.{field_})" if alias else f"{h}.{column}"

    return {
        "admin1_code": place("admin1_code", a1, "area[1]"),
        "admin1_name": place("admin1_name", a1, "area[2]"),
        "admin2_code": place("admin2_code", a2, "area[1]"),
        "admin2_name": place("admin2_name", a2, "area[2]"),
        "organisation_id": organisation,
        "year": f"extract(year FROM {day})::int",
        "month": f"date_trunc('month', {day}::timestamp)::date",
        "method": method,
        "contamination_type": f"sg_contamination_key({h}.{types})",
        "hazard_classification": f"{h}.classification",
        # For filters only:
        "types": f"{h}.{types}",
    }


def _admin_lateral(alias: str, level: int, point: str, only_if: str) -> str:
    """The admin area of ``level`` containing ``point`` (for records without a hazard area),
    as ``{alias}.area``: ARRAY[code, name].

    ``only_if`` is tested before the lookup starts: most records have a hazard area, and a
    lookup written as a plain LATERAL … ORDER BY … LIMIT 1 restarted its sort and limit for
    each of them (about 0.1 s for the benchmark's 40,000 items, tasks and visits). OFFSET 0
    keeps the lookup one per record (pulled up, it would run once per column it feeds)."""
    return (
        f"LEFT JOIN LATERAL (SELECT CASE WHEN {only_if} THEN (SELECT ARRAY[a.code, a.name] FROM admin_areas a "
        f"WHERE a.level = {level} AND a.programme_id = ANY(:ids) AND ST_Intersects(a.geom, {point}) "
        f"ORDER BY a.id LIMIT 1) END AS area OFFSET 0) {alias} ON true"
    )


@dataclass(frozen=True)
class Branch:
    """One kind of fact: where its rows come from, their group keys and the figures they add."""

    dims: dict[str, str]
    measures: dict[str, str]
    body: str  # FROM … WHERE … (without the filters, which depend on the request)


def _branches(needs_admin: bool, live: bool = True) -> list[Branch]:
    """Every kind of fact that feeds a figure. ``needs_admin``: look up the admin areas of
    records that have no hazard area (only when grouping or filtering by admin area).
    ``live``: the sources are the tables themselves (not rows rebuilt for ``as_of``)."""

    def laterals(point: str, only_if: str) -> str:
        if not needs_admin:
            return ""
        return f"{_admin_lateral('a1', 1, point, only_if)}\n{_admin_lateral('a2', 2, point, only_if)}"

    admin = ("a1", "a2") if needs_admin else (None, None)
    releases = Branch(
        _dims("h", "r.organisation_id", "r.release_date", "r.method"),
        {
            "cancelled_m2": "sum(r.area_m2) FILTER (WHERE r.method = 'cancelled' AND r.activity <> 'bac')",
            "reduced_m2": "sum(r.area_m2) FILTER (WHERE r.method = 'reduced' AND r.activity <> 'bac')",
            "cleared_m2": "sum(r.area_m2) FILTER (WHERE r.method = 'cleared' AND r.activity <> 'bac')",
            "bac_m2": "sum(r.area_m2) FILTER (WHERE r.activity = 'bac')",
            "released_m2": "sum(r.area_m2)",
        },
        # ha, not hz: on live tables ha is an index-only scan (ix_hazard_areas_programme_id_id),
        # and a join of two plain scans can run in parallel, which a join with the
        # materialised hz cannot.
        f"FROM rel r JOIN ha h ON h.id = r.hazard_area_id WHERE {_in_period('r.release_date')}",
    )
    stock: dict[str, str] = {
        "remaining_sha_m2": "sum(h.remaining_m2) FILTER (WHERE h.classification = 'SHA')",
        "remaining_cha_m2": "sum(h.remaining_m2) FILTER (WHERE h.classification = 'CHA')",
        "hazards_open": "sum(h.hazards) FILTER (WHERE h.official_status = 'open')",
        "hazards_worked_on": "sum(h.hazards) FILTER (WHERE h.official_status = 'worked_on')",
        "hazards_closed": "sum(h.hazards) FILTER (WHERE h.official_status = 'closed')",
    }
    for t in CONTAMINATION_TYPES:
        for c in ("sha", "cha"):
            stock[f"remaining_{t.lower()}_{c}_m2"] = (
                f"sum(h.remaining_m2) FILTER (WHERE h.classification = '{c.upper()}' "
                f"AND '{t}' = ANY(h.types))"
            )
    # The stock figures test each hazard area's class, status and types 19 times: hazard areas
    # alike in all that (and in their admin areas) are summed first, so that the tests run on a
    # few thousand rows instead of every hazard area.
    alike = "admin1_code, admin1_name, admin2_code, admin2_name, classification, types, official_status"
    hazards = Branch(
        _dims("h", "NULL::int", "NULL::date", "NULL::text", types="types"),
        stock,
        f"""FROM (
    SELECT {alike}, sum(remaining_m2) AS remaining_m2, count(*) AS hazards FROM hz GROUP BY {alike}
) h WHERE true""",
    )
    # Beneficiaries of a hazard area count once: when (and where, by whom, how) its last
    # release closed it.
    closed = Branch(
        _dims("h", "h.closing_organisation_id", "h.last_date", "h.closing_method", types="types"),
        {f"beneficiaries_{s}": f"sum(h.beneficiaries_{s})" for s in SADD},
        f"""FROM (
    SELECT DISTINCT ON (z.id) z.*, r.organisation_id AS closing_organisation_id, r.method AS closing_method
    FROM hz z JOIN rel r ON r.hazard_area_id = z.id AND r.release_date = z.last_date
    WHERE z.official_status = 'closed' AND {_in_period("z.last_date")}
    ORDER BY z.id, r.id DESC
) h WHERE true""",
    )
    items = Branch(
        _dims("h", "t.organisation_id", "i.found_on", "NULL::text", *admin),
        {f"items_{g}": f"sum(i.quantity) FILTER (WHERE c.report_group = '{g}')" for g in ITEM_GROUPS},
        f"""FROM ei i
JOIN eo_catalogue c ON c.id = i.catalogue_id
LEFT JOIN tk t ON t.id = i.task_id
LEFT JOIN task_place h ON h.task_id = i.task_id
{laterals("coalesce(i.location, t.point)", "h.id IS NULL")}
WHERE i.disposal_method IN {DESTROYED!r} AND {_in_period("i.found_on")}
  -- Approved finds only. An audit row from before items had a review status (migration 0013)
  -- has none: those finds counted as soon as they were reported, and still do as of then.
  AND coalesce(i.review_status, 'approved') = 'approved'""",
    )
    task_day = "coalesce(t.actual_end, t.updated_at::date)"
    tasks = Branch(
        _dims("h", "t.organisation_id", task_day, "NULL::text", *admin),
        {"tasks_completed": "count(*)"},
        f"""FROM tk t
LEFT JOIN task_place h ON h.task_id = t.id
{laterals("t.point", "h.id IS NULL")}
WHERE t.status = 'completed' AND {_in_period(task_day)}""",
    )

    def by_id(alias: str, source: str, key: str) -> str:
        """The row of ``source`` whose id is ``key``. On live tables, a lookup by primary key
        per fact: with a plain join the planner hashes the whole table (every release, or a
        scan of the wide hazard_areas, 0.2 s each) for a few thousand visits; OFFSET 0 keeps
        the subquery a per-row lookup. Rows rebuilt for as_of have no index: a join there."""
        if live:
            return (
                f"LEFT JOIN LATERAL (SELECT s.* FROM {source} s WHERE s.id = {key} OFFSET 0) {alias} ON true"
            )
        return f"LEFT JOIN {source} {alias} ON {alias}.id = {key}"

    visits = Branch(
        _dims("h", "v.organisation_id", "v.visit_date", "NULL::text", *admin),
        {"qa_visits": "count(*)", "qa_passed": f"count(*) FILTER (WHERE v.result IN {QA_PASSED!r})"},
        f"""FROM qv v
{by_id("r", "lr", "v.land_release_id")}
LEFT JOIN task_hazard x ON x.task_id = v.task_id
{by_id("h", "hall", "coalesce(r.hazard_area_id, x.hazard_area_id)")}
{laterals("ST_PointOnSurface(v.location)", "h.id IS NULL AND v.location IS NOT NULL")}
WHERE {_in_period("v.visit_date")}""",
    )
    return [releases, hazards, closed, items, tasks, visits]


def _branch_sql(branch: Branch, keys: list[str], f: Filters) -> str:
    """One branch, already summed per group: few rows reach the final GROUP BY."""
    unknown = set(branch.measures) - set(MEASURES)
    assert not unknown, unknown  # a typo here would silently lose a figure
    where = [branch.body]
    if f.organisation_ids:
        where.append(f"{branch.dims['organisation_id']} = ANY(:organisation_ids)")
    if f.admin_area:
        where.append(
            f"({branch.dims['admin1_code']} = :admin_area OR {branch.dims['admin2_code']} = :admin_area)"
        )
    if f.contamination_types:
        where.append(f"{branch.dims['types']} && CAST(:contamination_types AS text[])")
    columns = [f"{branch.dims[k]} AS {k}" for k in keys]
    columns += [
        f"{branch.measures[m]} AS {m}" if m in branch.measures else f"NULL::float8 AS {m}" for m in MEASURES
    ]
    group = f"\nGROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    return "SELECT " + ", ".join(columns) + "\n" + " AND ".join(where) + group


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


def _m2(column: str) -> str:
    """m² as clients see them: rounded to 0.01 (0 when nothing was summed). As numeric, JSON
    writes them with their decimals ("0.00"), so clients always get a decimal number."""
    return f"round(coalesce({column}, 0)::numeric, 2)"


def _count(column: str) -> str:
    return f"round(coalesce({column}, 0))::bigint"


def _figures_json(g: str) -> str:
    """The figures of one summed row ``g`` as the JSON object clients see (m² rounded to 0.01,
    counts as integers), built by PostgreSQL so that Python only passes the text on."""
    by_type = ", ".join(
        f"'{t}', json_build_object("
        + ", ".join(f"'{c}_m2', {_m2(f'{g}.remaining_{t.lower()}_{c}_m2')}" for c in ("sha", "cha"))
        + ")"
        for t in CONTAMINATION_TYPES
    )
    items = ", ".join(f"'{i}', {_count(f'{g}.items_{i}')}" for i in ITEM_GROUPS)
    people = [_count(f"{g}.beneficiaries_{s}") for s in SADD]
    beneficiaries = ", ".join(f"'{s}', {c}" for s, c in zip(SADD, people, strict=True))
    visits, passed = _count(f"{g}.qa_visits"), _count(f"{g}.qa_passed")
    return ", ".join(
        [
            *(f"'{name}', {_m2(f'{g}.{name}')}" for name in AREA_FIGURES),
            f"'remaining_sha_m2', {_m2(f'{g}.remaining_sha_m2')}",
            f"'remaining_cha_m2', {_m2(f'{g}.remaining_cha_m2')}",
            f"'remaining_by_contamination', json_build_object({by_type})",
            *(f"'{name}', {_count(f'{g}.{name}')}" for name in STATUS_FIGURES),
            f"'items_destroyed', json_build_object({items})",
            f"'tasks_completed', {_count(f'{g}.tasks_completed')}",
            f"'qa_visits', {visits}",
            f"'qa_passed', {passed}",
            f"'qa_pass_rate', CASE WHEN {visits} > 0 THEN round({passed}::numeric / {visits}, 4) END",
            f"'beneficiaries', json_build_object({beneficiaries}, 'total', {' + '.join(people)})",
        ]
    )


def _summary_sql(f: Filters) -> str:
    """One statement, one row: ``rows`` (a JSON array of the groups, keys first, in key order)
    and ``totals`` (a JSON object), as text for orjson."""
    keys = [column for g in f.group_by for column in GROUP_COLUMNS[g]]
    needs_admin = bool(f.admin_area) or any(k in ADMIN_COLUMNS for k in keys)
    facts = "\nUNION ALL\n".join(_branch_sql(b, keys, f) for b in _branches(needs_admin, f.as_of is None))
    shown = {"month": "to_char(f.month, 'YYYY-MM')"}
    select_keys = "".join(f"{shown.get(k, 'f.' + k)} AS {k}, " for k in keys)
    sums = ", ".join(f"sum(f.{m}) AS {m}" for m in MEASURES)
    if keys:
        key_list = ", ".join(f"f.{k}" for k in keys)
        grouping = f"GROUPING SETS (({key_list}), ())"
        is_total = f"GROUPING({key_list}) <> 0"
        # Ordered by the keys' own values (a month's text sorts as its date).
        order = " ORDER BY " + ", ".join(f"g.{k} NULLS LAST" for k in keys)
    else:
        grouping, is_total, order = "()", "true", ""
    row_keys = "".join(f"'{k}', g.{k}, " for k in keys)
    # The grand total (the () grouping set) is there even when no fact is.
    return f"""
WITH {_ctes(f.as_of)},
facts AS (
{facts}
),
grouped AS (
SELECT {select_keys}{is_total} AS is_total, {sums}
FROM facts f
GROUP BY {grouping}
)
SELECT coalesce(json_agg(json_build_object({row_keys}{_figures_json("g")}){order})
                FILTER (WHERE NOT g.is_total), '[]')::text AS rows,
       (array_agg(json_build_object({_figures_json("g")})) FILTER (WHERE g.is_total))[1]::text AS totals
FROM grouped g"""


def summary(db: Session, f: Filters) -> dict[str, Any]:
    """``{"filters", "group_by", "totals", "rows"}``: one row per group with its keys and figures."""
    # PostgreSQL cannot estimate how many groups an expression such as a release's month has, so
    # it assumes one per release; with the default 32 MB it then sorts 300,000 releases on disk
    # instead of hashing them into the few thousand groups that exist (2.4 s -> 2.0 s on the
    # benchmark data). SET LOCAL: for this request's transaction only.
    db.execute(text(f"SET LOCAL work_mem = '{SUMMARY_WORK_MEM}'"))
    answer = db.execute(text(_summary_sql(f)), _params(f)).one()
    rows: list[dict[str, Any]] = orjson.loads(answer.rows)
    totals: dict[str, Any] = orjson.loads(answer.totals)
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
    keys = [name for g in group_by for name in GROUP_COLUMNS[g]]
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

MAX_SERIES_MONTHS = 1200  # a century of months: longer is a typing error, not a question


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
    # Without an end, the series ends today (a release dated later would not be in any month).
    end = f.date_to or today
    grouped = summary(db, replace(f, date_to=end, group_by=["month", "hazard_classification"]))
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
    starts = [date(int(m[:4]), int(m[5:7]), 1) for m in per_month]
    start = f.date_from or (min(starts) if starts else end.replace(day=1))
    start = min(start, end)
    if (end.year - start.year) * 12 + end.month - start.month >= MAX_SERIES_MONTHS:
        raise Problem(
            422,
            f"The period from {start} to {end} is too long for a monthly series "
            f"(at most {MAX_SERIES_MONTHS} months).",
            errors=[{"field": "from", "message": f"at most {MAX_SERIES_MONTHS} months before 'to'"}],
        )
    months = _months(start, end)
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
SELECT h.id, n.reference, n.name, h.classification, h.types AS contamination_types, h.admin1_code,
       h.admin1_name, h.admin2_code, h.admin2_name, h.official_status AS status, h.area_m2, h.remaining_m2,
       coalesce(y.released_m2, 0) AS released_in_period_m2
FROM hz h
JOIN hall n ON n.id = h.id
LEFT JOIN (SELECT hazard_area_id, sum(area_m2) AS released_m2 FROM rel
           WHERE {_in_period("release_date")} GROUP BY hazard_area_id) y ON y.hazard_area_id = h.id
WHERE h.types && CAST(:contamination_types AS text[])
  AND (h.official_status <> 'closed' OR y.released_m2 IS NOT NULL)
ORDER BY h.admin1_name NULLS LAST, n.reference"""


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
    by_admin = summary(db, replace(base, group_by=["admin1", "hazard_classification"]))
    # Items are counted wherever they were found, not only on the areas of this treaty.
    items = summary(db, replace(base, contamination_types=None))["totals"]["items_destroyed"]
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
            return datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Problem(
            422,
            f"as_of: {value!r} is not a date (YYYY-MM-DD) or date-time (ISO 8601).",
            errors=[{"field": "as_of", "message": "not a date or date-time"}],
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
