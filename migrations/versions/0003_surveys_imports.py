"""non-technical survey reports, evidence points, imports

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

from app.audit import audit_trigger_sql, drop_audit_trigger_sql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("layer", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("features", sa.Integer(), nullable=False),
        sa.Column("valid", sa.Integer(), nullable=False),
        sa.Column("repaired", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("layer IN ('hazard_areas', 'evidence_points')", name=op.f("ck_imports_layer")),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_imports_programme_id_programmes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
        sa.UniqueConstraint("programme_id", "layer", "sha256", name=op.f("uq_imports_programme_id")),
    )
    op.create_index(op.f("ix_imports_programme_id"), "imports", ["programme_id"], unique=False)
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("survey_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("location_name", sa.Text(), nullable=True),
        sa.Column("informants_women", sa.Integer(), server_default="0", nullable=False),
        sa.Column("informants_men", sa.Integer(), server_default="0", nullable=False),
        sa.Column("informants_girls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("informants_boys", sa.Integer(), server_default="0", nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("review_status", sa.Text(), server_default="draft", nullable=False),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.Column("reviewed_by", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "method IN ('desk_study', 'community_visit', 'key_informant_interview', 'focus_group', "
            "'site_visit', 'remote_sensing', 'other')",
            name=op.f("ck_surveys_method"),
        ),
        sa.CheckConstraint(
            "review_status IN ('draft', 'submitted', 'approved', 'rejected')",
            name=op.f("ck_surveys_review_status"),
        ),
        sa.CheckConstraint("end_date IS NULL OR end_date >= survey_date", name=op.f("ck_surveys_dates")),
        sa.CheckConstraint(
            "informants_women >= 0 AND informants_men >= 0 AND informants_girls >= 0 AND informants_boys >= 0",
            name=op.f("ck_surveys_informants"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_surveys_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_surveys_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_surveys_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
        sa.UniqueConstraint("reference", name=op.f("uq_surveys_reference")),
    )
    op.create_index(op.f("ix_surveys_organisation_id"), "surveys", ["organisation_id"], unique=False)
    op.create_index(op.f("ix_surveys_programme_id"), "surveys", ["programme_id"], unique=False)
    op.create_index(op.f("ix_surveys_team_id"), "surveys", ["team_id"], unique=False)
    op.create_geospatial_table(
        "evidence_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("evidence_type", sa.Text(), nullable=False),
        sa.Column("direct", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("coordinate_text", sa.Text(), nullable=True),
        sa.Column("coordinate_format", sa.Text(), nullable=True),
        sa.Column("coordinate_crs", sa.Text(), nullable=True),
        sa.Column("precision_m", sa.Float(), nullable=True),
        sa.Column("import_id", sa.BigInteger(), nullable=True),
        sa.Column("source_index", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "evidence_type IN ('mine_seen', 'item_seen', 'accident', 'marking', 'detonation', 'craters', "
            "'scrap', 'fighting', 'unused_land', 'hearsay', 'other')",
            name=op.f("ck_evidence_points_evidence_type"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_evidence_points_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_evidence_points_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_points")),
    )
    op.create_geospatial_index(
        "idx_evidence_points_geom",
        "evidence_points",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_evidence_points_import_id"), "evidence_points", ["import_id"], unique=False)
    op.create_index(
        op.f("ix_evidence_points_programme_id"), "evidence_points", ["programme_id"], unique=False
    )
    op.create_index(op.f("ix_evidence_points_survey_id"), "evidence_points", ["survey_id"], unique=False)
    op.create_table(
        "survey_hazards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("hazard_area_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "hazard_area_id IS NOT NULL OR outcome = 'no_evidence'",
            name=op.f("ck_survey_hazards_hazard_needed"),
        ),
        sa.CheckConstraint(
            "outcome IN ('define_sha', 'define_cha', 'cancel', 'no_evidence')",
            name=op.f("ck_survey_hazards_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["hazard_area_id"],
            ["hazard_areas.id"],
            name=op.f("fk_survey_hazards_hazard_area_id_hazard_areas"),
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_hazards_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_hazards")),
        sa.UniqueConstraint("survey_id", "hazard_area_id", name=op.f("uq_survey_hazards_survey_id")),
    )
    op.create_index(
        op.f("ix_survey_hazards_hazard_area_id"), "survey_hazards", ["hazard_area_id"], unique=False
    )
    op.create_index(op.f("ix_survey_hazards_survey_id"), "survey_hazards", ["survey_id"], unique=False)
    for table in ("surveys", "survey_hazards", "evidence_points"):
        for statement in audit_trigger_sql(table):
            op.execute(statement)
    # The report is kept in the row itself; the log records who imported what and when.
    for statement in audit_trigger_sql("imports", redact=("report",)):
        op.execute(statement)


def downgrade() -> None:
    for table in ("imports", "surveys", "survey_hazards", "evidence_points"):
        for statement in drop_audit_trigger_sql(table):
            op.execute(statement)
    op.drop_index(op.f("ix_survey_hazards_survey_id"), table_name="survey_hazards")
    op.drop_index(op.f("ix_survey_hazards_hazard_area_id"), table_name="survey_hazards")
    op.drop_table("survey_hazards")
    op.drop_index(op.f("ix_evidence_points_survey_id"), table_name="evidence_points")
    op.drop_index(op.f("ix_evidence_points_programme_id"), table_name="evidence_points")
    op.drop_index(op.f("ix_evidence_points_import_id"), table_name="evidence_points")
    op.drop_geospatial_index(
        "idx_evidence_points_geom", table_name="evidence_points", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("evidence_points")
    op.drop_index(op.f("ix_surveys_team_id"), table_name="surveys")
    op.drop_index(op.f("ix_surveys_programme_id"), table_name="surveys")
    op.drop_index(op.f("ix_surveys_organisation_id"), table_name="surveys")
    op.drop_table("surveys")
    op.drop_index(op.f("ix_imports_programme_id"), table_name="imports")
    op.drop_table("imports")
