"""CQL2 filters (text and JSON) turned into SQL with bound parameters.

pygeofilter parses the filter into a syntax tree; this module walks the tree and writes a SQL
condition in which every value the client sent is a bound parameter (``:f0``, ``:f1`` …) and
every property name has been checked against the collection's queryables. Nothing the client
sends is ever pasted into SQL text.

Supported (OGC API Features Part 3, "basic-cql2" and a little more): AND/OR/NOT, = <> < <= > >=,
BETWEEN, LIKE, IN, IS NULL, CASEI, spatial predicates (S_INTERSECTS, S_WITHIN, S_CONTAINS, …)
against a geometry literal or BBOX, temporal comparisons, and array operators.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import orjson
import shapely
import shapely.geometry
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_cql2_json
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text

from app.errors import Problem
from app.ogc.collections import Prop

SQL_TYPES = {
    "string": "text",
    "integer": "bigint",
    "number": "double precision",
    "boolean": "boolean",
    "datetime": "timestamptz",
    "date": "date",
    "string[]": "text[]",
}

COMPARISONS = {
    ast.ComparisonOp.EQ: "=",
    ast.ComparisonOp.NE: "<>",
    ast.ComparisonOp.LT: "<",
    ast.ComparisonOp.LE: "<=",
    ast.ComparisonOp.GT: ">",
    ast.ComparisonOp.GE: ">=",
}

SPATIAL = {
    ast.SpatialComparisonOp.INTERSECTS: "ST_Intersects",
    ast.SpatialComparisonOp.DISJOINT: "ST_Disjoint",
    ast.SpatialComparisonOp.CONTAINS: "ST_Contains",
    ast.SpatialComparisonOp.WITHIN: "ST_Within",
    ast.SpatialComparisonOp.TOUCHES: "ST_Touches",
    ast.SpatialComparisonOp.CROSSES: "ST_Crosses",
    ast.SpatialComparisonOp.OVERLAPS: "ST_Overlaps",
    ast.SpatialComparisonOp.EQUALS: "ST_Equals",
}

ARRAYS = {
    ast.ArrayEquals: "=",
    ast.ArrayContains: "@>",
    ast.ArrayContainedBy: "<@",
    ast.ArrayOverlaps: "&&",
}

MAX_FILTER_CHARS = 20_000


class FilterError(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(400, detail, "Invalid filter", parameter="filter")


@dataclass
class Params:
    """Bound parameters of one query; names are generated, values are the client's."""

    values: dict[str, Any] = field(default_factory=dict)
    prefix: str = "f"

    def bind(self, value: Any, sql_type: str | None = None) -> str:
        name = f"{self.prefix}{len(self.values)}"
        self.values[name] = value
        return f"CAST(:{name} AS {sql_type})" if sql_type else f":{name}"


@dataclass(frozen=True)
class Target:
    """What a filter may refer to: the queryable properties and the geometry."""

    properties: dict[str, Prop]
    geometry_sql: str
    # SQL turning a bound GeoJSON geometry (in the filter CRS) into EPSG:4326.
    geometry_input: Callable[[str], str]


def parse(text: str, lang: str | None) -> ast.AstType:
    """Parse ``filter`` in ``filter-lang`` (cql2-text by default, or cql2-json)."""
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(f"The filter is longer than {MAX_FILTER_CHARS} characters.")
    lang = lang or "cql2-text"
    try:
        if lang == "cql2-text":
            return parse_cql2_text(text)
        if lang == "cql2-json":
            return parse_cql2_json(_fix_json_bbox(orjson.loads(text)))
    except FilterError:
        raise
    except Exception as exc:  # pygeofilter raises lark, ValueError, KeyError… for bad input
        first_line = str(exc).strip().split("\n")[0][:300]
        raise FilterError(f"The {lang} filter could not be parsed: {first_line}") from None
    raise Problem(400, "filter-lang must be cql2-text or cql2-json.", parameter="filter-lang")


def _fix_json_bbox(node: Any) -> Any:
    """pygeofilter 0.4 reads a CQL2-JSON ``{"bbox": [minx, miny, maxx, maxy]}`` in the wrong
    order; hand it a polygon instead."""
    if isinstance(node, dict):
        bbox = node.get("bbox")
        if len(node) == 1 and isinstance(bbox, list) and len(bbox) in (4, 6):
            return _bbox_polygon([_number(v) for v in bbox])
        return {k: _fix_json_bbox(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_fix_json_bbox(v) for v in node]
    return node


def _bbox_polygon(b: list[float]) -> dict[str, Any]:
    x1, y1, x2, y2 = (b[0], b[1], b[3], b[4]) if len(b) == 6 else b
    ring = [[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]
    return {"type": "Polygon", "coordinates": [ring]}


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise FilterError(f"BBOX needs numbers, got {v!r}.")
    return float(v)


def to_sql(node: ast.AstType, target: Target, params: Params) -> str:
    return _Writer(target, params).condition(node)


class _Writer:
    def __init__(self, target: Target, params: Params) -> None:
        self.target = target
        self.params = params

    # --- conditions -------------------------------------------------------------------------
    def condition(self, node: Any) -> str:
        if isinstance(node, ast.And | ast.Or):
            op = "AND" if isinstance(node, ast.And) else "OR"
            return f"({self.condition(node.lhs)} {op} {self.condition(node.rhs)})"
        if isinstance(node, ast.Not):
            return f"(NOT {self.condition(node.sub_node)})"
        if isinstance(node, ast.Comparison):
            return self.comparison(node)
        if isinstance(node, ast.Between):
            lhs, kind = self.expression(node.lhs)
            low = self.literal(node.low, kind)
            high = self.literal(node.high, kind)
            return f"({lhs} {'NOT ' if node.not_ else ''}BETWEEN {low} AND {high})"
        if isinstance(node, ast.Like):
            lhs, kind = self.expression(node.lhs)
            if kind != "string":
                raise FilterError("LIKE applies to text properties only.")
            if not isinstance(node.pattern, str):
                raise FilterError("LIKE needs a text pattern.")
            like = "ILIKE" if node.nocase else "LIKE"
            pattern = self.params.bind(node.pattern, "text")
            return f"({lhs} {'NOT ' if node.not_ else ''}{like} {pattern})"
        if isinstance(node, ast.In):
            lhs, kind = self.expression(node.lhs)
            if kind == "string[]":
                raise FilterError("IN applies to single values; use A_OVERLAPS for arrays.")
            items = [self._value(v, kind) for v in node.sub_nodes]
            array = self.params.bind(items, SQL_TYPES[kind] + "[]")
            return f"({'NOT ' if node.not_ else ''}{lhs} = ANY({array}))"
        if isinstance(node, ast.IsNull):
            lhs, _ = self.expression(node.lhs)
            return f"({lhs} IS {'NOT ' if node.not_ else ''}NULL)"
        if isinstance(node, ast.SpatialComparisonPredicate):
            return self.spatial(node)
        if isinstance(node, ast.TemporalPredicate):
            return self.temporal(node)
        if isinstance(node, ast.ArrayPredicate):
            lhs, kind = self.expression(node.lhs)
            if kind != "string[]":
                raise FilterError("Array operators apply to list properties (e.g. contamination_types).")
            rhs = node.rhs if isinstance(node.rhs, list) else [node.rhs]
            array = self.params.bind([self._value(v, "string") for v in rhs], "text[]")
            return f"({lhs} {ARRAYS[type(node)]} {array})"
        if isinstance(node, bool):
            return "TRUE" if node else "FALSE"
        raise FilterError(f"This filter construct is not supported: {_describe(node)}.")

    def comparison(self, node: ast.Comparison) -> str:
        op = COMPARISONS[node.op]
        if isinstance(node.lhs, ast.Attribute | ast.Function):
            lhs, kind = self.expression(node.lhs)
            rhs = self.operand(node.rhs, kind)
        elif isinstance(node.rhs, ast.Attribute | ast.Function):
            rhs, kind = self.expression(node.rhs)
            lhs = self.operand(node.lhs, kind)
        else:
            raise FilterError("A comparison needs a property on one side.")
        if kind == "string[]":
            raise FilterError("Compare list properties with A_CONTAINS, A_OVERLAPS or A_EQUALS.")
        return f"({lhs} {op} {rhs})"

    def spatial(self, node: ast.SpatialComparisonPredicate) -> str:
        function = SPATIAL[node.op]
        lhs = self.geometry(node.lhs)
        rhs = self.geometry(node.rhs)
        return f"{function}({lhs}, {rhs})"

    def temporal(self, node: ast.TemporalPredicate) -> str:
        lhs, kind = self.expression(node.lhs)
        if kind not in ("datetime", "date"):
            raise FilterError("Temporal operators apply to date and time properties.")
        rhs = node.rhs
        if isinstance(rhs, values.Interval):
            start = self.literal(rhs.start, kind) if rhs.start is not None else None
            end = self.literal(rhs.end, kind) if rhs.end is not None else None
            if isinstance(node, ast.TimeDuring | ast.TimeEquals):
                parts = [f"{lhs} >= {start}" if start else "", f"{lhs} <= {end}" if end else ""]
                return "(" + " AND ".join(p for p in parts if p) + ")" if any(parts) else "TRUE"
            if isinstance(node, ast.TimeAfter) and end:
                return f"({lhs} > {end})"
            if isinstance(node, ast.TimeBefore) and start:
                return f"({lhs} < {start})"
            raise FilterError(f"Unsupported temporal operator with an interval: {_describe(node)}.")
        value = self.literal(rhs, kind)
        if isinstance(node, ast.TimeAfter):
            return f"({lhs} > {value})"
        if isinstance(node, ast.TimeBefore):
            return f"({lhs} < {value})"
        if isinstance(node, ast.TimeEquals):
            return f"({lhs} = {value})"
        if isinstance(node, ast.TimeDisjoint):
            return f"({lhs} <> {value})"
        raise FilterError(f"Unsupported temporal operator: {_describe(node)}.")

    # --- expressions ------------------------------------------------------------------------
    def expression(self, node: Any) -> tuple[str, str]:
        """SQL and type of a property reference (or CASEI/ACCENTI of one)."""
        if isinstance(node, ast.Attribute):
            prop = self.target.properties.get(node.name)
            if prop is None:
                raise FilterError(
                    f"Unknown property {node.name!r}; see /queryables for the properties you can filter on."
                )
            return prop.expr, prop.type
        if (
            isinstance(node, ast.Function)
            and node.name.lower() in ("lower", "casei")
            and len(node.arguments) == 1
        ):
            inner, kind = self.expression(node.arguments[0])
            if kind != "string":
                raise FilterError("CASEI applies to text properties only.")
            return f"lower({inner})", kind
        raise FilterError(f"Expected a property name, got {_describe(node)}.")

    def operand(self, node: Any, kind: str) -> str:
        if (
            isinstance(node, ast.Function)
            and node.name.lower() in ("lower", "casei")
            and len(node.arguments) == 1
        ):
            return f"lower({self.literal(node.arguments[0], kind)})"
        if isinstance(node, ast.Attribute):
            other, other_kind = self.expression(node)
            if other_kind != kind:
                raise FilterError("Both sides of a comparison must be of the same type.")
            return other
        return self.literal(node, kind)

    def literal(self, value: Any, kind: str) -> str:
        return self.params.bind(self._value(value, kind), SQL_TYPES[kind])

    def _value(self, value: Any, kind: str) -> Any:
        """The Python value to bind, checked against the property's type (400 if it does not fit)."""
        try:
            if kind in ("string", "string[]"):
                if isinstance(value, str):
                    return value
            elif kind == "integer":
                if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
                    return value
                if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
                    return int(value)
            elif kind == "number":
                if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 1e300:
                    return float(value)
            elif kind == "boolean":
                if isinstance(value, bool):
                    return value
            elif kind == "datetime":
                if isinstance(value, datetime):
                    return value if value.tzinfo else value.replace(tzinfo=UTC)
                if isinstance(value, date):
                    return datetime(value.year, value.month, value.day, tzinfo=UTC)
                if isinstance(value, str):
                    return _value_datetime(value)
            elif kind == "date":
                if isinstance(value, datetime):
                    return value.date()
                if isinstance(value, date):
                    return value
                if isinstance(value, str):
                    return date.fromisoformat(value)
        except ValueError:
            pass
        raise FilterError(f"The value {_describe(value)} does not fit a {kind} property.")

    def geometry(self, node: Any) -> str:
        if isinstance(node, ast.Attribute):
            if node.name not in ("geometry", "geom"):
                raise FilterError(f"{node.name!r} is not the geometry; spatial operators use 'geometry'.")
            return self.target.geometry_sql
        if isinstance(node, values.Geometry):
            geojson = self.params.bind(_checked_geojson(node.geometry), "text")
            return self.target.geometry_input(geojson)
        if isinstance(node, ast.Function) and node.name.lower() == "bbox" and len(node.arguments) in (4, 6):
            polygon = _bbox_polygon([_number(v) for v in node.arguments])
            geojson = self.params.bind(orjson.dumps(polygon).decode(), "text")
            return self.target.geometry_input(geojson)
        raise FilterError(f"Expected the geometry or a geometry literal, got {_describe(node)}.")


def _checked_geojson(geometry: dict[str, Any]) -> str:
    """The literal as GeoJSON text, after checking shapely can read it with finite coordinates
    (so that PostGIS is never handed something it would fail on)."""
    try:
        shape = shapely.geometry.shape(geometry)
        coords = shapely.get_coordinates(shape)
    except Exception:  # shapely raises several types for malformed GeoJSON
        raise FilterError("The geometry literal in the filter is not valid.") from None
    if shape.is_empty or not np.isfinite(coords).all():
        raise FilterError("The geometry literal in the filter is empty or has non-finite coordinates.")
    return orjson.dumps(shapely.geometry.mapping(shape)).decode()


def _value_datetime(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _describe(node: Any) -> str:
    text = repr(node)
    return text if len(text) < 120 else text[:117] + "..."
