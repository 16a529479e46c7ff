"""hazard areas: drop ix_hazard_areas_programme_id, a copy of the front of another index

``ix_hazard_areas_programme_id`` (``programme_id``) answers nothing that
``ix_hazard_areas_programme_id_id`` (``programme_id, id``, migration 0002) does not: PostgreSQL
uses the leading column of a b-tree for the same lookups (a programme's hazards, the foreign
key's checks when a programme is deleted). Every insert and every update of a hazard area still
paid for it: about 50,000 index entries per large import.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_hazard_areas_programme_id", table_name="hazard_areas")


def downgrade() -> None:
    op.create_index("ix_hazard_areas_programme_id", "hazard_areas", ["programme_id"], unique=False)
