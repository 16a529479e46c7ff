"""OGC API – Features: the SQL side of items, single features, extents and CSV.

Routers call these; each function runs at most a couple of queries and streams rows straight
from a server-side cursor.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import anyio
import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from app.ogc import crs as crs_mod
from app.ogc.access import Access
from app.ogc.collections import Prop
from app.ogc.query import Query, SortKey, encode_cursor, feature_sql, key_sql, order_sql
from geo.geojson import CHUNK_BYTES, GEOJSON

# Up to this many matches numberMatched is exact; beyond, the planner's estimate is given.
EXACT_COUNT_CAP = 10_000
FETCH_ROWS = 2000


def items_sql(
    query: Query, out: crs_mod.Crs, keys: list[SortKey], cursor_condition: str | None, limit: int
) -> str:
    c = query.access.collection
    where = query.where + ([cursor_condition] if cursor_condition else [])
    return (
        f"SELECT {feature_sql(query.access, out)} AS feature, {key_sql(keys, c.id_column)} AS key "
        f"FROM {query.from_sql} WHERE {' AND '.join(where)} "
        f"ORDER BY {order_sql(keys, c.id_column)} LIMIT {int(limit) + 1}"
    )


def stream_on(conn: Connection, sql: str, params: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Rows from a server-side cursor on ``conn``, which the stream owns and closes at its end
    (the request reuses the connection it read the programmes on: fewer round trips)."""
    try:
        result = conn.execution_options(stream_results=True, yield_per=FETCH_ROWS).execute(text(sql), params)
        for row in result:
            yield tuple(row)
    finally:
        conn.close()


@dataclass
class Batch:
    """Features of one fetch, encoded as comma-joined chunks of about CHUNK_BYTES."""

    chunks: list[bytes]
    count: int
    last_key: Any


class Page:
    """One page of ``(feature_json_text, key)`` rows, read in batches from a server-side cursor
    on ``conn`` (the query reads ``limit + 1`` rows: one more means there is a next page).

    Opening it runs the query and reads the first batch, so an SQL error becomes a problem
    response rather than a cut stream. The page owns ``conn`` and closes it when streamed.
    """

    def __init__(self, conn: Connection, sql: str, params: dict[str, Any], limit: int) -> None:
        self.conn = conn
        self.limit = limit
        self.fetched = 0
        self.exhausted = False
        self.sent = 0
        self.has_more = False
        self.closed = False
        # Per statement: Connection.execution_options() would turn every later query on the
        # connection (the match count) into a cursor too.
        self.result = conn.execute(
            text(sql), params, execution_options={"stream_results": True, "yield_per": FETCH_ROWS}
        )
        self.first = self.encode(self.fetch())

    @property
    def more_to_fetch(self) -> bool:
        return not self.exhausted and self.fetched <= self.limit

    def fetch(self) -> Sequence[Any]:
        """The next rows from the database (one call at a time: the connection is not shared)."""
        rows = self.result.fetchmany(FETCH_ROWS)
        self.fetched += len(rows)
        self.exhausted = len(rows) < FETCH_ROWS  # a short batch is the end: no further round trip
        return rows

    def encode(self, rows: Sequence[Any]) -> Batch:
        """The rows' features as chunks of about CHUNK_BYTES (bigger ones cost more to copy and
        send than they save, measured; one per feature would cost a send each)."""
        room = self.limit - self.sent
        if len(rows) > room:
            self.has_more = True
            rows = rows[:room]
        features = [row[0] for row in rows]
        chunks: list[bytes] = []
        begin = size = 0
        for i, feature in enumerate(features):
            size += len(feature)
            if size >= CHUNK_BYTES or i == len(features) - 1:
                text_ = ",".join(features[begin : i + 1])
                # Joined as text and encoded once per chunk: a per-feature encode costs more.
                chunks.append(("," + text_ if self.sent or begin else text_).encode())
                begin, size = i + 1, 0
        self.sent += len(features)
        return Batch(chunks, len(features), rows[-1][1] if rows else None)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.result.close()
            self.conn.close()


def stream_items(
    page: Page,
    query: Query,
    first_page: bool,
    next_url: Callable[[str], str],
    links: list[dict[str, Any]],
) -> AsyncIterator[bytes]:
    """The FeatureCollection, streamed: rows as PostgreSQL wrote them, then the paging members.

    Three things overlap: the database works on the next batch (a worker thread waits for it),
    another worker thread encodes the batch just read, and the event loop sends the one before.
    A page that fits in the first batch (the usual case: up to FETCH_ROWS features) needs no
    worker thread at all.
    """
    if not page.more_to_fetch and first_page and not page.has_more:
        page.close()  # the rows and their count are all in hand: the connection can go back now

    async def body() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        fetching: asyncio.Future[Sequence[Any]] | None = None
        try:
            head = b'{"type":"FeatureCollection","features":['
            last_key: Any = None
            batch = page.first
            if page.more_to_fetch:
                fetching = loop.run_in_executor(None, page.fetch)
            while True:
                for chunk in batch.chunks:
                    yield head + chunk
                    head = b""
                if batch.count:
                    last_key = batch.last_key
                if fetching is None:
                    break
                rows = await fetching
                fetching = loop.run_in_executor(None, page.fetch) if page.more_to_fetch else None
                batch = await loop.run_in_executor(None, page.encode, rows)
            # The whole result fitted in one page: its size is the exact match count, for free.
            if first_page and not page.has_more:
                matched = page.sent
            else:
                matched = await anyio.to_thread.run_sync(number_matched, page.conn, query)
            all_links = list(links)
            if page.has_more:
                all_links.append(
                    {
                        "rel": "next",
                        "type": GEOJSON,
                        "title": "Next page",
                        "href": next_url(encode_cursor(last_key)),
                    }
                )
            tail = {
                "numberReturned": page.sent,
                "numberMatched": matched,
                "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "links": all_links,
            }
            yield head + b"]," + orjson.dumps(tail)[1:]
        finally:
            # Also when the client goes away mid-stream: let a fetch in flight finish (the
            # connection is not shared between threads), then give the connection back.
            with anyio.CancelScope(shield=True):
                if fetching is not None and not fetching.done():
                    await asyncio.wait([fetching])
                if not page.closed:
                    await anyio.to_thread.run_sync(page.close)

    return body()


def number_matched(conn: Connection, query: Query) -> int:
    """Exact up to EXACT_COUNT_CAP matches; above that the planner's estimate (a big table is
    not counted on every page)."""
    base = f"SELECT 1 FROM {query.from_sql} WHERE {query.where_sql}"
    capped = conn.execute(
        text(f"SELECT count(*) FROM ({base} LIMIT {EXACT_COUNT_CAP + 1}) s"), query.all_params()
    ).scalar_one()
    if capped <= EXACT_COUNT_CAP:
        return int(capped)
    plan = conn.execute(text(f"EXPLAIN (FORMAT JSON) {base}"), query.all_params()).scalar_one()
    return max(int(plan[0]["Plan"]["Plan Rows"]), EXACT_COUNT_CAP + 1)


def one_feature(engine: Engine, query: Query, out: crs_mod.Crs, feature_id: int) -> str | None:
    c = query.access.collection
    sql = (
        f"SELECT {feature_sql(query.access, out)} FROM {query.from_sql} "
        f"WHERE {query.where_sql} AND {c.id_column} = :feature_id"
    )
    with engine.connect() as conn:
        return conn.execute(text(sql), {**query.all_params(), "feature_id": feature_id}).scalar()


def extent(engine: Engine, query: Query) -> dict[str, Any]:
    """Spatial (CRS84) and temporal extent of what this caller can see."""
    c = query.access.collection
    dt = c.datetime_column or "NULL::timestamptz"
    sql = (
        f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), t0, t1 FROM ("
        f"SELECT ST_Extent({c.geometry_column}) AS e, min({dt}) AS t0, max({dt}) AS t1 "
        f"FROM {query.from_sql} WHERE {query.where_sql}) s"
    )
    with engine.connect() as conn:
        row = conn.execute(text(sql), query.all_params()).one()
    extent: dict[str, Any] = {}
    if row[0] is not None:
        extent["spatial"] = {"bbox": [[round(v, 7) for v in row[:4]]], "crs": crs_mod.CRS84}
    else:
        extent["spatial"] = {"bbox": [[-180.0, -90.0, 180.0, 90.0]], "crs": crs_mod.CRS84}
    if c.datetime_column:
        interval = [_iso(row[4]), _iso(row[5])]
        extent["temporal"] = {
            "interval": [interval],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    return extent


def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime):  # a date column (release date, visit date): start of day
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- flat rows: CSV and file exports ------------------------------------------------------------


def flat_columns(access: Access) -> list[Prop]:
    """Properties every visible programme shows (a table has one set of columns)."""
    return list(access.visible_properties())


def flat_sql(query: Query, out: crs_mod.Crs, geometry_as: str = "wkt", limit: int | None = None) -> str:
    """One row per feature: id, the properties as plain columns (lists joined with ';'), geometry."""
    c = query.access.collection
    columns = [f"{c.id_column} AS id"]
    for prop in flat_columns(query.access):
        expr = f"array_to_string({prop.expr}, ';')" if prop.type == "string[]" else prop.expr
        columns.append(f'{expr} AS "{prop.name}"')
    geometry = out.output_sql(c.geometry_column)
    if geometry_as == "wkt":
        columns.append(f"ST_AsText({geometry}, {out.precision}) AS geometry_wkt")
    else:
        columns.append(f"ST_AsBinary({geometry}) AS geometry")
    sql = f"SELECT {', '.join(columns)} FROM {query.from_sql} WHERE {query.where_sql} ORDER BY {c.id_column}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql


def safe_cell(value: Any) -> Any:
    """Neutralise text a spreadsheet would run as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def csv_stream(query: Query, rows: Iterator[tuple[Any, ...]]) -> Iterator[bytes]:
    header = ["id"] + [p.name for p in flat_columns(query.access)] + ["geometry_wkt"]

    def body() -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for row in rows:
            writer.writerow([safe_cell(v) for v in row])
            if buffer.tell() >= CHUNK_BYTES:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()

    return body()
