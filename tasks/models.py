"""Tasks (the unit of planned work) and what hangs off them."""

from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

TASK_TYPES = ("nts", "ts", "clearance", "bac", "eod_spot", "qa")
TASK_STATUSES = ("planned", "assigned", "in_progress", "suspended", "completed", "cancelled")


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("reference"),
        CheckConstraint(f"type IN {TASK_TYPES!r}", name="type"),
        CheckConstraint(f"status IN {TASK_STATUSES!r}", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    reference: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="planned", server_default="planned")
    priority: Mapped[int | None] = mapped_column(Integer)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    # An EOD spot task targets a point instead of hazard areas.
    point: Mapped[WKBElement | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    planned_start: Mapped[date | None] = mapped_column(Date)
    planned_end: Mapped[date | None] = mapped_column(Date)
    actual_start: Mapped[date | None] = mapped_column(Date)
    actual_end: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TaskHazard(Base):
    """The hazard areas a task targets."""

    __tablename__ = "task_hazards"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    hazard_area_id: Mapped[int] = mapped_column(ForeignKey("hazard_areas.id"), primary_key=True, index=True)
