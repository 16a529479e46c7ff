"""hazard areas: keyset index, and a faster audit for geometry tables

The hazard_areas table itself is created by the foundation (0001). Here:

* ``ix_hazard_areas_programme_id_id`` — the list endpoint pages by id within programmes.
* ``safeground_audit_hex()`` — the same audit rows as ``safeground_audit()`` (app/audit.py),
  but geometry columns are logged as hex EWKB text instead of going through PostGIS's
  geometry→json cast (GeoJSON with 15 digits), which made auditing a 50,000-polygon import
  take longer than the import itself. ``jsonb_populate_record(NULL::hazard_areas, after)``
  reads either form back, so history and "as of" queries work on both. The hazard_areas
  audit triggers are switched to it, leaving out ``remaining_geom`` (derived from geom and
  the land releases, which are audited themselves).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

from app.audit import audit_trigger_sql, drop_audit_trigger_sql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# No '%' in here: the statement goes through the DB-API's parameter formatting.
AUDIT_HEX_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION safeground_audit_hex() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    who text := nullif(current_setting('safeground.actor', true), '');
    redacted text[] := coalesce(TG_ARGV::text[], '{}');
    cols text;
BEGIN
    -- The table's columns but the redacted ones, geometry/geography as text (hex EWKB), looked
    -- up once per statement.
    SELECT string_agg(
               CASE WHEN t.typname IN ('geometry', 'geography')
                    THEN quote_ident(a.attname) || '::text AS ' || quote_ident(a.attname)
                    ELSE quote_ident(a.attname) END,
               ', ' ORDER BY a.attnum)
      INTO cols
      FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped
       AND NOT a.attname::text = ANY(redacted);
    IF TG_OP = 'INSERT' THEN
        EXECUTE 'INSERT INTO audit_log (actor, table_name, record_id, action, after) '
             || 'SELECT $1, $2, n.id::text, ''insert'', to_jsonb(n) - $3 FROM (SELECT '
             || cols || ' FROM new_rows) n'
        USING who, TG_TABLE_NAME, redacted;
    ELSIF TG_OP = 'UPDATE' THEN
        EXECUTE 'INSERT INTO audit_log (actor, table_name, record_id, action, before, after) '
             || 'SELECT $1, $2, n.id::text, ''update'', to_jsonb(o) - $3, to_jsonb(n) - $3 '
             || 'FROM (SELECT ' || cols || ' FROM new_rows) n '
             || 'JOIN (SELECT ' || cols || ' FROM old_rows) o ON o.id = n.id '
             || 'WHERE to_jsonb(o) - $3 IS DISTINCT FROM to_jsonb(n) - $3'
        USING who, TG_TABLE_NAME, redacted;
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE 'INSERT INTO audit_log (actor, table_name, record_id, action, before) '
             || 'SELECT $1, $2, o.id::text, ''delete'', to_jsonb(o) - $3 FROM (SELECT '
             || cols || ' FROM old_rows) o'
        USING who, TG_TABLE_NAME, redacted;
    END IF;
    RETURN NULL;
END $$;
"""


# remaining_geom is derived (the extent minus approved land releases, both audited) and starts
# as a copy of geom: logging it would double the audit volume of every import for nothing.
HAZARD_AUDIT_REDACT = ("remaining_geom",)


def _hex_triggers(table: str, redact: tuple[str, ...] = ()) -> list[str]:
    return [s.replace("safeground_audit(", "safeground_audit_hex(") for s in audit_trigger_sql(table, redact)]


# The audit rows of geometry tables are large (hex EWKB in JSON, above the TOAST threshold), so
# PostgreSQL compresses them: lz4 does it about 3x faster than the default pglz (an import of
# 50,000 polygons: 2.3 s -> 0.8 s) for about the same size. Same rows, same reads; servers
# built without lz4 keep pglz.
def _audit_compression(method: str) -> str:
    return f"""
DO $$ BEGIN
    ALTER TABLE audit_log ALTER COLUMN before SET COMPRESSION {method};
    ALTER TABLE audit_log ALTER COLUMN after SET COMPRESSION {method};
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 not available: audit_log keeps the default compression';
END $$
"""


def upgrade() -> None:
    op.create_index("ix_hazard_areas_programme_id_id", "hazard_areas", ["programme_id", "id"], unique=False)
    op.execute(_audit_compression("lz4"))
    op.execute(AUDIT_HEX_FUNCTION_SQL)
    for statement in drop_audit_trigger_sql("hazard_areas"):
        op.execute(statement)
    for statement in _hex_triggers("hazard_areas", HAZARD_AUDIT_REDACT):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_audit_trigger_sql("hazard_areas"):
        op.execute(statement)
    for statement in audit_trigger_sql("hazard_areas"):
        op.execute(statement)
    op.execute("DROP FUNCTION IF EXISTS safeground_audit_hex()")
    op.execute(_audit_compression("default"))
    op.drop_index("ix_hazard_areas_programme_id_id", table_name="hazard_areas")
