"""Direct database inserts for tests that need records without going through their API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine


def insert_hazard_area(
    engine: Engine,
    wkt: str,
    programme: str = "SOM",
    classification: str = "CHA",
    review_status: str = "approved",
    contamination_types: tuple[str, ...] = ("AP",),
    status: str = "open",
) -> int:
    """A hazard area whose areas are computed by PostGIS (geodesic m²), as the service does."""
    with engine.begin() as conn:
        programme_id = conn.execute(
            text("SELECT id FROM programmes WHERE code = :c"), {"c": programme}
        ).scalar_one()
        number = conn.execute(
            text(
                "INSERT INTO reference_counters (programme_id, kind, last_value) VALUES (:p, 'HA', 1) "
                "ON CONFLICT (programme_id, kind) DO UPDATE SET last_value = reference_counters.last_value + 1 "
                "RETURNING last_value"
            ),
            {"p": programme_id},
        ).scalar_one()
        return int(
            conn.execute(
                text(
                    """
                    INSERT INTO hazard_areas (programme_id, reference, classification, status,
                        contamination_types, geom, area_m2, remaining_geom, remaining_m2, review_status)
                    SELECT :p, :ref, :cls, :status, :ct, g, ST_Area(g::geography), g, ST_Area(g::geography), :rs
                    FROM (SELECT ST_Multi(ST_GeomFromText(:wkt, 4326)) AS g) s
                    RETURNING id
                    """
                ),
                {
                    "p": programme_id,
                    "ref": f"{programme}-HA-{number:06d}",
                    "cls": classification,
                    "status": status,
                    "ct": list(contamination_types),
                    "wkt": wkt,
                    "rs": review_status,
                },
            ).scalar_one()
        )


def row(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).first()
