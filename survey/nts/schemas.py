"""What clients send and receive for non-technical survey reports and evidence points.

Field names are a contract with partners' scripts and field forms: ``programme``,
``survey_date``, ``method``, ``organisation_id``, ``team_id``; evidence ``coordinate`` (as typed)
or ``geometry`` (GeoJSON Point), ``evidence_type``, ``direct``, ``description``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Method = Literal[
    "desk_study",
    "community_visit",
    "key_informant_interview",
    "focus_group",
    "site_visit",
    "remote_sensing",
    "other",
]
Outcome = Literal["define_sha", "define_cha", "cancel", "no_evidence"]
EvidenceType = Literal[
    "mine_seen",
    "item_seen",
    "accident",
    "marking",
    "detonation",
    "craters",
    "scrap",
    "fighting",
    "unused_land",
    "hearsay",
    "other",
]
Count = Field(0, ge=0, le=10_000_000)


class Informants(BaseModel):
    """People interviewed, disaggregated by sex and age (SADD)."""

    model_config = ConfigDict(extra="forbid")

    women: int = Count
    men: int = Count
    girls: int = Count
    boys: int = Count


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hazard_area_id: int | None = Field(
        None, description="the hazard area created or changed; may be empty for no_evidence"
    )
    outcome: Outcome
    notes: str | None = Field(None, max_length=5000)


class OutcomeOut(BaseModel):
    hazard_area_id: int | None
    hazard_reference: str | None
    outcome: str
    notes: str | None


class SurveyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    programme: str = Field(description="programme code, e.g. SOM")
    organisation_id: int
    team_id: int | None = None
    survey_date: date
    end_date: date | None = None
    method: Method
    location_name: str | None = Field(None, max_length=500)
    informants: Informants = Field(default_factory=Informants)
    summary: str | None = Field(None, max_length=20_000)
    outcomes: list[OutcomeIn] = Field(default_factory=list, max_length=1000)


class SurveyPatch(BaseModel):
    """JSON Merge Patch (RFC 7396): fields present are changed, ``null`` clears optional ones.

    ``outcomes``, when present, replaces the whole list.
    """

    model_config = ConfigDict(extra="forbid")

    organisation_id: int | None = None
    team_id: int | None = None
    survey_date: date | None = None
    end_date: date | None = None
    method: Method | None = None
    location_name: str | None = Field(None, max_length=500)
    informants: Informants | None = None
    summary: str | None = Field(None, max_length=20_000)
    outcomes: list[OutcomeIn] | None = Field(None, max_length=1000)


class SurveyOut(BaseModel):
    id: int
    reference: str
    programme: str
    organisation_id: int
    team_id: int | None
    survey_date: date
    end_date: date | None
    method: str
    location_name: str | None
    informants: Informants
    summary: str | None
    outcomes: list[OutcomeOut]
    evidence_count: int
    review_status: str
    review_reason: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    version: int
    created_by: str | None
    created_at: datetime
    updated_by: str | None
    updated_at: datetime


class SurveyPage(BaseModel):
    items: list[SurveyOut]
    links: list[dict[str, str]]


class EvidenceIn(BaseModel):
    """An evidence point: give ``coordinate`` as typed (MGRS, UTM, degrees, DMS) or ``geometry``."""

    model_config = ConfigDict(extra="forbid")

    coordinate: str | None = Field(
        None, max_length=100, examples=["38NNF1234567890", "38N 412345 1234567", "2°02'49\"N 45°19'05\"E"]
    )
    geometry: dict[str, Any] | None = Field(None, description="GeoJSON Point, lon/lat")
    evidence_type: EvidenceType
    direct: bool | None = Field(
        None, description="direct evidence; when omitted, taken from the evidence type"
    )
    description: str | None = Field(None, max_length=5000)

    @model_validator(mode="after")
    def _one_location(self) -> EvidenceIn:
        if (self.coordinate is None) == (self.geometry is None):
            raise ValueError("give exactly one of 'coordinate' (as typed) or 'geometry' (GeoJSON Point)")
        return self
