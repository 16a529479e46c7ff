"""Non-technical survey (NTS) reports, their outcome per hazard area, and evidence points."""

from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Versioned

SURVEY_METHODS = (
    "desk_study",
    "community_visit",
    "key_informant_interview",
    "focus_group",
    "site_visit",
    "remote_sensing",
    "other",
)
# What the survey concluded for a hazard area (IMAS 08.10): define a suspected or confirmed
# hazardous area, cancel land (no evidence; its land release is recorded by land release), or
# find no evidence of contamination where some was reported.
OUTCOMES = ("define_sha", "define_cha", "cancel", "no_evidence")
REVIEW_STATUSES = ("draft", "submitted", "approved", "rejected")
# Direct evidence proves contamination; indirect evidence only suggests it.
DIRECT_EVIDENCE = ("mine_seen", "item_seen", "accident", "marking", "detonation")
INDIRECT_EVIDENCE = ("craters", "scrap", "fighting", "unused_land", "hearsay", "other")
EVIDENCE_TYPES = DIRECT_EVIDENCE + INDIRECT_EVIDENCE


class Survey(Versioned, Base):
    """A non-technical survey report: who surveyed where, how, whom they asked, what they found."""

    __tablename__ = "surveys"
    __table_args__ = (
        UniqueConstraint("reference"),
        CheckConstraint(f"method IN {SURVEY_METHODS!r}", name="method"),
        CheckConstraint(f"review_status IN {REVIEW_STATUSES!r}", name="review_status"),
        CheckConstraint("end_date IS NULL OR end_date >= survey_date", name="dates"),
        CheckConstraint(
            "informants_women >= 0 AND informants_men >= 0 AND informants_girls >= 0 AND informants_boys >= 0",
            name="informants",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    reference: Mapped[str] = mapped_column(Text)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    survey_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    method: Mapped[str] = mapped_column(Text)
    location_name: Mapped[str | None] = mapped_column(Text)
    informants_women: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    informants_men: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    informants_girls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    informants_boys: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    summary: Mapped[str | None] = mapped_column(Text)

    review_status: Mapped[str] = mapped_column(Text, default="draft", server_default="draft")
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SurveyHazard(Base):
    """The survey's outcome for one hazard area it created or changed.

    ``no_evidence`` may stand without a hazard area (reported contamination not found).
    """

    __tablename__ = "survey_hazards"
    __table_args__ = (
        UniqueConstraint("survey_id", "hazard_area_id"),
        CheckConstraint(f"outcome IN {OUTCOMES!r}", name="outcome"),
        CheckConstraint("hazard_area_id IS NOT NULL OR outcome = 'no_evidence'", name="hazard_needed"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    hazard_area_id: Mapped[int | None] = mapped_column(ForeignKey("hazard_areas.id"), index=True)
    outcome: Mapped[str] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)


class EvidencePoint(Base):
    """A place where evidence of contamination was seen or reported.

    The coordinate is kept as the surveyor typed it (text, detected format, its CRS) beside
    the normalised WGS84 point, so a typing error can always be traced back.
    """

    __tablename__ = "evidence_points"
    __table_args__ = (CheckConstraint(f"evidence_type IN {EVIDENCE_TYPES!r}", name="evidence_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    # Points uploaded from a form export may not belong to a survey report yet.
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True, nullable=False))
    evidence_type: Mapped[str] = mapped_column(Text)
    direct: Mapped[bool] = mapped_column(Boolean)
    description: Mapped[str | None] = mapped_column(Text)
    coordinate_text: Mapped[str | None] = mapped_column(Text)
    coordinate_format: Mapped[str | None] = mapped_column(Text)
    coordinate_crs: Mapped[str | None] = mapped_column(Text)
    precision_m: Mapped[float | None] = mapped_column(Float)
    import_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    source_index: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
