"""Geometry checks (geo/checks.py) and geodesic areas (geo/areas.py), each with a hostile example.

Run against the real PostGIS test database (the country check reads the programme's admin
areas; the duplicate finder is SQL).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import GeometryCollection, MultiPolygon, Point, Polygon, box
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.db import new_session
from app.settings import get_settings
from geo.areas import geodesic_area, geodesic_areas
from geo.checks import FeatureCheck, check_polygons, country_of, find_possible_duplicates
from geo.synthetic import synthetic_hazards
from tests.factories import insert_hazard_area

GEOD = Geod(ellps="WGS84")

# A 1.1 km square in Bay region, Somalia (inland, well inside the country).
SOM_SQUARE = box(43.60, 3.10, 43.61, 3.11)


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    session = new_session("test")
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def som(db: Session) -> int:
    return int(db.execute(text("SELECT id FROM programmes WHERE code = 'SOM'")).scalar_one())


@pytest.fixture
def lby(db: Session) -> int:
    return int(db.execute(text("SELECT id FROM programmes WHERE code = 'LBY'")).scalar_one())


def one(geom: object, programme_id: int, db: Session) -> FeatureCheck:
    [result] = check_polygons([geom], programme_id, db)  # type: ignore[list-item]
    return result


def test_a_good_polygon_is_valid_and_becomes_a_2d_multipolygon(db: Session, som: int) -> None:
    result = one(SOM_SQUARE, som, db)
    assert result.status == "valid", result.messages
    assert result.messages == []
    assert isinstance(result.geometry, MultiPolygon)
    assert result.geometry.equals(MultiPolygon([SOM_SQUARE]))
    assert result.raw_geometry is None


def test_empty_and_missing_geometries_are_rejected(db: Session, som: int) -> None:
    results = check_polygons([None, Polygon()], som, db)
    assert [r.status for r in results] == ["rejected", "rejected"]
    assert all(r.codes == ["empty"] for r in results)
    assert "empty" in results[1].messages[0]


def test_geometry_collections_points_and_mixed_types_are_rejected(db: Session, som: int) -> None:
    mixed = GeometryCollection([SOM_SQUARE, Point(43.6, 3.1)])
    only_polygons = GeometryCollection([SOM_SQUARE])
    results = check_polygons([mixed, only_polygons, Point(43.6, 3.1)], som, db)
    assert [r.codes for r in results] == [["mixed_types"], ["geometry_collection"], ["not_polygon"]]
    assert "Point" in results[0].messages[0] and "Polygon" in results[0].messages[0]
    assert "Point is not a hazard area" in results[2].messages[0]


def test_z_and_m_are_dropped_with_a_note_not_a_rejection(db: Session, som: int) -> None:
    with_z = shapely.force_3d(SOM_SQUARE, z=120.0)
    result = one(with_z, som, db)
    assert result.status == "valid"
    assert result.codes == ["z_dropped"]
    assert result.geometry is not None and not result.geometry.has_z
    with_m = shapely.from_wkt("POLYGON M ((43.6 3.1 1, 43.61 3.1 2, 43.61 3.11 3, 43.6 3.1 4))")
    result = one(with_m, som, db)
    assert result.ok and "m_dropped" in result.codes
    assert result.geometry is not None and not shapely.has_m(result.geometry)


def test_non_finite_and_out_of_range_coordinates(db: Session, som: int) -> None:
    nan = Polygon([(43.6, 3.1), (float("nan"), 3.1), (43.61, 3.11), (43.6, 3.1)])
    inf = Polygon([(43.6, 3.1), (float("inf"), 3.1), (43.61, 3.11), (43.6, 3.1)])
    huge = Polygon([(43.6, 3.1), (1e308, 3.1), (43.61, 3.11), (43.6, 3.1)])
    lat_too_big = Polygon([(43.6, 3.1), (43.7, 95.0), (43.61, 3.11), (43.6, 3.1)])
    results = check_polygons([nan, inf, huge, lat_too_big], som, db)
    assert [r.codes for r in results] == [["not_finite"], ["not_finite"], ["out_of_range"], ["out_of_range"]]
    assert "-180..180" in results[2].messages[0]


def test_projected_coordinates_without_crs(db: Session, som: int) -> None:
    utm = box(412_345, 1_234_567, 412_845, 1_235_067)  # UTM 38N metres, sent as if degrees
    result = one(utm, som, db)
    assert result.codes == ["projected_without_crs"]
    assert "crs" in result.messages[0].lower()


def test_too_many_vertices(db: Session, som: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "max_vertices_per_feature", 100)
    circle = Point(43.6, 3.1).buffer(0.01, quad_segs=64)  # 257 vertices
    result = one(circle, som, db)
    assert result.codes == ["too_many_vertices"]
    assert "257" in result.messages[0] and "100" in result.messages[0]
    assert one(Point(43.6, 3.1).buffer(0.01, quad_segs=8), som, db).ok


def test_fewer_than_three_distinct_vertices(db: Session, som: int) -> None:
    two = Polygon([(43.6, 3.1), (43.61, 3.1), (43.6, 3.1), (43.61, 3.1)])
    result = one(two, som, db)
    assert result.status == "rejected"
    assert result.codes == ["too_few_vertices"]
    assert "2 distinct" in result.messages[0]


def test_consecutive_vertices_too_far_apart(db: Session, som: int) -> None:
    # One vertex typed 45.1 instead of 43.61: ~165 km away.
    typo = Polygon([(43.60, 3.10), (45.10, 3.10), (43.61, 3.11), (43.60, 3.11), (43.60, 3.10)])
    result = one(typo, som, db)
    assert "vertex_gap" in result.codes
    assert "km apart" in result.messages[result.codes.index("vertex_gap")]
    # A 4 km edge is fine (limit 5 km), a 6 km one is not.
    ok = Polygon([(43.60, 3.10), (43.636, 3.10), (43.636, 3.11), (43.60, 3.10)])
    long = Polygon([(43.60, 3.10), (43.654, 3.10), (43.654, 3.11), (43.60, 3.10)])
    results = check_polygons([ok, long], som, db)
    assert results[0].ok
    assert results[1].codes == ["vertex_gap"]


def test_small_self_intersection_is_repaired_keeping_the_raw_geometry(db: Session, som: int) -> None:
    # A 1.1 km square whose ring crosses its own first edge in a ~5 m loop near a corner.
    x, y = 43.60, 3.10
    ring = [
        (x, y),
        (x + 0.01, y),
        (x + 0.01, y + 0.01),
        (x, y + 0.01),
        (x, y + 0.00005),
        (x + 0.00005, y - 0.00005),
    ]
    nearly = Polygon(ring)
    assert not nearly.is_valid
    result = one(nearly, som, db)
    assert result.status == "repaired", result.messages
    assert result.codes == ["repaired"]
    assert result.raw_geometry is nearly
    assert result.geometry is not None and result.geometry.is_valid
    assert result.area_before_m2 is not None and result.area_after_m2 is not None
    assert abs(result.area_after_m2 - result.area_before_m2) / result.area_before_m2 < 0.01
    assert "before" in result.messages[0] and "after" in result.messages[0]


def test_bow_tie_is_rejected_because_repair_would_change_the_area(db: Session, som: int) -> None:
    bow_tie = Polygon([(43.60, 3.10), (43.61, 3.11), (43.61, 3.10), (43.60, 3.11), (43.60, 3.10)])
    result = one(bow_tie, som, db)
    assert result.status == "rejected"
    assert result.codes == ["invalid"]
    assert "Self-intersection" in result.messages[0]
    assert result.area_before_m2 is not None and result.area_before_m2 < 1.0  # the lobes cancel
    assert result.area_after_m2 is not None and result.area_after_m2 > 500_000


def test_repair_tolerance_is_configurable(db: Session, som: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two parts overlapping by 10 % of their summed area: invalid as a MultiPolygon.
    overlapping = MultiPolygon([box(43.60, 3.10, 43.61, 3.11), box(43.609, 3.10, 43.619, 3.11)])
    assert one(overlapping, som, db).codes == ["invalid"]
    monkeypatch.setattr(get_settings(), "repair_area_tolerance", 0.10)
    result = one(overlapping, som, db)
    assert result.status == "repaired"
    assert result.geometry is not None and len(result.geometry.geoms) == 1


def test_zero_area(db: Session, som: int) -> None:
    collinear = Polygon([(43.5, 3.0), (43.5078125, 3.0078125), (43.515625, 3.015625), (43.5, 3.0)])
    nearly_collinear = Polygon([(43.60, 3.10), (43.605, 3.105), (43.61, 3.11), (43.60, 3.10)])
    sliver = Polygon([(43.60, 3.10), (43.61, 3.10), (43.61, 3.10000001), (43.60, 3.10)])  # ~0.6 m²
    assert [r.codes for r in check_polygons([collinear, nearly_collinear, sliver], som, db)] == [
        ["zero_area"]
    ] * 3


def test_outside_the_country_and_the_buffer(db: Session, som: int, lby: int) -> None:
    nairobi = box(36.80, -1.30, 36.81, -1.29)
    result = one(nairobi, som, db)
    assert result.codes == ["outside_country"]
    assert "SOM" in result.messages[0]
    # A Somali polygon is outside Libya.
    assert one(SOM_SQUARE, lby, db).codes == ["outside_country"]


def test_just_outside_the_border_is_accepted_within_the_buffer(db: Session, som: int) -> None:
    country = country_of(db, som)
    assert country is not None
    # ~3 km and ~30 km outside the boundary (degrees ≈ 111 km).
    near_point = shapely.get_coordinates(country.shape.buffer(0.027).exterior)[0]
    far_point = shapely.get_coordinates(country.shape.buffer(0.27).exterior)[0]
    near = Point(near_point).buffer(0.001)
    far = Point(far_point).buffer(0.001)
    assert not near.intersects(country.shape)
    results = check_polygons([near, far], som, db)
    assert results[0].ok, results[0].messages
    assert results[1].codes == ["outside_country"]


def test_latitude_and_longitude_swapped(db: Session, som: int, lby: int) -> None:
    swapped_som = shapely.transform(SOM_SQUARE, lambda c: c[:, ::-1])  # "a Somalia point at lat 45"
    result = one(swapped_som, som, db)
    assert result.codes == ["latlon_swapped"]
    assert "swapped" in result.messages[0]
    tripoli = box(13.18, 32.80, 13.19, 32.81)
    assert one(tripoli, lby, db).ok
    assert one(shapely.transform(tripoli, lambda c: c[:, ::-1]), lby, db).codes == ["latlon_swapped"]


def test_many_features_at_once_keep_their_indices(db: Session, som: int) -> None:
    frame = synthetic_hazards("SOM", 500, seed=3)
    geoms: list[object] = list(frame.geometry.values)
    bad_at = {7: None, 123: Point(43.6, 3.1), 321: box(36.80, -1.30, 36.81, -1.29)}
    for i, g in bad_at.items():
        geoms[i] = g
    results = check_polygons(geoms, som, db)  # type: ignore[arg-type]
    assert [r.index for r in results] == list(range(500))
    rejected = {r.index for r in results if not r.ok}
    assert rejected == set(bad_at)
    assert all(isinstance(r.geometry, MultiPolygon) for r in results if r.ok)


def test_geodesic_areas_agree_with_pyproj_geod(db: Session) -> None:
    polygons = [
        box(45.30, 2.00, 45.3003, 2.0003),  # ~0.1 ha near Mogadishu
        box(43.0, 3.0, 43.5, 3.4),  # ~2,500 km² in Bay
        box(13.10, 32.80, 13.1004, 32.8004),  # small, Tripoli
        box(14.0, 27.0, 15.0, 28.0),  # ~11,000 km², Fezzan
    ]
    for polygon in polygons:
        lons, lats = polygon.exterior.xy
        expected = abs(GEOD.polygon_area_perimeter(lons, lats)[0])
        assert geodesic_area(polygon) == pytest.approx(expected, rel=1e-9)
    vectorised = geodesic_areas(polygons)
    exact = np.asarray([geodesic_area(p) for p in polygons])
    assert np.all(np.abs(vectorised / exact - 1) < 1e-3)


def test_possible_duplicates_set_based(engine: Engine, db: Session, som: int) -> None:
    existing = box(43.60, 3.10, 43.61, 3.11)
    hazard_id = insert_hazard_area(engine, existing.wkt)
    reference = db.execute(
        text("SELECT reference FROM hazard_areas WHERE id = :i"), {"i": hazard_id}
    ).scalar()
    mostly_same = box(43.601, 3.10, 43.611, 3.11)  # 90 % overlap
    barely = box(43.609, 3.10, 43.619, 3.11)  # 10 % overlap
    elsewhere = box(44.0, 3.0, 44.01, 3.01)
    found = find_possible_duplicates(db, som, [mostly_same, barely, elsewhere, None])
    assert [(d.index, d.hazard_id, d.reference) for d in found] == [(0, hazard_id, reference)]
    assert found[0].overlap_pct == pytest.approx(90, abs=0.5)
    assert found[0].existing_overlap_pct == pytest.approx(90, abs=0.5)
    # The very same polygon again: 100 % both ways.
    [same] = find_possible_duplicates(db, som, [existing])
    assert (same.hazard_id, same.overlap_pct, same.existing_overlap_pct) == (hazard_id, 100.0, 100.0)
    # Excluding the hazard itself (an edit) finds nothing; a lower threshold finds the 10 %.
    assert find_possible_duplicates(db, som, [mostly_same], exclude_ids=[hazard_id]) == []
    low = find_possible_duplicates(db, som, [barely], threshold=0.05)
    assert [d.reference for d in low] == [reference]


def test_ring_checks_of_holes_and_parts_beside_plain_polygons(db: Session, som: int) -> None:
    """Plain polygons are checked from their coordinates, the others ring by ring: a flat hole
    and a long edge in a second part are found in a batch of plain polygons too."""
    flat_hole = Polygon(
        SOM_SQUARE.exterior.coords, [[(43.602, 3.102), (43.603, 3.102), (43.602, 3.102), (43.603, 3.102)]]
    )
    far = Polygon([(43.70, 3.10), (44.30, 3.10), (44.30, 3.11), (43.70, 3.11)])
    batch = [
        SOM_SQUARE,
        flat_hole,
        MultiPolygon([box(43.62, 3.10, 43.63, 3.11), far]),
        box(43.64, 3.1, 43.65, 3.11),
        far,
    ]
    results = check_polygons(batch, som, db)
    assert [r.codes for r in results] == [[], ["too_few_vertices"], ["vertex_gap"], [], ["vertex_gap"]]
    assert results[1].messages == ["A ring has only 2 distinct vertices; a polygon needs at least 3."]
    assert results[2].messages == results[4].messages
    assert "(43.700000, 3.100000) and (44.300000, 3.100000) are 66.7 km apart" in results[4].messages[0]
