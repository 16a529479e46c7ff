"""Hazard areas: create (one or many, one code path), read, edit, review, delete, history.

No HTTP here (see ``survey/router.py``). Geometry leaves the database as GeoJSON built in
SQL; derived values (geodesic ``area_m2``, ``remaining_m2``, admin areas) are computed by
PostGIS in the same statement that writes the geometry. Every write goes through the audit
triggers (``app/audit.py``), which is also where history and "as of" answers come from.

Interfaces other packages use:

* :func:`insert_hazard_areas` — set-based bulk insert of checked polygons (imports, demo, API).
* :func:`check_hazard_attributes` and :data:`IMPORT_FIELDS` — attribute checks for files.
* :func:`hazard_features_sql` — the FeatureCollection query (API, exports).
"""

from __future__ import annotations

import io
import math
import struct
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.errors import Problem
from app.etag import check_version
from app.reference.models import Programme
from app.reference.service import next_references
from app.review import WRITERS, review_step
from geo.checks import (
    COPY_BINARY_HEADER,
    COPY_BINARY_TRAILER,
    FeatureCheck,
    PossibleDuplicate,
    check_polygons,
    copy_escape,
    copy_from,
    copy_lines,
    copy_text,
    find_possible_duplicates,
    load_temp_geometries,
)
from survey.models import REVIEW_STATUSES, HazardArea
from survey.schemas import (
    EDITABLE_COLUMNS,
    HazardColumns,
    HazardPropertiesIn,
    validate_hazard_properties,
)

if TYPE_CHECKING:  # annotations only: the command line's imports never load the web framework
    from app.deps import Scope

REFERENCE_KIND = "HA"

# Flat property names a file may carry (the import mapping's targets), as in geo/synthetic.py.
IMPORT_FIELDS: tuple[str, ...] = (
    "name",
    "classification",
    "status",
    "status_date",
    "status_reason",
    "contamination_types",
    "evidence_direct",
    "evidence_indirect",
    "information_source",
    "reliability",
    "blockages",
    "beneficiaries_women",
    "beneficiaries_men",
    "beneficiaries_girls",
    "beneficiaries_boys",
    "priority",
    "notes",
)

# -- SQL building blocks ----------------------------------------------------------------------


def _admin_ctes(source: str, key: str, geom: str) -> str:
    """CTEs ``cand`` and ``best``: per row of ``source``, the admin area of each level (1, 2)
    with the largest overlap with its geometry (``best(key, level, code, name)``).

    Set-based: one spatial join with the admin polygon on the outer side, so PostGIS reuses its
    prepared form; the costly intersection area is computed only for polygons that straddle a
    boundary. ``source`` needs a unique ``key`` (and a GiST index on ``geom`` when large).
    """
    return f"""cand AS (
        SELECT s.{key} AS key, a.id AS admin_id, a.level,
               count(*) OVER (PARTITION BY s.{key}, a.level) AS candidates
        FROM admin_areas a
        JOIN {source} s ON a.geom && s.{geom} AND ST_Intersects(a.geom, s.{geom})
        WHERE a.programme_id = :p AND a.level IN (1, 2)
    ), best AS (
        SELECT DISTINCT ON (c.key, c.level) c.key, c.level, a.code, a.name
        FROM cand c
        JOIN admin_areas a ON a.id = c.admin_id
        CROSS JOIN LATERAL (
            SELECT CASE WHEN c.candidates = 1 THEN 0 ELSE (
                SELECT ST_Area(ST_Intersection(a.geom, s.{geom})) FROM {source} s WHERE s.{key} = c.key
            ) END AS overlap
        ) o
        ORDER BY c.key, c.level, o.overlap DESC, a.code
    )"""


def _properties_sql(h: str = "h", p: str = "p") -> str:
    """json_build_object of a hazard's properties (the names partners' scripts rely on)."""
    return f"""json_build_object(
        'programme', {p}.code, 'reference', {h}.reference, 'name', {h}.name,
        'classification', {h}.classification, 'status', {h}.status,
        'status_date', {h}.status_date, 'status_reason', {h}.status_reason,
        'contamination_types', {h}.contamination_types, 'evidence', {h}.evidence,
        'information_source', {h}.information_source, 'reliability', {h}.reliability,
        'blockages', {h}.blockages,
        'beneficiaries', json_build_object('women', {h}.beneficiaries_women, 'men', {h}.beneficiaries_men,
                                           'girls', {h}.beneficiaries_girls, 'boys', {h}.beneficiaries_boys),
        'priority', {h}.priority, 'notes', {h}.notes,
        'area_m2', round({h}.area_m2::numeric, 2),
        'cancelled_m2', round({h}.cancelled_m2::numeric, 2), 'reduced_m2', round({h}.reduced_m2::numeric, 2),
        'cleared_m2', round({h}.cleared_m2::numeric, 2), 'remaining_m2', round({h}.remaining_m2::numeric, 2),
        'admin1_code', {h}.admin1_code, 'admin1_name', {h}.admin1_name,
        'admin2_code', {h}.admin2_code, 'admin2_name', {h}.admin2_name,
        'review_status', {h}.review_status, 'review_reason', {h}.review_reason,
        'reviewed_by', {h}.reviewed_by, 'reviewed_at', {h}.reviewed_at,
        'version', {h}.version, 'import_id', {h}.import_id,
        'created_by', {h}.created_by, 'created_at', {h}.created_at,
        'updated_by', {h}.updated_by, 'updated_at', {h}.updated_at)"""


# Properties a programme hides from partners: ``notes`` or ``hazard_areas.notes`` in
# programmes.sensitive_fields (the same rule as the OGC API, app/ogc/access.py).
_HIDDEN_SQL = """ARRAY(
    SELECT regexp_replace(f, '^hazard_areas[.]', '') FROM unnest({p}.sensitive_fields) f
    WHERE position('.' in f) = 0 OR starts_with(f, 'hazard_areas.'))"""


def _feature_sql(h: str = "h", p: str = "p", redact: bool = False) -> str:
    properties = _properties_sql(h, p)
    if redact:
        properties = f"(({properties})::jsonb - {_HIDDEN_SQL.format(p=p)})"
    return (
        f"json_build_object('type', 'Feature', 'id', {h}.id, "
        f"'geometry', ST_AsGeoJSON({h}.geom, 7)::json, 'properties', {properties})::text"
    )


# "What the map looked like then": each hazard's last audited row version at that time.
# Only (record, audit id) pairs are sorted; the row versions are read for one page only, in
# keyset order (``keyset_id`` is the hazard id), so the query stops after ``limit`` rows.
# An insert is logged without a copy of the row (migration 0010): that version is the ``before``
# of the record's next change or, when it has not changed since, the live row itself.
_AS_OF_SOURCE = """(
    SELECT r.*, latest.rid AS keyset_id FROM (
        SELECT DISTINCT ON (record_id::int) record_id::int AS rid, id AS audit_id, action
        FROM audit_log
        WHERE table_name = 'hazard_areas' AND changed_at <= :as_of AND record_id::int > :after
        ORDER BY record_id::int, id DESC
    ) latest
    JOIN audit_log a ON a.id = latest.audit_id
    CROSS JOIN LATERAL (
        SELECT coalesce(a.after, (
            SELECT n.before FROM audit_log n
            WHERE n.table_name = 'hazard_areas' AND n.record_id = a.record_id AND n.id > a.id
            ORDER BY n.id LIMIT 1)) AS row
    ) logged
    CROSS JOIN LATERAL (
        SELECT * FROM jsonb_populate_record(NULL::hazard_areas, logged.row) WHERE logged.row IS NOT NULL
        UNION ALL
        SELECT * FROM hazard_areas live WHERE logged.row IS NULL AND live.id = latest.rid
    ) r
    WHERE latest.action <> 'delete'
)"""


@dataclass(frozen=True)
class HazardFilter:
    programme_ids: Sequence[int]
    status: str | None = None
    classification: str | None = None
    review_status: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    updated_since: datetime | None = None
    as_of: datetime | None = None
    approved_only: bool = False


def hazard_features_sql(filters: HazardFilter, after: int, limit: int) -> tuple[str, dict[str, Any]]:
    """A page of ``(feature json text, id)`` rows, one more than ``limit`` (keyset on id)."""
    params: dict[str, Any] = {"ids": list(filters.programme_ids), "after": after, "limit": limit + 1}
    where = ["h.programme_id = ANY(:ids)", "h.id > :after"]
    if filters.approved_only:
        where.append("h.review_status = 'approved'")
    for column in ("status", "classification", "review_status"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"h.{column} = :{column}")
            params[column] = value
    if filters.bbox is not None:
        where.append("h.geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326)")
        params.update(zip(("minx", "miny", "maxx", "maxy"), filters.bbox, strict=True))
    if filters.updated_since is not None:
        where.append("h.updated_at >= :since")
        params["since"] = filters.updated_since
    source, order = "hazard_areas", "h.id"
    if filters.as_of is not None:
        source, order = _AS_OF_SOURCE, "h.keyset_id"
        params["as_of"] = filters.as_of
    sql = f"""
        SELECT {_feature_sql(redact=filters.approved_only)}, h.id
        FROM {source} h JOIN programmes p ON p.id = h.programme_id
        WHERE {" AND ".join(where)}
        ORDER BY {order} LIMIT :limit
    """
    return sql, params


# -- attributes -----------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """Missing values of files (NaN, NaT, empty text) are ``None``."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _records(attributes: pd.DataFrame | Sequence[Mapping[str, Any]], count: int) -> list[dict[str, Any]]:
    rows: list[dict[Any, Any]]
    if isinstance(attributes, pd.DataFrame):
        rows = (
            attributes.to_dict("records") if len(attributes.columns) else [{} for _ in range(len(attributes))]
        )
    else:
        rows = [dict(r) for r in attributes]
    if len(rows) != count:
        raise ValueError(f"{len(rows)} attribute rows for {count} features")
    return [{str(k): _clean(v) for k, v in row.items() if _clean(v) is not None} for row in rows]


def check_hazard_attributes(attributes: pd.DataFrame) -> dict[int, list[str]]:
    """Messages per row index (0-based position) for rows whose attributes are not acceptable."""
    records = _records(attributes, len(attributes))
    _valid, errors = validate_hazard_properties(records, field_prefix="")
    out: dict[int, list[str]] = {}
    for error in errors:
        field = str(error["field"]).lstrip(".")
        out.setdefault(int(error["index"]), []).append(
            f"{field}: {error['message']}" if field else error["message"]
        )
    return out


# -- insert (one code path for API, imports and demo) -----------------------------------------


def load_admin_areas(db: Session, programme_id: int, geometry_table: str) -> str:
    """A temporary table ``(key, admin1_code, admin1_name, admin2_code, admin2_name)``: the admin
    areas of each polygon of ``geometry_table`` (from :func:`geo.checks.load_temp_geometries`,
    ``key`` = its ``idx``). A table of its own: joined from a CTE, the planner (which cannot
    estimate a spatial join) guessed one row and could loop over it."""
    admin = f"{geometry_table}_admin"
    db.execute(
        text(
            f"""
            CREATE TEMP TABLE {admin} ON COMMIT DROP AS
            WITH {_admin_ctes(geometry_table, "idx", "geom")}
            SELECT key,
                   max(code) FILTER (WHERE level = 1) AS admin1_code,
                   max(name) FILTER (WHERE level = 1) AS admin1_name,
                   max(code) FILTER (WHERE level = 2) AS admin2_code,
                   max(name) FILTER (WHERE level = 2) AS admin2_name
            FROM best GROUP BY key
            """
        ),
        {"p": programme_id},
    )
    db.execute(text(f"ANALYZE {admin}"))
    return admin


def insert_hazard_areas(
    db: Session,
    programme: Programme,
    checks: Sequence[FeatureCheck],
    attributes: pd.DataFrame | Sequence[Mapping[str, Any] | HazardPropertiesIn | HazardColumns],
    *,
    actor: str | None = None,
    import_id: int | None = None,
    source_index: Sequence[int] | None = None,
    review_status: str | Sequence[str] = "draft",
    geometry_table: str | None = None,
    area_m2: Sequence[float] | Callable[[], Sequence[float]] | None = None,
    admin_table: str | None = None,
    rows: Sequence[str] | None = None,
) -> list[int]:
    """Insert checked hazard polygons with their attributes; returns the new ids in input order.

    ``checks[i]`` (from :func:`geo.checks.check_polygons`, not rejected) pairs with
    ``attributes[i]`` (a DataFrame row of :data:`IMPORT_FIELDS`, a property dict, or an already
    validated :class:`HazardPropertiesIn`). Set-based: references are reserved in one call,
    rows are loaded with COPY into a temporary table, and one ``INSERT … SELECT`` computes the
    geodesic area, remaining area/geometry and admin areas. The audit triggers record it all.
    Raises :class:`Problem` 422 if any feature is rejected or its attributes are invalid
    (nothing is written then). ``geometry_table`` names a table from
    :func:`geo.checks.load_temp_geometries` (``index=True``) already holding ``checks[i].geometry``
    at ``idx = i`` (an import loads its polygons once for the duplicates check and the insert).
    ``area_m2`` may give ``ST_Area(geom::geography)`` of each geometry (or a function returning
    them, called as late as possible: :func:`geo.checks.areas_in_background`); otherwise the
    insert computes them. ``admin_table`` may name the :func:`load_admin_areas` of
    ``geometry_table``. ``rows`` may give :func:`encode_hazard_rows` of these checks and validated
    attributes, encoded beforehand (an import does so while its polygons load).
    """
    count = len(checks)
    if count == 0:
        return []
    rejected = [c.index for c in checks if c.geometry is None or c.status == "rejected"]
    if rejected:
        raise Problem(
            422, f"{len(rejected)} rejected feature(s) cannot be stored (first: index {rejected[0]})."
        )
    if rows is None:
        rows = encode_hazard_rows(
            checks, _validated_properties(attributes, count), source_index, review_status
        )
    elif len(rows) != count:
        raise ValueError(f"{len(rows)} encoded rows for {count} features")

    references = next_references(db, programme, REFERENCE_KIND, count)
    own_table = geometry_table is None
    if geometry_table is None:
        geometry_table = load_temp_geometries(db, [c.geometry for c in checks], index=True)
    table = f"tmp_new_hazards_{uuid.uuid4().hex[:10]}"
    # The property columns typed as in hazard_areas itself, loaded as COPY text column by column
    # (a jsonb per row, spread by jsonb_populate_record, cost about 1 s per 50,000 rows).
    db.execute(
        text(
            f"CREATE TEMP TABLE {table} ON COMMIT DROP AS SELECT reference, 0 AS ord, "
            f"{', '.join(EDITABLE_COLUMNS)}, raw_geom AS raw, source_index, review_status "
            "FROM hazard_areas WITH NO DATA"
        )
    )
    db.execute(text(f"ALTER TABLE {table} ADD PRIMARY KEY (ord)"))
    copy_lines(
        db,
        table,
        ("reference", *_STAGED_COLUMNS),
        list(map("\t".join, zip(_copy_column(references), rows, strict=True))),
    )
    db.execute(text(f"ANALYZE {table} (ord)"))  # the join key is all the planner needs here
    # JIT compilation costs more than it saves on these statements.
    db.execute(text("SET LOCAL jit = off"))
    own_admin = admin_table is None
    admin = admin_table or load_admin_areas(db, programme.id, geometry_table)
    columns = ", ".join(EDITABLE_COLUMNS)
    values = ", ".join(f"n.{c}" for c in EDITABLE_COLUMNS)
    if area_m2 is None:
        # OFFSET 0 keeps the subquery whole: pulled up, the geodesic area (the costliest
        # expression here) was computed once for each of the two columns that use it.
        area_source = "CROSS JOIN LATERAL (SELECT ST_Area(g.geom::geography) AS m2 OFFSET 0) m"
    else:
        # Awaited only now (geo.checks.areas_in_background): everything above ran meanwhile.
        areas = np.asarray(area_m2() if callable(area_m2) else area_m2, dtype=np.float64)
        if len(areas) != count:
            raise ValueError(f"{len(areas)} areas for {count} features")
        area_table = f"{table}_m2"
        db.execute(text(f"CREATE TEMP TABLE {area_table} (idx int PRIMARY KEY, m2 float8) ON COMMIT DROP"))
        _copy_areas(db, area_table, areas)
        db.execute(text(f"ANALYZE {area_table}"))
        area_source = f"JOIN {area_table} m ON m.idx = n.ord"
    inserted = db.execute(
        text(
            f"""
            INSERT INTO hazard_areas (programme_id, reference, {columns}, geom, raw_geom, area_m2,
                remaining_geom, remaining_m2, admin1_code, admin1_name, admin2_code, admin2_name,
                review_status, import_id, source_index, created_by, updated_by)
            SELECT :p, n.reference, {values}, g.geom, n.raw, m.m2, NULL, m.m2,
                   a.admin1_code, a.admin1_name, a.admin2_code, a.admin2_name,
                   n.review_status, :import_id, n.source_index, :actor, :actor
            FROM {table} n
            JOIN {geometry_table} g ON g.idx = n.ord
            {area_source}
            LEFT JOIN {admin} a ON a.key = n.ord
            ORDER BY n.ord
            RETURNING id, reference
            """
        ),
        {"p": programme.id, "import_id": import_id, "actor": actor or db.info.get("actor")},
    ).all()
    if own_admin:
        db.execute(text(f"DROP TABLE {admin}"))
    db.execute(text(f"DROP TABLE {table}"))
    if own_table:
        db.execute(text(f"DROP TABLE {geometry_table}"))
    by_reference = {str(ref): int(i) for i, ref in inserted}
    return [by_reference[r] for r in references]


# The staged columns of insert_hazard_areas after the reference, in the order encode_hazard_rows writes them.
_STAGED_COLUMNS = ("ord", *EDITABLE_COLUMNS, "raw", "source_index", "review_status")


def _validated_properties(
    attributes: pd.DataFrame | Sequence[Mapping[str, Any] | HazardPropertiesIn | HazardColumns], count: int
) -> list[HazardPropertiesIn | HazardColumns]:
    """The attributes validated (422 for any invalid one), or as they are when already validated."""
    if not isinstance(attributes, pd.DataFrame) and all(
        isinstance(a, HazardPropertiesIn | HazardColumns) for a in attributes
    ):
        properties = list(attributes)
    else:
        validated, errors = validate_hazard_properties(_records(attributes, count))  # type: ignore[arg-type]
        if errors:
            raise Problem(
                422, f"Invalid hazard attributes: {errors[0]['field']}: {errors[0]['message']}", errors=errors
            )
        properties = [v for v in validated if v is not None]
    if len(properties) != count:
        raise ValueError(f"{len(properties)} attribute rows for {count} features")
    return properties  # type: ignore[return-value]


def encode_hazard_rows(
    checks: Sequence[FeatureCheck],
    properties: Sequence[HazardPropertiesIn | HazardColumns],
    source_index: Sequence[int] | None = None,
    review_status: str | Sequence[str] = "draft",
) -> list[str]:
    """The rows :func:`insert_hazard_areas` stages for these checked polygons and validated
    attributes, in COPY text (all but the reference, reserved by the insert): pure Python, so an
    import encodes them while its polygons load into the database."""
    from operator import itemgetter

    count = len(checks)
    statuses = [review_status] * count if isinstance(review_status, str) else list(review_status)
    if any(s not in REVIEW_STATUSES for s in statuses):
        raise ValueError(f"review_status must be one of {REVIEW_STATUSES}")
    indexes = list(source_index) if source_index is not None else [None] * count
    raws = np.empty(count, dtype=object)
    raws[:] = [c.raw_geometry for c in checks]
    raw_hexes: list[str | None] = [None] * count
    has_raw = np.flatnonzero(~shapely.is_missing(raws))
    if len(has_raw):
        # The raw geometry is kept 2D (the column is 2D); Z/M were reported as notes.
        flat_raw = shapely.set_srid(shapely.force_2d(raws[has_raw]), 4326)
        for i, h in zip(has_raw, shapely.to_wkb(flat_raw, hex=True, include_srid=True), strict=True):
            raw_hexes[int(i)] = str(h)
    # Column by column: the rows transposed in C (itemgetter, zip), then each column encoded at once.
    as_columns: Any = (
        properties if set(map(type, properties)) == {HazardColumns} else map(_columns, properties)
    )
    by_column = zip(*map(itemgetter(*EDITABLE_COLUMNS), as_columns), strict=True)
    encoded = [
        list(map(str, range(count))),
        *(_copy_column(list(column)) for column in by_column),
        ["\\N" if h is None else h for h in raw_hexes],
        list(map(str, indexes))
        if set(map(type, indexes)) == {int}
        else ["\\N" if i is None else str(int(i)) for i in indexes],
        _copy_column(statuses),
    ]
    return list(map("\t".join, zip(*encoded, strict=True)))


_AREA_ROW = struct.Struct("!hiiid")  # field count 2, int4 (length 4, value), float8 (length 8, value)


def _copy_areas(db: Session, table: str, areas: NDArray[np.float64]) -> None:
    """COPY ``(idx, m2)`` rows in binary: exact doubles, no text round trip."""
    pack = _AREA_ROW.pack
    body = b"".join(pack(2, 4, i, 8, a) for i, a in enumerate(areas.tolist()))
    data = io.BytesIO(COPY_BINARY_HEADER + body + COPY_BINARY_TRAILER)
    copy_from(db, table, ("idx", "m2"), data, binary=True)


# Types whose COPY text is ``str(value)``, never escaped (see :func:`geo.checks.copy_text`).
_NUMBER_TYPES = frozenset({int, float, np.int8, np.int16, np.int32, np.int64, np.float32, np.float64})
_NONE = type(None)
_SEPARATOR = "\x1e"  # joins a column's texts for one escaping pass; a value holding it goes alone


def _copy_column(values: list[Any]) -> list[str]:
    """:func:`copy_text` of every value of a column, the same strings, computed per column:
    text, JSON and array literals are escaped in one pass over the joined column, numbers and
    booleans need no escaping, and lists (shared by the rows of an import) are encoded once each.
    Value by value, 16 columns of 50,000 rows cost about a second."""
    kinds = set(map(type, values))
    has_none = _NONE in kinds
    kinds.discard(_NONE)
    if kinds <= {str}:
        return _escape_column(values, values, has_none)
    if kinds <= _NUMBER_TYPES:
        return ["\\N" if v is None else str(v) for v in values] if has_none else list(map(str, values))
    if kinds == {bool}:
        return ["\\N" if v is None else "t" if v else "f" for v in values]
    if kinds == {dict}:
        return _escape_column(values, _json_texts(values), has_none)
    if kinds == {list}:
        return _list_column(values)
    return [copy_text(v) for v in values]


def _escape_column(values: list[Any], texts: list[Any], has_none: bool) -> list[str]:
    """``\\N`` where ``values`` is None, else :func:`copy_escape` of ``texts`` (escaped joined)."""
    joined = _SEPARATOR.join(["" if t is None else t for t in texts] if has_none else texts)
    if joined.count(_SEPARATOR) == len(texts) - 1:  # else a value holds the separator
        parts = copy_escape(joined).split(_SEPARATOR)
        return ["\\N" if v is None else p for v, p in zip(values, parts, strict=True)] if has_none else parts
    return ["\\N" if v is None else copy_escape(t) for v, t in zip(values, texts, strict=True)]


def _per_object(values: list[Any], encode: Callable[[Any], Any]) -> list[Any]:
    """``encode`` of each value, called once per distinct object (by identity: the rows of an
    import share their lists and evidence objects, see :class:`HazardColumns`)."""
    codes, first = _identities(values)
    encoded = np.empty(len(first), dtype=object)
    encoded[:] = [encode(values[i]) for i in first.tolist()]
    return list(encoded[codes].tolist())


def _identities(values: list[Any]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(object number of each value, the first position of each object), numbered by hashing
    the ids, in order of first appearance."""
    codes, _ids = pd.factorize(np.fromiter(map(id, values), dtype=np.int64, count=len(values)))
    return codes, np.flatnonzero(~pd.Series(codes).duplicated().to_numpy())


def _json_texts(values: list[Any]) -> list[str | None]:
    """JSON of each dict (None stays None), once per dict object."""
    dumps = orjson.dumps
    return _per_object(values, lambda v: None if v is None else dumps(v).decode())


def _list_column(values: list[Any]) -> list[str]:
    """Array literals, once per list object; lists of text with equal items share their literal."""
    by_items: dict[tuple[str, ...], str] = {}

    def encode(v: Any) -> str:
        if v is None or not all(type(item) is str for item in v):
            return copy_text(v)
        key = tuple(v)
        found = by_items.get(key)
        if found is None:
            found = by_items[key] = copy_text(v)
        return found

    return _per_object(values, encode)


def _columns(properties: HazardPropertiesIn | HazardColumns) -> dict[str, Any]:
    return properties if isinstance(properties, HazardColumns) else properties.columns()


def _hex(geom: BaseGeometry) -> str:
    return str(shapely.to_wkb(shapely.set_srid(geom, 4326), hex=True, include_srid=True))


# -- GeoJSON input --------------------------------------------------------------------------


def geometry_from_geojson(value: Any, field: str = "geometry") -> BaseGeometry:
    """A shapely geometry from a GeoJSON geometry object, or a 422 saying what is wrong."""

    def fail(message: str) -> Problem:
        return Problem(422, f"{field}: {message}", errors=[{"index": 0, "field": field, "message": message}])

    if not isinstance(value, dict):
        raise fail("expected a GeoJSON geometry object (Polygon or MultiPolygon)")
    kind = value.get("type")
    if kind not in (
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
        "Point",
        "LineString",
        "MultiPoint",
        "MultiLineString",
    ):
        raise fail(f"unknown or missing geometry type {kind!r}; send a Polygon or MultiPolygon")
    if kind == "GeometryCollection":
        if not isinstance(value.get("geometries"), list):
            raise fail("a GeometryCollection needs a 'geometries' list")
    elif not isinstance(value.get("coordinates"), list):
        raise fail("'coordinates' must be an array")
    if kind in ("Polygon", "MultiPolygon"):
        depth = 3 if kind == "Polygon" else 4
        bad = _bad_coordinates(value["coordinates"], depth)
        if bad:
            raise fail(bad)
    try:
        return shape(value)
    except Exception as exc:  # shapely raises several types for malformed input
        raise fail(f"not a valid {kind}: {exc}") from exc


def _bad_coordinates(coords: Any, depth: int) -> str | None:
    """Why nested coordinate arrays are malformed (wrong nesting, non-numbers), or None."""
    stack: list[tuple[Any, int]] = [(coords, depth)]
    while stack:
        item, level = stack.pop()
        if level == 1:
            if not isinstance(item, list) or not 2 <= len(item) <= 4:
                return "each position must be an array of 2 to 4 numbers [lon, lat(, z)]"
            if not all(isinstance(c, int | float) and not isinstance(c, bool) for c in item):
                return f"positions must contain numbers, got {item!r}"[:200]
            continue
        if not isinstance(item, list):
            return "coordinates are not nested as a Polygon/MultiPolygon needs"
        if level == 2 and len(item) < 4:
            return "a linear ring needs at least 4 positions (the first repeated at the end)"
        stack.extend((child, level - 1) for child in item)
    return None


def problems_of(check: FeatureCheck, field: str = "geometry") -> list[dict[str, Any]]:
    return [
        {"index": check.index, "field": field, "code": code, "message": message}
        for code, message in zip(check.codes, check.messages, strict=True)
    ]


# -- create / read ----------------------------------------------------------------------------


@dataclass
class Created:
    id: int
    check: FeatureCheck
    duplicates: list[PossibleDuplicate]


def _require(principal: Principal, roles: Sequence[str], action: str) -> None:
    if principal.role not in roles:
        raise Problem(403, f"Only {', '.join(roles)} may {action}; you are {principal.role}.")


def _feature_parts(body: Any) -> tuple[dict[str, Any], Any]:
    if not isinstance(body, dict):
        raise Problem(
            422,
            "The body must be a GeoJSON Feature object.",
            errors=[{"field": "body", "message": "not an object"}],
        )
    if body.get("type") != "Feature":
        raise Problem(
            422,
            f"The body must be a GeoJSON Feature (type 'Feature'), not {body.get('type')!r}.",
            errors=[{"field": "type", "message": "expected 'Feature'"}],
        )
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise Problem(
            422,
            "properties: expected an object.",
            errors=[{"field": "properties", "message": "expected an object"}],
        )
    return properties, body.get("geometry")


def create_hazard(db: Session, scope: Scope, principal: Principal, body: Any) -> Created:
    """Create one hazard area from a GeoJSON Feature, through the same bulk insert as imports."""
    _require(principal, WRITERS, "create hazard areas")
    properties, geometry = _feature_parts(body)
    properties = dict(properties)
    code = properties.pop("programme", None)
    if not isinstance(code, str) or not code.strip():
        raise Problem(
            422,
            "properties.programme: the programme code (e.g. SOM) is required.",
            errors=[{"index": 0, "field": "properties.programme", "message": "required"}],
        )
    programme = scope.programme(db, code.strip().upper())
    [validated], errors = validate_hazard_properties([properties])
    geom = geometry_from_geojson(geometry)
    if errors or validated is None:
        raise Problem(422, f"{errors[0]['field']}: {errors[0]['message']}", errors=errors)
    [check] = check_polygons([geom], programme.id, db)
    if not check.ok:
        raise Problem(422, f"geometry: {'; '.join(check.messages)}", errors=problems_of(check))
    duplicates = find_possible_duplicates(db, programme.id, [check.geometry])
    [hazard_id] = insert_hazard_areas(db, programme, [check], [validated])
    return Created(hazard_id, check, duplicates)


@dataclass
class FeatureRow:
    id: int
    programme_id: int
    version: int
    review_status: str
    feature: str  # GeoJSON text built by PostGIS


def read_feature(db: Session, hazard_id: int, redact: bool = False) -> FeatureRow | None:
    """The hazard as a GeoJSON Feature; ``redact`` removes what the programme hides from partners."""
    row = db.execute(
        text(
            f"SELECT h.id, h.programme_id, h.version, h.review_status, {_feature_sql(redact=redact)} "
            "FROM hazard_areas h JOIN programmes p ON p.id = h.programme_id WHERE h.id = :id"
        ),
        {"id": hazard_id},
    ).one_or_none()
    if row is None:
        return None
    return FeatureRow(int(row[0]), int(row[1]), int(row[2]), str(row[3]), str(row[4]))


def get_feature(db: Session, scope: Scope, principal: Principal, hazard_id: int) -> FeatureRow:
    """A hazard the caller may see (404 otherwise: other programmes, or unapproved for partners)."""
    row = read_feature(db, hazard_id, redact=principal.is_partner)
    if row is None:
        raise Problem(404, f"No hazard area {hazard_id}.")
    scope.check(row.programme_id)
    if principal.is_partner and row.review_status != "approved":
        raise Problem(404, "No such record in your programmes.")
    return row


# -- edit --------------------------------------------------------------------------------------


def _lock(db: Session, scope: Scope, hazard_id: int) -> HazardArea:
    hazard = db.get(HazardArea, hazard_id, with_for_update=True)
    if hazard is None:
        raise Problem(404, f"No hazard area {hazard_id}.")
    scope.check(hazard.programme_id)
    return hazard


def current_properties(hazard: HazardArea) -> dict[str, Any]:
    """The editable properties as a client sends them (for JSON Merge Patch)."""
    return {
        "name": hazard.name,
        "classification": hazard.classification,
        "status": hazard.status,
        "status_date": hazard.status_date.isoformat() if hazard.status_date else None,
        "status_reason": hazard.status_reason,
        "contamination_types": list(hazard.contamination_types or []),
        "evidence": {"direct": [], "indirect": [], **(hazard.evidence or {})},
        "information_source": hazard.information_source,
        "reliability": hazard.reliability,
        "blockages": list(hazard.blockages or []),
        "beneficiaries": {
            "women": hazard.beneficiaries_women,
            "men": hazard.beneficiaries_men,
            "girls": hazard.beneficiaries_girls,
            "boys": hazard.beneficiaries_boys,
        },
        "priority": hazard.priority,
        "notes": hazard.notes,
    }


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def has_land_releases(db: Session, hazard: HazardArea) -> bool:
    """Whether land was already released from this hazard (then its geometry is frozen).

    The land-release issue owns ``land_releases``; it is consulted only when it exists.
    """
    if (hazard.cancelled_m2 or 0) + (hazard.reduced_m2 or 0) + (hazard.cleared_m2 or 0) > 0:
        return True
    exists = db.execute(
        text(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'land_releases' AND column_name = 'hazard_area_id'"
        )
    ).first()
    if exists is None:
        return False
    return (
        db.execute(
            text("SELECT 1 FROM land_releases WHERE hazard_area_id = :id LIMIT 1"), {"id": hazard.id}
        ).first()
        is not None
    )


def update_hazard(
    db: Session,
    scope: Scope,
    principal: Principal,
    hazard_id: int,
    expected_versions: frozenset[int],
    patch: Any,
) -> FeatureCheck | None:
    """Apply a JSON Merge Patch of ``properties`` and/or ``geometry`` to the version the client
    read (``expected_versions``, from its If-Match).

    Returns the geometry check when the geometry changed. Nothing is written on any error.
    """
    _require(principal, WRITERS, "edit hazard areas")
    if not isinstance(patch, dict):
        raise Problem(422, "The merge patch must be a JSON object with 'properties' and/or 'geometry'.")
    unknown = sorted(set(patch) - {"type", "id", "properties", "geometry"})
    if unknown:
        raise Problem(
            422,
            f"Unknown member(s) {unknown}: patch 'properties' and/or 'geometry'.",
            errors=[{"field": k, "message": "unknown member"} for k in unknown],
        )
    hazard = _lock(db, scope, hazard_id)
    check_version(f"Hazard area {hazard.reference}", hazard.version, expected_versions)
    if principal.role == "surveyor" and hazard.review_status not in ("draft", "rejected"):
        raise Problem(
            403,
            f"{hazard.reference} is {hazard.review_status}: only a coordinator or admin may edit it now.",
        )
    changes: dict[str, Any] = {}
    props_patch = patch.get("properties")
    if props_patch is not None:
        if not isinstance(props_patch, dict):
            raise Problem(
                422,
                "properties: expected an object.",
                errors=[{"field": "properties", "message": "expected an object"}],
            )
        props_patch = dict(props_patch)
        code = props_patch.pop("programme", None)
        if code is not None:
            own = db.execute(
                text("SELECT code FROM programmes WHERE id = :p"), {"p": hazard.programme_id}
            ).scalar()
            if code != own:
                raise Problem(
                    422,
                    "properties.programme: a hazard area cannot move to another programme.",
                    errors=[{"field": "properties.programme", "message": "cannot change"}],
                )
        merged = merge_patch(current_properties(hazard), props_patch)
        [validated], errors = validate_hazard_properties([merged])
        if errors or validated is None:
            raise Problem(422, f"{errors[0]['field']}: {errors[0]['message']}", errors=errors)
        changes["props"] = orjson.dumps(validated.columns()).decode()
    check: FeatureCheck | None = None
    if "geometry" in patch:
        geom = geometry_from_geojson(patch["geometry"])
        [check] = check_polygons([geom], hazard.programme_id, db)
        if not check.ok:
            raise Problem(422, f"geometry: {'; '.join(check.messages)}", errors=problems_of(check))
        if has_land_releases(db, hazard):
            raise Problem(
                409,
                f"Land has already been released from {hazard.reference}: its geometry can no longer be "
                "edited (record a new survey or a land release instead).",
            )
    sets = ["version = h.version + 1", "updated_by = :actor", "updated_at = now()"]
    sources: list[str] = []
    ctes = ""
    params: dict[str, Any] = {"id": hazard.id, "v": hazard.version, "actor": db.info.get("actor")}
    if "props" in changes:
        sets += [f"{c} = r.{c}" for c in EDITABLE_COLUMNS]
        sources.append("jsonb_populate_record(NULL::hazard_areas, CAST(:props AS jsonb)) r")
        params["props"] = changes["props"]
    if check is not None and check.geometry is not None:
        # The new geometry's derived values (area, admin areas), computed as for an insert.
        sets += [
            "geom = d.g",
            "raw_geom = ST_GeomFromEWKB(decode(:raw, 'hex'))",
            "area_m2 = d.m2",
            "remaining_geom = d.g",
            "remaining_m2 = d.m2",
            "admin1_code = d.a1_code",
            "admin1_name = d.a1_name",
            "admin2_code = d.a2_code",
            "admin2_name = d.a2_name",
        ]
        ctes = f"""WITH n AS MATERIALIZED (
                SELECT 0 AS ord, ST_GeomFromEWKB(decode(:geom, 'hex')) AS geom
            ), {_admin_ctes("n", "ord", "geom")}, d AS (
                SELECT n.geom AS g, ST_Area(n.geom::geography) AS m2, a1.code AS a1_code,
                       a1.name AS a1_name, a2.code AS a2_code, a2.name AS a2_name
                FROM n LEFT JOIN best a1 ON a1.key = n.ord AND a1.level = 1
                       LEFT JOIN best a2 ON a2.key = n.ord AND a2.level = 2
            )"""
        sources.append("d")
        params["p"] = hazard.programme_id
        params["geom"] = _hex(check.geometry)
        params["raw"] = _hex(shapely.force_2d(check.raw_geometry)) if check.raw_geometry is not None else None
    if hazard.review_status == "rejected":
        sets.append("review_status = 'draft'")  # a corrected rejected hazard goes back to draft
    from_clause = f"FROM {', '.join(sources)}" if sources else ""
    sql = f"{ctes} UPDATE hazard_areas h SET {', '.join(sets)} {from_clause} WHERE h.id = :id AND h.version = :v"
    result = db.execute(text(sql), params)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Problem(
            412, f"Hazard area {hazard.reference} changed while you were editing it; read it again."
        )
    db.expire(hazard)
    return check


# -- review and delete -------------------------------------------------------------------------


def review_hazard(
    db: Session,
    scope: Scope,
    principal: Principal,
    hazard_id: int,
    action: str,
    reason: str | None,
    expected_versions: frozenset[int] | None,
) -> None:
    """Submit, approve or reject a hazard area (:mod:`app.review`)."""
    hazard = _lock(db, scope, hazard_id)
    if principal.is_partner:
        raise Problem(404, "No such record in your programmes.")
    check_version(f"Hazard area {hazard.reference}", hazard.version, expected_versions)
    step = review_step(
        principal, action, hazard.reference, hazard.review_status, reason, drafts_reviewable=True
    )
    db.execute(
        text(
            """
            UPDATE hazard_areas SET review_status = :target, version = version + 1,
                review_reason = CASE WHEN :reviewed THEN :reason ELSE review_reason END,
                reviewed_by = CASE WHEN :reviewed THEN :actor ELSE reviewed_by END,
                reviewed_at = CASE WHEN :reviewed THEN now() ELSE reviewed_at END,
                updated_by = :actor, updated_at = now()
            WHERE id = :id AND version = :v
            """
        ),
        {
            "target": step.target,
            "reviewed": step.reviewed,
            "reason": reason.strip() if reason else None,
            "actor": db.info.get("actor"),
            "id": hazard.id,
            "v": hazard.version,
        },
    )
    db.expire(hazard)


def delete_hazard(
    db: Session, scope: Scope, principal: Principal, hazard_id: int, expected_versions: frozenset[int] | None
) -> None:
    """Delete a draft. Anything submitted, approved or rejected stays (409). The reference is
    not reused: the counter never goes back."""
    hazard = _lock(db, scope, hazard_id)
    if principal.is_partner:
        raise Problem(404, "No such record in your programmes.")
    _require(principal, WRITERS, "delete hazard areas")
    check_version(f"Hazard area {hazard.reference}", hazard.version, expected_versions)
    if hazard.review_status != "draft":
        raise Problem(
            409,
            f"{hazard.reference} is {hazard.review_status}: only drafts can be deleted "
            "(approved hazard areas are never deleted; close them through land release).",
            review_status=hazard.review_status,
        )
    db.execute(text("DELETE FROM hazard_areas WHERE id = :id"), {"id": hazard.id})


# -- history -------------------------------------------------------------------------------------

_GEOMETRY_COLUMNS = {"geom", "raw_geom", "remaining_geom"}
_BOOKKEEPING = {"version", "updated_at", "updated_by"}


def _changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    before = before or {}
    after = after or {}
    changes: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        if key in _BOOKKEEPING or key == "id":
            continue
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in _GEOMETRY_COLUMNS:
            changes[key] = "changed" if before and after else ("set" if new is not None else "removed")
        else:
            changes[key] = {"from": old, "to": new}
    return changes


def hazard_history(db: Session, scope: Scope, principal: Principal, hazard_id: int) -> dict[str, Any]:
    """Every version of a hazard area (also after a draft was deleted): who, when, what changed."""
    if principal.is_partner:
        raise Problem(403, "The edit history of hazard areas is not shared with partners.")
    # An insert is logged without a copy of the row (migration 0010): the inserted version is the
    # ``before`` of the next change or, when there has been none, the live row (the audit log
    # leaves remaining_geom out).
    rows = db.execute(
        text(
            """
            SELECT a.id, a.changed_at, a.actor, a.action, a.before,
                   CASE WHEN a.action = 'insert' AND a.after IS NULL THEN coalesce(
                       lead(a.before) OVER (ORDER BY a.id),
                       (SELECT to_jsonb(h) - 'remaining_geom' FROM hazard_areas h WHERE h.id = :hid))
                   ELSE a.after END
            FROM audit_log a
            WHERE a.table_name = 'hazard_areas' AND a.record_id = :id ORDER BY a.id
            """
        ),
        {"id": str(hazard_id), "hid": hazard_id},
    ).all()
    if not rows:
        raise Problem(404, f"No hazard area {hazard_id}.")
    last = rows[-1][5] or rows[-1][4] or {}
    scope.check(int(last.get("programme_id", -1)))
    versions = []
    for _audit_id, changed_at, actor, action, before, after in rows:
        state = after or before or {}
        versions.append(
            {
                "version": state.get("version"),
                "action": action,
                "actor": actor,
                "changed_at": changed_at.isoformat(),
                "review_status": state.get("review_status"),
                "area_m2": state.get("area_m2"),
                "changes": _changes(before, after),
            }
        )
    return {"id": hazard_id, "reference": last.get("reference"), "versions": versions}
