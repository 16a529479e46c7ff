from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.reference.models import TEAM_CAPABILITIES


def known_capabilities(value: list[str]) -> list[str]:
    unknown = [c for c in value if c.upper() not in TEAM_CAPABILITIES]
    if unknown:
        raise ValueError(f"unknown capabilities {unknown}; use {list(TEAM_CAPABILITIES)}")
    return sorted({c.upper() for c in value})


class ProgrammeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    iso3: str
    utm_epsg: list[int]


class OrganisationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    programme: str = Field(description="programme code, e.g. SOM")
    name: str = Field(min_length=1, max_length=200)
    acronym: str | None = Field(None, max_length=50)


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    programme: str
    name: str
    acronym: str | None
    created_at: datetime


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: int
    name: str = Field(min_length=1, max_length=200)
    capabilities: list[str] = Field(default_factory=list)
    base_location: dict[str, Any] | None = Field(None, description="GeoJSON Point, lon/lat")

    @field_validator("capabilities")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return known_capabilities(value)


class TeamOut(BaseModel):
    id: int
    programme: str
    organisation_id: int
    name: str
    capabilities: list[str]
    base_location: dict[str, Any] | None


class OrganisationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    acronym: str | None = Field(None, max_length=50)


class TeamPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    capabilities: list[str] | None = None
    base_location: dict[str, Any] | None = Field(None, description="GeoJSON Point, lon/lat")

    @field_validator("capabilities")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else known_capabilities(value)
