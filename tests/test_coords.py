"""Coordinates as typed in the field (geo/coords.py), checked against independent conversions.

Expected values come from the ``mgrs`` library and pyproj directly, or from arithmetic on the
degrees/minutes/seconds, never from SafeGround's own parser.
"""

from __future__ import annotations

import mgrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from geo.coords import CoordinateError, parse_coordinate

MGRS = mgrs.MGRS()


def _utm_to_lonlat(easting: float, northing: float, epsg: int) -> tuple[float, float]:
    lon, lat = Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True).transform(easting, northing)
    return float(lon), float(lat)


@pytest.mark.parametrize(
    ("typed", "compact", "precision"),
    [
        ("38NNH3538526248", "38NNH3538526248", 1.0),  # Mogadishu, 1 m
        ("38nnh 35385 26248", "38NNH3538526248", 1.0),  # lower case, spaces
        ("38N NH 3538 2624", "38NNH35382624", 10.0),  # 8 digits, 10 m
        ("38NNH353262", "38NNH353262", 100.0),
        ("38MKE2618460172", "38MKE2618460172", 1.0),  # Kismayo, south of the equator
        ("33SUS3067739436", "33SUS3067739436", 1.0),  # Tripoli
        ("4QFJ1234567890", "04QFJ1234567890", 1.0),  # one-digit zone
    ],
)
def test_mgrs_matches_the_mgrs_library(typed: str, compact: str, precision: float) -> None:
    lat, lon = MGRS.toLatLon(compact)
    parsed = parse_coordinate(typed)
    assert (parsed.format, parsed.crs, parsed.text, parsed.precision_m) == (
        "mgrs",
        "EPSG:4326",
        typed,
        precision,
    )
    assert parsed.lon == pytest.approx(lon, abs=1e-9) and parsed.lat == pytest.approx(lat, abs=1e-9)


@pytest.mark.parametrize(
    ("typed", "easting", "northing", "epsg"),
    [
        ("38N 412345 234567", 412345, 234567, 32638),
        ("38 N 412345 234567", 412345, 234567, 32638),
        ("38N 412345E 234567N", 412345, 234567, 32638),
        ("37N, 612345.5, 350000", 612345.5, 350000, 32637),
        # Southern Somalia: hemisphere S, or its latitude band M.
        ("38S 560000 9960000", 560000, 9960000, 32738),
        ("38M 560000 9960000", 560000, 9960000, 32738),
        # Libya: the band letters R and S (32°–40°N) are northern, not "southern hemisphere".
        ("33S 330000 3640000", 330000, 3640000, 32633),
        ("33R 330000 3540000", 330000, 3540000, 32633),
        ("34R 400000 3400000", 400000, 3400000, 32634),
    ],
)
def test_utm_matches_pyproj(typed: str, easting: float, northing: float, epsg: int) -> None:
    lon, lat = _utm_to_lonlat(easting, northing, epsg)
    parsed = parse_coordinate(typed)
    assert (parsed.format, parsed.crs) == ("utm", f"EPSG:{epsg}")
    assert parsed.lon == pytest.approx(lon, abs=1e-9) and parsed.lat == pytest.approx(lat, abs=1e-9)


def test_libya_band_s_lands_in_libya_not_the_southern_ocean() -> None:
    parsed = parse_coordinate("33S 330000 3640000")
    assert 32 < parsed.lat < 33 and 13 < parsed.lon < 14  # Tripoli, not 57°S


_DMS_LAT = 2 + 2 / 60 + 49 / 3600
_DMS_LON = 45 + 19 / 60 + 5 / 3600


@pytest.mark.parametrize(
    ("typed", "fmt", "lon", "lat"),
    [
        ("2.0469, 45.3182", "dd", 45.3182, 2.0469),  # latitude first, as on GPS screens
        ("2.0469 45.3182", "dd", 45.3182, 2.0469),
        ("2.0469N 45.3182E", "dd", 45.3182, 2.0469),
        ("N2.0469 E45.3182", "dd", 45.3182, 2.0469),
        ("45.3182E 2.0469N", "dd", 45.3182, 2.0469),  # with letters the order is free
        ("2.0469°N 45.3182°E", "dd", 45.3182, 2.0469),
        ("-0.36, 42.54", "dd", 42.54, -0.36),
        ("0.36S 42.54E", "dd", 42.54, -0.36),
        ("32.8872N 13.1913E", "dd", 13.1913, 32.8872),
        ("2°02'49\"N 45°19'05\"E", "dms", _DMS_LON, _DMS_LAT),
        ("2° 2' 49.0\" N, 45° 19' 5.0\" E", "dms", _DMS_LON, _DMS_LAT),
        ("02 02 49 N 045 19 05 E", "dms", _DMS_LON, _DMS_LAT),
        ("N 2 02 49 E 45 19 05", "dms", _DMS_LON, _DMS_LAT),
        ("2 02.82 N 45 19.08 E", "dms", 45 + 19.08 / 60, 2 + 2.82 / 60),
        ("0°21'36\"S 42°32'24\"E", "dms", 42.54, -0.36),
    ],
)
def test_degrees_and_dms(typed: str, fmt: str, lon: float, lat: float) -> None:
    parsed = parse_coordinate(typed)
    assert (parsed.format, parsed.crs, parsed.text) == (fmt, "EPSG:4326", typed)
    assert parsed.lon == pytest.approx(lon, abs=1e-9) and parsed.lat == pytest.approx(lat, abs=1e-9)


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("near the big tree", "not a coordinate"),
        ("38NNH", "digits"),  # a 100 km square is not a location
        ("38NNH123456789", "even number"),
        ("38NNH12345678901", "even number"),
        ("61NNH1234567890", "zone"),
        ("38NZZ1234567890", "not a valid MGRS"),
        ("38N 950000 234567", "easting"),
        ("38N 412345 12000000", "northing"),
        ("0N 412345 234567", "zone"),
        ("2 75 00 N 45 19 05 E", "below 60"),
        ("95.0, 45.0", "outside the globe"),
        ("2.0N 45.0N", "one latitude"),
        ("x" * 101, "longer than 100"),
    ],
)
def test_bad_coordinates_say_why(typed: str, says: str) -> None:
    with pytest.raises(CoordinateError) as error:
        parse_coordinate(typed)
    assert says in str(error.value)


@settings(max_examples=150, deadline=None)
@given(
    lat=st.floats(min_value=-79.0, max_value=83.0, allow_nan=False),
    lon=st.floats(min_value=-179.9, max_value=179.9, allow_nan=False),
)
def test_any_mgrs_string_round_trips(lat: float, lon: float) -> None:
    """Whatever MGRS the reference library writes, the parser reads back to the same place."""
    code = MGRS.toMGRS(lat, lon, MGRSPrecision=5)
    try:
        expected_lat, expected_lon = MGRS.toLatLon(code)
    except Exception:  # the library raises its own private error type
        assume(False)  # the reference library cannot read its own output (band edges)
        return
    parsed = parse_coordinate(code)
    assert parsed.lat == pytest.approx(expected_lat, abs=1e-9)
    assert parsed.lon == pytest.approx(expected_lon, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(
    zone=st.integers(min_value=1, max_value=60),
    northern=st.booleans(),
    easting=st.floats(min_value=200_000, max_value=800_000, allow_nan=False),
    northing=st.floats(min_value=100_000, max_value=9_000_000, allow_nan=False),
)
def test_any_utm_with_hemisphere_matches_pyproj(
    zone: int, northern: bool, easting: float, northing: float
) -> None:
    if not northern and 3_500_000 <= northing <= 4_500_000:
        return  # "S" with a band-S northing is read as the band (see the Libya test)
    typed = f"{zone}{'N' if northern else 'S'} {easting:.2f} {northing:.2f}"
    epsg = (32600 if northern else 32700) + zone
    lon, lat = _utm_to_lonlat(round(easting, 2), round(northing, 2), epsg)
    parsed = parse_coordinate(typed)
    assert parsed.crs == f"EPSG:{epsg}"
    assert parsed.lon == pytest.approx(lon, abs=1e-9) and parsed.lat == pytest.approx(lat, abs=1e-9)
