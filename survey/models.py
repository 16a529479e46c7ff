"""Hazard areas (IMSMA "Land"), non-technical survey reports and evidence points."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
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

from app.db import Base

CLASSIFICATIONS = ("SHA", "CHA")
HAZARD_STATUSES = ("open", "worked_on", "closed")
CONTAMINATION_TYPES = ("AP", "AT", "MIXED", "CMR", "ERW", "AXO", "IED")
REVIEW_STATUSES = ("draft", "submitted", "approved", "rejected")


class HazardArea(Base):
    """A suspected (SHA) or confirmed (CHA) hazardous area.

    ``geom`` is the polygon as surveyed (the original extent); ``remaining_geom`` is what is
    left after land release (original minus released parts), NULL while nothing is released
    (the whole extent remains: read it as ``coalesce(remaining_geom, geom)``; migration 0011).
    Areas are geodesic m², computed by the system from the geometry, never typed in.
    """

    __tablename__ = "hazard_areas"
    __table_args__ = (
        UniqueConstraint("reference"),
        CheckConstraint(f"classification IN {CLASSIFICATIONS!r}", name="classification"),
        CheckConstraint(f"status IN {HAZARD_STATUSES!r}", name="status"),
        CheckConstraint(f"review_status IN {REVIEW_STATUSES!r}", name="review_status"),
        # Lists page by id within the caller's programmes (keyset paging).
        Index("ix_hazard_areas_programme_id_id", "programme_id", "id"),
        # What the land-release summaries read of a hazard area (clearance/reports/service.py),
        # so that they scan this small index instead of the wide rows and their TOAST.
        Index(
            "ix_hazard_areas_summary",
            "id",
            postgresql_include=[
                "programme_id",
                "review_status",
                "classification",
                "contamination_types",
                "area_m2",
                "admin1_code",
                "admin1_name",
                "admin2_code",
                "admin2_name",
                "beneficiaries_women",
                "beneficiaries_men",
                "beneficiaries_girls",
                "beneficiaries_boys",
            ],
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Indexed by ix_hazard_areas_programme_id_id (its leading column).
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    reference: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    classification: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="open", server_default="open")
    status_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status_reason: Mapped[str | None] = mapped_column(Text)
    contamination_types: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    # Evidence: {"direct": [...], "indirect": [...]} of evidence kinds (mine seen, craters, …)
    evidence: Mapped[dict[str, list[str]]] = mapped_column(JSONB, default=dict, server_default="{}")
    information_source: Mapped[str | None] = mapped_column(Text)
    reliability: Mapped[str | None] = mapped_column(Text)
    blockages: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    beneficiaries_women: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    beneficiaries_men: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    beneficiaries_girls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    beneficiaries_boys: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    priority: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)

    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True))
    # The geometry as it arrived, when it had to be repaired (kept beside the repaired one).
    raw_geom: Mapped[WKBElement | None] = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=False))
    area_m2: Mapped[float] = mapped_column(Float)
    remaining_geom: Mapped[WKBElement | None] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True)
    )
    cancelled_m2: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    reduced_m2: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    cleared_m2: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    remaining_m2: Mapped[float] = mapped_column(Float)

    admin1_code: Mapped[str | None] = mapped_column(Text)
    admin1_name: Mapped[str | None] = mapped_column(Text)
    admin2_code: Mapped[str | None] = mapped_column(Text)
    admin2_name: Mapped[str | None] = mapped_column(Text)

    review_status: Mapped[str] = mapped_column(Text, default="draft", server_default="draft")
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Where the record came from: an upload (its id and feature index) or the API.
    import_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    source_index: Mapped[int | None] = mapped_column(Integer)

    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
