"""audit: an insert into hazard_areas logs who inserted which row and when, not a copy of it

Until now every inserted hazard area was copied whole into ``audit_log.after`` (hex EWKB in
JSONB): for a 50,000-polygon import that was 2.3 of the INSERT's 5.3 s and doubled what the
import wrote. The copy said nothing the log did not hold anyway:

* until a row first changes, the row itself is exactly what was inserted;
* its first update (or delete) logs it whole, as ``before``: that is the inserted version.

So ``safeground_audit_hex()`` (used by hazard_areas) now logs an insert as who, when, table,
record and action, with ``after`` NULL. Nothing is lost: every version of every row is still in
the log or in the table. Updates and deletes are logged as before, and other tables (audited by
``safeground_audit()``) are unchanged. Audit rows written before this migration keep their copy.

Readers take an insert's row from wherever it is: the row's ``after`` if logged, else the
``before`` of the record's next change, else the live row (``sg_audit_columns`` gives the live
row the audit log's form: geometry as hex EWKB text). ``sg_rows_as_of`` does so here; the hazard
history and the hazard list's ``as_of`` in ``survey/service.py``.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# No percent signs in these statements: they go through the DB-API's parameter formatting.

# The select list that gives a row of ``rel`` as the audit log stores it: every column but the
# redacted ones, geometry/geography as text (hex EWKB).
AUDIT_COLUMNS_SQL = """
CREATE FUNCTION sg_audit_columns(rel regclass, redacted text[]) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT string_agg(
               CASE WHEN t.typname IN ('geometry', 'geography')
                    THEN quote_ident(a.attname) || '::text AS ' || quote_ident(a.attname)
                    ELSE quote_ident(a.attname) END,
               ', ' ORDER BY a.attnum)
      FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
       AND NOT a.attname::text = ANY(redacted)
$$
"""

AUDIT_HEX_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION safeground_audit_hex() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    who text := nullif(current_setting('safeground.actor', true), '');
    redacted text[] := coalesce(TG_ARGV::text[], '{}');
    cols text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- Who inserted which rows, and when. The rows themselves are not copied: each is its own
        -- record of what was inserted until its first update or delete, which logs it whole.
        INSERT INTO audit_log (actor, table_name, record_id, action)
        SELECT who, TG_TABLE_NAME, n.id::text, 'insert' FROM new_rows n;
        RETURN NULL;
    END IF;
    cols := sg_audit_columns(TG_RELID, redacted);
    IF TG_OP = 'UPDATE' THEN
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
END $$
"""

# Each record of ``table_name`` that existed at ``as_of``, as it stood then (JSONB, in the audit
# log's form): its last logged version at or before then, and for an insert logged without its
# row, the ``before`` of the record's next change or else the live row.
ROWS_AS_OF_SQL = """
CREATE OR REPLACE FUNCTION sg_rows_as_of(table_name text, as_of timestamptz) RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    id_type text := (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                      WHERE attrelid = table_name::regclass AND attname = 'id');
BEGIN
    RETURN QUERY EXECUTE
        'SELECT coalesce(s.after, '
     || '    (SELECT n.before FROM audit_log n WHERE n.table_name = $1 AND n.record_id = s.record_id '
     || '      AND n.id > s.id ORDER BY n.id LIMIT 1), '
     || '    (SELECT to_jsonb(t) FROM (SELECT ' || sg_audit_columns(table_name::regclass, '{}')
     || '       FROM ' || quote_ident(table_name) || ' WHERE id = s.record_id::' || id_type || ') t)) '
     || 'FROM (SELECT DISTINCT ON (a.record_id) a.id, a.record_id, a.action, a.after FROM audit_log a '
     || '      WHERE a.table_name = $1 AND a.changed_at <= $2 ORDER BY a.record_id, a.id DESC) s '
     || 'WHERE s.action <> ''delete'''
    USING table_name, as_of;
END $$
"""

# -- downgrade: as 0002 and 0007 made them, after giving lean insert rows their copy back ----------
BACKFILL_SQL = """
DO $$ BEGIN
    EXECUTE 'UPDATE audit_log a SET after = coalesce('
         || '    (SELECT n.before FROM audit_log n WHERE n.table_name = a.table_name '
         || '      AND n.record_id = a.record_id AND n.id > a.id ORDER BY n.id LIMIT 1), '
         || '    (SELECT to_jsonb(t) FROM (SELECT '
         || sg_audit_columns('hazard_areas'::regclass, ARRAY['remaining_geom'])
         || '       FROM hazard_areas WHERE id = a.record_id::int) t)) '
         || 'WHERE a.table_name = ''hazard_areas'' AND a.action = ''insert'' AND a.after IS NULL';
END $$
"""

AUDIT_HEX_FUNCTION_0002 = """
CREATE OR REPLACE FUNCTION safeground_audit_hex() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    who text := nullif(current_setting('safeground.actor', true), '');
    redacted text[] := coalesce(TG_ARGV::text[], '{}');
    cols text;
BEGIN
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
END $$
"""

ROWS_AS_OF_0007 = """
DROP FUNCTION sg_rows_as_of(text, timestamptz);
CREATE FUNCTION sg_rows_as_of(table_name text, as_of timestamptz) RETURNS SETOF jsonb
LANGUAGE sql STABLE AS $$
    SELECT s.after FROM (
        SELECT DISTINCT ON (a.record_id) a.action, a.after
        FROM audit_log a
        WHERE a.table_name = sg_rows_as_of.table_name AND a.changed_at <= sg_rows_as_of.as_of
        ORDER BY a.record_id, a.id DESC
    ) s
    WHERE s.action <> 'delete'
$$
"""


def upgrade() -> None:
    op.execute(AUDIT_COLUMNS_SQL)
    op.execute(AUDIT_HEX_FUNCTION_SQL)
    op.execute("DROP FUNCTION sg_rows_as_of(text, timestamptz)")
    op.execute(ROWS_AS_OF_SQL)


def downgrade() -> None:
    op.execute(BACKFILL_SQL)
    op.execute(ROWS_AS_OF_0007)
    op.execute(AUDIT_HEX_FUNCTION_0002)
    op.execute("DROP FUNCTION sg_audit_columns(regclass, text[])")
