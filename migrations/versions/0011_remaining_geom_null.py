"""hazard areas: the remaining geometry is NULL while the whole extent remains

``remaining_geom`` is what is left of a hazard area once land is released: on insert it was a
copy of ``geom``, so every hazard area stored its polygon twice, in the row and in the second
spatial index. That copy was 40 % of an import's rows (738 of 1,924 bytes on average) and
about a third of the time of the INSERT of 50,000 polygons (measured on the benchmark's file:
3.4-4.2 s with the copy, 2.1-3.1 s without, alternating).

Now an insert leaves it NULL, which means "nothing released yet: the whole extent remains";
``remaining_m2`` is then the area. The first land release writes the real remaining geometry
(``hazard_area_recompute``, unchanged). Readers use ``coalesce(remaining_geom, geom)``. The
accounting check adds the rule that goes with it: with no remaining geometry, the remaining
area is the area. Rows stored before keep their copy: both forms are right.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL_REMAINING = """
CREATE OR REPLACE FUNCTION hazard_area_fill_remaining() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.area_m2 IS NULL THEN
            NEW.area_m2 := ST_Area(NEW.geom::geography);
        END IF;
        -- A NULL remaining geometry is the whole extent (nothing released yet).
        IF NEW.remaining_m2 IS NULL THEN
            NEW.remaining_m2 := coalesce(ST_Area(NEW.remaining_geom::geography), NEW.area_m2);
        END IF;
    ELSIF NEW.geom IS DISTINCT FROM OLD.geom THEN
        NEW.remaining_geom := hazard_area_remaining(NEW.geom, NEW.id, NULL);
        NEW.remaining_m2 := ST_Area(NEW.remaining_geom::geography);
    END IF;
    RETURN NEW;
END $$
"""

ACCOUNTING_CHECK = """
CREATE OR REPLACE FUNCTION hazard_area_accounting_check() RETURNS trigger LANGUAGE plpgsql AS $$
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
    -- No remaining geometry means the whole extent remains (0011).
    IF h.remaining_geom IS NULL AND abs(h.area_m2 - h.remaining_m2) > tol THEN
        RAISE EXCEPTION USING ERRCODE = '23514', MESSAGE = format(
            'Hazard area %s: remaining_m2 %s is not its area (%s m²), yet its remaining geometry is the whole extent.',
            h.reference, round(h.remaining_m2::numeric, 2), round(h.area_m2::numeric, 2));
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
"""

# The insert trigger of 0009 fired when remaining_geom was NULL, to fill it in: no longer needed.
FILL_ON_INSERT = (
    "CREATE TRIGGER hazard_area_fill_remaining_insert BEFORE INSERT ON hazard_areas FOR EACH ROW "
    "WHEN (NEW.area_m2 IS NULL OR NEW.remaining_m2 IS NULL) "
    "EXECUTE FUNCTION hazard_area_fill_remaining()"
)

# -- downgrade: as 0005 and 0009 made them, with every remaining geometry written out -------------
FILL_REMAINING_0005 = """
CREATE OR REPLACE FUNCTION hazard_area_fill_remaining() RETURNS trigger LANGUAGE plpgsql AS $$
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
"""

ACCOUNTING_CHECK_0005 = """
CREATE OR REPLACE FUNCTION hazard_area_accounting_check() RETURNS trigger LANGUAGE plpgsql AS $$
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
"""

FILL_ON_INSERT_0009 = (
    "CREATE TRIGGER hazard_area_fill_remaining_insert BEFORE INSERT ON hazard_areas FOR EACH ROW "
    "WHEN (NEW.area_m2 IS NULL OR NEW.remaining_geom IS NULL OR NEW.remaining_m2 IS NULL) "
    "EXECUTE FUNCTION hazard_area_fill_remaining()"
)


def upgrade() -> None:
    op.execute(FILL_REMAINING)
    op.execute(ACCOUNTING_CHECK)
    op.execute("DROP TRIGGER hazard_area_fill_remaining_insert ON hazard_areas")
    op.execute(FILL_ON_INSERT)


def downgrade() -> None:
    op.execute("UPDATE hazard_areas SET remaining_geom = sg_multipolygon(geom) WHERE remaining_geom IS NULL")
    op.execute("DROP TRIGGER hazard_area_fill_remaining_insert ON hazard_areas")
    op.execute(FILL_ON_INSERT_0009)
    op.execute(ACCOUNTING_CHECK_0005)
    op.execute(FILL_REMAINING_0005)
