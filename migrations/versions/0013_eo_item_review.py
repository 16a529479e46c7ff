"""EOD items: a review status, so that only approved finds reach partners and official figures

Items were counted as soon as a team reported them (domain: "only approved data reaches partners
and official summaries"). An item now enters as ``submitted``; a coordinator or an admin approves
or rejects it. Items already recorded were counted as they stood: they become ``approved``, and
the summary's ``as_of`` reads an audit row from before this column (which has no review status)
as approved too.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "eo_items", sa.Column("review_status", sa.Text(), nullable=False, server_default="approved")
    )
    op.alter_column("eo_items", "review_status", server_default="submitted")
    op.add_column("eo_items", sa.Column("review_reason", sa.Text(), nullable=True))
    op.add_column("eo_items", sa.Column("reviewed_by", sa.Text(), nullable=True))
    op.add_column("eo_items", sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_eo_items_review_status"),
        "eo_items",
        "review_status IN ('submitted', 'approved', 'rejected')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_eo_items_review_status"), "eo_items", type_="check")
    for column in ("reviewed_at", "reviewed_by", "review_reason", "review_status"):
        op.drop_column("eo_items", column)
