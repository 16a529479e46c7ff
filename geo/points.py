"""Parsing points given as GeoJSON (lon/lat) with clear errors."""

from __future__ import annotations

import math
from typing import Any

from shapely.geometry import Point

from app.errors import Problem


def point_from_geojson(value: Any, field: str = "geometry") -> Point:
    if not isinstance(value, dict) or value.get("type") != "Point":
        raise Problem(422, f"{field}: expected a GeoJSON Point", errors=[{"field": field}])
    coords = value.get("coordinates")
    if (
        not isinstance(coords, list | tuple)
        or len(coords) < 2
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords[:2])
    ):
        raise Problem(422, f"{field}: coordinates must be [lon, lat] numbers", errors=[{"field": field}])
    lon, lat = float(coords[0]), float(coords[1])
    if not (math.isfinite(lon) and math.isfinite(lat)) or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise Problem(
            422,
            f"{field}: [{lon}, {lat}] is outside lon -180..180 / lat -90..90",
            errors=[{"field": field}],
        )
    return Point(lon, lat)  # Z/M dropped: SafeGround stores 2D
