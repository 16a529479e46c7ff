"""Geodesic areas and distances on the WGS84 ellipsoid, in m² and metres, never degrees.

* :func:`geodesic_area` — one shapely geometry, exact (pyproj ``Geod``, Karney's algorithm).
* :func:`geodesic_areas` — many geometries at once: they are projected to an equal-area
  projection of the ellipsoid (EASE-Grid 2.0, EPSG:6933) with one vectorised transform and
  measured with ``shapely.area``. Equal-area projections keep areas exactly; the only
  difference from the geodesic area is that edges are straight in the projection instead of
  geodesics, which for field polygons (edges far below 5 km) is far under 0.01 %.
* :func:`consecutive_distances` — geodesic distance between consecutive coordinates.

In SQL the same areas come from ``ST_Area(geom::geography)`` (also the ellipsoid).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Geod, Transformer
from shapely.geometry.base import BaseGeometry

WGS84 = Geod(ellps="WGS84")


def geodesic_area(geom: BaseGeometry | None) -> float:
    """Area of a (multi)polygon in m² on the WGS84 ellipsoid (0 for empty/None/non-areal)."""
    if geom is None or geom.is_empty:
        return 0.0
    area, _perimeter = WGS84.geometry_area_perimeter(geom)
    return abs(float(area))


@lru_cache
def _to_equal_area() -> Transformer:
    return Transformer.from_crs("EPSG:4326", "EPSG:6933", always_xy=True)


def to_equal_area(geoms: NDArray[np.object_] | Sequence[BaseGeometry | None]) -> NDArray[np.object_]:
    """Geometries (lon/lat) projected to EPSG:6933 (metres, equal-area), vectorised."""
    array = np.asarray(geoms, dtype=object)
    transformer = _to_equal_area()

    def project(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    with np.errstate(invalid="ignore"):
        return np.asarray(shapely.transform(array, project), dtype=object)


def geodesic_areas(geoms: NDArray[np.object_] | Sequence[BaseGeometry | None]) -> NDArray[np.float64]:
    """Areas in m² of many lon/lat geometries at once (NaN for None; 0 for empty)."""
    projected = to_equal_area(geoms)
    areas = shapely.area(projected)
    return np.asarray(areas, dtype=np.float64)


def consecutive_distances(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.float64]:
    """Geodesic distance (m) from each coordinate to the next one (length ``n - 1``)."""
    if len(lon) < 2:
        return np.zeros(0)
    _az1, _az2, dist = WGS84.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    return np.asarray(dist, dtype=np.float64)


def hectares(m2: float) -> float:
    return m2 / 10_000.0


def km2(m2: float) -> float:
    return m2 / 1_000_000.0
