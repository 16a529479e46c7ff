"""The benchmark harness's own pieces, on a handful of features (no timings: see bench/)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyogrio
import pytest
import shapely
from pyproj import Geod, Transformer

from bench import data, database
from bench.scenarios import tile_of
from geo.synthetic import synthetic_hazards


def test_benchmark_geopackage_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    first = pyogrio.read_dataframe(
        data.to_geopackage(synthetic_hazards("SOM", 8, seed=3), tmp_path / "a.gpkg")
    )
    again = pyogrio.read_dataframe(
        data.to_geopackage(synthetic_hazards("SOM", 8, seed=3), tmp_path / "b.gpkg")
    )
    other = pyogrio.read_dataframe(
        data.to_geopackage(synthetic_hazards("SOM", 8, seed=4), tmp_path / "c.gpkg")
    )

    assert len(first) == 8
    assert first.drop(columns="geometry").equals(again.drop(columns="geometry"))
    assert shapely.equals_exact(first.geometry.values, again.geometry.values, tolerance=0).all()
    assert not shapely.equals_exact(first.geometry.values, other.geometry.values, tolerance=0).all()


def test_bench_loader_stores_geodesic_areas_and_admin1(database_url: str, sql: Any) -> None:
    frame = synthetic_hazards("LBY", 6, seed=11, truth=True)

    assert database.load_hazards(database_url, [("LBY", frame.drop(columns="generated_in"))]) == 6

    rows = sql("SELECT reference, area_m2, admin1_code, review_status FROM hazard_areas ORDER BY reference")
    geod = Geod(ellps="WGS84")
    assert [r.reference for r in rows] == [f"LBY-HA-{i:06d}" for i in range(1, 7)]
    for row, polygon, region in zip(rows, frame.geometry, frame["generated_in"], strict=True):
        expected = abs(geod.geometry_area_perimeter(polygon)[0])
        assert row.area_m2 == pytest.approx(expected, rel=1e-3)
        assert row.admin1_code == region
        assert row.review_status == "approved"


@pytest.mark.parametrize(("lon", "lat", "z"), [(45.34, 2.05, 8), (13.19, 32.88, 6), (-0.5, -0.5, 1)])
def test_tile_of_agrees_with_web_mercator(lon: float, lat: float, z: int) -> None:
    x_m, y_m = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(lon, lat)
    half = 20037508.342789244
    size = 2 * half / 2**z

    assert tile_of(lon, lat, z) == (math.floor((x_m + half) / size), math.floor((half - y_m) / size))
