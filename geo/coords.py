"""Coordinates as people type them in the field, parsed to WGS84 lon/lat.

Accepted (the original string is always kept beside the result by the caller):

* MGRS, 2–10 digits of easting+northing: ``38NNF1234567890``, ``38N NF 12345 67890``
* UTM with zone and hemisphere: ``38N 412345 1234567`` (``38N`` = zone 38, northern hemisphere),
  or zone and MGRS latitude band: ``33R 330000 3540000`` (bands C–M south, N–X north). ``S`` is
  both "southern hemisphere" and the band 32°–40°N (Libya, Syria, Iraq): it is read as the band
  when the northing lies in that band (3,500,000–4,500,000 m), as the hemisphere otherwise
* decimal degrees, latitude first as on GPS screens: ``2.0469, 45.3182``; hemisphere letters
  may be given (``2.0469N 45.3182E``, ``N2.0469 E45.3182``), in which case order is free
* degrees-minutes-seconds or degrees-decimal-minutes: ``2°02'49"N 45°19'05"E``,
  ``02 02 49 N 045 19 05 E``, ``2 02.82 N 45 19.08 E``
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import mgrs as mgrs_lib
from pyproj import Transformer


class CoordinateError(ValueError):
    """The text is not a coordinate we can read; the message says why."""


@dataclass(frozen=True)
class ParsedCoordinate:
    lon: float
    lat: float
    format: str  # "mgrs", "utm", "dd", "dms"
    text: str  # as typed
    crs: str  # the CRS the text was in, e.g. "EPSG:32638" for UTM, "EPSG:4326" otherwise
    precision_m: float | None = None  # MGRS precision implied by the digit count


_MGRS = re.compile(r"^(\d{1,2})\s*([C-HJ-NP-X])\s*([A-HJ-NP-Z]{2})\s*(\d*)\s*(\d*)$", re.IGNORECASE)
_UTM = re.compile(
    r"^(\d{1,2})\s*([C-HJ-NP-X])\s*[,;]?\s*(\d+(?:\.\d+)?)\s*m?E?\s*[,;]?\s*(\d+(?:\.\d+)?)\s*m?N?$",
    re.IGNORECASE,
)
# Northings of the latitude band S (32°–40°N), with a margin: "33S 330000 3640000" is Libya.
_BAND_S_NORTHING = (3_500_000.0, 4_500_000.0)
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_DD_PLAIN = re.compile(rf"^({_NUMBER})\s*[,;\s]\s*({_NUMBER})$")
# One axis in DMS / DDM / DD with a hemisphere letter before or after.
_AXIS = re.compile(
    r"""^\s*(?P<pre>[NSEW])?\s*
    (?P<d>\d+(?:\.\d+)?)\s*(?:°|º|d|\s)?\s*
    (?:(?P<m>\d+(?:\.\d+)?)\s*(?:'|′|m|\s)?\s*)?
    (?:(?P<s>\d+(?:\.\d+)?)\s*(?:"|″|''|s)?\s*)?
    (?P<post>[NSEW])?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


@lru_cache(maxsize=32)
def _to_wgs84(epsg: int) -> Transformer:
    return Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True)


def utm_epsg(zone: int, northern: bool) -> int:
    return (32600 if northern else 32700) + zone


def _check_range(lon: float, lat: float, text: str) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat)) or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise CoordinateError(f"{text!r} gives lon {lon:.6f}, lat {lat:.6f}: outside the globe")


def _parse_mgrs(compact: str, text: str) -> ParsedCoordinate | None:
    match = _MGRS.match(compact)
    if not match:
        return None
    zone, band, square, east, north = match.groups()
    digits = east + north
    if not 1 <= int(zone) <= 60:
        raise CoordinateError(f"{text!r}: MGRS zone {zone} is not between 1 and 60")
    if not digits or len(digits) % 2 or len(digits) > 10:
        raise CoordinateError(
            f"{text!r}: MGRS needs an even number of digits (2 to 10) after the 100 km square, "
            f"got {len(digits)}"
        )
    normalised = f"{int(zone):02d}{band.upper()}{square.upper()}{digits}"
    try:
        lat, lon = mgrs_lib.MGRS().toLatLon(normalised)
    except Exception as exc:  # the library raises its own error type for bad squares
        raise CoordinateError(f"{text!r} is not a valid MGRS reference ({exc})") from exc
    precision = 10 ** (5 - len(digits) // 2) if digits else 100_000.0
    return ParsedCoordinate(lon, lat, "mgrs", text, "EPSG:4326", float(precision))


def _parse_utm(text: str) -> ParsedCoordinate | None:
    match = _UTM.match(text.strip())
    if not match:
        return None
    zone_text, hemisphere, easting_text, northing_text = match.groups()
    zone = int(zone_text)
    if not 1 <= zone <= 60:
        raise CoordinateError(f"{text!r}: UTM zone {zone} is not between 1 and 60")
    easting, northing = float(easting_text), float(northing_text)
    if not 100_000 <= easting <= 900_000:
        raise CoordinateError(f"{text!r}: UTM easting {easting:.0f} is outside 100000–900000 m")
    if not 0 <= northing <= 10_000_000:
        raise CoordinateError(f"{text!r}: UTM northing {northing:.0f} is outside 0–10000000 m")
    letter = hemisphere.upper()
    # Bands N–X are north; "S" is the band S (north) only with a band-S northing.
    band_s = _BAND_S_NORTHING[0] <= northing <= _BAND_S_NORTHING[1]
    northern = band_s if letter == "S" else letter >= "N"
    epsg = utm_epsg(zone, northern)
    lon, lat = _to_wgs84(epsg).transform(easting, northing)
    _check_range(lon, lat, text)
    return ParsedCoordinate(lon, lat, "utm", text, f"EPSG:{epsg}")


def _axis_value(part: str) -> tuple[float, str | None, bool]:
    """(decimal degrees, hemisphere letter or None, had minutes/seconds)."""
    match = _AXIS.match(part)
    if not match:
        raise CoordinateError(f"cannot read {part.strip()!r} as degrees")
    pre, post = match.group("pre"), match.group("post")
    if pre and post:
        raise CoordinateError(f"{part.strip()!r} has two hemisphere letters")
    hemisphere = (pre or post or "").upper() or None
    degrees = float(match.group("d"))
    minutes = float(match.group("m") or 0)
    seconds = float(match.group("s") or 0)
    if minutes >= 60 or seconds >= 60:
        raise CoordinateError(f"{part.strip()!r}: minutes and seconds must be below 60")
    value = degrees + minutes / 60 + seconds / 3600
    if hemisphere in ("S", "W"):
        value = -value
    return value, hemisphere, match.group("m") is not None


def _split_axes(text: str) -> tuple[str, str] | None:
    """Split 'latitude-part longitude-part' (in either order) into its two axes."""
    stripped = text.strip()
    for separator in (",", ";", "/"):
        if separator in stripped:
            left, _, right = stripped.partition(separator)
            return left, right
    letters = [m.start() for m in re.finditer(r"[NSEW]", stripped, re.IGNORECASE)]
    if len(letters) == 2:
        # Letters lead each axis ("N2 02 49 E45 19 05") or close it ("2 02 49N 45 19 05E").
        cut = letters[1] if letters[0] == 0 else letters[0] + 1
        return stripped[:cut], stripped[cut:]
    numbers = stripped.split()
    if not letters and len(numbers) in (4, 6):
        half = len(numbers) // 2
        return " ".join(numbers[:half]), " ".join(numbers[half:])
    return None


def _parse_degrees(text: str) -> ParsedCoordinate | None:
    plain = _DD_PLAIN.match(text.strip())
    if plain:
        lat, lon = float(plain.group(1)), float(plain.group(2))
        _check_range(lon, lat, text)
        return ParsedCoordinate(lon, lat, "dd", text, "EPSG:4326")
    axes = _split_axes(text)
    if axes is None:
        return None
    (a, hem_a, dms_a), (b, hem_b, dms_b) = _axis_value(axes[0]), _axis_value(axes[1])
    if hem_a in ("E", "W") or hem_b in ("N", "S"):
        a, b, hem_a, hem_b = b, a, hem_b, hem_a
    if hem_a is not None and hem_b is not None and (hem_a in ("E", "W") or hem_b in ("N", "S")):
        raise CoordinateError(f"{text!r}: give one latitude (N/S) and one longitude (E/W)")
    lat, lon = a, b
    _check_range(lon, lat, text)
    return ParsedCoordinate(lon, lat, "dms" if (dms_a or dms_b) else "dd", text, "EPSG:4326")


def parse_coordinate(text: str) -> ParsedCoordinate:
    """Read a coordinate typed in any of the accepted forms; raises CoordinateError."""
    if not isinstance(text, str) or not text.strip():
        raise CoordinateError("the coordinate is empty")
    if len(text) > 100:
        raise CoordinateError("the coordinate is longer than 100 characters")
    compact = re.sub(r"\s+", "", text)
    for parser in (
        lambda: _parse_mgrs(compact, text),
        lambda: _parse_utm(text),
        lambda: _parse_degrees(text),
    ):
        parsed = parser()
        if parsed is not None:
            return parsed
    raise CoordinateError(
        f"{text!r} is not a coordinate SafeGround reads: use MGRS (38NNF1234567890), UTM "
        "(38N 412345 1234567), decimal degrees (lat, lon) or DMS (2°02'49\"N 45°19'05\"E)"
    )
