"""Land release (IMAS 07.11), progress and completion reports, QA/QC (IMAS 07.40).

The accounting rules live in the database (see ``clearance/accounting.py``): triggers clip and
check every land release against its hazard's remaining part, and keep the hazard's
``cancelled_m2``/``reduced_m2``/``cleared_m2``/``remaining_m2``/``remaining_geom``/``status``
in step with its releases.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Versioned

RELEASE_METHODS = ("cancelled", "reduced", "cleared")
RELEASE_ACTIVITIES = ("nts", "ts", "clearance", "bac")
REVIEW_STATUSES = ("draft", "submitted", "approved", "rejected")
COMPLETION_METHODS = ("cleared", "reduced")

QA_VISIT_TYPES = ("accreditation", "monitoring", "post_clearance_inspection")
QA_RESULTS = ("pass", "pass_with_findings", "fail")
NC_SEVERITIES = ("critical", "major", "minor")
NC_STATUSES = ("open", "corrected", "closed")
QA_ACTIVITIES = ("nts", "ts", "clearance", "bac", "eod", "mdd", "mechanical")


class LandRelease(Versioned, Base):
    """A polygon of land cancelled, reduced or cleared, inside one hazard area.

    ``input_geom`` is the polygon the field team sent (repaired if it had to be); ``geom`` is
    what the database accepted: the input clipped to the hazard's remaining part, plus any
    sliver it cut off (see docs/land-release.md). ``area_m2`` is geodesic, computed by the
    database. Every release that is not rejected reserves its land.
    """

    __tablename__ = "land_releases"
    __table_args__ = (
        UniqueConstraint("reference"),
        CheckConstraint(f"method IN {RELEASE_METHODS!r}", name="method"),
        CheckConstraint(f"activity IN {RELEASE_ACTIVITIES!r}", name="activity"),
        CheckConstraint(f"review_status IN {REVIEW_STATUSES!r}", name="review_status"),
        CheckConstraint("method <> 'cleared' OR depth_cm IS NOT NULL", name="cleared_depth"),
        CheckConstraint("depth_cm IS NULL OR depth_cm BETWEEN 1 AND 2000", name="depth_range"),
        # A hazard area's releases; it also carries what the land-release summaries read of a
        # release (clearance/reports/service.py), so they scan it instead of the wide rows.
        Index(
            "ix_land_releases_hazard_area_id",
            "hazard_area_id",
            postgresql_include=[
                "programme_id",
                "review_status",
                "release_date",
                "area_m2",
                "method",
                "activity",
                "organisation_id",
                "id",
            ],
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    reference: Mapped[str] = mapped_column(Text)
    hazard_area_id: Mapped[int] = mapped_column(ForeignKey("hazard_areas.id"))
    method: Mapped[str] = mapped_column(Text)
    activity: Mapped[str] = mapped_column(Text)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    # The NTS survey whose "cancel" outcome produced this release (survey tables are survey/nts's).
    survey_id: Mapped[int | None] = mapped_column(Integer, index=True)
    progress_report_id: Mapped[int | None] = mapped_column(ForeignKey("progress_reports.id"), index=True)
    completion_id: Mapped[int | None] = mapped_column(ForeignKey("completions.id"), index=True)
    release_date: Mapped[date] = mapped_column(Date, index=True)
    depth_cm: Mapped[int | None] = mapped_column(Integer)
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True))
    input_geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False))
    # The geometry exactly as sent, kept only when it had to be repaired.
    submitted_geom: Mapped[WKBElement | None] = mapped_column(
        Geometry("GEOMETRY", srid=4326, spatial_index=False)
    )
    area_m2: Mapped[float] = mapped_column(Float)
    review_status: Mapped[str] = mapped_column(Text, default="draft", server_default="draft")
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when a post-clearance inspection rejected this lot.
    rework_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    notes: Mapped[str | None] = mapped_column(Text)


class ProgressReport(Base):
    """A team's day on a clearance or technical-survey task; its polygons become land releases."""

    __tablename__ = "progress_reports"
    __table_args__ = (
        UniqueConstraint("task_id", "report_date"),
        CheckConstraint("items_found >= 0", name="items_found"),
        CheckConstraint("working_hours >= 0 AND working_hours <= 10000", name="working_hours"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    report_date: Mapped[date] = mapped_column(Date)
    items_found: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    working_hours: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    notes: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Completion(Base):
    """The completion/handover record of a hazard area: what was released, how, by whom."""

    __tablename__ = "completions"
    __table_args__ = (
        UniqueConstraint("reference"),
        CheckConstraint(f"method IN {COMPLETION_METHODS!r}", name="method"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    reference: Mapped[str] = mapped_column(Text)
    hazard_area_id: Mapped[int] = mapped_column(ForeignKey("hazard_areas.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), index=True)
    completion_date: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(Text)
    participants: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    # {"cancelled": m², "reduced": m², "cleared": m², "remaining": m²} at completion.
    area_by_method: Mapped[dict[str, float]] = mapped_column(JSONB, default=dict, server_default="{}")
    items_by_category: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict, server_default="{}")
    notes: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class QaChecklistTemplate(Base):
    """The checklist a QA officer fills in. ``programme_id`` NULL is the default for all
    programmes; a programme's own active template replaces it."""

    __tablename__ = "qa_checklist_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int | None] = mapped_column(ForeignKey("programmes.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    # [{"code": "sop_compliance", "text": "Work complies with the accredited SOPs"}, …]
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class QaVisit(Versioned, Base):
    """An accreditation, a monitoring visit of a worksite, or a post-clearance inspection."""

    __tablename__ = "qa_visits"
    __table_args__ = (
        UniqueConstraint("reference"),
        CheckConstraint(f"type IN {QA_VISIT_TYPES!r}", name="type"),
        CheckConstraint(f"result IN {QA_RESULTS!r}", name="result"),
        CheckConstraint(f"activity IS NULL OR activity IN {QA_ACTIVITIES!r}", name="activity"),
        CheckConstraint(
            "location IS NULL OR GeometryType(location) IN ('POINT', 'POLYGON', 'MULTIPOLYGON')",
            name="location_type",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    reference: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), index=True)
    activity: Mapped[str | None] = mapped_column(Text)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    inspector: Mapped[str] = mapped_column(Text)
    visit_date: Mapped[date] = mapped_column(Date, index=True)
    location: Mapped[WKBElement | None] = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=True))
    # [{"code", "text", "answer": "yes"|"no"|"n/a", "comment"}] from the programme's template.
    checklist: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    result: Mapped[str] = mapped_column(Text)
    # Post-clearance inspection of one lot (a land release).
    land_release_id: Mapped[int | None] = mapped_column(ForeignKey("land_releases.id"), index=True)
    sample_seed: Mapped[int | None] = mapped_column(BigInteger)
    sample_area_m2: Mapped[float | None] = mapped_column(Float)
    items_found_in_sample: Mapped[int | None] = mapped_column(Integer)
    lot_accepted: Mapped[bool | None] = mapped_column(Boolean)
    notes: Mapped[str | None] = mapped_column(Text)


class QaNonConformity(Base):
    """A finding of a QA visit, with its corrective action: open → corrected → closed."""

    __tablename__ = "qa_non_conformities"
    __table_args__ = (
        UniqueConstraint("reference"),
        CheckConstraint(f"severity IN {NC_SEVERITIES!r}", name="severity"),
        CheckConstraint(f"status IN {NC_STATUSES!r}", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("qa_visits.id"), index=True)
    reference: Mapped[str] = mapped_column(Text)
    # The inspected organisation, copied from the visit (its users may not close it).
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    severity: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    corrective_action: Mapped[str | None] = mapped_column(Text)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(Text, default="open", server_default="open")
    corrected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    corrected_by: Mapped[str | None] = mapped_column(Text)
    correction_note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(Text)
    closure_note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OperationSuspension(Base):
    """Operations stopped because a QA visit found a critical non-conformity."""

    __tablename__ = "operation_suspensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    visit_id: Mapped[int] = mapped_column(ForeignKey("qa_visits.id"), index=True)
    non_conformity_id: Mapped[int] = mapped_column(ForeignKey("qa_non_conformities.id"), index=True)
    suspended_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    lifted_on: Mapped[date | None] = mapped_column(Date)
    lifted_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class QaSamplingBand(Base):
    """One row of a post-clearance inspection sampling plan (ISO 2859 style).

    A lot (a land release) of ``min_lot_m2`` ≤ area < ``max_lot_m2`` is inspected on
    ``sample_percent`` % of its area (at least ``min_sample_m2``), in square cells of
    ``cell_side_m``; more than ``acceptance_number`` items found in the sample rejects the lot.
    ``programme_id`` NULL is the default plan; a programme's own bands replace it.
    """

    __tablename__ = "qa_sampling_bands"
    __table_args__ = (
        CheckConstraint("min_lot_m2 >= 0", name="min_lot"),
        CheckConstraint("max_lot_m2 IS NULL OR max_lot_m2 > min_lot_m2", name="max_lot"),
        CheckConstraint("sample_percent > 0 AND sample_percent <= 100", name="sample_percent"),
        CheckConstraint("min_sample_m2 >= 0", name="min_sample"),
        CheckConstraint("cell_side_m > 0", name="cell_side"),
        CheckConstraint("acceptance_number >= 0", name="acceptance_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int | None] = mapped_column(ForeignKey("programmes.id"), index=True)
    min_lot_m2: Mapped[float] = mapped_column(Float)
    max_lot_m2: Mapped[float | None] = mapped_column(Float)
    sample_percent: Mapped[float] = mapped_column(Float)
    min_sample_m2: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    cell_side_m: Mapped[float] = mapped_column(Float, default=10.0, server_default="10")
    acceptance_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ReworkFlag(Base):
    """A hazard area (and the release) to be worked again: its lot failed post-clearance inspection."""

    __tablename__ = "rework_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    hazard_area_id: Mapped[int] = mapped_column(ForeignKey("hazard_areas.id"), index=True)
    land_release_id: Mapped[int] = mapped_column(ForeignKey("land_releases.id"), index=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("qa_visits.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(Text)
