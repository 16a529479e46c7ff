"""The audit log: one generic mechanism that records every write.

Statement-level triggers with transition tables write one ``audit_log`` row per changed row,
in the same transaction as the write, whoever makes it (API, CLI, bulk SQL import). The
actor comes from the transaction-local setting ``safeground.actor`` (see ``app.db``).
History and "as of" queries of versioned records read this table.

Hazard areas are audited by ``safeground_audit_hex()`` (migrations 0002 and 0010): geometry as
hex EWKB, and an insert logged without a copy of the row, which stays its own record of the
inserted version until its first update or delete logs it as ``before``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_record", "table_name", "record_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str | None] = mapped_column(Text)
    table_name: Mapped[str] = mapped_column(Text)
    record_id: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


AUDIT_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION safeground_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    who text := nullif(current_setting('safeground.actor', true), '');
    -- Trigger arguments name columns kept out of the log (password hashes, token hashes).
    redacted text[] := coalesce(TG_ARGV::text[], '{}');
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit_log (actor, table_name, record_id, action, after)
        SELECT who, TG_TABLE_NAME, n.id::text, 'insert', to_jsonb(n) - redacted FROM new_rows n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO audit_log (actor, table_name, record_id, action, before, after)
        SELECT who, TG_TABLE_NAME, n.id::text, 'update', to_jsonb(o) - redacted, to_jsonb(n) - redacted
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE to_jsonb(o) - redacted IS DISTINCT FROM to_jsonb(n) - redacted;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO audit_log (actor, table_name, record_id, action, before)
        SELECT who, TG_TABLE_NAME, o.id::text, 'delete', to_jsonb(o) - redacted FROM old_rows o;
    END IF;
    RETURN NULL;
END $$;
"""


def audit_trigger_sql(table: str, redact: tuple[str, ...] = ()) -> list[str]:
    """SQL that puts ``table`` (which must have an ``id`` column) under audit.

    Columns named in ``redact`` never reach the log, and a change to them alone is not logged.
    """
    args = ", ".join(f"'{column}'" for column in redact)
    call = f"EXECUTE FUNCTION safeground_audit({args})"
    return [
        f"CREATE TRIGGER {table}_audit_insert AFTER INSERT ON {table} "
        f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT {call}",
        f"CREATE TRIGGER {table}_audit_update AFTER UPDATE ON {table} "
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT {call}",
        f"CREATE TRIGGER {table}_audit_delete AFTER DELETE ON {table} "
        f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT {call}",
    ]


def drop_audit_trigger_sql(table: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {table}_audit_{op} ON {table}" for op in ("insert", "update", "delete")]
