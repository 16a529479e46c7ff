"""Coordinate reference systems of OGC API Features Part 2.

Geometry is stored in EPSG:4326 with longitude first, which is exactly OGC CRS84. Output in
another CRS is reprojected by PostGIS (``ST_Transform``). EPSG:4326 itself is defined with
latitude first, so when a client asks for it by its EPSG URI the coordinates are swapped
(``ST_FlipCoordinates``); CRS84, Web Mercator and UTM are easting/longitude first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.errors import Problem

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"
BASE_EPSG = (4326, 3857)

_EPSG_PATTERNS = (
    re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(\d{4,6})$"),
    re.compile(r"^\[?EPSG:(\d{4,6})\]?$", re.IGNORECASE),
)
_CRS84_NAMES = {CRS84, "https://www.opengis.net/def/crs/OGC/1.3/CRS84", "OGC:CRS84", "[OGC:CRS84]", "CRS84"}


@dataclass(frozen=True)
class Crs:
    uri: str
    srid: int
    lat_first: bool  # axis order of the CRS definition

    @property
    def is_crs84(self) -> bool:
        return self.uri == CRS84

    @property
    def geographic(self) -> bool:
        return self.srid == 4326

    @property
    def precision(self) -> int:
        # 7 decimals of a degree ≈ 1 cm; projected CRSs are in metres.
        return 7 if self.geographic else 3

    def output_sql(self, geometry_sql: str) -> str:
        """SQL giving ``geometry_sql`` (stored lon/lat EPSG:4326) in this CRS and axis order."""
        if self.is_crs84:
            return geometry_sql
        if self.srid == 4326:
            return f"ST_FlipCoordinates({geometry_sql})"
        return f"ST_Transform({geometry_sql}, {self.srid})"

    def input_sql(self, geometry_sql: str) -> str:
        """SQL turning a geometry given in this CRS (its axis order, no SRID) into EPSG:4326 lon/lat."""
        if self.is_crs84:
            return f"ST_SetSRID({geometry_sql}, 4326)"
        if self.srid == 4326:
            return f"ST_SetSRID(ST_FlipCoordinates({geometry_sql}), 4326)"
        return f"ST_Transform(ST_SetSRID({geometry_sql}, {self.srid}), 4326)"


CRS84_CRS = Crs(CRS84, 4326, lat_first=False)


def supported(utm_epsg: list[int]) -> list[Crs]:
    """CRS84, EPSG:4326, EPSG:3857 and the given UTM zones (the programmes' own)."""
    codes = list(BASE_EPSG) + sorted({c for c in utm_epsg if c not in BASE_EPSG})
    return [CRS84_CRS] + [Crs(EPSG_URI.format(code=c), c, lat_first=c == 4326) for c in codes]


def parse(value: str | None, allowed: list[Crs], parameter: str) -> Crs:
    """The CRS named by a ``crs``/``bbox-crs``/``filter-crs`` value (400 if not offered)."""
    if value is None or value.strip() in _CRS84_NAMES:
        return CRS84_CRS
    text = value.strip()
    for pattern in _EPSG_PATTERNS:
        match = pattern.match(text)
        if match:
            srid = int(match.group(1))
            for crs in allowed:
                if crs.srid == srid and not crs.is_crs84:
                    return crs
    raise Problem(
        400,
        f"{parameter}={value!r} is not offered; use one of the collection's CRSs.",
        "Unsupported CRS",
        parameter=parameter,
        allowed=[c.uri for c in allowed],
    )
