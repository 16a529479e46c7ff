"""Planning support for coordinators: the ranked queue of hazards not yet tasked, conflicts
between tasks, and the teams nearest a place.

The queue score is a weighted sum of components, each normalised to 0…1 so that a weight
reads as "how many points this factor is worth at most":

=================  ==========================================================================
classification     CHA 1.0, SHA 0.5
contamination      the most severe type present (see ``contamination_severity``)
blockages          number of blockages / ``blockages_full`` (capped at 1)
beneficiaries      people affected b → b / (b + ``beneficiaries_half``)  (0.5 at the "half")
age                days since the record was made / ``age_full_days`` (capped at 1): hazards
                   that have waited longest come first
distance           nearest suitable team: 1 − distance / ``distance_scale_km`` (≥ 0);
                   0 when no suitable team has a base location
=================  ==========================================================================

Defaults come from :class:`PlanningSettings` (environment ``SAFEGROUND_PLANNING_WEIGHTS`` as
JSON, e.g. ``{"beneficiaries": 5}``); a request may override any weight.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.deps import Scope
from app.errors import Problem
from app.reference.models import TEAM_CAPABILITIES
from tasks import service
from tasks.models import ACTIVE_STATUSES

PLANNERS = ("admin", "coordinator")

DEFAULT_WEIGHTS: dict[str, float] = {
    "classification": 3.0,
    "contamination": 2.0,
    "blockages": 2.0,
    "beneficiaries": 3.0,
    "age": 1.0,
    "distance": 1.0,
}

# Which teams can take a hazard on next: a suspected area needs survey, a confirmed one clearance.
SUITABLE_FOR_SHA = ["NTS", "TS"]
SUITABLE_FOR_CHA = ["MANUAL", "MECHANICAL", "MDD"]

# Capabilities that suit each task type (when a nearest-team search is made for a task).
SUITABLE_FOR_TASK = {
    "nts": ["NTS"],
    "ts": ["TS"],
    "clearance": ["MANUAL", "MECHANICAL", "MDD"],
    "bac": ["EOD1", "EOD2", "EOD3"],
    "eod_spot": ["EOD1", "EOD2", "EOD3"],
    "qa": ["QA"],
}


class PlanningSettings(BaseSettings):
    """``SAFEGROUND_PLANNING_*`` settings (documented in docs/tasks.md)."""

    model_config = SettingsConfigDict(env_prefix="SAFEGROUND_PLANNING_", env_file=".env", extra="ignore")

    weights: dict[str, float] = Field(default_factory=dict)
    contamination_severity: dict[str, float] = Field(
        default_factory=lambda: {
            "AP": 1.0,
            "MIXED": 1.0,
            "IED": 1.0,
            "CMR": 0.9,
            "AT": 0.8,
            "ERW": 0.6,
            "AXO": 0.5,
        }
    )
    blockages_full: float = 3.0
    beneficiaries_half: float = 500.0
    age_full_days: float = 365.0
    distance_scale_km: float = 200.0
    # KNN candidates fetched by planar distance before ordering by geodesic distance.
    knn_candidates: int = 20


@lru_cache
def get_planning_settings() -> PlanningSettings:
    return PlanningSettings()


@dataclass(frozen=True)
class Weights:
    classification: float
    contamination: float
    blockages: float
    beneficiaries: float
    age: float
    distance: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def resolve_weights(overrides: dict[str, float]) -> Weights:
    """Default weights, then the settings', then the request's. Unknown names and values that are
    not finite numbers between 0 and 100 are refused."""
    merged = {**DEFAULT_WEIGHTS, **get_planning_settings().weights}
    errors = []
    for name, value in overrides.items():
        if name not in DEFAULT_WEIGHTS:
            errors.append(
                {"field": f"weights.{name}", "message": f"unknown weight; use {', '.join(DEFAULT_WEIGHTS)}"}
            )
        elif not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value <= 100:
            errors.append({"field": f"weights.{name}", "message": "a number from 0 to 100"})
        else:
            merged[name] = float(value)
    if errors:
        raise Problem(422, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    return Weights(**{k: merged[k] for k in DEFAULT_WEIGHTS})


# ------------------------------------------------------------------------------------- the queue

_QUEUE_SQL = """
WITH candidates AS (
    -- What is left to work: the remaining part once land has been released from the hazard.
    SELECT h.*, p.code AS programme_code, coalesce(h.remaining_geom, h.geom) AS work_geom,
           h.beneficiaries_women + h.beneficiaries_men + h.beneficiaries_girls + h.beneficiaries_boys
               AS beneficiaries,
           greatest(0, extract(epoch FROM now() - h.created_at) / 86400.0) AS age_days
    FROM hazard_areas h JOIN programmes p ON p.id = h.programme_id
    WHERE h.programme_id = ANY(:ids) AND h.review_status = 'approved' AND h.status <> 'closed'
      AND NOT EXISTS (
          SELECT 1 FROM task_hazards th JOIN tasks t ON t.id = th.task_id
          WHERE th.hazard_area_id = h.id AND t.status = ANY(:active))
), normalised AS (
    SELECT c.*, nt.team_id, nt.team_name, nt.distance_m,
        CASE c.classification WHEN 'CHA' THEN 1.0 WHEN 'SHA' THEN 0.5 ELSE 0.0 END AS n_classification,
        coalesce((SELECT max((CAST(:severity AS jsonb) ->> ct)::float)
                  FROM unnest(c.contamination_types) ct), 0.0) AS n_contamination,
        least(cardinality(c.blockages) / :blockages_full, 1.0) AS n_blockages,
        c.beneficiaries / (c.beneficiaries + :beneficiaries_half) AS n_beneficiaries,
        least(c.age_days / :age_full_days, 1.0) AS n_age,
        CASE WHEN nt.distance_m IS NULL THEN 0.0
             ELSE greatest(0.0, 1.0 - nt.distance_m / (:distance_scale_km * 1000.0)) END AS n_distance
    FROM candidates c
    LEFT JOIN LATERAL (
        -- KNN on the teams' GiST index (planar <->), then the exact geodesic distance.
        SELECT k.id AS team_id, k.name AS team_name,
               ST_Distance(k.base_location::geography, c.work_geom::geography) AS distance_m
        FROM (SELECT tm.id, tm.name, tm.base_location FROM teams tm
              WHERE tm.programme_id = c.programme_id AND tm.base_location IS NOT NULL
                AND tm.capabilities && CASE c.classification WHEN 'CHA' THEN CAST(:cha_caps AS text[])
                                                             ELSE CAST(:sha_caps AS text[]) END
              ORDER BY tm.base_location <-> c.work_geom LIMIT :knn) k
        ORDER BY 3, 1 LIMIT 1
    ) nt ON true
), scored AS (
    SELECT n.*,
        n.n_classification * :w_classification AS p_classification,
        n.n_contamination * :w_contamination AS p_contamination,
        n.n_blockages * :w_blockages AS p_blockages,
        n.n_beneficiaries * :w_beneficiaries AS p_beneficiaries,
        n.n_age * :w_age AS p_age,
        n.n_distance * :w_distance AS p_distance
    FROM normalised n
), ranked AS (
    SELECT s.*,
        s.p_classification + s.p_contamination + s.p_blockages + s.p_beneficiaries + s.p_age
            + s.p_distance AS score
    FROM scored s
)
SELECT json_build_object(
    'type', 'Feature', 'id', r.id,
    'geometry', ST_AsGeoJSON(r.work_geom, 7)::json,
    'properties', json_build_object(
        'rank', row_number() OVER (ORDER BY r.score DESC, r.id),
        'score', round(r.score::numeric, 3),
        'reference', r.reference, 'programme', r.programme_code, 'name', r.name,
        'classification', r.classification, 'status', r.status,
        'contamination_types', r.contamination_types, 'blockages', r.blockages,
        'beneficiaries', r.beneficiaries, 'remaining_m2', round(r.remaining_m2::numeric, 1),
        'created_at', r.created_at,
        'nearest_team', CASE WHEN r.team_id IS NULL THEN NULL ELSE json_build_object(
            'id', r.team_id, 'name', r.team_name, 'distance_m', round(r.distance_m::numeric, 1)) END,
        'components', json_build_object(
            'classification', json_build_object('value', r.classification,
                'normalised', round(r.n_classification::numeric, 4), 'weight', :w_classification,
                'points', round(r.p_classification::numeric, 4)),
            'contamination', json_build_object('value', r.contamination_types,
                'normalised', round(r.n_contamination::numeric, 4), 'weight', :w_contamination,
                'points', round(r.p_contamination::numeric, 4)),
            'blockages', json_build_object('value', cardinality(r.blockages),
                'normalised', round(r.n_blockages::numeric, 4), 'weight', :w_blockages,
                'points', round(r.p_blockages::numeric, 4)),
            'beneficiaries', json_build_object('value', r.beneficiaries,
                'normalised', round(r.n_beneficiaries::numeric, 4), 'weight', :w_beneficiaries,
                'points', round(r.p_beneficiaries::numeric, 4)),
            'age', json_build_object('value', round(r.age_days::numeric, 1),
                'normalised', round(r.n_age::numeric, 4), 'weight', :w_age,
                'points', round(r.p_age::numeric, 4)),
            'distance', json_build_object('value', round(r.distance_m::numeric, 1),
                'normalised', round(r.n_distance::numeric, 4), 'weight', :w_distance,
                'points', round(r.p_distance::numeric, 4))),
        'explanation', concat_ws(' + ',
            format('%s %s×%s', r.classification, round(r.n_classification::numeric, 2), :w_classification),
            format('contamination %s %s×%s', array_to_string(r.contamination_types, '/'),
                   round(r.n_contamination::numeric, 2), :w_contamination),
            format('%s blockage(s) %s×%s', cardinality(r.blockages), round(r.n_blockages::numeric, 2),
                   :w_blockages),
            format('%s beneficiaries %s×%s', r.beneficiaries, round(r.n_beneficiaries::numeric, 2),
                   :w_beneficiaries),
            format('%s days old %s×%s', round(r.age_days::numeric), round(r.n_age::numeric, 2), :w_age),
            CASE WHEN r.team_id IS NULL THEN format('no suitable team 0×%s', :w_distance)
                 ELSE format('team %s at %s km %s×%s', r.team_name, round((r.distance_m / 1000)::numeric, 1),
                             round(r.n_distance::numeric, 2), :w_distance) END)
            || format(' = %s', round(r.score::numeric, 2)))
)::text, r.id
FROM ranked r
ORDER BY r.score DESC, r.id
LIMIT :limit
"""


def queue_sql(programme_ids: list[int], weights: Weights, limit: int) -> tuple[str, dict[str, Any]]:
    """Rows ``(feature json text, id)`` of the queue, best first (ties: oldest id first)."""
    settings = get_planning_settings()
    params: dict[str, Any] = {
        "ids": programme_ids,
        "active": list(ACTIVE_STATUSES),
        "severity": json.dumps(settings.contamination_severity),
        "blockages_full": settings.blockages_full,
        "beneficiaries_half": settings.beneficiaries_half,
        "age_full_days": settings.age_full_days,
        "distance_scale_km": settings.distance_scale_km,
        "cha_caps": SUITABLE_FOR_CHA,
        "sha_caps": SUITABLE_FOR_SHA,
        "knn": settings.knn_candidates,
        "limit": limit,
    }
    params.update({f"w_{name}": value for name, value in weights.as_dict().items()})
    return _QUEUE_SQL, params


# ------------------------------------------------------------------------------------- conflicts

_ACTIVE_TASKS_SQL = """
WITH active AS (
    SELECT t.id, t.reference, t.programme_id, t.team_id, t.planned_start AS s,
           coalesce(t.planned_end, t.planned_start) AS e,
           coalesce(h.geom, t.point) AS geom, coalesce(h.ids, '{}') AS hazard_ids
    FROM tasks t
    LEFT JOIN LATERAL (
        SELECT ST_Union(ha.geom) AS geom, array_agg(ha.id ORDER BY ha.id) AS ids
        FROM task_hazards th JOIN hazard_areas ha ON ha.id = th.hazard_area_id
        WHERE th.task_id = t.id) h ON true
    WHERE t.programme_id = ANY(:ids) AND t.status = ANY(:active) AND t.planned_start IS NOT NULL
      AND (CAST(:pfrom AS date) IS NULL OR coalesce(t.planned_end, t.planned_start) >= :pfrom)
      AND (CAST(:pto AS date) IS NULL OR t.planned_start <= :pto)
)
"""

_AREA_CONFLICTS_SQL = (
    _ACTIVE_TASKS_SQL
    + """
SELECT a.id, a.reference, b.id, b.reference, greatest(a.s, b.s), least(a.e, b.e),
       round(ST_Area(ST_Intersection(a.geom, b.geom)::geography)::numeric, 1),
       ARRAY(SELECT unnest(a.hazard_ids) INTERSECT SELECT unnest(b.hazard_ids) ORDER BY 1),
       ST_AsGeoJSON(ST_Intersection(a.geom, b.geom), 7)::json
FROM active a JOIN active b
  ON a.id < b.id AND a.programme_id = b.programme_id AND a.s <= b.e AND b.s <= a.e
 AND a.geom && b.geom AND ST_Relate(a.geom, b.geom, 'T********')
ORDER BY a.id, b.id
"""
)

_TEAM_CONFLICTS_SQL = (
    _ACTIVE_TASKS_SQL
    + """
SELECT tm.id, tm.name, a.id, a.reference, b.id, b.reference, greatest(a.s, b.s), least(a.e, b.e)
FROM active a JOIN active b
  ON a.id < b.id AND a.team_id = b.team_id AND a.s <= b.e AND b.s <= a.e
JOIN teams tm ON tm.id = a.team_id
ORDER BY tm.id, a.id, b.id
"""
)


def conflicts(
    db: Session, programme_ids: list[int], planned_from: date | None, planned_to: date | None
) -> dict[str, Any]:
    """Pairs of active tasks (planned … suspended) with planned dates that overlap and either
    target land whose interiors overlap, or the same team. Tasks without a planned start are
    not scheduled, so they cannot clash."""
    params = {"ids": programme_ids, "active": list(ACTIVE_STATUSES), "pfrom": planned_from, "pto": planned_to}
    overlaps = [
        {
            "task_a": {"id": r[0], "reference": r[1]},
            "task_b": {"id": r[2], "reference": r[3]},
            "dates": {"from": r[4], "to": r[5]},
            "overlap_m2": float(r[6]),
            "shared_hazard_area_ids": list(r[7]),
            "overlap": r[8],
        }
        for r in db.execute(text(_AREA_CONFLICTS_SQL), params)
    ]
    double = [
        {
            "team": {"id": r[0], "name": r[1]},
            "task_a": {"id": r[2], "reference": r[3]},
            "task_b": {"id": r[4], "reference": r[5]},
            "dates": {"from": r[6], "to": r[7]},
        }
        for r in db.execute(text(_TEAM_CONFLICTS_SQL), params)
    ]
    return {"area_overlaps": overlaps, "team_double_bookings": double}


# --------------------------------------------------------------------------------- nearest teams

_NEAREST_SQL = """
SELECT k.id, k.name, k.organisation_id, o.name, k.capabilities,
       ST_AsGeoJSON(k.base_location, 7)::json,
       ST_Distance(k.base_location::geography, g.geom::geography) AS distance_m,
       (SELECT count(*) FROM tasks t WHERE t.team_id = k.id AND t.status = 'in_progress')
FROM ({origin}) g
CROSS JOIN LATERAL (
    SELECT tm.id, tm.name, tm.organisation_id, tm.capabilities, tm.base_location
    FROM teams tm
    WHERE tm.programme_id = ANY(:ids) AND tm.base_location IS NOT NULL
      AND (cardinality(CAST(:caps AS text[])) = 0 OR tm.capabilities && CAST(:caps AS text[]))
    ORDER BY tm.base_location <-> g.geom
    LIMIT :candidates
) k
JOIN organisations o ON o.id = k.organisation_id
ORDER BY distance_m, k.id
LIMIT :limit
"""

_TASK_ORIGIN = """
SELECT coalesce((SELECT ST_Union(ha.geom) FROM task_hazards th
                 JOIN hazard_areas ha ON ha.id = th.hazard_area_id WHERE th.task_id = t.id),
                t.point) AS geom
FROM tasks t WHERE t.id = :task
"""


def _capabilities(value: str | None) -> list[str] | None:
    if value is None:
        return None
    # People write EOD2, eod_2 or eod2.
    caps = [c.strip().upper().replace("_", "").replace("-", "") for c in value.split(",") if c.strip()]
    unknown = [c for c in caps if c not in TEAM_CAPABILITIES]
    if unknown:
        raise Problem(
            422,
            f"capability: unknown {', '.join(unknown)}; use {', '.join(TEAM_CAPABILITIES)}",
            errors=[{"field": "capability", "message": "unknown capability"}],
        )
    return caps


def nearest_teams(
    db: Session,
    scope: Scope,
    *,
    lon: float | None,
    lat: float | None,
    location: str | None,
    task_id: int | None,
    capability: str | None,
    programme: str | None,
    limit: int,
) -> dict[str, Any]:
    """Teams with a base location, nearest first, by geodesic distance in metres.

    The GiST index on ``teams.base_location`` answers the ``<->`` KNN search; because ``<->``
    on geometry is planar (degrees), a few more candidates than asked are fetched and then
    ordered by their exact geodesic distance.
    """
    caps = _capabilities(capability)
    given = sum(x is not None for x in ((lon if lat is not None else None), location, task_id))
    if given != 1 or (lon is None) != (lat is None):
        raise Problem(
            422,
            "Give exactly one origin: lon and lat, location (MGRS, UTM or degrees), or task_id",
            errors=[{"field": "lon/lat/location/task_id", "message": "one origin"}],
        )
    origin: dict[str, Any]
    params: dict[str, Any]
    if task_id is not None:
        task = service.get_task(db, scope, task_id)
        ids = [task.programme_id]
        if caps is None:
            caps = SUITABLE_FOR_TASK[task.type]
        origin_sql, params = _TASK_ORIGIN, {"task": task.id}
        origin = {"task_id": task.id, "reference": task.reference}
    else:
        if location is not None:
            parsed = service.parse_location(location, "location")
            lon, lat = parsed.lon, parsed.lat
        assert lon is not None and lat is not None
        ids = scope.programme_filter(db, programme)
        origin_sql = "SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geom"
        params = {"lon": lon, "lat": lat}
        origin = {"lon": lon, "lat": lat}
        if location is not None:
            origin["location"] = location
    limit_candidates = max(limit * 4, get_planning_settings().knn_candidates)
    params.update({"ids": ids, "caps": caps or [], "candidates": limit_candidates, "limit": limit})
    rows = db.execute(text(_NEAREST_SQL.format(origin=origin_sql)), params)
    teams = [
        {
            "team_id": r[0],
            "name": r[1],
            "organisation_id": r[2],
            "organisation": r[3],
            "capabilities": r[4],
            "base_location": r[5],
            "distance_m": round(float(r[6]), 1),
            "tasks_in_progress": r[7],
        }
        for r in rows
    ]
    return {"origin": origin, "capabilities": caps or [], "teams": teams}
