"""Checking GeoJSON geometry sent by clients, with errors that say what and where.

Shapely is used for input only: type, numbers, ranges, vertex count, validity (repaired with
``make_valid`` when the repair does not change the area noticeably). Everything else (areas,
clipping, overlap) is computed by PostGIS.
"""

from __future__ import annotations

import math
from typing import Any

from pyproj import Geod
from shapely import make_valid
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

from app.errors import Problem
from app.settings import get_settings

_GEOD = Geod(ellps="WGS84")


def _fail(field: str, message: str) -> Problem:
    return Problem(422, f"{field}: {message}", errors=[{"field": field, "message": message}])


def _check_positions(value: Any, depth: int, field: str, count: list[int]) -> None:
    """Walk the coordinate arrays: finite lon/lat numbers inside their ranges."""
    if not isinstance(value, list | tuple):
        raise _fail(field, "coordinates must be nested arrays of [lon, lat]")
    if depth == 0:
        if len(value) < 2 or not all(
            isinstance(c, int | float) and not isinstance(c, bool) for c in value[:2]
        ):
            raise _fail(field, f"a position must be [lon, lat] numbers, got {str(value)[:60]}")
        lon, lat = float(value[0]), float(value[1])
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise _fail(field, "coordinates must be finite numbers")
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise _fail(field, f"position [{lon}, {lat}] is outside lon -180..180 / lat -90..90")
        count[0] += 1
        if count[0] > get_settings().max_vertices_per_feature:
            raise _fail(field, f"more than {get_settings().max_vertices_per_feature} vertices")
        return
    for item in value:
        _check_positions(item, depth - 1, field, count)


def polygon_from_geojson(value: Any, field: str = "geometry") -> tuple[MultiPolygon, BaseGeometry | None]:
    """A valid 2D MultiPolygon from a GeoJSON Polygon/MultiPolygon (lon/lat, EPSG:4326).

    Returns ``(geometry, as_sent)``: ``as_sent`` is the original when it had to be repaired.
    """
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
        raise _fail(field, "expected a GeoJSON Polygon or MultiPolygon")
    depth = 2 if value["type"] == "Polygon" else 3
    _check_positions(value.get("coordinates"), depth, field, [0])
    try:
        geom = shape({"type": value["type"], "coordinates": value["coordinates"]})
    except (ValueError, TypeError, IndexError) as exc:
        raise _fail(field, f"not a polygon: {exc}") from None
    if geom.is_empty:
        raise _fail(field, "the polygon is empty")
    geom = _drop_z(geom)
    as_sent: BaseGeometry | None = None
    if not geom.is_valid:
        as_sent = geom
        repaired = make_valid(geom)
        polygons = [g for g in getattr(repaired, "geoms", [repaired]) if isinstance(g, Polygon)]
        if isinstance(repaired, MultiPolygon):
            polygons = list(repaired.geoms)
        fixed = MultiPolygon(polygons)
        before, after = geodesic_area(geom.buffer(0)), geodesic_area(fixed)
        tolerance = get_settings().repair_area_tolerance
        if fixed.is_empty or (before > 0 and abs(after - before) / before > tolerance):
            raise _fail(
                field,
                f"the polygon is invalid ({_explain(geom)}) and repairing it would change its area "
                f"from {before:.1f} m² to {after:.1f} m²; fix it at source",
            )
        geom = fixed
    multi = geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])
    if geodesic_area(multi) <= 0:
        raise _fail(field, "the polygon has no area")
    return multi, as_sent


def location_from_geojson(value: Any, field: str = "location") -> BaseGeometry:
    """A QA visit location: a GeoJSON Point, Polygon or MultiPolygon."""
    if isinstance(value, dict) and value.get("type") == "Point":
        _check_positions(value.get("coordinates"), 0, field, [0])
        coords = value["coordinates"]
        return Point(float(coords[0]), float(coords[1]))
    geom, _ = polygon_from_geojson(value, field)
    return geom


def geodesic_area(geom: BaseGeometry) -> float:
    if geom.is_empty:
        return 0.0
    return abs(_GEOD.geometry_area_perimeter(geom)[0])


def _drop_z(geom: BaseGeometry) -> BaseGeometry:
    if not geom.has_z:
        return geom
    from shapely import force_2d

    return force_2d(geom)


def _explain(geom: BaseGeometry) -> str:
    from shapely.validation import explain_validity

    return str(explain_validity(geom))
