"""land release summaries

Two SQL helpers used by the summary SQL (clearance/reports/service.py, the one place where the
figures are defined): the contamination key of a hazard area, and a table's rows as they stood
at a moment, rebuilt from the audit log. No tables: summaries are computed from the records.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE_SQL = [
    # One label per hazard area for grouping by contamination type: its distinct types, sorted,
    # joined with '+' ("AP", "AP+AT", "CMR"); 'none' when no type is recorded. Every hazard area
    # has exactly one key, so groups add up to the totals.
    """
CREATE FUNCTION sg_contamination_key(types text[]) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(nullif(array_to_string(
        ARRAY(SELECT DISTINCT t FROM unnest(types) t WHERE t IS NOT NULL ORDER BY t), '+'), ''), 'none')
$$
""",
    # The last audited version (the full row as JSONB) of every record of ``table_name`` that
    # existed at ``as_of``: inserted or updated at or before it, and not deleted since.
    """
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
""",
]

DOWNGRADE_SQL = [
    "DROP FUNCTION IF EXISTS sg_rows_as_of(text, timestamptz)",
    "DROP FUNCTION IF EXISTS sg_contamination_key(text[])",
]


def upgrade() -> None:
    for statement in UPGRADE_SQL:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE_SQL:
        op.execute(statement)
