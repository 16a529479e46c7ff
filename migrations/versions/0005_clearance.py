"""land releases, progress and completion, QA/QC

The land-release accounting rules are enforced here, in the database, so that they hold
whoever writes (API, CLI, bulk SQL). See docs/land-release.md for the rules in words.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

from app.audit import audit_trigger_sql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDITED = (
    "land_releases",
    "progress_reports",
    "completions",
    "qa_checklist_templates",
    "qa_visits",
    "qa_non_conformities",
    "operation_suspensions",
    "qa_sampling_bands",
    "rework_flags",
)

# Tolerances come from the application's settings, passed per transaction as
# ``safeground.<name>`` (see clearance/accounting.py); the fallbacks are the settings' defaults
# and apply to writes made outside the application (psql, bulk SQL).
ACCOUNTING_SQL = [
    """
CREATE FUNCTION sg_setting(name text, fallback float8) RETURNS float8 LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('safeground.' || name, true), '')::float8, fallback)
$$
""",
    # The polygonal part of a geometry as a valid MultiPolygon; empty (never NULL) when nothing is left.
    """
CREATE FUNCTION sg_multipolygon(g geometry) RETURNS geometry LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN g IS NULL OR ST_IsEmpty(g) THEN ST_SetSRID('MULTIPOLYGON EMPTY'::geometry, 4326)
        ELSE coalesce(
            (SELECT ST_Multi(ST_Collect(d.geom ORDER BY d.path))
             FROM ST_Dump(ST_CollectionExtract(ST_MakeValid(g), 3)) d WHERE NOT ST_IsEmpty(d.geom)),
            ST_SetSRID('MULTIPOLYGON EMPTY'::geometry, 4326))
    END
$$
""",
    # Drop polygon parts smaller than min_m2: the numerical dust that overlay operations leave
    # along shared edges (far below the accounting tolerance).
    """
CREATE FUNCTION sg_without_specks(g geometry, min_m2 float8) RETURNS geometry LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(
        (SELECT ST_Multi(ST_Collect(d.geom ORDER BY d.path))
         FROM ST_Dump(sg_multipolygon(g)) d WHERE ST_Area(d.geom::geography) >= min_m2),
        ST_SetSRID('MULTIPOLYGON EMPTY'::geometry, 4326))
$$
""",
    # A buffer in metres (geography: PostGIS buffers in a suitable local projection).
    """
CREATE FUNCTION sg_buffer_m(g geometry, metres float8) RETURNS geometry LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN ST_IsEmpty(g) THEN g ELSE ST_Buffer(g::geography, metres)::geometry END
$$
""",
    # What is left of a hazard's extent after every release that reserves land (any release
    # not rejected), leaving out one release (the one being checked).
    """
CREATE FUNCTION hazard_area_remaining(p_extent geometry, p_hazard integer, p_exclude integer)
RETURNS geometry LANGUAGE sql VOLATILE AS $$
    SELECT CASE WHEN t.taken IS NULL THEN sg_multipolygon(p_extent)
                ELSE sg_without_specks(ST_Difference(p_extent, t.taken), 0.01) END
    FROM (SELECT ST_Union(r.geom) AS taken FROM land_releases r
          WHERE r.hazard_area_id = p_hazard AND r.review_status <> 'rejected'
            AND r.id IS DISTINCT FROM p_exclude) t
$$
""",
    # Why a release was refused: where it overlaps released land (per release) and where it
    # leaves the hazard, each with its area in m² and its GeoJSON.
    """
CREATE FUNCTION land_release_conflict(p_hazard integer, p_exclude integer, p_geom geometry, p_beyond geometry)
RETURNS jsonb LANGUAGE sql VOLATILE AS $$
    WITH o AS (
        SELECT r.id, r.reference, r.method, r.review_status,
               round(ST_Area(x.part::geography)::numeric, 2) AS m2, ST_AsGeoJSON(x.part, 7)::jsonb AS gj
        FROM land_releases r
        CROSS JOIN LATERAL (SELECT sg_multipolygon(ST_Intersection(r.geom, p_geom)) AS part) x
        WHERE r.hazard_area_id = p_hazard AND r.review_status <> 'rejected'
          AND r.id IS DISTINCT FROM p_exclude AND ST_Intersects(r.geom, p_geom)
          AND ST_Area(x.part::geography) > 0.01
    ), outside AS (
        SELECT sg_multipolygon(ST_Difference(p_geom, h.geom)) AS part, h.id, h.reference
        FROM hazard_areas h WHERE h.id = p_hazard
    )
    SELECT jsonb_build_object(
        'hazard_area_id', outside.id,
        'hazard_area_reference', outside.reference,
        'beyond_tolerance_m2', round(ST_Area(p_beyond::geography)::numeric, 2),
        'beyond_tolerance', ST_AsGeoJSON(sg_multipolygon(p_beyond), 7)::jsonb,
        'outside_hazard_m2', round(ST_Area(outside.part::geography)::numeric, 2),
        'outside_hazard', ST_AsGeoJSON(outside.part, 7)::jsonb,
        'overlap_m2', coalesce((SELECT sum(o.m2) FROM o), 0),
        'overlaps', coalesce((SELECT jsonb_agg(jsonb_build_object(
                'land_release_id', o.id, 'reference', o.reference, 'method', o.method,
                'review_status', o.review_status, 'overlap_m2', o.m2, 'overlap', o.gj) ORDER BY o.id)
            FROM o), '[]'::jsonb))
    FROM outside
$$
""",
    # BEFORE INSERT/UPDATE of a land release: lock its hazard (concurrent releases on one hazard
    # wait for each other), refuse land outside the hazard's remaining part by more than the
    # tolerance, then store the input snapped and clipped to the remaining part, plus any sliver
    # of the remainder it cut off (parts smaller than the closure threshold or thinner than the
    # tolerance), so that releases never overlap and the remainder keeps no junk.
    """
CREATE FUNCTION land_release_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    h record;
    tol float8 := sg_setting('release_tolerance_m', 0.5);
    sliver_m2 float8 := sg_setting('closure_threshold_m2', 1.0);
    avail geometry;
    beyond geometry;
    beyond_m2 float8;
    piece geometry;
    slivers geometry;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.hazard_area_id <> OLD.hazard_area_id THEN
            RAISE EXCEPTION 'a land release cannot move to another hazard area' USING ERRCODE = '23SG2';
        END IF;
        IF NEW.geom IS DISTINCT FROM OLD.geom AND NEW.input_geom IS NOT DISTINCT FROM OLD.input_geom THEN
            NEW.input_geom := NEW.geom;  -- a direct edit of geom is new input, checked like any other
        END IF;
        IF NEW.input_geom IS NOT DISTINCT FROM OLD.input_geom
           AND NOT (OLD.review_status = 'rejected' AND NEW.review_status <> 'rejected') THEN
            NEW.geom := OLD.geom;
            NEW.area_m2 := OLD.area_m2;  -- computed, never typed in
            RETURN NEW;
        END IF;
    ELSIF NEW.input_geom IS NULL THEN
        NEW.input_geom := NEW.geom;
    END IF;
    NEW.input_geom := sg_multipolygon(NEW.input_geom);

    SELECT id, programme_id, reference, geom INTO h
    FROM hazard_areas WHERE id = NEW.hazard_area_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no hazard area %', NEW.hazard_area_id USING ERRCODE = '23503';
    END IF;
    NEW.programme_id := h.programme_id;

    IF NEW.review_status = 'rejected' THEN
        -- A rejected release reserves nothing; it keeps its input until it is resubmitted.
        NEW.geom := NEW.input_geom;
        NEW.area_m2 := ST_Area(NEW.geom::geography);
        RETURN NEW;
    END IF;

    avail := hazard_area_remaining(h.geom, h.id, NEW.id);
    beyond := sg_multipolygon(ST_Difference(NEW.input_geom, sg_buffer_m(avail, tol)));
    beyond_m2 := ST_Area(beyond::geography);
    IF beyond_m2 > 0.01 THEN
        RAISE EXCEPTION USING
            ERRCODE = '23SG1',
            MESSAGE = format(
                'The land release lies outside the remaining part of hazard area %s: %s m² more than %s m outside.',
                h.reference, round(beyond_m2::numeric, 2), tol),
            DETAIL = land_release_conflict(h.id, NEW.id, NEW.input_geom, beyond)::text;
    END IF;

    -- Snap to the remaining part's vertices and edges (tolerance in degrees of latitude: never
    -- more than the tolerance in metres), then clip.
    piece := sg_multipolygon(ST_Intersection(
        sg_multipolygon(ST_Snap(NEW.input_geom, avail, tol / 111320.0)), avail));
    SELECT ST_Union(s.geom) INTO slivers
    FROM ST_Dump(sg_without_specks(ST_Difference(avail, piece), 0.01)) s
    WHERE ST_DWithin(s.geom::geography, piece::geography, tol + 0.01)
      AND (ST_Area(s.geom::geography) < sliver_m2
           OR (tol > 0 AND ST_IsEmpty(sg_multipolygon(sg_buffer_m(s.geom, -tol / 2)))));
    NEW.geom := sg_multipolygon(CASE WHEN slivers IS NULL THEN piece ELSE ST_Union(piece, slivers) END);
    NEW.area_m2 := ST_Area(NEW.geom::geography);
    IF NEW.area_m2 < 0.01 THEN
        RAISE EXCEPTION USING
            ERRCODE = '23SG1',
            MESSAGE = format('Nothing of this land release lies in the remaining part of hazard area %s.',
                             h.reference),
            DETAIL = land_release_conflict(h.id, NEW.id, NEW.input_geom, beyond)::text;
    END IF;
    RETURN NEW;
END $$
""",
    # Recompute a hazard's figures, remaining geometry and status from its releases.
    """
CREATE FUNCTION hazard_area_recompute(p_hazard integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    threshold float8 := sg_setting('closure_threshold_m2', 1.0);
    h record;
    s record;
    rem geometry;
    rem_m2 float8;
    new_status text;
BEGIN
    SELECT id, geom, status INTO h FROM hazard_areas WHERE id = p_hazard FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT coalesce(sum(area_m2) FILTER (WHERE method = 'cancelled'), 0) AS cancelled,
           coalesce(sum(area_m2) FILTER (WHERE method = 'reduced'), 0) AS reduced,
           coalesce(sum(area_m2) FILTER (WHERE method = 'cleared'), 0) AS cleared,
           count(*) AS n
    INTO s FROM land_releases WHERE hazard_area_id = p_hazard AND review_status <> 'rejected';
    rem := hazard_area_remaining(h.geom, p_hazard, NULL);
    rem_m2 := ST_Area(rem::geography);
    new_status := CASE
        WHEN s.n = 0 THEN CASE WHEN h.status = 'closed' THEN 'worked_on' ELSE h.status END
        WHEN rem_m2 < threshold THEN 'closed'
        ELSE 'worked_on' END;
    UPDATE hazard_areas SET
        remaining_geom = rem,
        remaining_m2 = rem_m2,
        cancelled_m2 = s.cancelled,
        reduced_m2 = s.reduced,
        cleared_m2 = s.cleared,
        status = new_status,
        status_date = CASE WHEN new_status <> h.status THEN now() ELSE status_date END,
        status_reason = CASE WHEN new_status = h.status THEN status_reason
                             WHEN new_status = 'closed' THEN 'land release: remaining area below the closure threshold'
                             ELSE 'land release recorded' END,
        version = version + 1,
        updated_at = now(),
        updated_by = coalesce(nullif(current_setting('safeground.actor', true), ''), updated_by)
    WHERE id = p_hazard;
END $$
""",
    """
CREATE FUNCTION land_release_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM hazard_area_recompute(OLD.hazard_area_id);
    ELSIF TG_OP = 'INSERT'
       OR NEW.geom IS DISTINCT FROM OLD.geom
       OR NEW.method IS DISTINCT FROM OLD.method
       OR NEW.area_m2 IS DISTINCT FROM OLD.area_m2
       OR (NEW.review_status = 'rejected') <> (OLD.review_status = 'rejected') THEN
        PERFORM hazard_area_recompute(NEW.hazard_area_id);
    END IF;
    RETURN NULL;
END $$
""",
    # A hazard whose extent is new or changed: its remainder is the extent minus released land.
    """
CREATE FUNCTION hazard_area_fill_remaining() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.area_m2 IS NULL THEN
            NEW.area_m2 := ST_Area(NEW.geom::geography);
        END IF;
        IF NEW.remaining_geom IS NULL THEN
            NEW.remaining_geom := sg_multipolygon(NEW.geom);
        END IF;
        IF NEW.remaining_m2 IS NULL THEN
            NEW.remaining_m2 := ST_Area(NEW.remaining_geom::geography);
        END IF;
    ELSIF NEW.geom IS DISTINCT FROM OLD.geom THEN
        NEW.remaining_geom := hazard_area_remaining(NEW.geom, NEW.id, NULL);
        NEW.remaining_m2 := ST_Area(NEW.remaining_geom::geography);
    END IF;
    RETURN NEW;
END $$
""",
    # The accounting identity, checked at commit (deferred) on every hazard whose figures moved:
    # area = cancelled + reduced + cleared + remaining, the per-method figures equal the sums of
    # its reserving releases, and remaining_m2 is the area of remaining_geom.
    """
CREATE FUNCTION hazard_area_accounting_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tol float8 := sg_setting('accounting_tolerance_m2', 1.0);
    h record;
    s record;
    gap float8;
BEGIN
    IF TG_OP = 'INSERT' THEN
        h := NEW;
    ELSE
        SELECT id, reference, area_m2, cancelled_m2, reduced_m2, cleared_m2, remaining_m2, remaining_geom
        INTO h FROM hazard_areas WHERE id = NEW.id;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
    gap := h.area_m2 - (h.cancelled_m2 + h.reduced_m2 + h.cleared_m2 + h.remaining_m2);
    IF abs(gap) > tol THEN
        RAISE EXCEPTION USING ERRCODE = '23514', MESSAGE = format(
            'Area accounting broken for hazard area %s: area %s m² <> cancelled %s + reduced %s + cleared %s + remaining %s (difference %s m², tolerance %s m²).',
            h.reference, round(h.area_m2::numeric, 2), round(h.cancelled_m2::numeric, 2),
            round(h.reduced_m2::numeric, 2), round(h.cleared_m2::numeric, 2),
            round(h.remaining_m2::numeric, 2), round(gap::numeric, 2), tol);
    END IF;
    IF TG_OP = 'INSERT' THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(sum(area_m2) FILTER (WHERE method = 'cancelled'), 0) AS cancelled,
           coalesce(sum(area_m2) FILTER (WHERE method = 'reduced'), 0) AS reduced,
           coalesce(sum(area_m2) FILTER (WHERE method = 'cleared'), 0) AS cleared
    INTO s FROM land_releases WHERE hazard_area_id = h.id AND review_status <> 'rejected';
    IF abs(s.cancelled - h.cancelled_m2) > tol OR abs(s.reduced - h.reduced_m2) > tol
       OR abs(s.cleared - h.cleared_m2) > tol THEN
        RAISE EXCEPTION USING ERRCODE = '23514', MESSAGE = format(
            'Hazard area %s: cancelled/reduced/cleared %s/%s/%s m² do not match its land releases (%s/%s/%s m²).',
            h.reference, round(h.cancelled_m2::numeric, 2), round(h.reduced_m2::numeric, 2),
            round(h.cleared_m2::numeric, 2), round(s.cancelled::numeric, 2), round(s.reduced::numeric, 2),
            round(s.cleared::numeric, 2));
    END IF;
    IF h.remaining_geom IS NOT NULL AND abs(ST_Area(h.remaining_geom::geography) - h.remaining_m2) > tol THEN
        RAISE EXCEPTION USING ERRCODE = '23514', MESSAGE = format(
            'Hazard area %s: remaining_m2 %s is not the area of its remaining geometry (%s m²).',
            h.reference, round(h.remaining_m2::numeric, 2),
            round(ST_Area(h.remaining_geom::geography)::numeric, 2));
    END IF;
    RETURN NULL;
END $$
""",
    "CREATE TRIGGER land_release_check BEFORE INSERT OR UPDATE ON land_releases "
    "FOR EACH ROW EXECUTE FUNCTION land_release_check()",
    "CREATE TRIGGER land_release_after AFTER INSERT OR UPDATE OR DELETE ON land_releases "
    "FOR EACH ROW EXECUTE FUNCTION land_release_after()",
    "CREATE TRIGGER hazard_area_fill_remaining BEFORE INSERT OR UPDATE OF geom ON hazard_areas "
    "FOR EACH ROW EXECUTE FUNCTION hazard_area_fill_remaining()",
    "CREATE CONSTRAINT TRIGGER hazard_area_accounting_insert AFTER INSERT ON hazard_areas "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hazard_area_accounting_check()",
    "CREATE CONSTRAINT TRIGGER hazard_area_accounting_update AFTER UPDATE ON hazard_areas "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
    "WHEN (OLD.area_m2 IS DISTINCT FROM NEW.area_m2 OR OLD.remaining_m2 IS DISTINCT FROM NEW.remaining_m2 "
    "OR OLD.cancelled_m2 IS DISTINCT FROM NEW.cancelled_m2 OR OLD.reduced_m2 IS DISTINCT FROM NEW.reduced_m2 "
    "OR OLD.cleared_m2 IS DISTINCT FROM NEW.cleared_m2) "
    "EXECUTE FUNCTION hazard_area_accounting_check()",
    # Official figures count approved releases only: summaries read this view.
    """
CREATE VIEW approved_land_releases AS
SELECT * FROM land_releases WHERE review_status = 'approved'
""",
]

DROP_ACCOUNTING_SQL = [
    "DROP VIEW IF EXISTS approved_land_releases",
    "DROP TRIGGER IF EXISTS hazard_area_accounting_update ON hazard_areas",
    "DROP TRIGGER IF EXISTS hazard_area_accounting_insert ON hazard_areas",
    "DROP TRIGGER IF EXISTS hazard_area_fill_remaining ON hazard_areas",
    "DROP TRIGGER IF EXISTS land_release_after ON land_releases",
    "DROP TRIGGER IF EXISTS land_release_check ON land_releases",
    "DROP FUNCTION IF EXISTS hazard_area_accounting_check()",
    "DROP FUNCTION IF EXISTS hazard_area_fill_remaining()",
    "DROP FUNCTION IF EXISTS land_release_after()",
    "DROP FUNCTION IF EXISTS hazard_area_recompute(integer)",
    "DROP FUNCTION IF EXISTS land_release_check()",
    "DROP FUNCTION IF EXISTS land_release_conflict(integer, integer, geometry, geometry)",
    "DROP FUNCTION IF EXISTS hazard_area_remaining(geometry, integer, integer)",
    "DROP FUNCTION IF EXISTS sg_buffer_m(geometry, float8)",
    "DROP FUNCTION IF EXISTS sg_without_specks(geometry, float8)",
    "DROP FUNCTION IF EXISTS sg_multipolygon(geometry)",
    "DROP FUNCTION IF EXISTS sg_setting(text, float8)",
]

# IMAS 07.40-style checklist used when a programme has not configured its own.
DEFAULT_CHECKLIST = [
    ("sop_compliance", "Work complies with the organisation's accredited SOPs"),
    ("national_standards", "Work complies with the national mine action standards"),
    ("supervision", "Supervision is adequate (ratio, presence, section leader on site)"),
    ("equipment", "Equipment is suitable, calibrated and tested daily"),
    ("personnel_qualified", "Personnel are qualified and accredited for their tasks"),
    ("medic_present", "A qualified medic, medical kit and casualty evacuation plan are on site"),
    ("logs_current", "Worksite logs, maps and daily reports are current"),
    ("marking", "Hazard marking and worksite layout (safety distances, control point) are correct"),
    ("communications", "Communications with the casualty evacuation chain work"),
    ("ppe", "Personal protective equipment is worn and in good condition"),
]

# Default post-clearance sampling plan: (min lot m², max lot m², sample %, min sample m²).
DEFAULT_SAMPLING_BANDS = [
    (0, 1_000, 10.0, 50.0),
    (1_000, 10_000, 5.0, 100.0),
    (10_000, 100_000, 2.0, 500.0),
    (100_000, None, 1.0, 2_000.0),
]


def upgrade() -> None:
    op.create_table(
        "qa_checklist_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("items", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programmes.id"],
            name=op.f("fk_qa_checklist_templates_programme_id_programmes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_checklist_templates")),
    )
    op.create_index(
        op.f("ix_qa_checklist_templates_programme_id"),
        "qa_checklist_templates",
        ["programme_id"],
        unique=False,
    )
    op.create_table(
        "qa_sampling_bands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=True),
        sa.Column("min_lot_m2", sa.Float(), nullable=False),
        sa.Column("max_lot_m2", sa.Float(), nullable=True),
        sa.Column("sample_percent", sa.Float(), nullable=False),
        sa.Column("min_sample_m2", sa.Float(), server_default="0", nullable=False),
        sa.Column("cell_side_m", sa.Float(), server_default="10", nullable=False),
        sa.Column("acceptance_number", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("acceptance_number >= 0", name=op.f("ck_qa_sampling_bands_acceptance_number")),
        sa.CheckConstraint("cell_side_m > 0", name=op.f("ck_qa_sampling_bands_cell_side")),
        sa.CheckConstraint(
            "max_lot_m2 IS NULL OR max_lot_m2 > min_lot_m2", name=op.f("ck_qa_sampling_bands_max_lot")
        ),
        sa.CheckConstraint("min_lot_m2 >= 0", name=op.f("ck_qa_sampling_bands_min_lot")),
        sa.CheckConstraint("min_sample_m2 >= 0", name=op.f("ck_qa_sampling_bands_min_sample")),
        sa.CheckConstraint(
            "sample_percent > 0 AND sample_percent <= 100", name=op.f("ck_qa_sampling_bands_sample_percent")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_qa_sampling_bands_programme_id_programmes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_sampling_bands")),
    )
    op.create_index(
        op.f("ix_qa_sampling_bands_programme_id"), "qa_sampling_bands", ["programme_id"], unique=False
    )
    op.create_table(
        "completions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("hazard_area_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("completion_date", sa.Date(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column(
            "participants", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column(
            "area_by_method", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "items_by_category", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("method IN ('cleared', 'reduced')", name=op.f("ck_completions_method")),
        sa.ForeignKeyConstraint(
            ["hazard_area_id"], ["hazard_areas.id"], name=op.f("fk_completions_hazard_area_id_hazard_areas")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_completions_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_completions_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_completions")),
        sa.UniqueConstraint("reference", name=op.f("uq_completions_reference")),
    )
    op.create_index(op.f("ix_completions_hazard_area_id"), "completions", ["hazard_area_id"], unique=False)
    op.create_index(op.f("ix_completions_programme_id"), "completions", ["programme_id"], unique=False)
    op.create_index(op.f("ix_completions_task_id"), "completions", ["task_id"], unique=False)
    op.create_table(
        "progress_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("report_date", sa.Date(), nullable=False),
        sa.Column("items_found", sa.Integer(), server_default="0", nullable=False),
        sa.Column("working_hours", sa.Float(), server_default="0", nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("items_found >= 0", name=op.f("ck_progress_reports_items_found")),
        sa.CheckConstraint(
            "working_hours >= 0 AND working_hours <= 10000", name=op.f("ck_progress_reports_working_hours")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_progress_reports_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_progress_reports_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_reports")),
        sa.UniqueConstraint("task_id", "report_date", name=op.f("uq_progress_reports_task_id")),
    )
    op.create_index(
        op.f("ix_progress_reports_programme_id"), "progress_reports", ["programme_id"], unique=False
    )
    op.create_index(op.f("ix_progress_reports_task_id"), "progress_reports", ["task_id"], unique=False)
    op.create_geospatial_table(
        "land_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("hazard_area_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("activity", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("survey_id", sa.Integer(), nullable=True),
        sa.Column("progress_report_id", sa.Integer(), nullable=True),
        sa.Column("completion_id", sa.Integer(), nullable=True),
        sa.Column("release_date", sa.Date(), nullable=False),
        sa.Column("depth_cm", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "input_geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "submitted_geom",
            Geometry(
                srid=4326, dimension=2, spatial_index=False, from_text="ST_GeomFromEWKT", name="geometry"
            ),
            nullable=True,
        ),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("review_status", sa.Text(), server_default="draft", nullable=False),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.Column("reviewed_by", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rework_required", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "activity IN ('nts', 'ts', 'clearance', 'bac')", name=op.f("ck_land_releases_activity")
        ),
        sa.CheckConstraint(
            "method <> 'cleared' OR depth_cm IS NOT NULL", name=op.f("ck_land_releases_cleared_depth")
        ),
        sa.CheckConstraint(
            "method IN ('cancelled', 'reduced', 'cleared')", name=op.f("ck_land_releases_method")
        ),
        sa.CheckConstraint(
            "review_status IN ('draft', 'submitted', 'approved', 'rejected')",
            name=op.f("ck_land_releases_review_status"),
        ),
        sa.CheckConstraint(
            "depth_cm IS NULL OR depth_cm BETWEEN 1 AND 2000", name=op.f("ck_land_releases_depth_range")
        ),
        sa.ForeignKeyConstraint(
            ["completion_id"], ["completions.id"], name=op.f("fk_land_releases_completion_id_completions")
        ),
        sa.ForeignKeyConstraint(
            ["hazard_area_id"], ["hazard_areas.id"], name=op.f("fk_land_releases_hazard_area_id_hazard_areas")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_land_releases_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_land_releases_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(
            ["progress_report_id"],
            ["progress_reports.id"],
            name=op.f("fk_land_releases_progress_report_id_progress_reports"),
        ),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_land_releases_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_land_releases")),
        sa.UniqueConstraint("reference", name=op.f("uq_land_releases_reference")),
    )
    op.create_geospatial_index(
        "idx_land_releases_geom",
        "land_releases",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_land_releases_completion_id"), "land_releases", ["completion_id"], unique=False)
    op.create_index(
        op.f("ix_land_releases_hazard_area_id"), "land_releases", ["hazard_area_id"], unique=False
    )
    op.create_index(
        op.f("ix_land_releases_organisation_id"), "land_releases", ["organisation_id"], unique=False
    )
    op.create_index(op.f("ix_land_releases_programme_id"), "land_releases", ["programme_id"], unique=False)
    op.create_index(
        op.f("ix_land_releases_progress_report_id"), "land_releases", ["progress_report_id"], unique=False
    )
    op.create_index(op.f("ix_land_releases_release_date"), "land_releases", ["release_date"], unique=False)
    op.create_index(op.f("ix_land_releases_survey_id"), "land_releases", ["survey_id"], unique=False)
    op.create_index(op.f("ix_land_releases_task_id"), "land_releases", ["task_id"], unique=False)
    op.create_geospatial_table(
        "qa_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("activity", sa.Text(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("inspector", sa.Text(), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column(
            "location",
            Geometry(
                srid=4326, dimension=2, spatial_index=False, from_text="ST_GeomFromEWKT", name="geometry"
            ),
            nullable=True,
        ),
        sa.Column("checklist", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("land_release_id", sa.Integer(), nullable=True),
        sa.Column("sample_seed", sa.BigInteger(), nullable=True),
        sa.Column("sample_area_m2", sa.Float(), nullable=True),
        sa.Column("items_found_in_sample", sa.Integer(), nullable=True),
        sa.Column("lot_accepted", sa.Boolean(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "activity IS NULL OR activity IN ('nts', 'ts', 'clearance', 'bac', 'eod', 'mdd', 'mechanical')",
            name=op.f("ck_qa_visits_activity"),
        ),
        sa.CheckConstraint(
            "location IS NULL OR GeometryType(location) IN ('POINT', 'POLYGON', 'MULTIPOLYGON')",
            name=op.f("ck_qa_visits_location_type"),
        ),
        sa.CheckConstraint(
            "result IN ('pass', 'pass_with_findings', 'fail')", name=op.f("ck_qa_visits_result")
        ),
        sa.CheckConstraint(
            "type IN ('accreditation', 'monitoring', 'post_clearance_inspection')",
            name=op.f("ck_qa_visits_type"),
        ),
        sa.ForeignKeyConstraint(
            ["land_release_id"], ["land_releases.id"], name=op.f("fk_qa_visits_land_release_id_land_releases")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_qa_visits_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_qa_visits_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_qa_visits_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_visits")),
        sa.UniqueConstraint("reference", name=op.f("uq_qa_visits_reference")),
    )
    op.create_geospatial_index(
        "idx_qa_visits_location",
        "qa_visits",
        ["location"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_qa_visits_land_release_id"), "qa_visits", ["land_release_id"], unique=False)
    op.create_index(op.f("ix_qa_visits_organisation_id"), "qa_visits", ["organisation_id"], unique=False)
    op.create_index(op.f("ix_qa_visits_programme_id"), "qa_visits", ["programme_id"], unique=False)
    op.create_index(op.f("ix_qa_visits_task_id"), "qa_visits", ["task_id"], unique=False)
    op.create_index(op.f("ix_qa_visits_visit_date"), "qa_visits", ["visit_date"], unique=False)
    op.create_table(
        "qa_non_conformities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("corrective_action", sa.Text(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("corrected_by", sa.Text(), nullable=True),
        sa.Column("correction_note", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Text(), nullable=True),
        sa.Column("closure_note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "severity IN ('critical', 'major', 'minor')", name=op.f("ck_qa_non_conformities_severity")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'corrected', 'closed')", name=op.f("ck_qa_non_conformities_status")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_qa_non_conformities_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_qa_non_conformities_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["qa_visits.id"], name=op.f("fk_qa_non_conformities_visit_id_qa_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_non_conformities")),
        sa.UniqueConstraint("reference", name=op.f("uq_qa_non_conformities_reference")),
    )
    op.create_index(
        op.f("ix_qa_non_conformities_due_date"), "qa_non_conformities", ["due_date"], unique=False
    )
    op.create_index(
        op.f("ix_qa_non_conformities_organisation_id"),
        "qa_non_conformities",
        ["organisation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_qa_non_conformities_programme_id"), "qa_non_conformities", ["programme_id"], unique=False
    )
    op.create_index(
        op.f("ix_qa_non_conformities_visit_id"), "qa_non_conformities", ["visit_id"], unique=False
    )
    op.create_table(
        "rework_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("hazard_area_id", sa.Integer(), nullable=False),
        sa.Column("land_release_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["hazard_area_id"], ["hazard_areas.id"], name=op.f("fk_rework_flags_hazard_area_id_hazard_areas")
        ),
        sa.ForeignKeyConstraint(
            ["land_release_id"],
            ["land_releases.id"],
            name=op.f("fk_rework_flags_land_release_id_land_releases"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_rework_flags_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["qa_visits.id"], name=op.f("fk_rework_flags_visit_id_qa_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rework_flags")),
    )
    op.create_index(op.f("ix_rework_flags_hazard_area_id"), "rework_flags", ["hazard_area_id"], unique=False)
    op.create_index(
        op.f("ix_rework_flags_land_release_id"), "rework_flags", ["land_release_id"], unique=False
    )
    op.create_index(op.f("ix_rework_flags_programme_id"), "rework_flags", ["programme_id"], unique=False)
    op.create_index(op.f("ix_rework_flags_visit_id"), "rework_flags", ["visit_id"], unique=False)
    op.create_table(
        "operation_suspensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("non_conformity_id", sa.Integer(), nullable=False),
        sa.Column("suspended_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("lifted_on", sa.Date(), nullable=True),
        sa.Column("lifted_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["non_conformity_id"],
            ["qa_non_conformities.id"],
            name=op.f("fk_operation_suspensions_non_conformity_id_qa_non_conformities"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_operation_suspensions_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_operation_suspensions_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_operation_suspensions_task_id_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["qa_visits.id"], name=op.f("fk_operation_suspensions_visit_id_qa_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operation_suspensions")),
    )
    op.create_index(
        op.f("ix_operation_suspensions_non_conformity_id"),
        "operation_suspensions",
        ["non_conformity_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_operation_suspensions_programme_id"), "operation_suspensions", ["programme_id"], unique=False
    )
    op.create_index(
        op.f("ix_operation_suspensions_task_id"), "operation_suspensions", ["task_id"], unique=False
    )
    op.create_index(
        op.f("ix_operation_suspensions_visit_id"), "operation_suspensions", ["visit_id"], unique=False
    )
    # ### end Alembic commands ###
    for statement in ACCOUNTING_SQL:
        op.execute(statement)
    for table in AUDITED:
        for statement in audit_trigger_sql(table):
            op.execute(statement)
    templates = sa.table(
        "qa_checklist_templates",
        sa.column("name", sa.Text),
        sa.column("items", postgresql.JSONB),
    )
    op.bulk_insert(
        templates,
        [{"name": "IMAS 07.40 default", "items": [{"code": c, "text": t} for c, t in DEFAULT_CHECKLIST]}],
    )
    bands = sa.table(
        "qa_sampling_bands",
        sa.column("min_lot_m2", sa.Float),
        sa.column("max_lot_m2", sa.Float),
        sa.column("sample_percent", sa.Float),
        sa.column("min_sample_m2", sa.Float),
    )
    op.bulk_insert(
        bands,
        [
            {"min_lot_m2": lo, "max_lot_m2": hi, "sample_percent": pct, "min_sample_m2": mini}
            for lo, hi, pct, mini in DEFAULT_SAMPLING_BANDS
        ],
    )


def downgrade() -> None:
    for statement in DROP_ACCOUNTING_SQL:
        op.execute(statement)
    op.drop_index(op.f("ix_operation_suspensions_visit_id"), table_name="operation_suspensions")
    op.drop_index(op.f("ix_operation_suspensions_task_id"), table_name="operation_suspensions")
    op.drop_index(op.f("ix_operation_suspensions_programme_id"), table_name="operation_suspensions")
    op.drop_index(op.f("ix_operation_suspensions_non_conformity_id"), table_name="operation_suspensions")
    op.drop_table("operation_suspensions")
    op.drop_index(op.f("ix_rework_flags_visit_id"), table_name="rework_flags")
    op.drop_index(op.f("ix_rework_flags_programme_id"), table_name="rework_flags")
    op.drop_index(op.f("ix_rework_flags_land_release_id"), table_name="rework_flags")
    op.drop_index(op.f("ix_rework_flags_hazard_area_id"), table_name="rework_flags")
    op.drop_table("rework_flags")
    op.drop_index(op.f("ix_qa_non_conformities_visit_id"), table_name="qa_non_conformities")
    op.drop_index(op.f("ix_qa_non_conformities_programme_id"), table_name="qa_non_conformities")
    op.drop_index(op.f("ix_qa_non_conformities_organisation_id"), table_name="qa_non_conformities")
    op.drop_index(op.f("ix_qa_non_conformities_due_date"), table_name="qa_non_conformities")
    op.drop_table("qa_non_conformities")
    op.drop_index(op.f("ix_qa_visits_visit_date"), table_name="qa_visits")
    op.drop_index(op.f("ix_qa_visits_task_id"), table_name="qa_visits")
    op.drop_index(op.f("ix_qa_visits_programme_id"), table_name="qa_visits")
    op.drop_index(op.f("ix_qa_visits_organisation_id"), table_name="qa_visits")
    op.drop_index(op.f("ix_qa_visits_land_release_id"), table_name="qa_visits")
    op.drop_geospatial_index(
        "idx_qa_visits_location", table_name="qa_visits", postgresql_using="gist", column_name="location"
    )
    op.drop_geospatial_table("qa_visits")
    op.drop_index(op.f("ix_land_releases_task_id"), table_name="land_releases")
    op.drop_index(op.f("ix_land_releases_survey_id"), table_name="land_releases")
    op.drop_index(op.f("ix_land_releases_release_date"), table_name="land_releases")
    op.drop_index(op.f("ix_land_releases_progress_report_id"), table_name="land_releases")
    op.drop_index(op.f("ix_land_releases_programme_id"), table_name="land_releases")
    op.drop_index(op.f("ix_land_releases_organisation_id"), table_name="land_releases")
    op.drop_index(op.f("ix_land_releases_hazard_area_id"), table_name="land_releases")
    op.drop_index(op.f("ix_land_releases_completion_id"), table_name="land_releases")
    op.drop_geospatial_index(
        "idx_land_releases_geom", table_name="land_releases", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("land_releases")
    op.drop_index(op.f("ix_progress_reports_task_id"), table_name="progress_reports")
    op.drop_index(op.f("ix_progress_reports_programme_id"), table_name="progress_reports")
    op.drop_table("progress_reports")
    op.drop_index(op.f("ix_completions_task_id"), table_name="completions")
    op.drop_index(op.f("ix_completions_programme_id"), table_name="completions")
    op.drop_index(op.f("ix_completions_hazard_area_id"), table_name="completions")
    op.drop_table("completions")
    op.drop_index(op.f("ix_qa_sampling_bands_programme_id"), table_name="qa_sampling_bands")
    op.drop_table("qa_sampling_bands")
    op.drop_index(op.f("ix_qa_checklist_templates_programme_id"), table_name="qa_checklist_templates")
    op.drop_table("qa_checklist_templates")
    # ### end Alembic commands ###
