"""The benchmark's own databases on the embedded cluster (never the demo or test databases).

- ``sg_bench_base``: migrated with the app's migrations and seeded with the SOM and LBY
  programmes, their real admin-1 boundaries, organisations and teams. Used as a template.
- ``sg_bench`` / ``sg_bench_quick``: a copy of the base holding the read scenarios' hazard
  areas, loaded with set-based SQL (``COPY`` + one ``INSERT … SELECT``). Kept between runs
  and reused when its fingerprint (sizes, seed, geo/synthetic.py and migrations) is unchanged.
- ``sg_bench_import``: a fresh copy of the base for every import run, so each run starts
  from the same state.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import psycopg2
import shapely
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BASE_DB = "sg_bench_base"
IMPORT_DB = "sg_bench_import"


def server_url() -> str:
    """The embedded cluster (started when needed), or SAFEGROUND_DATABASE_URL's server."""
    from app.embedded import database_url

    return database_url()


def db_url(name: str) -> str:
    return make_url(server_url()).set(database=name).render_as_string(hide_password=False)


def libpq_dsn(name: str) -> str:
    """``host=… dbname=…`` for psycopg2 and GDAL's ``PG:`` driver.

    ``name`` is a database on the benchmark's server, or a whole SQLAlchemy URL (tests).
    """
    if "://" in name:
        url = make_url(name)
        name = str(url.database)
    else:
        url = make_url(server_url())
    return f"host={url.host} port={url.port} user={url.username} password={url.password} dbname={name}"


def plain_url(name: str) -> str:
    """``postgresql://…`` without the SQLAlchemy driver suffix (for tipg)."""
    return make_url(db_url(name)).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def connect(name: str, autocommit: bool = False) -> Iterator[Any]:
    conn = psycopg2.connect(libpq_dsn(name))
    conn.autocommit = autocommit
    try:
        yield conn
    finally:
        conn.close()


def has_table(name: str, table: str) -> bool:
    with connect(name, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
        return bool(cur.fetchone()[0])


def exists(name: str) -> bool:
    with connect("postgres", autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return cur.fetchone() is not None


def drop(name: str) -> None:
    with connect("postgres", autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_of(template: str, name: str) -> None:
    drop(name)
    with connect("postgres", autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def _fingerprint(*parts: str) -> str:
    digest = hashlib.sha1()  # noqa: S324 - a cache key
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        digest.update(path.read_bytes())
    for path in (ROOT / "app" / "demo.py", ROOT / "geo" / "synthetic.py", ROOT / "bench" / "database.py"):
        digest.update(path.read_bytes())
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()[:16]


def _comment(name: str) -> str | None:
    with connect("postgres", autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
        )
        row = cur.fetchone()
        return row[0] if row else None


def _set_comment(name: str, value: str) -> None:
    with connect("postgres", autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'COMMENT ON DATABASE "{name}" IS %s', (value,))


def ensure_base() -> None:
    """The migrated, seeded template (rebuilt when migrations or the seed change)."""
    from app import migrate
    from app.db import make_engine, session_scope, set_engine
    from app.demo import _reference_data

    fingerprint = _fingerprint("base")
    if exists(BASE_DB) and _comment(BASE_DB) == fingerprint:
        return
    drop(BASE_DB)
    with connect("postgres", autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{BASE_DB}" TEMPLATE template1')
    url = db_url(BASE_DB)
    migrate.upgrade(url)
    engine = make_engine(url)
    set_engine(engine)
    try:
        with session_scope("bench") as db:
            _reference_data(db)
    finally:
        set_engine(None)
        engine.dispose()
    _set_comment(BASE_DB, fingerprint)


def read_db_is_current(name: str, *parts: str) -> bool:
    return exists(name) and _comment(name) == _fingerprint(*parts)


def mark_read_db(name: str, *parts: str) -> None:
    _set_comment(name, _fingerprint(*parts))


STAGING_COLUMNS = [
    "programme",
    "reference",
    "name",
    "classification",
    "status",
    "contamination_types",
    "evidence_direct",
    "evidence_indirect",
    "information_source",
    "reliability",
    "blockages",
    "beneficiaries_women",
    "beneficiaries_men",
    "beneficiaries_girls",
    "beneficiaries_boys",
    "priority",
    "notes",
    "wkb",
]


def load_hazards(name: str, frames: list[tuple[str, gpd.GeoDataFrame]]) -> int:
    """Load synthetic hazard areas (``geo.synthetic`` frames) with set-based SQL; returns the row count.

    The rows are stored as approved, with geodesic areas and admin-1 assigned in SQL, the way
    the app stores them. Triggers (audit) are switched off for this session only: the read
    scenarios do not depend on the load's audit rows, and 100,000 of them would only slow
    the set-up.
    """
    with connect(name) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        cur.execute(
            "CREATE TEMP TABLE staging ("
            + ", ".join(
                f"{c} int" if c.startswith(("beneficiaries", "priority")) else f"{c} text"
                for c in STAGING_COLUMNS
            )
            + ")"
        )
        for programme, frame in frames:
            table = pd.DataFrame(frame.drop(columns="geometry"))
            table["programme"] = programme
            table["reference"] = [f"{programme}-HA-{i + 1:06d}" for i in range(len(frame))]
            table["wkb"] = shapely.to_wkb(frame.geometry.values, hex=True)
            buffer = io.StringIO()
            table[STAGING_COLUMNS].to_csv(
                buffer, sep="\t", header=False, index=False, quoting=csv.QUOTE_NONE, escapechar="\\"
            )
            buffer.seek(0)
            cur.copy_expert("COPY staging FROM STDIN", buffer)
        cur.execute(
            """
            INSERT INTO hazard_areas (
                programme_id, reference, name, classification, status, contamination_types,
                evidence, information_source, reliability, blockages,
                beneficiaries_women, beneficiaries_men, beneficiaries_girls, beneficiaries_boys,
                priority, notes, geom, remaining_geom, area_m2, remaining_m2, admin1_code, admin1_name,
                review_status, reviewed_by, reviewed_at, created_by, updated_by)
            SELECT p.id, s.reference, s.name, s.classification, s.status,
                   string_to_array(s.contamination_types, ','),
                   jsonb_build_object(
                       'direct', to_jsonb(string_to_array(coalesce(s.evidence_direct, ''), ',')),
                       'indirect', to_jsonb(string_to_array(coalesce(s.evidence_indirect, ''), ','))),
                   s.information_source, s.reliability, string_to_array(coalesce(s.blockages, ''), ','),
                   s.beneficiaries_women, s.beneficiaries_men, s.beneficiaries_girls, s.beneficiaries_boys,
                   s.priority, s.notes, g.geom, g.geom, g.area, g.area, a.code, a.name,
                   'approved', 'bench', now(), 'bench', 'bench'
            FROM staging s
            JOIN programmes p ON p.code = s.programme
            CROSS JOIN LATERAL (
                SELECT m.geom, ST_Area(m.geom::geography) AS area
                FROM (SELECT ST_Multi(ST_GeomFromWKB(decode(s.wkb, 'hex'), 4326)) AS geom) m
            ) g
            LEFT JOIN LATERAL (
                SELECT code, name FROM admin_areas
                WHERE programme_id = p.id AND level = 1
                  AND ST_Intersects(admin_areas.geom, ST_PointOnSurface(g.geom))
                LIMIT 1
            ) a ON true
            ORDER BY p.id, s.reference
            """
        )
        count = cur.rowcount
        # The references were numbered here, not by the application's counter: move the counter
        # past them, or the application's next hazard area would get SOM-HA-000001 again.
        cur.execute(
            """
            INSERT INTO reference_counters (programme_id, kind, last_value)
            SELECT programme_id, 'HA', max(substring(reference from '[0-9]+$')::int)
            FROM hazard_areas GROUP BY programme_id
            ON CONFLICT (programme_id, kind) DO UPDATE
            SET last_value = greatest(reference_counters.last_value, EXCLUDED.last_value)
            """
        )
        conn.commit()
    with connect(name, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE hazard_areas")
    return int(count)


def load_releases(name: str, per_hazard: int = 3) -> int:
    """Approved land releases: ``per_hazard`` per hazard area, each a vertical strip of it.

    A hazard's bounding box is cut into ``per_hazard + 1`` strips; the first ``per_hazard``
    strips (clipped to the hazard) are released and the last one remains, so releases never
    overlap and always lie inside their hazard. Method, activity, organisation and date are
    drawn deterministically from a hash of the release reference. The hazards' release
    figures (``cancelled_m2`` … ``remaining_m2``, status) are updated to match, set-based;
    triggers are off for this load as for the hazards.
    """
    strips = per_hazard + 1
    with connect(name) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        cur.execute(
            f"""
            WITH orgs AS (
                SELECT programme_id, array_agg(id ORDER BY id) AS ids FROM organisations GROUP BY programme_id
            ), pieces AS (
                SELECT h.id AS hazard_id, h.programme_id, h.reference || '-LR' || k AS reference,
                       (hashtext(h.reference || '-LR' || k)::bigint & 2147483647) AS r, o.ids,
                       ST_Multi(ST_CollectionExtract(ST_Intersection(h.geom, ST_MakeEnvelope(
                           ST_XMin(h.geom) + (k - 1) * (ST_XMax(h.geom) - ST_XMin(h.geom)) / {strips},
                           ST_YMin(h.geom),
                           ST_XMin(h.geom) + k * (ST_XMax(h.geom) - ST_XMin(h.geom)) / {strips},
                           ST_YMax(h.geom), 4326)), 3)) AS geom
                FROM hazard_areas h
                CROSS JOIN generate_series(1, {per_hazard}) AS k
                LEFT JOIN orgs o ON o.programme_id = h.programme_id
            ), typed AS (
                SELECT p.*, (ARRAY['cancelled', 'reduced', 'cleared', 'cleared'])[1 + r % 4] AS method,
                       (r / 4) % 10 AS roll
                FROM pieces p WHERE NOT ST_IsEmpty(p.geom)
            )
            INSERT INTO land_releases (
                programme_id, reference, hazard_area_id, method, activity, organisation_id, release_date,
                depth_cm, geom, input_geom, area_m2, review_status, reviewed_by, reviewed_at,
                created_by, updated_by)
            SELECT programme_id, reference, hazard_id, method,
                   CASE method WHEN 'cancelled' THEN 'nts' WHEN 'reduced' THEN 'ts'
                        ELSE CASE WHEN roll < 2 THEN 'bac' ELSE 'clearance' END END,
                   ids[1 + (r / 40) % greatest(cardinality(ids), 1)],
                   DATE '2023-01-01' + ((r / 400) % 1400)::int,
                   CASE WHEN method = 'cleared' THEN 30 END,
                   geom, geom, ST_Area(geom::geography), 'approved', 'bench', now(), 'bench', 'bench'
            FROM typed
            ORDER BY hazard_id, reference
            """
        )
        count = cur.rowcount
        cur.execute(
            """
            UPDATE hazard_areas h SET
                cancelled_m2 = s.cancelled, reduced_m2 = s.reduced, cleared_m2 = s.cleared,
                remaining_m2 = greatest(h.area_m2 - s.cancelled - s.reduced - s.cleared, 0),
                status = 'worked_on'
            FROM (
                SELECT hazard_area_id,
                       coalesce(sum(area_m2) FILTER (WHERE method = 'cancelled'), 0) AS cancelled,
                       coalesce(sum(area_m2) FILTER (WHERE method = 'reduced'), 0) AS reduced,
                       coalesce(sum(area_m2) FILTER (WHERE method = 'cleared'), 0) AS cleared
                FROM land_releases GROUP BY hazard_area_id
            ) s
            WHERE s.hazard_area_id = h.id
            """
        )
        conn.commit()
    with connect(name, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE land_releases")
        cur.execute("VACUUM ANALYZE hazard_areas")
    return int(count)


def load_operations(name: str, hazards_per_task: int = 10) -> dict[str, int]:
    """Completed clearance tasks (one per ``hazards_per_task`` hazard areas), their explosive
    ordnance items (two finds per task, destroyed) and a QA monitoring visit per task.

    Deterministic (hashes of references), set-based, triggers off as for the other loads.
    """
    counts: dict[str, int] = {}
    with connect(name) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        cur.execute(
            f"""
            WITH orgs AS (
                SELECT programme_id, array_agg(id ORDER BY id) AS ids FROM organisations GROUP BY programme_id
            ), picked AS (
                SELECT h.id, h.programme_id, h.reference, ST_PointOnSurface(h.geom) AS point,
                       (hashtext(h.reference || '-T')::bigint & 2147483647) AS r, o.ids
                FROM hazard_areas h LEFT JOIN orgs o ON o.programme_id = h.programme_id
                WHERE h.id % {hazards_per_task} = 0
            )
            INSERT INTO tasks (programme_id, reference, type, status, priority, organisation_id, point,
                               planned_start, planned_end, actual_start, actual_end, created_by)
            SELECT programme_id, reference || '-T', 'clearance', 'completed', 1 + r % 5,
                   ids[1 + r % greatest(cardinality(ids), 1)], point,
                   DATE '2023-01-01' + (r % 1300)::int, DATE '2023-01-01' + (r % 1300)::int + 30,
                   DATE '2023-01-01' + (r % 1300)::int, DATE '2023-01-01' + (r % 1300)::int + 20 + (r % 40)::int,
                   'bench'
            FROM picked ORDER BY id
            """
        )
        counts["tasks"] = cur.rowcount
        cur.execute(
            "INSERT INTO task_hazards (task_id, hazard_area_id) "
            "SELECT t.id, h.id FROM tasks t JOIN hazard_areas h ON h.reference || '-T' = t.reference"
        )
        cur.execute(
            """
            WITH cat AS (SELECT array_agg(id ORDER BY id) AS ids FROM eo_catalogue)
            INSERT INTO eo_items (programme_id, task_id, catalogue_id, quantity, disposal_method, found_on,
                                  location, created_by, review_status)
            SELECT t.programme_id, t.id, cat.ids[1 + (hashtext(t.reference || k)::bigint & 2147483647)
                                                  % cardinality(cat.ids)],
                   1 + (hashtext(t.reference || k || 'q')::bigint & 2147483647) % 5,
                   (ARRAY['destroyed_in_situ', 'removed_and_destroyed'])[1 + k % 2],
                   t.actual_start + k, t.point, 'bench', 'approved'
            FROM tasks t CROSS JOIN generate_series(1, 2) AS k CROSS JOIN cat
            WHERE cardinality(cat.ids) > 0
            """
        )
        counts["eo_items"] = cur.rowcount
        cur.execute(
            """
            INSERT INTO qa_visits (programme_id, reference, type, task_id, activity, organisation_id,
                                   inspector, visit_date, location, result, created_by, updated_by)
            SELECT programme_id, reference || '-QA', 'monitoring', id, 'clearance', organisation_id,
                   'bench inspector', actual_start + 10, point,
                   (ARRAY['pass', 'pass', 'pass_with_findings', 'fail'])
                       [1 + (hashtext(reference || '-QA')::bigint & 2147483647) % 4],
                   'bench', 'bench'
            FROM tasks ORDER BY id
            """
        )
        counts["qa_visits"] = cur.rowcount
        conn.commit()
    with connect(name, autocommit=True) as conn, conn.cursor() as cur:
        for table in ("tasks", "task_hazards", "eo_items", "qa_visits"):
            cur.execute(f"VACUUM ANALYZE {table}")
    return counts


def bench_token(name: str, role: str = "partner") -> str:
    """A token of ``role`` for SOM and LBY in database ``name`` (user created once, token per run)."""
    from sqlalchemy import select

    from app.auth.models import User
    from app.auth.service import create_user, issue_token
    from app.db import make_engine, session_scope, set_engine

    username = f"bench-{role}"
    engine = make_engine(db_url(name))
    set_engine(engine)
    try:
        with session_scope("bench") as db:
            user = db.scalar(select(User).where(User.username == username))
            if user is None:
                user = create_user(db, username, role, ["SOM", "LBY"])
            return issue_token(db, user, name="bench")
    finally:
        set_engine(None)
        engine.dispose()
