"""Tasks (the unit of planned work), their status history, and explosive ordnance items found."""

from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Versioned

TASK_TYPES = ("nts", "ts", "clearance", "bac", "eod_spot", "qa")
TASK_STATUSES = ("planned", "assigned", "in_progress", "suspended", "completed", "cancelled")
# A task in one of these states holds its hazard areas and its team.
ACTIVE_STATUSES = ("planned", "assigned", "in_progress", "suspended")
# Items found are reported on tasks that dig or respond to call-outs.
ITEM_TASK_TYPES = ("eod_spot", "clearance", "bac", "ts")
DISPOSAL_METHODS = ("destroyed_in_situ", "removed_and_destroyed", "rendered_safe", "handed_over")
ITEM_CONDITIONS = ("intact", "armed", "damaged", "fuzed", "unfuzed", "unknown")
ITEM_REVIEW_STATUSES = ("submitted", "approved", "rejected")
LOCATION_FORMATS = ("geojson", "mgrs", "utm", "dd", "dms")


class Task(Versioned, Base):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("reference"),
        CheckConstraint(f"type IN {TASK_TYPES!r}", name="type"),
        CheckConstraint(f"status IN {TASK_STATUSES!r}", name="status"),
        CheckConstraint(
            "planned_end IS NULL OR planned_start IS NULL OR planned_end >= planned_start",
            name="planned_dates",
        ),
        CheckConstraint(
            "actual_end IS NULL OR actual_start IS NULL OR actual_end >= actual_start", name="actual_dates"
        ),
        CheckConstraint("priority BETWEEN 1 AND 5", name="priority"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    reference: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="planned", server_default="planned", index=True)
    # 1 = most urgent … 5 = least.
    priority: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    # An EOD spot task targets a point instead of hazard areas. The call-out location is kept
    # exactly as it was typed (MGRS, UTM, degrees or GeoJSON) beside the normalised point.
    point: Mapped[WKBElement | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    location_input: Mapped[str | None] = mapped_column(Text)
    location_format: Mapped[str | None] = mapped_column(Text)
    location_crs: Mapped[str | None] = mapped_column(Text)
    planned_start: Mapped[date | None] = mapped_column(Date)
    planned_end: Mapped[date | None] = mapped_column(Date)
    actual_start: Mapped[date | None] = mapped_column(Date)
    actual_end: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)


class TaskHazard(Base):
    """The hazard areas a task targets (an ``id`` of its own so the audit log can name the row)."""

    __tablename__ = "task_hazards"
    __table_args__ = (UniqueConstraint("task_id", "hazard_area_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    hazard_area_id: Mapped[int] = mapped_column(ForeignKey("hazard_areas.id"), index=True)


class TaskStatusChange(Base):
    """Every move of a task's status: who, when, why, from and to. Never updated or deleted."""

    __tablename__ = "task_status_history"
    __table_args__ = (
        CheckConstraint(f"to_status IN {TASK_STATUSES!r}", name="to_status"),
        Index("ix_task_status_history_task", "task_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    # NULL for the creation of the task.
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EoCatalogueEntry(Base):
    """The explosive-ordnance catalogue: IMAS categories and their subcategories.

    A row with ``subcategory`` NULL is the category itself. ``report_group`` is the column the
    item is counted in by authority and treaty reports (AP mines, AT mines, submunitions, …).
    """

    __tablename__ = "eo_catalogue"
    __table_args__ = (
        UniqueConstraint("category", "subcategory"),
        # The plain unique constraint does not stop two NULL-subcategory rows.
        Index(
            "uq_eo_catalogue_category_only",
            "category",
            unique=True,
            postgresql_where="subcategory IS NULL",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(Text)
    subcategory: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    report_group: Mapped[str] = mapped_column(Text)


class EoItem(Base):
    """Explosive ordnance found on a task (one row per kind of item and find)."""

    __tablename__ = "eo_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("depth_cm IS NULL OR depth_cm >= 0", name="depth"),
        CheckConstraint(f"disposal_method IN {DISPOSAL_METHODS!r}", name="disposal_method"),
        CheckConstraint(f"condition IS NULL OR condition IN {ITEM_CONDITIONS!r}", name="condition"),
        CheckConstraint(f"review_status IN {ITEM_REVIEW_STATUSES!r}", name="review_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    catalogue_id: Mapped[int] = mapped_column(ForeignKey("eo_catalogue.id"), index=True)
    model: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[int] = mapped_column(Integer)
    condition: Mapped[str | None] = mapped_column(Text)
    fuze: Mapped[str | None] = mapped_column(Text)
    depth_cm: Mapped[int | None] = mapped_column(Integer)
    disposal_method: Mapped[str] = mapped_column(Text)
    found_on: Mapped[date] = mapped_column(Date)
    location: Mapped[WKBElement | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    location_input: Mapped[str | None] = mapped_column(Text)
    location_format: Mapped[str | None] = mapped_column(Text)
    location_crs: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    # A find is reported, then approved or rejected (app/review.py); there is no draft: the team
    # reports what it destroyed, and only approved finds count (migration 0013).
    review_status: Mapped[str] = mapped_column(Text, default="submitted", server_default="submitted")
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
