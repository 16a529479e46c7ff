"""The measured scenarios. Each one checks that SafeGround's endpoint exists first and otherwise
reports "not available yet" instead of failing the run.

SafeGround and tipg are timed over real HTTP on loopback (httpx, keep-alive, the whole body
downloaded). The floor is the SQL SafeGround itself runs for the request — captured from the
app's engine while it serves the same URL in-process — replayed with plain psycopg2 and all
rows fetched, i.e. the database's share of the work plus the wire, with no web framework.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import database
from bench.config import Sizes
from bench.results_model import Comparison, Outcome, Result, Throughput
from bench.servers import Server
from bench.timing import Timing, measure_together

ITEMS = "/ogc/collections/hazard_areas/items"
TILE = "/ogc/collections/hazard_areas/tiles/WebMercatorQuad/{z}/{y}/{x}"
SUMMARY = "/api/v1/summaries/land-release"
TIPG_COLLECTION = "/collections/public.hazard_areas"
ROOT = database.ROOT


@dataclass
class Context:
    sizes: Sizes
    read_db: str
    token: str
    safeground: Server | None
    tipg: Server | None
    work_dir: Path
    outcome: Outcome = field(default_factory=Outcome)
    _app: Any = None
    _floor_conn: Any = None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    # -- the app in-process: which routes exist, which SQL a request runs -------------
    def app(self) -> Any:
        if self._app is None:
            from app.main import create_app

            self._app = create_app()
        return self._app

    def has_route(self, path: str) -> bool:
        """Whether the app publishes a GET route for ``path`` (matched against its OpenAPI paths)."""
        try:
            paths = self.app().openapi()["paths"]
        except Exception as exc:  # the shared tree may be mid-change; say so, do not crash the run
            reason = f"the app does not load in-process: {type(exc).__name__}: {exc}"
            if reason not in self.outcome.unavailable:
                self.outcome.unavailable.append(reason)
            return False
        for template, operations in paths.items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            if "get" in operations and re.match(pattern, path):
                return True
        return False

    def captured_sql(self, url: str, touching: str = "hazard_areas") -> tuple[httpx.Response, list[Any]]:
        """Serve ``url`` in-process and return the response and the SQL it ran on ``touching``."""
        from fastapi.testclient import TestClient
        from sqlalchemy import event

        from app import db as app_db

        engine = app_db.make_engine(database.db_url(self.read_db))
        app_db.set_engine(engine)
        statements: list[tuple[str, Any]] = []

        def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            statements.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", listen)
        try:
            with TestClient(self.app(), raise_server_exceptions=False) as client:
                response = client.get(url, headers=self.auth)
        finally:
            event.remove(engine, "before_cursor_execute", listen)
            app_db.set_engine(None)
            engine.dispose()
        wanted = [
            (s, p) for s, p in statements if touching in s and "api_tokens" not in s and "users" not in s
        ]
        return response, wanted

    def floor(self, statements: list[tuple[str, Any]]) -> Callable[[], int]:
        """Replay ``statements`` with psycopg2 and fetch every row (returns bytes received)."""
        if self._floor_conn is None:
            # A plain psycopg2 connection opened with the app's own connect arguments (e.g. its
            # session settings), so that both sides run the SQL under the same conditions.
            from app.db import make_engine

            engine = make_engine(database.db_url(self.read_db))
            self._floor_conn = engine.raw_connection().driver_connection
            self._floor_conn.autocommit = True
        conn = self._floor_conn

        def run() -> int:
            size = 0
            with conn.cursor() as cur:
                for statement, params in statements:
                    cur.execute(statement, params)
                    if cur.description is not None:
                        for row in cur.fetchall():
                            for value in row:
                                if isinstance(value, str | bytes | memoryview):
                                    size += len(value)
            return size

        return run

    def close(self) -> None:
        if self._floor_conn is not None:
            self._floor_conn.close()


def _http(server: Server, headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(base_url=server.base, headers=headers or {}, timeout=300)


def _getter(client: httpx.Client, url: str) -> Callable[[], int]:
    def run() -> int:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} -> {response.status_code}: {response.text[:300]}")
        return len(response.content)

    return run


def _sql(db: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with database.connect(db, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return list(cur.fetchall())


# -- where to look: the densest place and a bbox holding about N features ----------------
def densest_point(db: str) -> tuple[float, float]:
    row = _sql(
        db,
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_SnapToGrid(ST_PointOnSurface(geom), 0.25) AS c, count(*) n"
        " FROM hazard_areas GROUP BY 1 ORDER BY n DESC, 1 LIMIT 1) t",
    )[0]
    # The heaviest 0.25° cell's own densest hazard neighbourhood.
    cx, cy = float(row[0]), float(row[1])
    row = _sql(
        db,
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_SnapToGrid(ST_PointOnSurface(geom), 0.02) AS c, count(*) n"
        " FROM hazard_areas WHERE geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)"
        " GROUP BY 1 ORDER BY n DESC, 1 LIMIT 1) t",
        (cx - 0.25, cy - 0.25, cx + 0.25, cy + 0.25),
    )[0]
    return float(row[0]), float(row[1])


def bbox_with(db: str, centre: tuple[float, float], wanted: int) -> tuple[tuple[float, ...], int]:
    """A square bbox around ``centre`` whose intersecting features number about ``wanted``."""
    lo, hi = 0.0005, 5.0
    best: tuple[tuple[float, ...], int] = ((), 0)
    for _ in range(30):
        half = (lo + hi) / 2
        box = (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
        count = int(
            _sql(
                db,
                "SELECT count(*) FROM hazard_areas WHERE ST_Intersects(geom, ST_MakeEnvelope(%s,%s,%s,%s,4326))",
                box,
            )[0][0]
        )
        best = (tuple(round(v, 6) for v in box), count)
        if abs(count - wanted) <= wanted * 0.03:
            break
        if count > wanted:
            hi = half
        else:
            lo = half
    return best


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def _columns(db: str) -> set[str]:
    rows = _sql(db, "SELECT column_name FROM information_schema.columns WHERE table_name = 'hazard_areas'")
    return {r[0] for r in rows}


# -- items -------------------------------------------------------------------------------
def items(ctx: Context) -> None:
    name = "items"
    if ctx.safeground is None or not ctx.has_route(ITEMS):
        ctx.outcome.unavailable.append(f"{name}: {ITEMS} not available yet")
        return
    centre = densest_point(ctx.read_db)
    box, count = bbox_with(ctx.read_db, centre, 1_000)
    bbox = ",".join(f"{v:.6f}" for v in box)
    cases = [
        (f"bbox, {count:,} features", f"{ITEMS}?bbox={bbox}&limit=10000", f"bbox={bbox}&limit=10000"),
        (
            f"page of {ctx.sizes.page:,} features",
            f"{ITEMS}?limit={ctx.sizes.page}",
            f"limit={ctx.sizes.page}",
        ),
    ]
    columns = _columns(ctx.read_db)
    with _http(ctx.safeground, ctx.auth) as sg, _optional_client(ctx.tipg) as tipg:
        for case, url, tipg_query in cases:
            response, statements = ctx.captured_sql(url)
            if response.status_code != 200:
                ctx.outcome.unavailable.append(f"{name} ({case}): {url} answered {response.status_code}")
                continue
            body = response.json()
            returned = len(body.get("features", []))
            props = sorted(set(body["features"][0]["properties"]) & columns) if returned else []
            tipg_url = f"{TIPG_COLLECTION}/items?{tipg_query}&geom-column=geom"
            if props:
                tipg_url += "&properties=" + ",".join(props)
            sg_timing, comparisons = _alternating(
                ctx, _getter(sg, url), statements, 1.5, tipg, tipg_url, 1.0, "faster (< 1×)"
            )
            ctx.outcome.results.append(
                Result(
                    "items",
                    case,
                    sg_timing,
                    comparisons,
                    note=f"{returned:,} features, {len(response.content) / 1e6:.1f} MB",
                    url=url,
                    statements=statements,
                )
            )


def _alternating(
    ctx: Context,
    safeground: Callable[[], int],
    statements: list[tuple[str, Any]],
    floor_max: float,
    tipg: httpx.Client | None,
    tipg_url: str,
    tipg_max: float,
    tipg_target: str,
) -> tuple[Timing, list[Comparison]]:
    """SafeGround, its SQL floor and tipg timed in alternation (see ``measure_together``)."""
    runs: dict[str, Callable[[], object]] = {"safeground": safeground}
    notes: dict[str, str] = {}
    if statements:
        runs["floor"] = ctx.floor(statements)
    else:
        notes["floor"] = "no SQL on hazard_areas captured"
    if tipg is None:
        notes["tipg"] = "tipg did not start"
    else:
        tipg_get = _getter(tipg, tipg_url)
        try:
            tipg_get()
            runs["tipg"] = tipg_get
        except RuntimeError as exc:
            notes["tipg"] = str(exc)[:200]
    timings = measure_together(runs, ctx.sizes.runs)
    comparisons = [
        Comparison(
            "SQL floor (psycopg2)" if "floor" in timings else "SQL floor",
            timings.get("floor"),
            floor_max,
            f"≤ {floor_max}×",
            notes.get("floor", ""),
        ),
        Comparison(
            "tipg " + _tipg_version() if "tipg" in timings else "tipg",
            timings.get("tipg"),
            tipg_max,
            tipg_target,
            notes.get("tipg", ""),
        ),
    ]
    return timings["safeground"], comparisons


def _tipg_version() -> str:
    from importlib.metadata import version

    return version("tipg")


class _optional_client:
    def __init__(self, server: Server | None) -> None:
        self.client = _http(server) if server is not None else None

    def __enter__(self) -> httpx.Client | None:
        return self.client

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()


# -- tiles -------------------------------------------------------------------------------
def tiles(ctx: Context) -> None:
    if ctx.safeground is None or not ctx.has_route(TILE.format(z=6, y=30, x=40)):
        ctx.outcome.unavailable.append(f"tiles: {TILE} not available yet")
        return
    lon, lat = densest_point(ctx.read_db)
    with _http(ctx.safeground, ctx.auth) as sg, _optional_client(ctx.tipg) as tipg:
        for z in (6, 8):
            x, y = tile_of(lon, lat, z)
            url = TILE.format(z=z, y=y, x=x)
            response, statements = ctx.captured_sql(url)
            if response.status_code != 200:
                ctx.outcome.unavailable.append(f"tiles z{z}: {url} answered {response.status_code}")
                continue
            fields = _mvt_fields(response.content, ctx.work_dir)
            tipg_url = f"{TIPG_COLLECTION}/tiles/WebMercatorQuad/{z}/{x}/{y}?geom-column=geom"
            if fields:
                tipg_url += "&properties=" + ",".join(sorted(fields & _columns(ctx.read_db)))
            sg_timing, comparisons = _alternating(
                ctx, _getter(sg, url), statements, 1.3, tipg, tipg_url, 1.0, "no slower (≤ 1×)"
            )
            ctx.outcome.results.append(
                Result(
                    "tiles",
                    f"z{z} tile {z}/{y}/{x} (dense area)",
                    sg_timing,
                    comparisons,
                    note=f"{len(response.content) / 1e3:.0f} kB MVT",
                    url=url,
                    statements=statements,
                )
            )


def _mvt_fields(tile: bytes, work_dir: Path) -> set[str]:
    """Attribute names in an MVT tile, read with GDAL's MVT driver (to ask tipg for the same)."""
    if not tile or shutil.which("ogrinfo") is None:
        return set()
    path = work_dir / "probe.mvt"
    path.write_bytes(tile)
    out = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", str(path)], capture_output=True, text=True, check=False
    )
    return set(re.findall(r"^(\w+): (?:String|Integer|Integer64|Real)", out.stdout, re.MULTILINE)) - {
        "mvt_id"
    }


# -- import ------------------------------------------------------------------------------
def import_gpkg(ctx: Context, gpkg: Path, features: int, template: str, into: str) -> None:
    """The CLI import against ogr2ogr, both loading ``gpkg`` into fresh copies of ``template``
    (``into`` says what it holds, for the report)."""
    safeground = shutil.which("safeground") or str(Path(sys.executable).parent / "safeground")
    probe = subprocess.run([safeground, "import", "--help"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        ctx.outcome.unavailable.append("import: `safeground import` not available yet")
        return
    env = {**os.environ, "SAFEGROUND_DATABASE_URL": database.db_url(database.IMPORT_DB)}
    cli = [safeground, "import", str(gpkg), "--programme", "SOM", "--layer", "hazard_areas"]
    ogr = [
        "ogr2ogr",
        "-f",
        "PostgreSQL",
        f"PG:{database.libpq_dsn(database.IMPORT_DB)}",
        str(gpkg),
        "-nln",
        "ogr_hazard_areas",
        "-overwrite",
    ]
    failures: list[str] = []

    def timed(cmd: list[str], check_rows: str | None) -> float:
        database.copy_of(template, database.IMPORT_DB)
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            failures.append(f"{cmd[1]} exit {proc.returncode}: {(proc.stdout + proc.stderr)[-400:]}")
        elif check_rows:
            stored = _sql(database.IMPORT_DB, f"SELECT count(*) FROM {check_rows}")[0][0]
            if stored != features:
                failures.append(f"{check_rows}: {stored} rows stored, {features} expected")
        return elapsed

    runs, warmup = ctx.sizes.import_runs, ctx.sizes.import_warmup
    # In alternation, like the HTTP cases: both loaders see the same machine (measure_together).
    cli_times: list[float] = []
    ogr_times: list[float] = []
    copy_times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="sg-bench-import-") as tmp:
        stored_rows = Path(tmp) / "hazard_areas.copy"
        for run in range(warmup + runs):
            # The imported rows only: the read database holds hazard areas of its own (not imported).
            cli_s = timed(cli, "hazard_areas WHERE import_id IS NOT NULL")
            if not stored_rows.exists():
                _dump_imported_rows(stored_rows)
            ogr_s = timed(ogr, "ogr_hazard_areas")
            database.copy_of(template, database.IMPORT_DB)
            copy_s = _copy_rows_in(stored_rows)
            if run >= warmup:
                cli_times.append(cli_s)
                ogr_times.append(ogr_s)
                copy_times.append(copy_s)
    database.drop(database.IMPORT_DB)
    ctx.outcome.results.append(
        Result(
            "import",
            f"GeoPackage, {features:,} polygons (SOM), into {into}",
            Timing(cli_times),
            [
                Comparison(f"ogr2ogr -f PostgreSQL ({_gdal_version()})", Timing(ogr_times), 5.0, "≤ 5×"),
                Comparison(
                    "raw SQL: COPY of the stored rows into hazard_areas",
                    Timing(copy_times),
                    None,
                    "reported",
                    note="the write alone, no reading or checks: the same rows, indexes, "
                    "foreign key and audit trigger, one COPY from psycopg2",
                ),
            ],
            note="; ".join(failures[:2]) if failures else "CLI process start-up included; all rows checked",
            command=cli,
        )
    )


# Every column the import fills, so the COPY writes what the import writes.
_STORED_COLUMNS = (
    "programme_id, reference, name, classification, status, status_date, status_reason, "
    "contamination_types, evidence, information_source, reliability, blockages, "
    "beneficiaries_women, beneficiaries_men, beneficiaries_girls, beneficiaries_boys, priority, "
    "notes, geom, raw_geom, area_m2, remaining_m2, admin1_code, admin1_name, admin2_code, "
    "admin2_name, review_status, import_id, source_index, created_by, updated_by"
)


def _dump_imported_rows(path: Path) -> None:
    with database.connect(database.IMPORT_DB) as conn, conn.cursor() as cur, path.open("wb") as out:
        select = f"SELECT {_STORED_COLUMNS} FROM hazard_areas WHERE import_id IS NOT NULL ORDER BY id"
        cur.copy_expert(f"COPY ({select}) TO STDOUT (FORMAT binary)", out)


def _copy_rows_in(path: Path) -> float:
    """The floor of the import's write: the rows the CLI stored, copied back into a fresh copy
    of the same database by one COPY (connecting and committing included)."""
    start = time.perf_counter()
    with database.connect(database.IMPORT_DB) as conn, conn.cursor() as cur, path.open("rb") as rows:
        cur.copy_expert(f"COPY hazard_areas ({_STORED_COLUMNS}) FROM STDIN (FORMAT binary)", rows)
        conn.commit()
    return time.perf_counter() - start


def _gdal_version() -> str:
    out = subprocess.run(["ogr2ogr", "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"GDAL ([\d.]+)", out)
    return f"GDAL {match.group(1)}" if match else "GDAL"


# -- summary -----------------------------------------------------------------------------
CONTAMINATION = ("AP", "AT", "MIXED", "CMR", "ERW", "AXO", "IED")
ITEM_GROUPS = ("ap_mines", "at_mines", "submunitions", "other_uxo", "ied", "small_arms_ammunition")


def _hand_summary_sql() -> str:
    """The same figures as the summary grouped by admin-1 and month, written by hand as one
    statement: one branch per kind of fact (release, hazard stock, closed hazard, item, task,
    QA visit), summed with GROUPING SETS for the rows and the totals in one pass. Tasks, items
    and visits are placed by the hazard area their task targets (every benchmark task has one).
    """
    measures = [
        "cancelled", "reduced", "cleared", "bac", "released", "sha", "cha",
        *(f"{t.lower()}_{c}" for t in CONTAMINATION for c in ("sha", "cha")),
        "open", "worked_on", "closed", *(f"items_{g}" for g in ITEM_GROUPS),
        "tasks", "qa", "qa_passed", "women", "men", "girls", "boys",
    ]  # fmt: skip

    def branch(place: str, month: str, given: dict[str, str], body: str) -> str:
        cols = ", ".join(
            f"({given[m]})::float8 AS {m}" if m in given else f"0::float8 AS {m}" for m in measures
        )
        return f"SELECT {place}.admin1_code, {place}.admin1_name, {month} AS month, {cols} {body}"

    release = {
        "cancelled": "CASE WHEN r.method = 'cancelled' AND r.activity <> 'bac' THEN r.area_m2 ELSE 0 END",
        "reduced": "CASE WHEN r.method = 'reduced' AND r.activity <> 'bac' THEN r.area_m2 ELSE 0 END",
        "cleared": "CASE WHEN r.method = 'cleared' AND r.activity <> 'bac' THEN r.area_m2 ELSE 0 END",
        "bac": "CASE WHEN r.activity = 'bac' THEN r.area_m2 ELSE 0 END",
        "released": "r.area_m2",
    }
    stock = {
        "sha": "CASE WHEN h.classification = 'SHA' THEN h.remaining ELSE 0 END",
        "cha": "CASE WHEN h.classification = 'CHA' THEN h.remaining ELSE 0 END",
        "open": "(h.status = 'open')::int",
        "worked_on": "(h.status = 'worked_on')::int",
        "closed": "(h.status = 'closed')::int",
        **{
            f"{t.lower()}_{c}": f"CASE WHEN h.classification = '{c.upper()}' AND '{t}' = ANY(h.contamination_types)"
            " THEN h.remaining ELSE 0 END"
            for t in CONTAMINATION
            for c in ("sha", "cha")
        },
    }
    closed = {s: f"h.beneficiaries_{s}" for s in ("women", "men", "girls", "boys")}
    items = {
        f"items_{g}": f"CASE WHEN c.report_group = '{g}' THEN i.quantity ELSE 0 END" for g in ITEM_GROUPS
    }
    month = "to_char({}, 'YYYY-MM')".format
    branches = [
        branch("h", month("r.release_date"), release, "FROM rel r JOIN ha h ON h.id = r.hazard_area_id"),
        branch("h", "NULL", stock, "FROM hz h"),
        branch("h", month("h.last_date"), closed, "FROM hz h WHERE h.status = 'closed'"),
        branch(
            "h",
            month("i.found_on"),
            items,
            "FROM eo_items i JOIN eo_catalogue c ON c.id = i.catalogue_id JOIN th ON th.task_id = i.task_id "
            "JOIN hall h ON h.id = th.hazard_area_id WHERE i.programme_id = ANY(%(ids)s) "
            "AND i.disposal_method IN ('destroyed_in_situ', 'removed_and_destroyed') AND i.review_status = 'approved'",
        ),
        branch(
            "h",
            month("coalesce(t.actual_end, t.updated_at::date)"),
            {"tasks": "1"},
            "FROM tasks t JOIN th ON th.task_id = t.id JOIN hall h ON h.id = th.hazard_area_id "
            "WHERE t.programme_id = ANY(%(ids)s) AND t.status = 'completed'",
        ),
        branch(
            "h",
            month("v.visit_date"),
            {"qa": "1", "qa_passed": "(v.result IN ('pass', 'pass_with_findings'))::int"},
            "FROM qa_visits v JOIN th ON th.task_id = v.task_id JOIN hall h ON h.id = th.hazard_area_id "
            "WHERE v.programme_id = ANY(%(ids)s)",
        ),
    ]
    return f"""
WITH hall AS MATERIALIZED (
    SELECT id, admin1_code, admin1_name, classification, contamination_types, area_m2, review_status,
           beneficiaries_women, beneficiaries_men, beneficiaries_girls, beneficiaries_boys
    FROM hazard_areas WHERE programme_id = ANY(%(ids)s)
), ha AS (SELECT * FROM hall WHERE review_status = 'approved'),
rel AS MATERIALIZED (
    SELECT r.id, r.hazard_area_id, r.method, r.activity, r.release_date, r.area_m2
    FROM land_releases r JOIN ha ON ha.id = r.hazard_area_id
    WHERE r.programme_id = ANY(%(ids)s) AND r.review_status <> 'rejected'
), per AS (
    SELECT DISTINCT ON (hazard_area_id) hazard_area_id, release_date AS last_date,
           sum(area_m2) OVER w AS released, count(*) OVER w AS n
    FROM rel WINDOW w AS (PARTITION BY hazard_area_id)
    ORDER BY hazard_area_id, release_date DESC, id DESC
), hz AS (
    SELECT ha.*, ha.area_m2 - coalesce(per.released, 0) AS remaining, per.last_date,
           CASE WHEN per.n > 0 AND ha.area_m2 - per.released < %(closure)s THEN 'closed'
                WHEN per.n > 0 THEN 'worked_on' ELSE 'open' END AS status
    FROM ha LEFT JOIN per ON per.hazard_area_id = ha.id
), th AS (SELECT DISTINCT ON (task_id) task_id, hazard_area_id FROM task_hazards ORDER BY task_id, hazard_area_id),
facts AS (
{chr(10).join(("UNION ALL " if k else "") + b for k, b in enumerate(branches))}
)
SELECT admin1_code, admin1_name, month, {", ".join(f"sum({m}) AS {m}" for m in measures)}
FROM facts GROUP BY GROUPING SETS ((admin1_code, admin1_name, month), ())
ORDER BY admin1_code, month
"""


def summary(ctx: Context) -> None:
    url = f"{SUMMARY}?group_by=admin1,month"
    if ctx.safeground is None or not ctx.has_route(SUMMARY):
        ctx.outcome.unavailable.append(f"summary: {SUMMARY} not available yet")
        return
    if not database.has_table(ctx.read_db, "land_releases"):
        ctx.outcome.unavailable.append("summary: no land_releases table yet")
        return
    hazards, releases = _sql(
        ctx.read_db, "SELECT (SELECT count(*) FROM hazard_areas), (SELECT count(*) FROM land_releases)"
    )[0]
    token = database.bench_token(ctx.read_db, "admin")
    headers = {"Authorization": f"Bearer {token}"}
    with _http(ctx.safeground, headers) as sg:
        first = sg.get(url)
        if first.status_code != 200:
            ctx.outcome.unavailable.append(f"summary: {url} answered {first.status_code}: {first.text[:200]}")
            return
        answer = first.json()
        rows = len(answer.get("rows", []))
        saved_auth, ctx.token = ctx.token, token
        try:
            _, statements = ctx.captured_sql(url, touching="land_releases")
        finally:
            ctx.token = saved_auth
        ids = [r[0] for r in _sql(ctx.read_db, "SELECT id FROM programmes ORDER BY id")]
        hand = _hand_summary_sql()
        from app.settings import get_settings

        params = {"ids": ids, "closure": get_settings().closure_threshold_m2}
        floor = ctx.floor([(hand, params)])
        timings = measure_together({"safeground": _getter(sg, url), "hand": floor}, ctx.sizes.runs)
        sg_timing = timings["safeground"]
    hand_rows, names = _sql_params(ctx.read_db, hand, params)
    total = dict(zip(names, next((r for r in hand_rows if r[0] is None), ()), strict=False))
    theirs = answer.get("totals", {})
    pairs = {
        "released_m2": "released",
        "hazards_closed": "closed",
        "tasks_completed": "tasks",
        "qa_visits": "qa",
    }
    differ = [
        f"{k} {theirs.get(k)} vs {total.get(v)}"
        for k, v in pairs.items()
        if not isinstance(theirs.get(k), int | float)
        or total.get(v) is None
        or not math.isclose(float(theirs[k]), float(total[v]), rel_tol=1e-9, abs_tol=1e-6)
    ]
    agree = (
        "totals agree (released m², closed, tasks, QA visits)"
        if not differ
        else "totals DIFFER: " + "; ".join(differ)
    )
    ctx.outcome.results.append(
        Result(
            "summary",
            f"all programmes by admin-1 and month ({hazards:,} hazards, {releases:,} releases)",
            sg_timing,
            [
                Comparison(
                    "hand-written SQL (psycopg2)",
                    timings["hand"],
                    1.5,
                    "≤ 1.5×",
                    note=f"{len(hand_rows) - 1} groups by hand; {agree}" if hand_rows else "",
                )
            ],
            note=f"{rows} rows",
            max_seconds=1.0,
            url=url,
            headers=headers,
            statements=statements,
        )
    )


def _sql_params(db: str, statement: str, params: dict[str, Any]) -> tuple[list[tuple[Any, ...]], list[str]]:
    with database.connect(db, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return list(cur.fetchall()), [d[0] for d in cur.description]


# -- throughput --------------------------------------------------------------------------
WRK_SCRIPT = """
local paths = {%(paths)s}
local i = 0
%(headers)s
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"p50\\":%%d,\\"p95\\":%%d,\\"p99\\":%%d,\\"errors\\":%%d,\\"non2xx\\":%%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def _mixed_paths(ctx: Context, flavour: str) -> list[str]:
    """A fixed, deterministic mix: 40 % single features, 30 % tiles, 30 % small bbox queries."""
    ids = [r[0] for r in _sql(ctx.read_db, "SELECT id FROM hazard_areas ORDER BY id")]
    lon, lat = densest_point(ctx.read_db)
    box, _ = bbox_with(ctx.read_db, (lon, lat), 100)
    half = (box[2] - box[0]) / 2
    paths: list[str] = []
    for k in range(300):
        kind = k % 10
        if kind < 4:
            fid = ids[(k * 7919) % len(ids)]
            paths.append(
                f"{ITEMS}/{fid}" if flavour == "sg" else f"{TIPG_COLLECTION}/items/{fid}?geom-column=geom"
            )
        elif kind < 7:
            z = 9 + k % 4
            dx, dy = ((k * 37) % 9 - 4) * 0.05, ((k * 53) % 9 - 4) * 0.05
            x, y = tile_of(lon + dx, lat + dy, z)
            paths.append(
                TILE.format(z=z, y=y, x=x)
                if flavour == "sg"
                else f"{TIPG_COLLECTION}/tiles/WebMercatorQuad/{z}/{x}/{y}?geom-column=geom"
                "&properties=reference,classification,status"
            )
        else:
            dx, dy = ((k * 31) % 7 - 3) * half, ((k * 17) % 7 - 3) * half
            b = f"{box[0] + dx:.5f},{box[1] + dy:.5f},{box[2] + dx:.5f},{box[3] + dy:.5f}"
            paths.append(
                f"{ITEMS}?bbox={b}&limit=100"
                if flavour == "sg"
                else f"{TIPG_COLLECTION}/items?bbox={b}&limit=100&geom-column=geom"
            )
    return paths


def throughput(ctx: Context) -> None:
    if ctx.safeground is None or not (ctx.has_route(ITEMS) and ctx.has_route(ITEMS + "/1")):
        ctx.outcome.unavailable.append("throughput: items / single-feature routes not available yet")
        return
    wrk = shutil.which("wrk")
    if wrk is None:
        ctx.outcome.unavailable.append("throughput: `wrk` is not installed (apt-get install wrk)")
        return
    tile_ok = ctx.has_route(TILE.format(z=6, y=30, x=40))
    targets: list[tuple[str, Server, str, dict[str, str]]] = [("SafeGround", ctx.safeground, "sg", ctx.auth)]
    if ctx.tipg is not None:
        targets.append(("tipg " + _tipg_version(), ctx.tipg, "tipg", {}))
    for label, server, flavour, headers in targets:
        paths = _mixed_paths(ctx, flavour)
        if not tile_ok:
            paths = [p for p in paths if "/tiles/" not in p]
        with httpx.Client(base_url=server.base, headers=headers, timeout=60) as client:
            bad = [p for p in paths[:10] if client.get(p).status_code != 200]
        script = ctx.work_dir / f"mix-{flavour}.lua"
        header_lua = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
        script.write_text(
            WRK_SCRIPT % {"paths": ",".join(json.dumps(p) for p in paths), "headers": header_lua}
        )
        seconds = ctx.sizes.throughput_seconds
        # One client thread, 8 connections: the load tool itself must not starve 2 cores.
        cmd = [wrk, "-t1", "-c8", f"-d{seconds}s", "--timeout", "30s", "-s", str(script), server.base]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
        match = re.search(r"^BENCH (\{.*\})$", proc.stdout, re.MULTILINE)
        if not match:
            ctx.outcome.unavailable.append(f"throughput ({label}): wrk failed: {proc.stderr[-300:]}")
            continue
        data = json.loads(match.group(1))
        duration = data["duration_us"] / 1e6
        ctx.outcome.throughput.append(
            Throughput(
                label,
                data["requests"] / duration,
                data["p50"] / 1000,
                data["p95"] / 1000,
                data["p99"] / 1000,
                data["requests"],
                duration,
                data["errors"],
                data["non2xx"],
                note=("mix without tiles; " if not tile_ok else "")
                + (f"warm-up saw non-200 for {len(bad)} of 10 paths" if bad else ""),
            )
        )


def new_work_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="sg-bench-"))


def profile_missed(ctx: Context, seconds: int) -> None:
    """Profile every HTTP case that missed a target (once per URL)."""
    from bench import profile
    from bench.report import RESULTS

    done: set[str] = set()
    if ctx.sizes.label == "full":
        # Raw stacks of an earlier run would be mistaken for this one's.
        for old in (RESULTS / "profiles").glob("full-*.txt"):
            old.unlink()
    for result in ctx.outcome.results:
        missed = [c for c in result.comparisons if result.met(c) is False] or result.absolute_met() is False
        key = result.url or " ".join(result.command)
        if not missed or not key or key in done:
            continue
        done.add(key)
        # The full run keeps its raw stacks beside its results; a quick run's are throw-away.
        folder = RESULTS / "profiles" if ctx.sizes.label == "full" else ctx.work_dir
        out = folder / f"{ctx.sizes.label}-{result.scenario}-{len(done)}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        print(f"  profiling {result.scenario} / {result.case}")
        if result.url:
            headers = result.headers or ctx.auth
            ctx.outcome.profiles.append(profile.profile_case(ctx.read_db, result.url, headers, seconds, out))
            if result.statements:
                try:
                    ctx.outcome.profiles.append(
                        profile.explain(database.db_url(ctx.read_db), result.statements)
                    )
                except Exception as exc:  # a plan we cannot explain is a note, not a failed run
                    ctx.outcome.profiles.append(f"(EXPLAIN failed: {exc})")
        else:
            database.copy_of(database.BASE_DB, database.IMPORT_DB)
            env = {**os.environ, "SAFEGROUND_DATABASE_URL": database.db_url(database.IMPORT_DB)}
            title = f"`{' '.join(Path(a).name if '/' in a else a for a in result.command)}`"
            ctx.outcome.profiles.append(profile.profile_command(result.command, env, out, title))
            database.drop(database.IMPORT_DB)
