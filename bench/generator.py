"""Deterministic synthetic hazard areas for the benchmark (placeholder).

PLACEHOLDER: the project's own generator (``geo/synthetic.py``, written with the hazard-area
core) replaces this module as soon as it lands; the benchmark must not keep two generators.
Only :func:`hazard_areas` is used by the rest of ``bench/``.

Shapes follow the domain brief: polygons of 0.1 ha to several km², 8–200 vertices, clustered
around "towns" placed inside the real admin-1 boundaries. Everything is drawn from one seeded
``numpy`` generator and built with vectorised shapely calls, so 100,000 polygons take seconds
and the same seed always gives the same features.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio
import shapely

BOUNDARIES = Path(__file__).resolve().parent.parent / "app" / "data" / "boundaries"

CONTAMINATION = np.array(["AP", "AT", "MIXED", "CMR", "ERW", "AXO", "IED"])
STATUSES = np.array(["open", "worked_on", "closed"])

M_PER_DEG = 111_320.0


@dataclass
class HazardSet:
    """Columns of synthetic hazard areas (one entry per feature)."""

    programme: str
    reference: list[str]
    name: list[str]
    classification: np.ndarray
    status: np.ndarray
    contamination_types: list[list[str]]
    priority: np.ndarray
    geometry: np.ndarray  # shapely Polygons, EPSG:4326

    def __len__(self) -> int:
        return len(self.reference)


def country(programme: str) -> shapely.Geometry:
    """The programme's country: the union of its real admin-1 boundaries."""
    table = pyogrio.read_dataframe(BOUNDARIES / f"{programme}_ADM1.geojson")
    return shapely.union_all(shapely.make_valid(table.geometry.values))


def _points_inside(area: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniformly random points inside ``area`` (rejection sampling on its bounds)."""
    minx, miny, maxx, maxy = area.bounds
    shapely.prepare(area)
    found: list[np.ndarray] = []
    total = 0
    while total < n:
        xy = rng.uniform((minx, miny), (maxx, maxy), size=(max(4 * n, 64), 2))
        inside = xy[shapely.contains_xy(area, xy[:, 0], xy[:, 1])]
        found.append(inside)
        total += len(inside)
    return np.concatenate(found)[:n]


def hazard_areas(programme: str, n: int, seed: int = 1, towns: int = 60) -> HazardSet:
    """``n`` hazard areas in ``programme`` (``SOM`` or ``LBY``); the same seed gives the same set."""
    rng = np.random.default_rng([seed, sum(programme.encode())])
    area = country(programme)
    shapely.prepare(area)

    # Towns: a few large, many small (Pareto weights), so some places are dense.
    town_xy = _points_inside(area, towns, rng)
    weights = rng.pareto(1.2, towns) + 0.05
    weights /= weights.sum()

    # Centres: around a town, exponentially distributed distance (mean 6 km); redraw those
    # that fall outside the country.
    centres = np.empty((n, 2))
    todo = np.arange(n)
    while len(todo):
        town = rng.choice(towns, size=len(todo), p=weights)
        dist_m = rng.exponential(6_000.0, len(todo))
        angle = rng.uniform(0, 2 * np.pi, len(todo))
        lat = town_xy[town, 1]
        x = town_xy[town, 0] + dist_m * np.cos(angle) / (M_PER_DEG * np.cos(np.radians(lat)))
        y = lat + dist_m * np.sin(angle) / M_PER_DEG
        ok = shapely.contains_xy(area, x, y)
        centres[todo[ok]] = np.column_stack([x[ok], y[ok]])
        todo = todo[~ok]

    # Sizes: log-normal around 2 ha, kept within 0.1 ha .. 8 km² (radial jitter stays inside).
    area_m2 = np.clip(rng.lognormal(np.log(20_000), 1.6, n), 1_400, 8_000_000)
    # Vertices: mostly simple field sketches, some long GPS tracks.
    vertices = (8 + np.floor(192 * rng.uniform(0, 1, n) ** 3)).astype(np.int64)

    # A star-shaped ring around each centre: sorted angles and positive radii give a simple
    # (valid) polygon whatever the jitter.
    owner = np.repeat(np.arange(n), vertices)
    step = 2 * np.pi / vertices[owner]
    first = np.concatenate([[0], np.cumsum(vertices)[:-1]])
    index_in_ring = np.arange(len(owner)) - first[owner]
    theta = (index_in_ring + rng.uniform(0, 0.8, len(owner))) * step
    radius = np.sqrt(area_m2 / np.pi)[owner] * rng.uniform(0.85, 1.15, len(owner))
    lat0 = centres[owner, 1]
    xs = centres[owner, 0] + radius * np.cos(theta) / (M_PER_DEG * np.cos(np.radians(lat0)))
    ys = lat0 + radius * np.sin(theta) / M_PER_DEG
    rings = shapely.linearrings(np.column_stack([xs, ys]), indices=owner)
    polygons = shapely.polygons(rings)

    cha = rng.uniform(0, 1, n) < 0.4
    kinds = rng.integers(1, 3, n)
    picks = rng.integers(0, len(CONTAMINATION), (n, 2))
    contamination = [sorted({str(CONTAMINATION[p]) for p in picks[i, : kinds[i]]}) for i in range(n)]
    return HazardSet(
        programme=programme,
        reference=[f"{programme}-BH-{i + 1:06d}" for i in range(n)],
        name=[f"Synthetic hazard {i + 1}" for i in range(n)],
        classification=np.where(cha, "CHA", "SHA"),
        status=STATUSES[rng.choice(3, n, p=[0.7, 0.2, 0.1])],
        contamination_types=contamination,
        priority=rng.integers(1, 6, n),
        geometry=polygons,
    )
