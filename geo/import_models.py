"""The record of every committed file import (kept apart from geo.imports so that loading the
models does not load GDAL and pandas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

IMPORT_LAYERS = ("hazard_areas", "evidence_points")


class Import(Base):
    """One committed upload. The same file (content hash) sent again to the same programme and
    layer finds this row and is answered with its report instead of being stored twice."""

    __tablename__ = "imports"
    __table_args__ = (
        UniqueConstraint("programme_id", "layer", "sha256"),
        CheckConstraint(f"layer IN {IMPORT_LAYERS!r}", name="layer"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    layer: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(Text)
    features: Mapped[int] = mapped_column(Integer)
    valid: Mapped[int] = mapped_column(Integer)
    repaired: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    stored: Mapped[int] = mapped_column(Integer)
    report: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
