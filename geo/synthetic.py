"""Deterministic synthetic hazard areas inside a programme's real admin-1 boundaries.

Real programmes' hazard data is not public, so demo, tests and benchmarks use this
generator. The same ``(programme, count, seed)`` always gives the same polygons and
attributes. Shapes are irregular star-shaped polygons (always simple, so always valid),
0.1 ha to about 5 km² (most are small, median about 1 ha), 8–200 vertices, clustered around towns, each lying
wholly inside one admin-1 area.

Everything heavy is vectorised (numpy + shapely 2 array functions): 100,000 polygons take
a few seconds.

    from geo.synthetic import synthetic_hazards
    frame = synthetic_hazards("SOM", 50_000, seed=1)       # a GeoDataFrame, EPSG:4326
    frame.to_file("hazards.gpkg", layer="hazard_areas")    # file-ready columns

Columns are flat, as a surveyor's file would have them (lists are comma-separated text):
``name, classification, status, contamination_types, evidence_direct, evidence_indirect,
information_source, reliability, blockages, beneficiaries_women, beneficiaries_men,
beneficiaries_girls, beneficiaries_boys, priority, notes`` and ``geometry`` (Polygon). With
``truth=True`` the frame also has ``generated_in`` (the admin-1 code the polygon was placed
in), which tests use to check the admin-area join.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

BOUNDARIES = Path(__file__).resolve().parent.parent / "app" / "data" / "boundaries"

# Real towns (lon, lat): hazards cluster around settlements and front lines.
TOWNS: dict[str, list[tuple[str, float, float]]] = {
    "SOM": [
        ("Mogadishu", 45.34, 2.05),
        ("Baidoa", 43.65, 3.12),
        ("Kismayo", 42.54, -0.36),
        ("Beledweyne", 45.20, 4.74),
        ("Galkayo", 47.43, 6.77),
        ("Hargeisa", 44.06, 9.56),
        ("Garowe", 48.48, 8.40),
        ("Bosaso", 49.18, 11.28),
        ("Dhusamareb", 46.39, 5.53),
        ("Jowhar", 45.50, 2.78),
        ("Marka", 44.77, 1.71),
        ("Burao", 45.53, 9.52),
        ("Bardhere", 42.28, 2.34),
        ("Luuq", 42.54, 3.80),
        ("Dolow", 42.08, 4.16),
        ("Hudur", 43.89, 4.12),
        ("Las Anod", 47.36, 8.47),
        ("Afgooye", 45.12, 2.14),
    ],
    "LBY": [
        ("Tripoli", 13.19, 32.88),
        ("Benghazi", 20.07, 32.12),
        ("Misrata", 15.09, 32.37),
        ("Sirte", 16.59, 31.21),
        ("Derna", 22.64, 32.76),
        ("Sabha", 14.43, 27.04),
        ("Ajdabiya", 20.23, 30.76),
        ("Tobruk", 23.96, 32.08),
        ("Gharyan", 13.02, 32.17),
        ("Bani Walid", 13.98, 31.76),
        ("Zawiya", 12.73, 32.76),
        ("Ubari", 12.78, 26.59),
        ("Kufra", 23.31, 24.18),
        ("Brega", 19.58, 30.41),
        ("Tarhuna", 13.63, 32.43),
        ("Ghat", 10.17, 24.96),
        ("Al Bayda", 21.74, 32.76),
        ("Ras Lanuf", 18.57, 30.50),
    ],
}

CONTAMINATION_MIX: dict[str, list[tuple[tuple[str, ...], float]]] = {
    "SOM": [
        (("ERW",), 0.40),
        (("AP",), 0.12),
        (("AT",), 0.10),
        (("AP", "AT"), 0.08),
        (("MIXED",), 0.08),
        (("IED",), 0.10),
        (("ERW", "AXO"), 0.07),
        (("CMR",), 0.05),
    ],
    "LBY": [
        (("ERW",), 0.30),
        (("IED",), 0.15),
        (("AXO",), 0.10),
        (("ERW", "AXO"), 0.10),
        (("CMR",), 0.12),
        (("AP",), 0.08),
        (("AP", "AT"), 0.07),
        (("MIXED",), 0.08),
    ],
}

DIRECT_EVIDENCE = ["mine seen", "accident", "marking", "detonation", "item found by farmer"]
INDIRECT_EVIDENCE = ["craters", "scrap", "fighting in area", "unused land", "hearsay", "military position"]
SOURCES = ["key informant", "community focal point", "police", "accident report", "operator NTS", "military"]
RELIABILITY = ["high", "medium", "low"]
BLOCKAGES = ["agriculture", "grazing", "road", "water", "housing", "school", "health post", "infrastructure"]
SUFFIXES = ["field", "wadi", "ridge", "road", "farm", "checkpoint", "well", "village", "position", "track"]

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQUATOR = 111_320.0


@lru_cache(maxsize=8)
def _boundary_frame(programme: str) -> gpd.GeoDataFrame:
    path = BOUNDARIES / f"{programme.upper()}_ADM1.geojson"
    if not path.exists():
        raise ValueError(f"no admin-1 boundaries for programme {programme!r} in {BOUNDARIES}")
    frame = gpd.read_file(path)[["shapeISO", "shapeName", "geometry"]]
    frame = frame.rename(columns={"shapeISO": "code", "shapeName": "name"})
    frame["geometry"] = shapely.make_valid(frame.geometry.values)
    return frame.reset_index(drop=True)


def admin1_boundaries(programme: str, boundaries: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """The admin-1 areas (columns ``code``, ``name``, ``geometry``) the generator places hazards in.

    ``boundaries`` may be given (e.g. read from the ``admin_areas`` table); by default the
    shipped ``app/data/boundaries/<CODE>_ADM1.geojson`` is used.
    """
    if boundaries is not None:
        return boundaries[["code", "name", "geometry"]].reset_index(drop=True)
    return _boundary_frame(programme)


def _random_points_in(
    rng: np.random.Generator, geoms: NDArray[np.object_], count_per: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """``count_per[i]`` uniform random points inside ``geoms[i]`` (rejection sampling)."""
    xs: list[NDArray[np.float64]] = []
    ys: list[NDArray[np.float64]] = []
    owners: list[NDArray[np.int64]] = []
    bounds = shapely.bounds(geoms)
    for i, geom in enumerate(geoms):
        need = int(count_per[i])
        minx, miny, maxx, maxy = bounds[i]
        while need > 0:
            n = max(need * 4, 16)
            x = rng.uniform(minx, maxx, n)
            y = rng.uniform(miny, maxy, n)
            inside = shapely.contains_xy(geom, x, y)
            x, y = x[inside][:need], y[inside][:need]
            xs.append(x)
            ys.append(y)
            owners.append(np.full(len(x), i, dtype=np.int64))
            need -= len(x)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(owners)


def _star_polygons(
    rng: np.random.Generator,
    cx: NDArray[np.float64],
    cy: NDArray[np.float64],
    area_m2: NDArray[np.float64],
    vertices: NDArray[np.int64],
) -> NDArray[np.object_]:
    """Irregular star-shaped polygons (simple by construction) of about the given areas."""
    n_poly = len(cx)
    owner = np.repeat(np.arange(n_poly), vertices)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(vertices) - vertices, vertices)
    n = vertices[owner]
    # Jittered, strictly increasing angles around the centre keep the ring simple.
    theta = 2 * np.pi * (k + rng.uniform(-0.35, 0.35, len(owner))) / n
    # Low-frequency lobes plus per-vertex roughness.
    phases = rng.uniform(0, 2 * np.pi, (n_poly, 3))
    amps = rng.uniform(0.0, 0.18, (n_poly, 3))
    rho = (
        1.0
        + amps[owner, 0] * np.cos(2 * theta + phases[owner, 0])
        + amps[owner, 1] * np.cos(3 * theta + phases[owner, 1])
        + amps[owner, 2] * np.cos(5 * theta + phases[owner, 2])
        + rng.uniform(-0.08, 0.08, len(owner))
    )
    # Elongated and rotated, as hazards along roads and wadis are.
    elongation = rng.uniform(1.0, 2.5, n_poly)
    rotation = rng.uniform(0, np.pi, n_poly)
    radius = np.sqrt(area_m2 / np.pi)
    ux = rho * np.cos(theta) * np.sqrt(elongation[owner])
    uy = rho * np.sin(theta) / np.sqrt(elongation[owner])
    cos_r, sin_r = np.cos(rotation[owner]), np.sin(rotation[owner])
    dx = (ux * cos_r - uy * sin_r) * radius[owner]
    dy = (ux * sin_r + uy * cos_r) * radius[owner]
    lat = cy[owner] + dy / M_PER_DEG_LAT
    lon = cx[owner] + dx / (M_PER_DEG_LON_EQUATOR * np.cos(np.radians(cy[owner])))
    # Close each ring: repeat its first vertex after its last.
    first = np.cumsum(vertices) - vertices
    insert_at = np.cumsum(vertices)
    lon_closed = np.insert(lon, insert_at, lon[first])
    lat_closed = np.insert(lat, insert_at, lat[first])
    ring_index = np.repeat(np.arange(n_poly), vertices + 1)
    rings = shapely.linearrings(np.column_stack([lon_closed, lat_closed]), indices=ring_index)
    return np.asarray(shapely.polygons(rings), dtype=object)


def _overlapping(candidates: NDArray[np.object_], placed: NDArray[np.object_]) -> NDArray[np.bool_]:
    """Which candidates overlap a polygon already placed, or an earlier candidate of this round.

    Real hazard areas of one programme rarely overlap; neither do these.
    """
    bad = np.zeros(len(candidates), dtype=bool)
    present = placed[~shapely.is_missing(placed)] if len(placed) else placed
    if len(present):
        hits = shapely.STRtree(present).query(candidates, predicate="intersects")
        bad[hits[0]] = True
    pairs = shapely.STRtree(candidates).query(candidates, predicate="intersects")
    later = pairs[0] > pairs[1]
    bad[pairs[0][later]] = True
    return bad


def _pick(rng: np.random.Generator, options: list[str], count: int, low: int, high: int) -> list[str]:
    """``count`` comma-joined random subsets of ``options`` with ``low..high`` members."""
    sizes = rng.integers(low, high + 1, count)
    keys = rng.random((count, len(options))).argsort(axis=1)
    return [",".join(options[j] for j in sorted(keys[i, : sizes[i]])) for i in range(count)]


def synthetic_hazards(
    programme: str,
    count: int,
    seed: int = 0,
    boundaries: gpd.GeoDataFrame | None = None,
    truth: bool = False,
) -> gpd.GeoDataFrame:
    """``count`` synthetic hazard areas of ``programme`` (``SOM`` or ``LBY``) as a GeoDataFrame."""
    programme = programme.upper()
    rng = np.random.default_rng([seed, sum(map(ord, programme))])
    admin = admin1_boundaries(programme, boundaries)
    geoms = np.asarray(admin.geometry.values, dtype=object)
    shapely.prepare(geoms)
    codes = admin["code"].to_numpy()

    # Towns: the real ones that fall inside a region, plus a few random villages per region.
    real = TOWNS.get(programme, [])
    town_names: list[str] = []
    town_x: list[float] = []
    town_y: list[float] = []
    town_region: list[int] = []
    for name, lon, lat in real:
        inside = np.flatnonzero(shapely.contains_xy(geoms, lon, lat))
        if len(inside):
            town_names.append(name)
            town_x.append(lon)
            town_y.append(lat)
            town_region.append(int(inside[0]))
    # Enough villages that hazards do not pile up: about one per 60 hazards, at least 3 a region.
    villages_per_region = np.full(len(geoms), max(3, round(count / (60 * len(geoms)))), dtype=np.int64)
    # Villages lie a little inside their region, so that hazards around them fit in it.
    inner = shapely.buffer(geoms, -0.03)
    inner = np.where(shapely.is_empty(inner), geoms, inner)
    vx, vy, vregion = _random_points_in(rng, inner, villages_per_region)
    town_names += [f"village {codes[r]}-{i}" for i, r in enumerate(vregion)]
    tx = np.concatenate([np.asarray(town_x), vx])
    ty = np.concatenate([np.asarray(town_y), vy])
    tregion = np.concatenate([np.asarray(town_region, dtype=np.int64), vregion])
    # Real towns get more hazards (front lines, population) than villages.
    weights = np.where(np.arange(len(tx)) < len(town_x), 4.0, 1.0) * rng.uniform(0.5, 1.5, len(tx))
    weights /= weights.sum()

    town = rng.choice(len(tx), size=count, p=weights)
    # Sizes: 0.1 ha to ~5 km², mostly small (log-area skewed low).
    log_area = 3.1 + 3.6 * rng.beta(1.3, 3.0, count)
    area = 10.0**log_area
    vertices = (8 + np.floor(192 * rng.beta(1.1, 5.0, count))).astype(np.int64)

    polygons = np.empty(count, dtype=object)
    todo = np.arange(count)
    spread_m = 9_000.0
    for _round in range(60):
        if not len(todo):
            break
        distance = rng.exponential(spread_m, len(todo))
        bearing = rng.uniform(0, 2 * np.pi, len(todo))
        t = town[todo]
        cy = ty[t] + distance * np.cos(bearing) / M_PER_DEG_LAT
        cx = tx[t] + distance * np.sin(bearing) / (M_PER_DEG_LON_EQUATOR * np.cos(np.radians(ty[t])))
        candidates = _star_polygons(rng, cx, cy, area[todo], vertices[todo])
        ok = shapely.contains(geoms[tregion[t]], candidates)
        ok[ok] = ~_overlapping(candidates[ok], polygons)
        polygons[todo[ok]] = candidates[ok]
        todo = todo[~ok]
        # Not placed (in the sea off a coastal town, across a border, on another hazard):
        # try again, later smaller, and at last around another village.
        if _round > 10:
            area[todo] = np.maximum(area[todo] * 0.7, 1_000.0)
        if _round > 20:
            # Still not placed (a town on the coast or a border): use a village instead.
            town[todo] = rng.integers(len(town_x), len(tx), len(todo))
    if len(todo):
        raise RuntimeError(f"could not place {len(todo)} synthetic hazards inside {programme}")

    region = tregion[town]
    classification = np.where(rng.random(count) < 0.35, "CHA", "SHA")
    mixes, mix_weights = zip(*CONTAMINATION_MIX.get(programme, CONTAMINATION_MIX["SOM"]), strict=True)
    mix_p = np.asarray(mix_weights) / np.sum(mix_weights)
    mix_index = rng.choice(len(mixes), size=count, p=mix_p)
    contamination = [",".join(mixes[i]) for i in mix_index]
    direct = _pick(rng, DIRECT_EVIDENCE, count, 1, 2)
    indirect = _pick(rng, INDIRECT_EVIDENCE, count, 1, 3)
    is_cha = classification == "CHA"
    evidence_direct = [d if c else "" for d, c in zip(direct, is_cha, strict=True)]
    people = np.maximum(area / 50.0, 20.0)
    share = rng.dirichlet([3, 3, 2, 2], count)
    beneficiaries = np.floor(people[:, None] * share * rng.uniform(0.2, 1.0, (count, 1))).astype(np.int64)
    names = [
        f"{town_names[t]} {SUFFIXES[s]} {i + 1}"
        for i, (t, s) in enumerate(zip(town, rng.integers(0, len(SUFFIXES), count), strict=True))
    ]
    columns: dict[str, Any] = {
        "name": names,
        "classification": classification,
        "status": np.where(rng.random(count) < 0.1, "worked_on", "open"),
        "contamination_types": contamination,
        "evidence_direct": evidence_direct,
        "evidence_indirect": indirect,
        "information_source": np.asarray(SOURCES)[rng.integers(0, len(SOURCES), count)],
        "reliability": np.asarray(RELIABILITY)[rng.integers(0, len(RELIABILITY), count)],
        "blockages": _pick(rng, BLOCKAGES, count, 0, 3),
        "beneficiaries_women": beneficiaries[:, 0],
        "beneficiaries_men": beneficiaries[:, 1],
        "beneficiaries_girls": beneficiaries[:, 2],
        "beneficiaries_boys": beneficiaries[:, 3],
        "priority": rng.integers(1, 6, count),
        "notes": [f"synthetic hazard {seed}-{i}" for i in range(count)],
    }
    if truth:
        columns["generated_in"] = codes[region]
    return gpd.GeoDataFrame(columns, geometry=polygons, crs="EPSG:4326")
