"""From query parameters to one SQL query with bound parameters.

Shared by /items, vector tiles, CSV and exports, so that ``bbox``, ``datetime``, property
filters and CQL2 mean the same thing everywhere. Every value a client sends becomes a bound
parameter; names (properties, sort keys) are looked up in the collection's registry entry.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from starlette.datastructures import QueryParams

from app.errors import Problem
from app.ogc import cql
from app.ogc import crs as crs_mod
from app.ogc.access import Access
from app.ogc.collections import Prop

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_SORT_KEYS = 3

# Parameters every data endpoint understands; property names of the queryables come on top.
FILTER_PARAMS = {"bbox", "bbox-crs", "datetime", "filter", "filter-lang", "filter-crs"}
ITEMS_PARAMS = FILTER_PARAMS | {"f", "limit", "sortby", "cursor", "crs"}


def bad(parameter: str, detail: str, **extra: Any) -> Problem:
    return Problem(400, detail, "Invalid parameter", parameter=parameter, **extra)


@dataclass
class Query:
    """The WHERE clause and bound parameters for one collection and one caller."""

    access: Access
    where: list[str]
    params: dict[str, Any]
    filter_params: cql.Params = field(default_factory=cql.Params)

    @property
    def from_sql(self) -> str:
        c = self.access.collection
        return f"{c.table} t JOIN programmes p ON p.id = {c.programme_column}"

    @property
    def where_sql(self) -> str:
        return " AND ".join(self.where)

    def all_params(self) -> dict[str, Any]:
        return {**self.params, **self.filter_params.values}

    def properties(self) -> dict[str, Prop]:
        props = {p.name: p for p in self.access.visible_properties() if p.queryable}
        props["id"] = Prop("id", "integer", "Identifier", sql=self.access.collection.id_column)
        return props


def check_names(query_params: QueryParams, allowed: set[str], properties: dict[str, Prop]) -> None:
    for name in query_params:
        if name not in allowed and name not in properties:
            raise bad(
                name,
                f"Unknown parameter {name!r}.",
                allowed=sorted(allowed) + sorted(properties),
            )
        if len(query_params.getlist(name)) > 1:
            raise bad(name, f"The parameter {name!r} is given more than once.")


def build(access: Access, query_params: QueryParams, allowed: set[str]) -> Query:
    """Visibility + bbox + datetime + property equality + CQL2, as one WHERE clause."""
    query = Query(access, [access.visibility_sql()], {"vis_ids": access.programme_ids})
    properties = query.properties()
    check_names(query_params, allowed, properties)
    collection = access.collection
    offered = crs_mod.supported(access.utm_epsg)

    bbox = query_params.get("bbox")
    if bbox is not None:
        bbox_crs = crs_mod.parse(query_params.get("bbox-crs"), offered, "bbox-crs")
        query.where.append(_bbox_sql(bbox, bbox_crs, collection.geometry_column, query.params))
    elif "bbox-crs" in query_params:
        raise bad("bbox-crs", "bbox-crs needs bbox.")

    when = query_params.get("datetime")
    if when is not None:
        if collection.datetime_column is None:
            raise bad("datetime", f"{collection.id} has no date to filter on.")
        query.where.append(_datetime_sql(when, collection.datetime_column, query.params))

    for name, prop in properties.items():
        value = query_params.get(name)
        if value is not None:
            query.where.append(_equality_sql(prop, value, query.filter_params))

    text = query_params.get("filter")
    if text is not None:
        filter_crs = crs_mod.parse(query_params.get("filter-crs"), offered, "filter-crs")
        tree = cql.parse(text, query_params.get("filter-lang"))
        target = cql.Target(
            properties,
            collection.geometry_column,
            lambda bound: filter_crs.input_sql(f"ST_MakeValid(ST_GeomFromGeoJSON({bound}))"),
        )
        query.where.append(cql.to_sql(tree, target, query.filter_params))
    else:
        for name in ("filter-lang", "filter-crs"):
            if name in query_params:
                raise bad(name, f"{name} needs filter.")
    return query


def _finite(text: str, parameter: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise bad(parameter, f"{parameter}: {text!r} is not a number.") from None
    if not math.isfinite(value):
        raise bad(parameter, f"{parameter}: numbers must be finite.")
    return value


def _bbox_sql(text: str, crs: crs_mod.Crs, geometry: str, params: dict[str, Any]) -> str:
    parts = [_finite(v, "bbox") for v in text.split(",")]
    if len(parts) == 6:  # 3D bbox: the heights do not matter for 2D data
        parts = [parts[0], parts[1], parts[3], parts[4]]
    if len(parts) != 4:
        raise bad("bbox", "bbox needs 4 numbers: minx,miny,maxx,maxy (in the order of bbox-crs).")
    if crs.lat_first:  # EPSG:4326 is latitude first
        parts = [parts[1], parts[0], parts[3], parts[2]]
    x1, y1, x2, y2 = parts
    if x1 > x2 or y1 > y2:
        raise bad(
            "bbox",
            "bbox: the lower corner must come first (boxes across the antimeridian are not supported).",
        )
    if crs.geographic and (x1 < -180 or x2 > 180 or y1 < -90 or y2 > 90):
        raise bad("bbox", "bbox: longitudes must be within ±180 and latitudes within ±90.")
    params.update(bx1=x1, by1=y1, bx2=x2, by2=y2)
    if crs.geographic:
        envelope = "ST_MakeEnvelope(:bx1, :by1, :bx2, :by2, 4326)"
    else:
        # Densify before reprojecting so the box edges stay where the client drew them.
        envelope = (
            f"ST_Transform(ST_Segmentize(ST_MakeEnvelope(:bx1, :by1, :bx2, :by2, {crs.srid}), "
            f"GREATEST(:bx2 - :bx1, :by2 - :by1) / 32.0 + 1), 4326)"
        )
    return f"ST_Intersects({geometry}, {envelope})"


def _instant(text: str, parameter: str) -> tuple[datetime, bool]:
    """A datetime and whether it was a whole day (a date without time)."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC), True
        value = datetime.fromisoformat(text)
    except ValueError:
        raise bad(parameter, f"{parameter}: {text!r} is not an RFC 3339 date or date-time.") from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)), False


def _datetime_sql(text: str, column: str, params: dict[str, Any]) -> str:
    if "/" not in text:
        start, whole_day = _instant(text, "datetime")
        params["dt_start"] = start
        if whole_day:
            params["dt_end"] = start + timedelta(days=1)
            return f"({column} >= :dt_start AND {column} < :dt_end)"
        return f"{column} = :dt_start"
    first, _, second = text.partition("/")
    clauses = []
    if first not in ("", ".."):
        params["dt_start"] = _instant(first, "datetime")[0]
        clauses.append(f"{column} >= :dt_start")
    if second not in ("", ".."):
        end, whole_day = _instant(second, "datetime")
        params["dt_end"] = end + timedelta(days=1) if whole_day else end
        clauses.append(f"{column} {'<' if whole_day else '<='} :dt_end")
    if "dt_start" in params and "dt_end" in params and params["dt_start"] > params["dt_end"]:
        raise bad("datetime", "datetime: the interval ends before it starts.")
    return "(" + " AND ".join(clauses) + ")" if clauses else "TRUE"


def typed_value(prop: Prop, text: str) -> Any:
    """A query-string value converted to the property's type (400 if it does not fit)."""
    kind = prop.type
    try:
        if kind == "integer":
            value: Any = int(text)
            if abs(value) >= 2**63:
                raise ValueError
        elif kind == "number":
            value = _finite(text, prop.name)
        elif kind == "boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError
            value = text.lower() == "true"
        elif kind == "datetime":
            value = _instant(text, prop.name)[0]
        elif kind == "date":
            value = date.fromisoformat(text)
        else:
            value = text
    except ValueError:
        raise bad(prop.name, f"{prop.name}: {text!r} is not a valid {kind}.") from None
    if prop.enum and value not in prop.enum:
        raise bad(prop.name, f"{prop.name}: {text!r} is not one of {', '.join(prop.enum)}.")
    return value


def _equality_sql(prop: Prop, text: str, params: cql.Params) -> str:
    if prop.type == "string[]":
        # "contamination_types=AP" keeps records whose list contains AP.
        return f"{params.bind(text, 'text')} = ANY({prop.expr})"
    return f"{prop.expr} = {params.bind(typed_value(prop, text), cql.SQL_TYPES[prop.type])}"


# --- sorting and keyset paging ------------------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    prop: Prop
    descending: bool


def parse_sortby(text: str | None, properties: dict[str, Prop]) -> list[SortKey]:
    if not text:
        return []
    keys: list[SortKey] = []
    for raw in text.split(","):
        item = raw.strip()
        descending = item.startswith("-")
        name = item.lstrip("+-").strip()
        # A '+' in a query string arrives as a space.
        prop = properties.get(name)
        if prop is None or prop.type == "string[]":
            raise bad(
                "sortby",
                f"sortby: cannot sort on {name!r}.",
                sortable=sorted(n for n, p in properties.items() if p.type != "string[]"),
            )
        keys.append(SortKey(prop, descending))
    if len(keys) > MAX_SORT_KEYS:
        raise bad("sortby", f"sortby: at most {MAX_SORT_KEYS} keys.")
    return keys


def order_sql(keys: list[SortKey], id_column: str) -> str:
    parts = [f"{k.prop.expr} {'DESC' if k.descending else 'ASC'} NULLS LAST" for k in keys]
    return ", ".join([*parts, f"{id_column} ASC"])


def key_sql(keys: list[SortKey], id_column: str) -> str:
    """What identifies a row's position: its id, or a JSON array of sort values and the id."""
    if not keys:
        return id_column
    return f"json_build_array({', '.join(k.prop.expr for k in keys)}, {id_column})::text"


def encode_cursor(key: Any) -> str:
    if isinstance(key, int):
        return str(key)
    return base64.urlsafe_b64encode(str(key).encode()).decode().rstrip("=")


def cursor_sql(text: str, keys: list[SortKey], id_column: str, params: cql.Params) -> str:
    """The condition "after the row the cursor points at", in the same order as ``order_sql``."""
    if not keys:
        if not text.isdigit() or len(text) > 18:
            raise bad("cursor", "cursor: use the next link of the previous page.")
        return f"{id_column} > {params.bind(int(text), 'bigint')}"
    try:
        values = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise bad("cursor", "cursor: use the next link of the previous page.") from None
    if not isinstance(values, list) or len(values) != len(keys) + 1 or not isinstance(values[-1], int):
        raise bad("cursor", "cursor: it does not match sortby; use the next link of the previous page.")

    def after(index: int) -> str:
        if index == len(keys):
            return f"{id_column} > {params.bind(values[-1], 'bigint')}"
        key, value = keys[index], values[index]
        if value is None:  # nulls sort last: only later nulls remain
            return f"({key.prop.expr} IS NULL AND {after(index + 1)})"
        bound = params.bind(value if key.prop.type != "integer" else int(value), cql.SQL_TYPES[key.prop.type])
        op = "<" if key.descending else ">"
        return (
            f"({key.prop.expr} {op} {bound} OR {key.prop.expr} IS NULL "
            f"OR ({key.prop.expr} = {bound} AND {after(index + 1)}))"
        )

    return after(0)


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise bad("limit", f"limit must be an integer from 1 to {MAX_LIMIT}.")
    return int(text)


# --- feature SQL --------------------------------------------------------------------------------


def properties_sql(access: Access, exclude: tuple[str, ...] = ()) -> str:
    """``json_build_object`` of the visible properties; a CASE when programmes hide different ones."""

    def build(props: tuple[Prop, ...]) -> str:
        pairs = ", ".join(f"'{p.name}', {p.expr}" for p in props if p.name not in exclude)
        return f"json_build_object({pairs})"

    groups = access.property_groups()
    if len(groups) == 1:
        return build(groups[0][1])
    branches = " ".join(
        f"WHEN {access.collection.programme_column} IN ({', '.join(str(i) for i in ids)}) THEN {build(props)}"
        for ids, props in groups
    )
    return f"CASE {branches} END"


def feature_sql(access: Access, out: crs_mod.Crs) -> str:
    """A GeoJSON Feature as text. Concatenated rather than nested JSON so that PostgreSQL does
    not parse every geometry back after writing it."""
    c = access.collection
    geometry = f"ST_AsGeoJSON({out.output_sql(c.geometry_column)}, {out.precision}, 0)"
    return (
        f"""'{{"type":"Feature","id":' || {c.id_column} || ',"geometry":' || COALESCE({geometry}, 'null') """
        f"""|| ',"properties":' || {properties_sql(access)}::text || '}}'"""
    )
