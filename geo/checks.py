"""Geometry checks for hazard polygons, vectorised over many features at once.

One public entry point checks a whole upload (or a single API feature) in a handful of
shapely 2 / numpy array operations, so 50,000 polygons cost about as much as a few::

    from geo.checks import check_polygons
    results = check_polygons(geoms, programme_id, db)   # geoms: shapely geometries or None
    for r in results:
        r.index, r.status            # feature index in the input, "valid" | "repaired" | "rejected"
        r.messages                   # what was found, in words a surveyor understands
        r.codes                      # the same as stable codes (see CHECKS)
        r.geometry                   # MultiPolygon, EPSG:4326, 2D — what to store (None if rejected)
        r.raw_geometry               # the geometry as received, when it was repaired (keep it)
        r.area_before_m2, r.area_after_m2   # geodesic m², set when a repair was tried

Input geometries must be lon/lat (EPSG:4326): reproject before calling. The checks, each
with its own message (codes in brackets):

* ``empty`` — missing, empty geometry;
* ``not_polygon`` / ``geometry_collection`` / ``mixed_types`` — only Polygon and MultiPolygon
  are hazard areas; GeometryCollections are refused, naming the types they mix;
* ``z_dropped`` / ``m_dropped`` — Z/M values are dropped (a note; the feature is kept, 2D);
* ``too_many_vertices`` — over ``settings.max_vertices_per_feature``;
* ``not_finite`` — NaN or infinite coordinates;
* ``projected_without_crs`` — values such as 412345/1234567 that look like metres of a
  projected CRS (UTM) sent without saying which CRS;
* ``out_of_range`` — outside lon −180..180 / lat −90..90;
* ``too_few_vertices`` — a ring with fewer than 3 distinct vertices;
* ``vertex_gap`` — consecutive vertices farther apart than ``settings.max_vertex_gap_m``
  (geodesic), usually a typing error in one coordinate;
* ``latlon_swapped`` — outside the programme's country, but inside it with x and y swapped;
* ``outside_country`` — farther than ``settings.country_buffer_m`` from the programme's
  admin areas;
* ``repaired`` / ``invalid`` — an invalid polygon (self-intersection, overlapping parts…) is
  repaired with ``make_valid`` only when the geodesic area changes by less than
  ``settings.repair_area_tolerance`` (relative); otherwise it is rejected;
* ``zero_area`` — nothing of the polygon is left (collinear vertices, collapsed rings).

:func:`find_possible_duplicates` finds existing hazards of the programme that overlap the
new polygons above ``settings.duplicate_overlap_threshold``, set-based in SQL.
"""

from __future__ import annotations

import io
import struct
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO, Any, Generic, TypeVar, cast

import numpy as np
import orjson
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.settings import get_settings
from geo.areas import WGS84, geodesic_areas

T = TypeVar("T")

CHECKS = (
    "empty",
    "not_polygon",
    "geometry_collection",
    "mixed_types",
    "z_dropped",
    "m_dropped",
    "too_many_vertices",
    "not_finite",
    "projected_without_crs",
    "out_of_range",
    "too_few_vertices",
    "vertex_gap",
    "latlon_swapped",
    "outside_country",
    "repaired",
    "invalid",
    "zero_area",
)

# Codes that are notes only: the feature is still stored.
NOTES = {"z_dropped", "m_dropped", "repaired"}

_POLYGON, _MULTIPOLYGON, _COLLECTION = 3, 6, 7
_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}
# Metres per degree of latitude, a lower bound: a buffer of b / this many degrees is ≥ b metres.
_M_PER_DEG_MIN = 110_000.0


@dataclass
class FeatureCheck:
    """The result of checking one feature."""

    index: int
    status: str = "valid"  # valid | repaired | rejected
    messages: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    geometry: MultiPolygon | None = None
    raw_geometry: BaseGeometry | None = None
    area_before_m2: float | None = None
    area_after_m2: float | None = None

    @property
    def ok(self) -> bool:
        return self.status != "rejected"

    def as_report(self) -> dict[str, Any]:
        """The JSON-ready part of the result (no geometry), for validation reports."""
        report: dict[str, Any] = {"index": self.index, "status": self.status, "messages": self.messages}
        report["codes"] = self.codes
        if self.area_before_m2 is not None:
            report["area_before_m2"] = round(self.area_before_m2, 2)
        if self.area_after_m2 is not None:
            report["area_after_m2"] = round(self.area_after_m2, 2)
        return report


class _Results:
    """Per-feature outcome arrays; messages are added only for the features concerned."""

    def __init__(self, count: int) -> None:
        self.rejected = np.zeros(count, dtype=bool)
        self.messages: dict[int, list[str]] = {}
        self.codes: dict[int, list[str]] = {}
        self.areas: dict[int, tuple[float, float]] = {}  # geodesic m² before and after a repair

    def note(self, index: int, code: str, message: str) -> None:
        self.codes.setdefault(index, []).append(code)
        self.messages.setdefault(index, []).append(message)

    def reject(self, index: int, code: str, message: str) -> None:
        self.rejected[index] = True
        self.note(index, code, message)

    def active(self) -> NDArray[np.bool_]:
        return ~self.rejected


def _fmt_m2(value: float) -> str:
    if value >= 1_000_000:
        return f"{value:,.0f} m² ({value / 1_000_000:.2f} km²)"
    return f"{value:,.1f} m² ({value / 10_000:.2f} ha)"


def _check_types(geoms: NDArray[np.object_], results: _Results) -> NDArray[np.object_]:
    missing = shapely.is_missing(geoms)
    empty = np.zeros(len(geoms), dtype=bool)
    empty[~missing] = shapely.is_empty(geoms[~missing])
    for i in np.flatnonzero(missing | empty):
        results.reject(int(i), "empty", "The geometry is missing or empty.")
    type_id = shapely.get_type_id(geoms)
    for i in np.flatnonzero(~(missing | empty) & ~np.isin(type_id, (_POLYGON, _MULTIPOLYGON))):
        index = int(i)
        if type_id[i] == _COLLECTION:
            parts = shapely.get_parts(geoms[i])
            kinds = sorted({_TYPE_NAMES.get(int(t), "?") for t in shapely.get_type_id(parts)})
            if len(kinds) > 1:
                results.reject(
                    index,
                    "mixed_types",
                    f"A GeometryCollection mixing {', '.join(kinds)} is not a hazard area: "
                    "send one Polygon or MultiPolygon per feature.",
                )
            else:
                results.reject(
                    index,
                    "geometry_collection",
                    "GeometryCollections are not accepted: send a Polygon or MultiPolygon.",
                )
        else:
            name = _TYPE_NAMES.get(int(type_id[i]), "unknown geometry")
            results.reject(
                index, "not_polygon", f"A {name} is not a hazard area: send a Polygon or MultiPolygon."
            )
    work = geoms.copy()
    work[results.rejected] = None
    ok = results.active()
    has_z = np.zeros(len(geoms), dtype=bool)
    has_m = np.zeros(len(geoms), dtype=bool)
    has_z[ok] = shapely.has_z(work[ok])
    has_m[ok] = shapely.has_m(work[ok])
    for i in np.flatnonzero(has_z):
        results.note(int(i), "z_dropped", "Z (height) values were dropped; hazard areas are stored 2D.")
    for i in np.flatnonzero(has_m):
        results.note(int(i), "m_dropped", "M (measure) values were dropped; hazard areas are stored 2D.")
    if has_z.any() or has_m.any():
        flat = has_z | has_m
        work[flat] = shapely.force_2d(work[flat])
    return np.asarray(work, dtype=object)


def _check_coordinates(
    work: NDArray[np.object_], results: _Results
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Reject what no lon/lat polygon has; returns every checked feature's coordinates (2D, in
    order) and their feature index, for :func:`_check_rings`."""
    settings = get_settings()
    count = len(work)
    vertices = shapely.get_num_coordinates(work)
    for i in np.flatnonzero(vertices > settings.max_vertices_per_feature):
        results.reject(
            int(i),
            "too_many_vertices",
            f"The polygon has {int(vertices[i]):,} vertices, over the limit of "
            f"{settings.max_vertices_per_feature:,}; simplify it first.",
        )
        work[i] = None
    coords, owner = shapely.get_coordinates(work, return_index=True)
    if not len(coords):
        return coords, owner
    x, y = coords[:, 0], coords[:, 1]
    with np.errstate(invalid="ignore"):
        plain = (np.abs(x) <= 180) & (np.abs(y) <= 90)  # false for NaN and infinities too
    if not plain.all():
        _reject_coordinates(x, y, owner, count, results)
    for i in np.flatnonzero(results.rejected):
        work[i] = None
    return coords, owner


def _reject_coordinates(
    x: NDArray[np.float64], y: NDArray[np.float64], owner: NDArray[np.intp], count: int, results: _Results
) -> None:
    """Features with coordinates that are not numbers, or not lon/lat."""
    finite = np.isfinite(x) & np.isfinite(y)
    bad_finite = np.bincount(owner[~finite], minlength=count) > 0
    for i in np.flatnonzero(bad_finite):
        results.reject(int(i), "not_finite", "Some coordinates are not finite numbers (NaN or infinity).")
    with np.errstate(invalid="ignore"):
        out = finite & ((np.abs(x) > 180) | (np.abs(y) > 90))
        metres = out & (np.abs(x) <= 10_000_000) & (np.abs(y) <= 20_000_000) & (np.abs(x) >= 1_000)
    out_count = np.bincount(owner[out], minlength=count)
    metre_count = np.bincount(owner[metres], minlength=count)
    first_out = np.full(count, -1)
    out_positions = np.flatnonzero(out)
    # The first offending coordinate of each feature, to show in the message.
    first_out[owner[out_positions[::-1]]] = out_positions[::-1]
    for i in np.flatnonzero((out_count > 0) & ~bad_finite):
        px, py = x[first_out[i]], y[first_out[i]]
        if metre_count[i] == out_count[i]:
            results.reject(
                int(i),
                "projected_without_crs",
                f"Coordinates such as ({px:g}, {py:g}) look like metres of a projected CRS (e.g. UTM) "
                "but no CRS was given: say which (e.g. crs=EPSG:32638) or send lon/lat degrees.",
            )
        else:
            results.reject(
                int(i),
                "out_of_range",
                f"Coordinate ({px:g}, {py:g}) is outside longitude -180..180 / latitude -90..90.",
            )


def _rings(
    work: NDArray[np.object_], coords: NDArray[np.float64], owner: NDArray[np.intp]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.intp], NDArray[np.intp], NDArray[np.bool_]]:
    """Every ring's vertices: (x, y, ring of each vertex, feature of each ring, rings without
    area). ``coords``/``owner`` are the features' coordinates (from :func:`_check_coordinates`).

    Rings are numbered so that each ring's vertices are consecutive and a feature's rings come
    in their order. A polygon without holes (nearly every hazard area) is its own ring: its
    vertices are its coordinates, its area the ring's; only the others are split into parts and
    rings (about 0.3 s per 50,000 polygons).
    """
    present = ~shapely.is_missing(work)
    simple = present & (shapely.get_type_id(work) == _POLYGON) & (shapely.get_num_interior_rings(work) == 0)
    simple_index = np.flatnonzero(simple)
    in_simple = simple[owner]
    x = [coords[in_simple, 0]]
    y = [coords[in_simple, 1]]
    # Ring k is the k-th simple polygon; the coordinates are in feature order already.
    ring_of_coord = [(np.cumsum(simple) - 1)[owner[in_simple]]]
    ring_owner = [simple_index]
    flat = [shapely.area(work[simple_index]) <= 0]
    others = work.copy()
    others[~present | simple] = None
    parts, part_owner = shapely.get_parts(others, return_index=True)
    if len(parts):
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        ring_coords, ring_index = shapely.get_coordinates(rings, return_index=True)
        x.append(ring_coords[:, 0])
        y.append(ring_coords[:, 1])
        ring_of_coord.append(ring_index + len(simple_index))
        ring_owner.append(part_owner[ring_part])
        flat.append(shapely.area(shapely.polygons(rings)) <= 0)
    return (
        np.concatenate(x),
        np.concatenate(y),
        np.concatenate(ring_of_coord),
        np.concatenate(ring_owner),
        np.concatenate(flat),
    )


def _check_rings(
    work: NDArray[np.object_], results: _Results, coords: NDArray[np.float64], owner: NDArray[np.intp]
) -> None:
    """Distinct vertices per ring and the gap between consecutive vertices."""
    settings = get_settings()
    x, y, ring_of_coord, ring_owner, flat = _rings(work, coords, owner)
    if not len(ring_owner):
        return

    # Distinct vertices: a ring with area has at least 3; only the flat ones are counted, by
    # sorting their coordinates by (ring, x, y) and counting changes.
    flat_rings = np.flatnonzero(flat)
    if len(flat_rings):
        in_flat = np.isin(ring_of_coord, flat_rings)
        fr, fx, fy = ring_of_coord[in_flat], x[in_flat], y[in_flat]
        order = np.lexsort((fy, fx, fr))
        r, xs, ys = fr[order], fx[order], fy[order]
        new = np.ones(len(r), dtype=bool)
        new[1:] = (r[1:] != r[:-1]) | (xs[1:] != xs[:-1]) | (ys[1:] != ys[:-1])
        distinct = np.bincount(r[new], minlength=len(ring_owner))
        for ring in flat_rings[distinct[flat_rings] < 3]:
            i = int(ring_owner[ring])
            if not results.rejected[i]:
                results.reject(
                    i,
                    "too_few_vertices",
                    f"A ring has only {int(distinct[ring])} distinct vertices; a polygon needs at least 3.",
                )

    # Gaps: a cheap planar estimate first, the exact geodesic distance only where it matters.
    # The estimate needs a cosine; |Δlat| + |Δlon| (in degrees × 111,320 m, over it since the
    # cosine is at most 1) picks the few pairs of vertices worth estimating.
    same = ring_of_coord[1:] == ring_of_coord[:-1]
    bound = (np.abs(y[1:] - y[:-1]) + np.abs(x[1:] - x[:-1])) * 111_320.0
    near = np.flatnonzero(same & (bound > settings.max_vertex_gap_m * 0.5))
    dlat = (y[near + 1] - y[near]) * 111_320.0
    dlon = (x[near + 1] - x[near]) * 111_320.0 * np.cos(np.radians((y[near + 1] + y[near]) / 2))
    rough = np.hypot(dlat, dlon)
    suspect = near[rough > settings.max_vertex_gap_m * 0.9]
    if not len(suspect):
        return
    _a, _b, exact = WGS84.inv(x[suspect], y[suspect], x[suspect + 1], y[suspect + 1])
    exact = np.asarray(exact)
    too_far = suspect[exact > settings.max_vertex_gap_m]
    distance = dict(zip(suspect.tolist(), exact.tolist(), strict=True))
    reported: set[int] = set()
    for pos in too_far:
        i = int(ring_owner[ring_of_coord[pos]])
        if i in reported or results.rejected[i]:
            continue
        reported.add(i)
        results.reject(
            i,
            "vertex_gap",
            f"Consecutive vertices ({x[pos]:.6f}, {y[pos]:.6f}) and ({x[pos + 1]:.6f}, {y[pos + 1]:.6f}) "
            f"are {distance[int(pos)] / 1000:.1f} km apart, more than "
            f"{settings.max_vertex_gap_m / 1000:g} km: probably a typing error.",
        )


@dataclass
class _Country:
    fingerprint: tuple[Any, ...]
    shape: BaseGeometry
    label: str
    buffer_m: float

    @cached_property
    def buffered(self) -> BaseGeometry:
        """The country widened by ``buffer_m`` (at least), computed when first needed: only
        polygons outside the country are compared with it (about 0.05 s per programme)."""
        buffered = shapely.buffer(self.shape, self.buffer_m / _M_PER_DEG_MIN)
        shapely.prepare(buffered)
        return buffered


_COUNTRIES: dict[tuple[str, int], _Country] = {}


def country_of(db: Session, programme_id: int) -> _Country | None:
    """The programme's admin areas as one geometry (cached until the admin areas change)."""
    settings = get_settings()
    row = db.execute(
        text(
            "SELECT count(*), max(a.id), p.code, p.iso3 FROM programmes p "
            "LEFT JOIN admin_areas a ON a.programme_id = p.id WHERE p.id = :p GROUP BY p.id"
        ),
        {"p": programme_id},
    ).one_or_none()
    fingerprint = (*(row or (0, None, None, None)), settings.country_buffer_m)
    if not fingerprint[0]:
        return None
    key = (str(db.get_bind().engine.url), programme_id)
    cached = _COUNTRIES.get(key)
    if cached is not None and cached.fingerprint == fingerprint:
        return cached
    wkb = db.execute(
        text(
            "SELECT ST_AsBinary(ST_Union(geom)) FROM admin_areas WHERE programme_id = :p "
            "AND level = (SELECT min(level) FROM admin_areas WHERE programme_id = :p)"
        ),
        {"p": programme_id},
    ).scalar_one()
    shape = shapely.from_wkb(bytes(wkb))
    shapely.prepare(shape)
    country = _Country(fingerprint, shape, f"{fingerprint[2]} ({fingerprint[3]})", settings.country_buffer_m)
    _COUNTRIES[key] = country
    return country


def _check_country(work: NDArray[np.object_], results: _Results, programme_id: int, db: Session) -> None:
    settings = get_settings()
    country = country_of(db, programme_id)
    if country is None:
        return  # a programme without boundaries cannot be checked; nothing to compare with
    active = np.flatnonzero(results.active())
    if not len(active):
        return
    inside = shapely.intersects(country.shape, work[active])
    outside = active[~inside]
    if not len(outside):
        return
    # Near the border (e.g. just off the coast): the exact geodesic distance, in SQL.
    near = outside[shapely.intersects(country.buffered, work[outside])]
    within: set[int] = set()
    if len(near):
        rows = db.execute(
            text(
                """
                WITH c AS (
                    SELECT ST_Union(geom)::geography AS g FROM admin_areas WHERE programme_id = :p
                      AND level = (SELECT min(level) FROM admin_areas WHERE programme_id = :p))
                SELECT u.i FROM c, unnest(CAST(:idx AS int[]), CAST(:wkb AS text[])) AS u(i, w)
                WHERE ST_DWithin(c.g, ST_GeomFromEWKB(decode(u.w, 'hex'))::geography, :buffer)
                """
            ),
            {
                "p": programme_id,
                "idx": [int(i) for i in near],
                "wkb": shapely.to_wkb(
                    shapely.set_srid(work[near], 4326), hex=True, include_srid=True
                ).tolist(),
                "buffer": settings.country_buffer_m,
            },
        ).all()
        within = {int(r[0]) for r in rows}
    far = np.asarray([i for i in outside if int(i) not in within], dtype=np.int64)
    if not len(far):
        return
    swapped = shapely.transform(work[far], lambda c: c[:, ::-1])
    swapped_inside = shapely.intersects(country.shape, swapped)
    for i, was_swapped in zip(far, swapped_inside, strict=True):
        x, y = shapely.get_coordinates(work[i])[0]
        if was_swapped:
            results.reject(
                int(i),
                "latlon_swapped",
                f"The polygon is outside {country.label}, but would be inside it with longitude and "
                f"latitude swapped (first vertex x={x:g}, y={y:g}): GeoJSON and WKT are longitude first.",
            )
        else:
            results.reject(
                int(i),
                "outside_country",
                f"The polygon (first vertex {x:.5f}, {y:.5f}) is more than "
                f"{settings.country_buffer_m / 1000:g} km outside {country.label}.",
            )


def _polygonal(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """The polygonal parts of each geometry, as one MultiPolygon each (empty when none)."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_type_id(parts) == _POLYGON
    out = np.empty(len(geoms), dtype=object)
    out[:] = [MultiPolygon() for _ in range(len(geoms))]
    if keep.any():
        owners = owner[keep]
        unique = np.unique(owners)
        # Renumber owners 0..k-1 for shapely.multipolygons(indices=…).
        multis = shapely.multipolygons(parts[keep], indices=np.searchsorted(unique, owners))
        out[unique] = multis
    return out


def _check_validity(work: NDArray[np.object_], results: _Results) -> None:
    settings = get_settings()
    active = np.flatnonzero(results.active())
    if not len(active):
        return
    valid = shapely.is_valid(work[active])
    invalid = active[~valid]
    if len(invalid):
        reasons = shapely.is_valid_reason(work[invalid])
        repaired = _polygonal(
            np.asarray(shapely.make_valid(work[invalid], method="structure", keep_collapsed=False))
        )
        before = geodesic_areas(work[invalid])
        after = geodesic_areas(repaired)
        for k, i in enumerate(invalid):
            index = int(i)
            results.areas[index] = (float(before[k]), float(after[k]))
            change = abs(after[k] - before[k]) / before[k] if before[k] > 0 else np.inf
            if after[k] <= 0:
                results.reject(
                    index,
                    "zero_area",
                    f"The polygon is invalid ({reasons[k]}) and nothing of it is left once repaired: "
                    "its vertices are collinear or its rings collapse.",
                )
            elif change <= settings.repair_area_tolerance:
                results.note(
                    index,
                    "repaired",
                    f"Invalid polygon ({reasons[k]}) repaired; area {_fmt_m2(before[k])} before, "
                    f"{_fmt_m2(after[k])} after ({change * 100:.3f} % change). The original is kept.",
                )
                work[i] = repaired[k]
            else:
                pct = "an unbounded" if not np.isfinite(change) else f"a {change * 100:.1f} %"
                results.reject(
                    index,
                    "invalid",
                    f"Invalid polygon ({reasons[k]}). Repairing it would change the area from "
                    f"{_fmt_m2(before[k])} to {_fmt_m2(after[k])}, {pct} change, more than the "
                    f"{settings.repair_area_tolerance * 100:g} % allowed: correct it in the source.",
                )
    # Under a square metre is "zero": a rough m² from degrees² is enough for that threshold.
    still = np.flatnonzero(results.active())
    lat = shapely.bounds(work[still])[:, 1]
    rough_m2 = shapely.area(work[still]) * 111_320.0**2 * np.cos(np.radians(lat))
    for i in still[rough_m2 < 1.0]:
        results.reject(
            int(i), "zero_area", "The polygon has zero area (under 1 m²: its vertices are collinear)."
        )


def check_polygons(
    geoms: Sequence[BaseGeometry | None] | NDArray[np.object_], programme_id: int, db: Session
) -> list[FeatureCheck]:
    """Check hazard polygons (lon/lat) for ``programme_id``; one :class:`FeatureCheck` per input.

    Read-only: nothing is written to the database.
    """
    raw = np.empty(len(geoms), dtype=object)
    raw[:] = geoms if isinstance(geoms, np.ndarray) else list(geoms)
    if not len(raw):
        return []
    results = _Results(len(raw))
    work = _check_types(raw, results)
    coords, owner = _check_coordinates(work, results)
    work[results.rejected] = None
    _check_rings(work, results, coords, owner)
    work[results.rejected] = None
    # Repair first: spatial predicates of the country check need valid polygons.
    _check_validity(work, results)
    work[results.rejected] = None
    _check_country(work, results, programme_id, db)

    ok = np.flatnonzero(results.active())
    final = np.empty(len(raw), dtype=object)
    if len(ok):
        geoms_ok = work[ok]
        is_poly = shapely.get_type_id(geoms_ok) == _POLYGON
        if is_poly.any():
            geoms_ok[is_poly] = shapely.multipolygons(
                geoms_ok[is_poly], indices=np.arange(int(is_poly.sum()))
            )
        final[ok] = geoms_ok
    # Built once each: most features have nothing to say and only need their geometry.
    checks = [FeatureCheck(i, "valid", [], [], g) for i, g in enumerate(final.tolist())]
    for i, codes in results.codes.items():
        check = checks[i]
        check.codes = codes
        check.messages = results.messages[i]
        if results.rejected[i]:
            check.status = "rejected"
        elif "repaired" in codes:
            check.status = "repaired"
            check.raw_geometry = raw[i]
    for i, (before, after) in results.areas.items():
        checks[i].area_before_m2 = before
        checks[i].area_after_m2 = after
    return checks


# -- possible duplicates ---------------------------------------------------------------------


@dataclass(frozen=True)
class PossibleDuplicate:
    """An existing hazard overlapping a new polygon (percentages of each one's area)."""

    index: int
    hazard_id: int
    reference: str
    overlap_m2: float
    overlap_pct: float  # share of the new polygon covered by the existing hazard
    existing_overlap_pct: float  # share of the existing hazard covered by the new polygon

    def as_report(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "hazard_id": self.hazard_id,
            "reference": self.reference,
            "overlap_m2": round(self.overlap_m2, 1),
            "overlap_pct": round(self.overlap_pct, 1),
            "existing_overlap_pct": round(self.existing_overlap_pct, 1),
        }


# -- COPY: bulk loads inside the session's transaction ------------------------------------------


def copy_from(db: Session, table: str, columns: Sequence[str], data: IO[Any], binary: bool = False) -> None:
    """COPY ``data`` (text format, or PostgreSQL's binary format) into ``table``."""
    raw: Any = db.connection().connection.dbapi_connection
    cursor = raw.cursor()
    try:
        cursor.copy_expert(_copy_sql(table, columns, binary), data)
    finally:
        cursor.close()


def _copy_sql(table: str, columns: Sequence[str], binary: bool) -> str:
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN" + (" WITH (FORMAT binary)" if binary else "")


def copy_rows(db: Session, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Bulk-load rows of Python values (written by :func:`copy_text`) into ``table``."""
    copy_lines(db, table, columns, ["\t".join(copy_text(v) for v in row) for row in rows])


def copy_lines(db: Session, table: str, columns: Sequence[str], lines: Sequence[str]) -> None:
    """COPY rows already in COPY text format (tab-separated, escaped) into ``table``."""
    copy_from(db, table, columns, io.StringIO("\n".join(lines) + "\n" if lines else ""))


def copy_text(value: Any) -> str:
    """A value in COPY text format: NULL, booleans, numbers, text, text[] (lists), jsonb (dicts)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float | np.integer | np.floating):
        return str(value)
    if isinstance(value, list):
        quoted = (str(v).replace("\\", "\\\\").replace('"', '\\"') for v in value)
        value = "{" + ",".join(f'"{v}"' for v in quoted) + "}"
    elif isinstance(value, dict):
        value = orjson.dumps(value).decode()
    return copy_escape(str(value))


def copy_escape(value: str) -> str:
    """Text escaped for COPY text format (backslash, tab, newline, carriage return)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


# PostgreSQL's binary COPY format: a signature, flags and header-extension length, the rows
# (each a field count, then every field's length and bytes), and -1 as the end.
COPY_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_BINARY_TRAILER = b"\xff\xff"


def load_temp_geometries(
    db: Session, geoms: Sequence[BaseGeometry | None] | NDArray[np.object_], index: bool = False
) -> str:
    """A temporary table ``(idx int, geom geometry)`` holding ``geoms``; returns its name.

    Dropped at the end of the transaction. Loaded with one binary COPY of WKB (PostGIS reads
    WKB as the geometry's binary form: no hex encoding on our side, no parsing on its side).
    With ``index``, large tables get a GiST index (for spatial joins with the table on the
    inner side) and a b-tree on ``idx``. An import loads its polygons once and passes the table
    both to :func:`find_possible_duplicates` and to ``survey.service.insert_hazard_areas``.
    """
    name = f"tmp_geoms_{uuid.uuid4().hex[:10]}"
    db.execute(text(f"CREATE TEMP TABLE {name} (idx int, geom geometry(Geometry, 4326)) ON COMMIT DROP"))
    array = np.empty(len(geoms), dtype=object)
    array[:] = list(geoms)
    present = np.flatnonzero(~shapely.is_missing(array))
    if len(present):
        # Plain WKB: the column's type gives it SRID 4326 (setting it on 50,000 shapely geometries
        # first copied each of them).
        wkbs = shapely.to_wkb(array[present])
        copy_binary(db, name, ("idx", "geom"), present.tolist(), wkbs.tolist())
    if index and len(present) > 50:
        db.execute(text(f"CREATE INDEX ON {name} (idx)"))
        db.execute(text(f"CREATE INDEX ON {name} USING gist (geom)"))
    # Statistics of idx only: those of the geometries cost 0.1 s per 50,000 polygons and changed
    # no plan (admin areas, duplicates among 100,000 hazards); the GiST index is what matters.
    db.execute(text(f"ANALYZE {name} (idx)"))
    return name


# Per row: the field count (2), the int4 field (length 4, value), the length of the value.
_ROW_START = struct.Struct("!hiii")


def copy_binary(
    db: Session, table: str, columns: Sequence[str], ids: Sequence[int], blobs: Sequence[bytes]
) -> None:
    """COPY rows ``(int4 id, binary value)`` in PostgreSQL's binary format (the value as its
    type's binary input, e.g. EWKB for geometry)."""
    copy_from(db, table, columns, _id_blob_rows(ids, blobs), binary=True)


def _id_blob_rows(ids: Sequence[int], blobs: Sequence[bytes]) -> io.BytesIO:
    pack = _ROW_START.pack
    parts = [COPY_BINARY_HEADER]
    for i, blob in zip(ids, blobs, strict=True):
        parts.append(pack(2, 4, i, len(blob)))
        parts.append(blob)
    parts.append(COPY_BINARY_TRAILER)
    return io.BytesIO(b"".join(parts))


class Background(Generic[T]):
    """``job()`` run in a thread of its own from now on; :meth:`result` waits for it (and raises
    what it raised)."""

    def __init__(self, job: Callable[[], T], name: str) -> None:
        self._job = job
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._job()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return cast(T, self._value)


def areas_in_background(db: Session, geoms: NDArray[np.object_]) -> Background[NDArray[np.float64]]:
    """PostGIS geodesic areas (``ST_Area(geom::geography)``, the very values an insert would
    compute) of many polygons, computed on a second connection while this one goes on.

    An import spends about 2 s of its 50,000-polygon insert on ST_Area: computed here, on another
    PostgreSQL backend, they overlap the attribute checks, the duplicates query and the admin
    areas of the main connection (the machine has more than one core). Read-only: the second
    connection sees nothing of the import's transaction and needs nothing of it.
    """
    engine = db.get_bind().engine
    return Background(lambda: _areas(engine, geoms), "geodesic-areas")


def _areas(engine: Engine, geoms: NDArray[np.object_]) -> NDArray[np.float64]:
    raw: Any = engine.raw_connection()
    try:
        cursor = raw.cursor()
        wkbs = shapely.to_wkb(geoms).tolist()  # SRID 4326 from the column's type
        cursor.execute(
            "CREATE TEMP TABLE areas_in_background (idx int, geom geometry(Geometry, 4326)) ON COMMIT DROP"
        )
        cursor.copy_expert(
            _copy_sql("areas_in_background", ("idx", "geom"), binary=True),
            _id_blob_rows(range(len(wkbs)), wkbs),
        )
        cursor.execute("SELECT ST_Area(geom::geography) FROM areas_in_background ORDER BY idx")
        areas = np.fromiter((r[0] for r in cursor.fetchall()), dtype=np.float64)
        raw.rollback()  # drops the table
        return areas
    finally:
        raw.close()


def hazards_held(db: Session, programme_id: int, up_to: int) -> int:
    """How many hazard areas the programme holds, counted up to ``up_to`` (from an index)."""
    held = db.scalar(
        text("SELECT count(*) FROM (SELECT 1 FROM hazard_areas WHERE programme_id = :p LIMIT :n) h"),
        {"p": programme_id, "n": up_to},
    )
    return int(held or 0)


def find_possible_duplicates(
    db: Session,
    programme_id: int,
    geoms: Sequence[BaseGeometry | None] | NDArray[np.object_],
    threshold: float | None = None,
    exclude_ids: Sequence[int] = (),
    loaded: str | None = None,
) -> list[PossibleDuplicate]:
    """Existing hazards of the programme overlapping each new polygon by ``threshold`` or more.

    The overlap counts when either share (of the new polygon, or of the existing hazard) reaches
    the threshold (a fraction, default ``settings.duplicate_overlap_threshold``). Rejected
    hazards and ``exclude_ids`` (e.g. the hazard being edited) are ignored. One SQL statement.
    ``loaded`` names a table from :func:`load_temp_geometries` already holding ``geoms`` (it is
    then used as is and left in place for the caller).
    """
    if threshold is None:
        threshold = get_settings().duplicate_overlap_threshold
    if not len(geoms):
        return []
    table = loaded or load_temp_geometries(db, geoms)
    # The hazards a new polygon n may duplicate: same programme, overlapping boxes, not rejected.
    overlapping = (
        "h.programme_id = :p AND h.geom && n.geom "
        "AND h.review_status <> 'rejected' AND NOT (h.id = ANY(:exclude))"
    )
    # Which side drives the join.
    if hazards_held(db, programme_id, up_to=len(geoms)) >= len(geoms):
        # Each new polygon looks up the hazards its box overlaps in their spatial index (LATERAL,
        # kept whole by OFFSET 0). Left to itself the planner went the other way round, every
        # hazard of the programme read and probing the new polygons' index: for 50,000 new
        # polygons against 60,000 hazards the query took 2.0 s instead of 1.5 s.
        hazards = (
            f"{table} n CROSS JOIN LATERAL (SELECT h.id, h.reference, h.area_m2, h.geom "
            f"FROM hazard_areas h WHERE {overlapping} OFFSET 0) h"
        )
    else:  # fewer hazards than new polygons (none in a new programme): the planner's own plan
        hazards = f"{table} n JOIN hazard_areas h ON {overlapping}"
    # Pairs whose bounding boxes cannot overlap enough are dropped by arithmetic on the boxes;
    # the intersection is computed only for the rest, its geodesic area only for the hits.
    # The threshold test is on planar areas (a ratio: the same on the ellipsoid this locally).
    rows = db.execute(
        text(
            f"""
            WITH pairs AS (
                SELECT n.idx, h.id, h.reference, h.area_m2, n.geom AS ng, h.geom AS hg,
                       least(ST_Area(n.geom), ST_Area(h.geom)) AS smaller
                FROM {hazards}
            ), candidates AS (
                -- The same polygon sent again (a re-export, a second upload) needs no overlay.
                -- An invalid new polygon (sent before its checks, see geo.imports.SentPolygons)
                -- is not overlaid: GEOS may refuse it, and it is looked up again once repaired.
                SELECT p.*, (p.hg = p.ng) AS same,
                       CASE WHEN p.hg = p.ng OR NOT ST_IsValid(p.ng) THEN NULL
                            ELSE ST_Intersection(p.hg, p.ng) END AS ig
                FROM pairs p
                WHERE greatest(0, least(ST_XMax(p.ng), ST_XMax(p.hg)) - greatest(ST_XMin(p.ng), ST_XMin(p.hg)))
                    * greatest(0, least(ST_YMax(p.ng), ST_YMax(p.hg)) - greatest(ST_YMin(p.ng), ST_YMin(p.hg)))
                    >= :t * p.smaller
            )
            SELECT c.idx, c.id, c.reference, o.m2,
                   100 * o.m2 / nullif(o.new_m2, 0),
                   100 * o.m2 / nullif(c.area_m2, 0)
            FROM candidates c
            CROSS JOIN LATERAL (
                SELECT CASE WHEN c.same THEN c.area_m2 ELSE ST_Area(c.ig::geography) END AS m2,
                       CASE WHEN c.same THEN c.area_m2 ELSE ST_Area(c.ng::geography) END AS new_m2
            ) o
            WHERE c.same OR ST_Area(c.ig) >= :t * c.smaller
            ORDER BY c.idx, o.m2 DESC
            """
        ),
        {"p": programme_id, "exclude": list(exclude_ids), "t": threshold},
    ).all()
    if loaded is None:
        db.execute(text(f"DROP TABLE IF EXISTS {table}"))
    return [
        PossibleDuplicate(
            index=int(r[0]),
            hazard_id=int(r[1]),
            reference=str(r[2]),
            overlap_m2=float(r[3]),
            overlap_pct=float(r[4] or 0.0),
            existing_overlap_pct=float(r[5] or 0.0),
        )
        for r in rows
    ]
