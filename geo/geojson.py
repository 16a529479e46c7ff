"""GeoJSON FeatureCollections built in SQL and streamed to the client.

Each row's Feature is made by PostgreSQL (``ST_AsGeoJSON`` inside ``json_build_object``); Python
only joins the rows with commas. Paging is keyset paging on an integer key: the query fetches
``limit + 1`` rows ordered by the key, and a ``next`` link carries the last key sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.datastructures import URL
from starlette.responses import StreamingResponse

GEOJSON = "application/geo+json"
CHUNK_BYTES = 256 * 1024


def stream_rows(engine: Engine, sql: str, params: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Rows of ``sql`` from a server-side cursor on a connection of its own.

    The stream owns its connection, so it does not depend on the request's session still
    being open while the body is sent.
    """
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=500).execute(text(sql), params)
        for row in result:
            yield tuple(row)


_END = object()


def primed(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Run the query now, so that an SQL error becomes a problem response, not a cut stream."""
    first = next(rows, _END)

    def chained() -> Iterator[tuple[Any, ...]]:
        if first is not _END:
            yield first  # type: ignore[misc]
        yield from rows

    return chained()


def feature_collection_stream(
    rows: Iterator[tuple[Any, ...]],
    limit: int,
    next_url: Callable[[Any], str] | None = None,
    extra: dict[str, Any] | None = None,
    links: list[dict[str, Any]] | None = None,
) -> Iterator[bytes]:
    """Join ``(feature_json_text, key)`` rows into a FeatureCollection.

    One row more than ``limit`` means there is a next page; its link is built from the key
    of the last row sent.
    """
    # Rows are joined into chunks of about CHUNK_BYTES: each chunk a sync stream hands to the
    # server costs a thread hop, so one chunk per feature would dominate the response time.
    chunk: list[bytes] = [b'{"type":"FeatureCollection","features":[']
    size = 0
    count = 0
    last_key: Any = None
    has_more = False
    for feature, key in rows:
        if count == limit:
            has_more = True
            break
        data = feature.encode() if isinstance(feature, str) else orjson.dumps(feature)
        chunk.append(b"," + data if count else data)
        size += len(data)
        last_key = key
        count += 1
        if size >= CHUNK_BYTES:
            yield b"".join(chunk)
            chunk, size = [], 0
    yield b"".join(chunk)
    tail: dict[str, Any] = {"numberReturned": count}
    all_links = list(links or [])
    if has_more and next_url is not None:
        all_links.append({"rel": "next", "type": GEOJSON, "href": next_url(last_key)})
    tail["links"] = all_links
    if extra:
        tail.update(extra)
    yield b"]," + orjson.dumps(tail)[1:]


def next_link(url: URL, param: str = "after") -> Callable[[Any], str]:
    def build(last_key: Any) -> str:
        return str(url.include_query_params(**{param: last_key}))

    return build


def geojson_response(body: Iterator[bytes], headers: dict[str, str] | None = None) -> StreamingResponse:
    return StreamingResponse(body, media_type=GEOJSON, headers=headers)
