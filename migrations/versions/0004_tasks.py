"""tasks, status history, EOD items and the explosive-ordnance catalogue

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from app.audit import audit_trigger_sql, drop_audit_trigger_sql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDITED = ("tasks", "task_hazards", "task_status_history", "eo_catalogue", "eo_items")

# The explosive-ordnance catalogue (IMAS categories, IMSMA-style subcategories), as of this
# revision. (category, subcategory or None, name, report group). The report group is the column
# authority and treaty reports count the item in; CMR (submunitions) are kept apart.
EO_CATALOGUE: list[tuple[str, str | None, str, str]] = [
    ("ap_mine", None, "Anti-personnel mine", "ap_mines"),
    ("ap_mine", "blast", "AP blast mine", "ap_mines"),
    ("ap_mine", "fragmentation", "AP fragmentation mine", "ap_mines"),
    ("ap_mine", "bounding_fragmentation", "AP bounding fragmentation mine", "ap_mines"),
    ("ap_mine", "directional_fragmentation", "AP directional fragmentation mine", "ap_mines"),
    ("ap_mine", "improvised", "AP mine of improvised nature", "ap_mines"),
    ("at_mine", None, "Anti-tank mine", "at_mines"),
    ("at_mine", "blast", "AT blast mine", "at_mines"),
    ("at_mine", "shaped_charge", "AT shaped-charge mine", "at_mines"),
    ("at_mine", "off_route", "AT off-route mine", "at_mines"),
    ("submunition", None, "Submunition (cluster munition remnant)", "submunitions"),
    ("submunition", "bomblet", "Air-dropped bomblet", "submunitions"),
    ("submunition", "dpicm", "Dual-purpose improved conventional munition", "submunitions"),
    ("submunition", "container", "Cluster munition container / dispenser", "submunitions"),
    ("projectile", None, "Projectile", "other_uxo"),
    ("projectile", "artillery", "Artillery projectile", "other_uxo"),
    ("projectile", "tank", "Tank projectile", "other_uxo"),
    ("projectile", "anti_aircraft", "Anti-aircraft projectile", "other_uxo"),
    ("mortar", None, "Mortar bomb", "other_uxo"),
    ("mortar", "60mm", "60 mm mortar bomb", "other_uxo"),
    ("mortar", "81_82mm", "81/82 mm mortar bomb", "other_uxo"),
    ("mortar", "120mm", "120 mm mortar bomb", "other_uxo"),
    ("grenade", None, "Grenade", "other_uxo"),
    ("grenade", "hand", "Hand grenade", "other_uxo"),
    ("grenade", "rifle", "Rifle grenade", "other_uxo"),
    ("grenade", "launcher", "Launcher grenade (40 mm)", "other_uxo"),
    ("rocket", None, "Rocket or missile", "other_uxo"),
    ("rocket", "rpg", "Rocket-propelled grenade", "other_uxo"),
    ("rocket", "artillery", "Artillery rocket", "other_uxo"),
    ("rocket", "missile", "Guided missile", "other_uxo"),
    ("aircraft_bomb", None, "Aircraft bomb", "other_uxo"),
    ("aircraft_bomb", "general_purpose", "General-purpose bomb", "other_uxo"),
    ("aircraft_bomb", "guided", "Guided bomb", "other_uxo"),
    ("ied", None, "Improvised explosive device", "ied"),
    ("ied", "victim_operated", "Victim-operated IED", "ied"),
    ("ied", "command_operated", "Command-operated IED", "ied"),
    ("ied", "time_operated", "Time-operated IED", "ied"),
    ("small_arms_ammunition", None, "Small-arms ammunition", "small_arms_ammunition"),
    ("fuze", None, "Fuze", "other_uxo"),
    ("explosive", None, "Bulk explosive / charge", "other_uxo"),
    ("other_uxo", None, "Other unexploded ordnance", "other_uxo"),
    ("axo", None, "Abandoned explosive ordnance", "other_uxo"),
]


def _point_column(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name,
        Geometry(
            geometry_type="POINT",
            srid=4326,
            dimension=2,
            spatial_index=False,
            from_text="ST_GeomFromEWKT",
            name="geometry",
        ),
        nullable=True,
    )


def upgrade() -> None:
    op.create_table(
        "eo_catalogue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("subcategory", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("report_group", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eo_catalogue")),
        sa.UniqueConstraint("category", "subcategory", name=op.f("uq_eo_catalogue_category")),
    )
    op.create_index(
        "uq_eo_catalogue_category_only",
        "eo_catalogue",
        ["category"],
        unique=True,
        postgresql_where="subcategory IS NULL",
    )
    op.create_geospatial_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="planned", nullable=False),
        sa.Column("priority", sa.Integer(), server_default="3", nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        _point_column("point"),
        sa.Column("location_input", sa.Text(), nullable=True),
        sa.Column("location_format", sa.Text(), nullable=True),
        sa.Column("location_crs", sa.Text(), nullable=True),
        sa.Column("planned_start", sa.Date(), nullable=True),
        sa.Column("planned_end", sa.Date(), nullable=True),
        sa.Column("actual_start", sa.Date(), nullable=True),
        sa.Column("actual_end", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('planned', 'assigned', 'in_progress', 'suspended', 'completed', 'cancelled')",
            name=op.f("ck_tasks_status"),
        ),
        sa.CheckConstraint(
            "type IN ('nts', 'ts', 'clearance', 'bac', 'eod_spot', 'qa')", name=op.f("ck_tasks_type")
        ),
        sa.CheckConstraint(
            "actual_end IS NULL OR actual_start IS NULL OR actual_end >= actual_start",
            name=op.f("ck_tasks_actual_dates"),
        ),
        sa.CheckConstraint(
            "planned_end IS NULL OR planned_start IS NULL OR planned_end >= planned_start",
            name=op.f("ck_tasks_planned_dates"),
        ),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name=op.f("ck_tasks_priority")),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_tasks_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_tasks_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_tasks_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("reference", name=op.f("uq_tasks_reference")),
    )
    op.create_geospatial_index(
        "idx_tasks_point", "tasks", ["point"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_tasks_organisation_id"), "tasks", ["organisation_id"], unique=False)
    op.create_index(op.f("ix_tasks_programme_id"), "tasks", ["programme_id"], unique=False)
    op.create_index(op.f("ix_tasks_status"), "tasks", ["status"], unique=False)
    op.create_index(op.f("ix_tasks_team_id"), "tasks", ["team_id"], unique=False)
    op.create_geospatial_table(
        "eo_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("catalogue_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("condition", sa.Text(), nullable=True),
        sa.Column("fuze", sa.Text(), nullable=True),
        sa.Column("depth_cm", sa.Integer(), nullable=True),
        sa.Column("disposal_method", sa.Text(), nullable=False),
        sa.Column("found_on", sa.Date(), nullable=False),
        _point_column("location"),
        sa.Column("location_input", sa.Text(), nullable=True),
        sa.Column("location_format", sa.Text(), nullable=True),
        sa.Column("location_crs", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "condition IS NULL OR condition IN ('intact', 'armed', 'damaged', 'fuzed', 'unfuzed', 'unknown')",
            name=op.f("ck_eo_items_condition"),
        ),
        sa.CheckConstraint(
            "disposal_method IN ('destroyed_in_situ', 'removed_and_destroyed', 'rendered_safe', 'handed_over')",
            name=op.f("ck_eo_items_disposal_method"),
        ),
        sa.CheckConstraint("depth_cm IS NULL OR depth_cm >= 0", name=op.f("ck_eo_items_depth")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_eo_items_quantity")),
        sa.ForeignKeyConstraint(
            ["catalogue_id"], ["eo_catalogue.id"], name=op.f("fk_eo_items_catalogue_id_eo_catalogue")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_eo_items_programme_id_programmes")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_eo_items_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eo_items")),
    )
    op.create_geospatial_index(
        "idx_eo_items_location",
        "eo_items",
        ["location"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_eo_items_catalogue_id"), "eo_items", ["catalogue_id"], unique=False)
    op.create_index(op.f("ix_eo_items_programme_id"), "eo_items", ["programme_id"], unique=False)
    op.create_index(op.f("ix_eo_items_task_id"), "eo_items", ["task_id"], unique=False)
    op.create_table(
        "task_hazards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("hazard_area_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hazard_area_id"], ["hazard_areas.id"], name=op.f("fk_task_hazards_hazard_area_id_hazard_areas")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_hazards_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_hazards")),
        sa.UniqueConstraint("task_id", "hazard_area_id", name=op.f("uq_task_hazards_task_id")),
    )
    op.create_index(op.f("ix_task_hazards_hazard_area_id"), "task_hazards", ["hazard_area_id"], unique=False)
    op.create_index(op.f("ix_task_hazards_task_id"), "task_hazards", ["task_id"], unique=False)
    op.create_table(
        "task_status_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changed_by", sa.Text(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "to_status IN ('planned', 'assigned', 'in_progress', 'suspended', 'completed', 'cancelled')",
            name=op.f("ck_task_status_history_to_status"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_status_history_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_status_history")),
    )
    op.create_index("ix_task_status_history_task", "task_status_history", ["task_id", "id"], unique=False)

    catalogue = sa.table(
        "eo_catalogue",
        sa.column("category", sa.Text()),
        sa.column("subcategory", sa.Text()),
        sa.column("name", sa.Text()),
        sa.column("report_group", sa.Text()),
    )
    op.bulk_insert(
        catalogue,
        [{"category": c, "subcategory": s, "name": n, "report_group": g} for c, s, n, g in EO_CATALOGUE],
    )
    # Triggers after the seed: the catalogue's origin is this migration, not a user.
    for table in AUDITED:
        for statement in audit_trigger_sql(table):
            op.execute(statement)


def downgrade() -> None:
    for table in AUDITED:
        for statement in drop_audit_trigger_sql(table):
            op.execute(statement)
    op.drop_index("ix_task_status_history_task", table_name="task_status_history")
    op.drop_table("task_status_history")
    op.drop_index(op.f("ix_task_hazards_task_id"), table_name="task_hazards")
    op.drop_index(op.f("ix_task_hazards_hazard_area_id"), table_name="task_hazards")
    op.drop_table("task_hazards")
    op.drop_index(op.f("ix_eo_items_task_id"), table_name="eo_items")
    op.drop_index(op.f("ix_eo_items_programme_id"), table_name="eo_items")
    op.drop_index(op.f("ix_eo_items_catalogue_id"), table_name="eo_items")
    op.drop_geospatial_index(
        "idx_eo_items_location", table_name="eo_items", postgresql_using="gist", column_name="location"
    )
    op.drop_geospatial_table("eo_items")
    op.drop_index(op.f("ix_tasks_team_id"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_status"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_programme_id"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_organisation_id"), table_name="tasks")
    op.drop_geospatial_index(
        "idx_tasks_point", table_name="tasks", postgresql_using="gist", column_name="point"
    )
    op.drop_geospatial_table("tasks")
    op.drop_index("uq_eo_catalogue_category_only", table_name="eo_catalogue")
    op.drop_table("eo_catalogue")
