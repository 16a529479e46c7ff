"""Post-clearance inspection sampling (ISO 2859 style acceptance sampling of released land).

A lot is one land release. The programme's sampling plan (table ``qa_sampling_bands``; the
rows with no programme are the default) gives, by lot size, the share of the lot to inspect,
the cell size and the acceptance number. The sample is a set of square cells centred on
random points inside the released polygon (PostGIS ``ST_GeneratePoints`` with a seed), so the
same seed always gives the same sample.
"""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.deps import Scope
from app.errors import Problem
from clearance.schemas import SamplingPlanIn

MAX_CELLS = 2000


@dataclass(frozen=True)
class Band:
    min_lot_m2: float
    max_lot_m2: float | None
    sample_percent: float
    min_sample_m2: float
    cell_side_m: float
    acceptance_number: int


@dataclass(frozen=True)
class Plan:
    lot_area_m2: float
    sample_area_m2: float
    cell_side_m: float
    cells: int
    acceptance_number: int
    band: Band


def bands(db: Session, programme_id: int) -> list[Band]:
    """The programme's own bands, or the default plan when it has none."""
    sql = (
        "SELECT min_lot_m2, max_lot_m2, sample_percent, min_sample_m2, cell_side_m, acceptance_number "
        "FROM qa_sampling_bands WHERE programme_id {} ORDER BY min_lot_m2"
    )
    rows = db.execute(text(sql.format("= :p")), {"p": programme_id}).all()
    if not rows:
        rows = db.execute(text(sql.format("IS NULL"))).all()
    return [Band(*row) for row in rows]


def plan_for(area_m2: float, plan_bands: list[Band]) -> Plan:
    band = next(
        (
            b
            for b in plan_bands
            if b.min_lot_m2 <= area_m2 and (b.max_lot_m2 is None or area_m2 < b.max_lot_m2)
        ),
        None,
    )
    if band is None:
        raise Problem(409, f"The sampling plan has no band for a lot of {area_m2:.0f} m²; fix the plan.")
    sample = min(area_m2, max(band.min_sample_m2, area_m2 * band.sample_percent / 100.0))
    side = band.cell_side_m
    cells = max(1, math.ceil(sample / (side * side)))
    if cells > MAX_CELLS:
        # Very large samples: fewer, larger cells of the same total area.
        side = math.sqrt(sample / MAX_CELLS)
        cells = MAX_CELLS
    return Plan(area_m2, sample, side, cells, band.acceptance_number, band)


def _lot(db: Session, scope: Scope, land_release_id: int) -> dict[str, Any]:
    row = (
        db.execute(
            text(
                "SELECT id, programme_id, hazard_area_id, area_m2, review_status, method "
                "FROM land_releases WHERE id = :id"
            ),
            {"id": land_release_id},
        )
        .mappings()
        .first()
    )
    if row is None or row["programme_id"] not in scope.programme_ids:
        raise Problem(404, f"No land release {land_release_id} in your programmes.")
    if row["review_status"] == "rejected":
        raise Problem(409, f"Land release {land_release_id} was rejected; it is not a lot to inspect.")
    return dict(row)


def lot_plan(db: Session, scope: Scope, land_release_id: int) -> tuple[dict[str, Any], Plan]:
    lot = _lot(db, scope, land_release_id)
    return lot, plan_for(float(lot["area_m2"]), bands(db, lot["programme_id"]))


# Cells: a square of side s metres around each random point, built in the point's UTM zone
# and clipped to the lot.
_SAMPLE_SQL = """
WITH lot AS (SELECT id, geom FROM land_releases WHERE id = :id),
pts AS (
    SELECT d.path[1] AS n, d.geom AS p,
           (CASE WHEN ST_Y(d.geom) >= 0 THEN 32600 ELSE 32700 END
            + least(60, floor((ST_X(d.geom) + 180) / 6)::int + 1)) AS utm
    FROM lot, ST_Dump(ST_GeneratePoints(lot.geom, :cells, :seed)) d
),
cells AS (
    SELECT pts.n, pts.p,
           sg_multipolygon(ST_Intersection(
               ST_Transform(ST_Expand(ST_Transform(pts.p, pts.utm), :half), 4326), lot.geom)) AS cell
    FROM pts, lot
)
SELECT json_build_object(
    'type', 'FeatureCollection',
    'layout', 'cells',
    'land_release_id', :id,
    'seed', :seed,
    'lot_area_m2', :lot_area,
    'sample_area_m2', :sample_area,
    'cell_side_m', :side,
    'cells', :cells,
    'sampled_area_m2', (SELECT round(ST_Area(ST_Union(cell)::geography)::numeric, 2) FROM cells),
    'acceptance_number', :acceptance,
    'rule', 'the lot is accepted when at most acceptance_number items are found in the sample',
    'lot', (SELECT ST_AsGeoJSON(geom)::json FROM lot),
    'features', coalesce((SELECT json_agg(json_build_object(
        'type', 'Feature', 'id', n,
        'geometry', ST_AsGeoJSON(cell)::json,
        'properties', json_build_object(
            'cell', n, 'centre', ST_AsGeoJSON(p, 8)::json,
            'area_m2', round(ST_Area(cell::geography)::numeric, 2))) ORDER BY n) FROM cells), '[]'::json)
)::text
"""


# Lanes: north–south strips (UTM grid north) of the lane width, in a random order of the lot's
# lane slots, taken until their area inside the lot reaches the sample area.
_UTM_OF_LOT = """
SELECT utm, ST_XMin(ST_Transform(geom, utm)) AS xmin, ST_XMax(ST_Transform(geom, utm)) AS xmax
FROM (SELECT geom, (CASE WHEN ST_Y(ST_Centroid(geom)) >= 0 THEN 32600 ELSE 32700 END
                    + least(60, floor((ST_X(ST_Centroid(geom)) + 180) / 6)::int + 1)) AS utm
      FROM land_releases WHERE id = :id) l
"""

_LANES_SQL = """
WITH lot AS (SELECT id, geom, ST_Transform(geom, :utm) AS g FROM land_releases WHERE id = :id),
slots AS (SELECT s.slot, s.n FROM unnest(CAST(:slots AS integer[])) WITH ORDINALITY AS s(slot, n)),
lanes AS (
    SELECT slots.n, slots.slot, sg_multipolygon(ST_Intersection(ST_Transform(ST_MakeEnvelope(
               :xmin + slots.slot * :width, ST_YMin(lot.g) - 1, :xmin + (slots.slot + 1) * :width,
               ST_YMax(lot.g) + 1, :utm), 4326), lot.geom)) AS lane
    FROM slots, lot
),
measured AS (SELECT n, slot, lane, ST_Area(lane::geography) AS a FROM lanes WHERE NOT ST_IsEmpty(lane)),
chosen AS (
    SELECT n, slot, lane, a FROM (
        SELECT *, coalesce(sum(a) OVER (ORDER BY n ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
        FROM measured) x
    WHERE before < :sample_area
)
SELECT json_build_object(
    'type', 'FeatureCollection',
    'layout', 'lanes',
    'land_release_id', :id,
    'seed', :seed,
    'lot_area_m2', :lot_area,
    'sample_area_m2', :sample_area,
    'lane_width_m', :width,
    'lanes', (SELECT count(*) FROM chosen),
    'sampled_area_m2', (SELECT round(coalesce(sum(a), 0)::numeric, 2) FROM chosen),
    'acceptance_number', :acceptance,
    'rule', 'the lot is accepted when at most acceptance_number items are found in the sample',
    'lot', (SELECT ST_AsGeoJSON(geom)::json FROM lot),
    'features', coalesce((SELECT json_agg(json_build_object(
        'type', 'Feature', 'id', n,
        'geometry', ST_AsGeoJSON(lane)::json,
        'properties', json_build_object('lane', n, 'slot', slot, 'area_m2', round(a::numeric, 2)))
        ORDER BY n) FROM chosen), '[]'::json)
)::text
"""

MAX_LANE_SLOTS = 20_000


def sample_for_lot(
    db: Session,
    scope: Scope,
    land_release_id: int,
    seed: int | None,
    layout: str = "cells",
    lane_width_m: float = 1.0,
) -> str:
    """The sample of one lot as a GeoJSON FeatureCollection built by PostGIS.

    ``cells``: squares around random points inside the lot; ``lanes``: parallel strips.
    """
    lot, plan = lot_plan(db, scope, land_release_id)
    seed = seed if seed is not None else secrets.randbelow(2**31 - 2) + 1
    if layout == "lanes":
        return _lanes(db, lot, plan, seed, lane_width_m)
    return str(
        db.execute(
            text(_SAMPLE_SQL),
            {
                "id": lot["id"],
                "cells": plan.cells,
                "seed": seed,
                "half": plan.cell_side_m / 2,
                "lot_area": round(plan.lot_area_m2, 2),
                "sample_area": round(plan.sample_area_m2, 2),
                "side": round(plan.cell_side_m, 3),
                "acceptance": plan.acceptance_number,
            },
        ).scalar_one()
    )


def bands_json(db: Session, programme_id: int) -> str:
    own = db.scalar(
        text("SELECT count(*) FROM qa_sampling_bands WHERE programme_id = :p"), {"p": programme_id}
    )
    return orjson.dumps(
        {
            "source": "programme" if own else "default",
            "bands": [band.__dict__ for band in bands(db, programme_id)],
        }
    ).decode()


def set_bands(db: Session, programme_id: int, data: SamplingPlanIn) -> None:
    """Replace the programme's sampling plan (the audit log keeps the old bands)."""
    db.execute(text("DELETE FROM qa_sampling_bands WHERE programme_id = :p"), {"p": programme_id})
    for band in data.bands:
        db.execute(
            text(
                "INSERT INTO qa_sampling_bands (programme_id, min_lot_m2, max_lot_m2, sample_percent, "
                "min_sample_m2, cell_side_m, acceptance_number) VALUES (:p, :lo, :hi, :pct, :mini, :side, :acc)"
            ),
            {
                "p": programme_id,
                "lo": band.min_lot_m2,
                "hi": band.max_lot_m2,
                "pct": band.sample_percent,
                "mini": band.min_sample_m2,
                "side": band.cell_side_m,
                "acc": band.acceptance_number,
            },
        )


def _lanes(db: Session, lot: dict[str, Any], plan: Plan, seed: int, width: float) -> str:
    utm, xmin, xmax = db.execute(text(_UTM_OF_LOT), {"id": lot["id"]}).one()
    count = max(1, math.ceil((xmax - xmin) / width))
    # The same seed gives the same order of lane slots (Python's generator is stable across runs).
    slots = random.Random(seed).sample(range(count), min(count, MAX_LANE_SLOTS))
    return str(
        db.execute(
            text(_LANES_SQL),
            {
                "id": lot["id"],
                "utm": int(utm),
                "xmin": float(xmin),
                "width": width,
                "slots": slots,
                "seed": seed,
                "lot_area": round(plan.lot_area_m2, 2),
                "sample_area": round(plan.sample_area_m2, 2),
                "acceptance": plan.acceptance_number,
            },
        ).scalar_one()
    )
