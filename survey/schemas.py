"""What clients send for hazard areas, validated; what they get back is built in SQL (service).

Property names are the ones partners' scripts and field forms rely on (see docs/hazard-areas.md).
List properties accept a JSON list or, as in files and spreadsheets, comma/semicolon-separated
text (``"AP,AT"``). Beneficiaries may be an object ``{"women": 10, ...}`` or flat
``beneficiaries_women`` … columns; evidence an object ``{"direct": [...], "indirect": [...]}``
or flat ``evidence_direct`` / ``evidence_indirect`` text.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from survey.models import CONTAMINATION_TYPES

# Computed or managed by SafeGround: a client sending them is told so (never silently taken).
READ_ONLY_PROPERTIES = {
    "id": "the record id is assigned by SafeGround",
    "reference": "references are generated per programme (e.g. SOM-HA-000123)",
    "area_m2": "the area is computed from the geometry (geodesic m²), never typed in",
    "remaining_m2": "the remaining area is computed from land release",
    "cancelled_m2": "land release figures come from land-release reports",
    "reduced_m2": "land release figures come from land-release reports",
    "cleared_m2": "land release figures come from land-release reports",
    "admin1_code": "admin areas are assigned from the geometry",
    "admin1_name": "admin areas are assigned from the geometry",
    "admin2_code": "admin areas are assigned from the geometry",
    "admin2_name": "admin areas are assigned from the geometry",
    "review_status": "use the submit/approve/reject actions",
    "review_reason": "use the reject action",
    "reviewed_by": "set by the approve/reject actions",
    "reviewed_at": "set by the approve/reject actions",
    "version": "the version is counted by SafeGround",
    "created_by": "recorded by SafeGround",
    "created_at": "recorded by SafeGround",
    "updated_by": "recorded by SafeGround",
    "updated_at": "recorded by SafeGround",
    "import_id": "recorded by SafeGround",
}

CONTAMINATION_ALIASES = {"UXO": "ERW", "ERW/UXO": "ERW", "MIX": "MIXED", "CM": "CMR"}

_SPLIT = re.compile(r"\s*[,;|]\s*")

Text200 = Annotated[str, Field(max_length=200)]


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in _SPLIT.split(value.strip()) if v]
    return value


class Beneficiaries(BaseModel):
    """People affected by the blockage, disaggregated by sex and age (SADD)."""

    model_config = ConfigDict(extra="forbid")

    women: int = Field(0, ge=0, le=100_000_000)
    men: int = Field(0, ge=0, le=100_000_000)
    girls: int = Field(0, ge=0, le=100_000_000)
    boys: int = Field(0, ge=0, le=100_000_000)


class Evidence(BaseModel):
    """Direct (mine seen, accident, marking…) and indirect (craters, hearsay…) evidence."""

    model_config = ConfigDict(extra="forbid")

    direct: list[Text200] = Field(default_factory=list, max_length=50)
    indirect: list[Text200] = Field(default_factory=list, max_length=50)

    @field_validator("direct", "indirect", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _as_list(value)


class HazardPropertiesIn(BaseModel):
    """The properties of a hazard area a surveyor or coordinator may set."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, max_length=200)
    classification: Literal["SHA", "CHA"]
    status: Literal["open", "worked_on", "closed"] = "open"
    status_date: datetime | None = None
    status_reason: str | None = Field(None, max_length=2000)
    contamination_types: list[str] = Field(default_factory=list, max_length=len(CONTAMINATION_TYPES))
    evidence: Evidence = Field(default_factory=Evidence)
    information_source: str | None = Field(None, max_length=500)
    reliability: str | None = Field(None, max_length=100)
    blockages: list[Text200] = Field(default_factory=list, max_length=50)
    beneficiaries: Beneficiaries = Field(default_factory=Beneficiaries)
    priority: int | None = Field(None, ge=1, le=5, description="1 (highest) to 5")
    notes: str | None = Field(None, max_length=10_000)

    @model_validator(mode="before")
    @classmethod
    def _flat_columns(cls, data: Any) -> Any:
        """Accept the flat column names of files and spreadsheets."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        flat_people = {
            k: data.pop(f"beneficiaries_{k}")
            for k in ("women", "men", "girls", "boys")
            if f"beneficiaries_{k}" in data
        }
        if flat_people:
            people = data.get("beneficiaries") or {}
            if not isinstance(people, dict):
                return data  # let the field validator report the wrong type
            data["beneficiaries"] = {**people, **{k: v for k, v in flat_people.items() if v is not None}}
        flat_evidence = {
            k: data.pop(f"evidence_{k}") for k in ("direct", "indirect") if f"evidence_{k}" in data
        }
        if flat_evidence:
            evidence = data.get("evidence") or {}
            if not isinstance(evidence, dict):
                return data
            data["evidence"] = {**evidence, **flat_evidence}
        for key in ("evidence", "beneficiaries"):
            if key in data and data[key] is None:
                data.pop(key)
        return data

    @field_validator("classification", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("status", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower().replace(" ", "_") if isinstance(value, str) else value

    @field_validator("contamination_types", mode="before")
    @classmethod
    def _contamination(cls, value: Any) -> Any:
        value = _as_list(value)
        if not isinstance(value, list):
            return value
        out: list[str] = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"contamination types are text codes, got {item!r}")
            code = CONTAMINATION_ALIASES.get(item.strip().upper(), item.strip().upper())
            if code not in CONTAMINATION_TYPES:
                raise ValueError(f"unknown contamination type {item!r}; use {', '.join(CONTAMINATION_TYPES)}")
            if code not in out:
                out.append(code)
        return out

    @field_validator("blockages", mode="before")
    @classmethod
    def _blockages(cls, value: Any) -> Any:
        return _as_list(value)

    def columns(self) -> dict[str, Any]:
        """The values as ``hazard_areas`` columns (JSON-ready, for jsonb_populate_record)."""
        return {
            "name": self.name,
            "classification": self.classification,
            "status": self.status,
            "status_date": self.status_date.isoformat() if self.status_date else None,
            "status_reason": self.status_reason,
            "contamination_types": self.contamination_types,
            "evidence": self.evidence.model_dump(),
            "information_source": self.information_source,
            "reliability": self.reliability,
            "blockages": self.blockages,
            "beneficiaries_women": self.beneficiaries.women,
            "beneficiaries_men": self.beneficiaries.men,
            "beneficiaries_girls": self.beneficiaries.girls,
            "beneficiaries_boys": self.beneficiaries.boys,
            "priority": self.priority,
            "notes": self.notes,
        }


EDITABLE_COLUMNS = tuple(HazardPropertiesIn(classification="SHA").columns())


def validate_hazard_properties(
    rows: list[dict[str, Any]], field_prefix: str = "properties"
) -> tuple[list[HazardPropertiesIn | None], list[dict[str, Any]]]:
    """Validate many property dicts: the valid ones, and errors ``{index, field, message}``.

    Read-only properties (``area_m2``, ``reference``…) are reported as errors saying why.
    Used by the API (one feature) and by imports (many).
    """
    out: list[HazardPropertiesIn | None] = []
    errors: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            errors.append({"index": index, "field": field_prefix, "message": "properties must be an object"})
            out.append(None)
            continue
        read_only = [k for k in row if k in READ_ONLY_PROPERTIES]
        for key in read_only:
            errors.append(
                {
                    "index": index,
                    "field": f"{field_prefix}.{key}",
                    "message": f"{key} cannot be sent: {READ_ONLY_PROPERTIES[key]}",
                }
            )
        if read_only:
            out.append(None)
            continue
        try:
            out.append(HazardPropertiesIn.model_validate(row))
        except ValidationError as exc:
            out.append(None)
            for e in exc.errors():
                loc = ".".join(str(p) for p in e.get("loc", ()))
                errors.append(
                    {
                        "index": index,
                        "field": f"{field_prefix}.{loc}" if loc else field_prefix,
                        "message": e.get("msg", "invalid"),
                    }
                )
    return out, errors


class ReviewIn(BaseModel):
    """Body of approve/reject (reject needs a reason)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=2000)
