"""What clients send to the task, item and planning endpoints (responses are GeoJSON built in SQL)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from tasks.models import DISPOSAL_METHODS, ITEM_CONDITIONS, TASK_STATUSES, TASK_TYPES

# A location is a GeoJSON Point (lon/lat) or a coordinate string as typed in the field:
# MGRS, UTM with zone, decimal degrees (lat, lon) or DMS.
Location = dict[str, Any] | str

_TEXT = 2000


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    programme: str = Field(description="programme code, e.g. SOM", max_length=10)
    type: str = Field(description=f"one of {', '.join(TASK_TYPES)}")
    hazard_area_ids: list[int] = Field(default_factory=list, max_length=500)
    location: Location | None = Field(None, description="EOD spot call-out location")
    priority: int = Field(3, ge=1, le=5, description="1 = most urgent … 5 = least")
    organisation_id: int | None = None
    team_id: int | None = None
    planned_start: date | None = None
    planned_end: date | None = None
    notes: str | None = Field(None, max_length=_TEXT)

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value not in TASK_TYPES:
            raise ValueError(f"unknown task type {value!r}; use one of {', '.join(TASK_TYPES)}")
        return value


class TaskPatch(BaseModel):
    """Fields a coordinator may change. Status changes go through /transitions."""

    model_config = ConfigDict(extra="forbid")

    hazard_area_ids: list[int] | None = Field(None, max_length=500)
    location: Location | None = None
    priority: int | None = Field(None, ge=1, le=5)
    organisation_id: int | None = None
    team_id: int | None = None
    planned_start: date | None = None
    planned_end: date | None = None
    actual_start: date | None = None
    actual_end: date | None = None
    notes: str | None = Field(None, max_length=_TEXT)


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: str = Field(validation_alias=AliasChoices("to", "status"), description="the new status")
    reason: str | None = Field(None, max_length=_TEXT)

    @field_validator("to")
    @classmethod
    def _status(cls, value: str) -> str:
        if value not in TASK_STATUSES:
            raise ValueError(f"unknown status {value!r}; use one of {', '.join(TASK_STATUSES)}")
        return value


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(max_length=100, description="catalogue category, e.g. ap_mine")
    subcategory: str | None = Field(None, max_length=100)
    model: str | None = Field(None, max_length=200, description="e.g. PMN-2, if known")
    quantity: int = Field(1, ge=1, le=100_000)
    condition: str | None = None
    fuze: str | None = Field(None, max_length=200)
    depth_cm: int | None = Field(None, ge=0, le=10_000)
    disposal_method: str
    found_on: date
    location: Location | None = None
    notes: str | None = Field(None, max_length=_TEXT)

    @field_validator("disposal_method")
    @classmethod
    def _disposal(cls, value: str) -> str:
        if value not in DISPOSAL_METHODS:
            raise ValueError(f"unknown disposal method {value!r}; use one of {', '.join(DISPOSAL_METHODS)}")
        return value

    @field_validator("condition")
    @classmethod
    def _condition(cls, value: str | None) -> str | None:
        if value is not None and value not in ITEM_CONDITIONS:
            raise ValueError(f"unknown condition {value!r}; use one of {', '.join(ITEM_CONDITIONS)}")
        return value


class QueueRequest(BaseModel):
    """The body of ``POST /api/v1/planning/queue`` (the GET form takes the same as query params)."""

    model_config = ConfigDict(extra="forbid")

    programme: str | None = Field(None, max_length=10)
    weights: dict[str, float] = Field(default_factory=dict)
    limit: int = Field(100, ge=1, le=1000)
