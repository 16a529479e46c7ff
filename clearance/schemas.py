"""Request bodies of the land-release and QA/QC API. Responses are GeoJSON built in SQL."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Method = Literal["cancelled", "reduced", "cleared"]
Activity = Literal["nts", "ts", "clearance", "bac"]
DEFAULT_ACTIVITY: dict[str, str] = {"cancelled": "nts", "reduced": "ts", "cleared": "clearance"}

Depth = Field(None, ge=1, le=2000, description="clearance depth in cm (required for cleared land)")
Notes = Field(None, max_length=4000)


def _sane_date(value: dt.date | None) -> dt.date | None:
    if value is None:
        return value
    if value.year < 1950 or value > dt.date.today() + dt.timedelta(days=1):
        raise ValueError(f"{value} is not a plausible date (1950 … today)")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LandReleaseIn(_Strict):
    hazard_area_id: int = Field(ge=1, le=2**31 - 1)
    method: Method
    activity: Activity | None = Field(None, description="defaults from method: nts, ts, clearance")
    task_id: int | None = Field(None, ge=1, le=2**31 - 1)
    organisation_id: int | None = Field(None, ge=1, le=2**31 - 1)
    date: dt.date
    depth_cm: int | None = Depth
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon, lon/lat")
    notes: str | None = Notes

    _date = field_validator("date")(_sane_date)

    @model_validator(mode="after")
    def _depth(self) -> LandReleaseIn:
        if self.method == "cleared" and self.depth_cm is None:
            raise ValueError("depth_cm is required for cleared land")
        if self.method == "cancelled" and self.depth_cm is not None:
            raise ValueError("cancelled land has no clearance depth; leave depth_cm out")
        if self.activity is None:
            self.activity = DEFAULT_ACTIVITY[self.method]  # type: ignore[assignment]
        return self


class LandReleasePatch(_Strict):
    method: Method | None = None
    activity: Activity | None = None
    task_id: int | None = Field(None, ge=1, le=2**31 - 1)
    organisation_id: int | None = Field(None, ge=1, le=2**31 - 1)
    date: dt.date | None = None
    depth_cm: int | None = Depth
    geometry: dict[str, Any] | None = None
    notes: str | None = Notes

    _date = field_validator("date")(_sane_date)


class CancelIn(_Strict):
    """An NTS survey's ``cancel`` outcome: the stated polygon, or the whole remaining hazard."""

    date: dt.date
    geometry: dict[str, Any] | None = None
    survey_id: int | None = Field(None, ge=1, le=2**31 - 1)
    task_id: int | None = Field(None, ge=1, le=2**31 - 1)
    organisation_id: int | None = Field(None, ge=1, le=2**31 - 1)
    notes: str | None = Notes

    _date = field_validator("date")(_sane_date)


class CompleteIn(_Strict):
    method: Literal["cleared", "reduced"]
    date: dt.date
    task_id: int | None = Field(None, ge=1, le=2**31 - 1)
    organisation_id: int | None = Field(None, ge=1, le=2**31 - 1)
    depth_cm: int | None = Depth
    participants: list[str] = Field(default_factory=list, max_length=100)
    notes: str | None = Notes

    _date = field_validator("date")(_sane_date)

    @field_validator("participants")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        if any(not p.strip() or len(p) > 200 for p in value):
            raise ValueError("participants are non-empty names of at most 200 characters")
        return [p.strip() for p in value]

    @model_validator(mode="after")
    def _depth(self) -> CompleteIn:
        if self.method == "cleared" and self.depth_cm is None:
            raise ValueError("depth_cm is required to complete by clearance")
        return self


class ProgressReleaseIn(_Strict):
    hazard_area_id: int = Field(ge=1, le=2**31 - 1)
    method: Literal["reduced", "cleared"]
    depth_cm: int | None = Depth
    geometry: dict[str, Any]

    @model_validator(mode="after")
    def _depth(self) -> ProgressReleaseIn:
        if self.method == "cleared" and self.depth_cm is None:
            raise ValueError("depth_cm is required for cleared land")
        return self


class ProgressReportIn(_Strict):
    task_id: int = Field(ge=1, le=2**31 - 1)
    date: dt.date
    items_found: int = Field(0, ge=0, le=1_000_000)
    working_hours: float = Field(0.0, ge=0, le=10_000, allow_inf_nan=False)
    releases: list[ProgressReleaseIn] = Field(default_factory=list, max_length=500)
    notes: str | None = Notes

    _date = field_validator("date")(_sane_date)


# ---------------------------------------------------------------- QA/QC

VisitType = Literal["accreditation", "monitoring", "post_clearance_inspection"]
Result = Literal["pass", "pass_with_findings", "fail"]
Severity = Literal["critical", "major", "minor"]


class ChecklistAnswer(_Strict):
    code: str = Field(min_length=1, max_length=100)
    answer: Literal["yes", "no", "n/a"]
    comment: str | None = Field(None, max_length=2000)


class NonConformityIn(_Strict):
    severity: Severity
    description: str = Field(min_length=1, max_length=4000)
    corrective_action: str | None = Field(None, max_length=4000)
    due_date: dt.date

    @field_validator("due_date")
    @classmethod
    def _due(cls, value: dt.date) -> dt.date:
        if value.year < 1950 or value.year > 2200:
            raise ValueError(f"{value} is not a plausible due date")
        return value


class SampleResultIn(_Strict):
    """What the inspector found in the sample of a post-clearance inspection."""

    seed: int = Field(ge=1, le=2**31 - 1)
    items_found: int = Field(ge=0, le=1_000_000)


class QaVisitIn(_Strict):
    programme: str = Field(min_length=2, max_length=10)
    type: VisitType
    task_id: int | None = Field(None, ge=1, le=2**31 - 1)
    activity: Literal["nts", "ts", "clearance", "bac", "eod", "mdd", "mechanical"] | None = None
    organisation_id: int | None = Field(None, ge=1, le=2**31 - 1)
    inspector: str | None = Field(None, max_length=200, description="defaults to the caller")
    visit_date: dt.date
    location: dict[str, Any] | None = Field(None, description="GeoJSON Point, Polygon or MultiPolygon")
    checklist: list[ChecklistAnswer] = Field(default_factory=list, max_length=200)
    result: Result
    land_release_id: int | None = Field(None, ge=1, le=2**31 - 1)
    sample: SampleResultIn | None = None
    non_conformities: list[NonConformityIn] = Field(default_factory=list, max_length=200)
    notes: str | None = Notes

    _date = field_validator("visit_date")(_sane_date)

    @model_validator(mode="after")
    def _consistent(self) -> QaVisitIn:
        if self.type == "post_clearance_inspection":
            if self.land_release_id is None or self.sample is None:
                raise ValueError("a post-clearance inspection needs land_release_id and sample")
        elif self.sample is not None:
            raise ValueError("sample is only for post-clearance inspections")
        if self.result == "pass" and self.non_conformities:
            raise ValueError("a visit with non-conformities is pass_with_findings or fail, not pass")
        if self.result == "fail" and not self.non_conformities and self.type != "post_clearance_inspection":
            raise ValueError("a failed visit records at least one non-conformity")
        return self


class QaVisitPatch(_Strict):
    """What may change on a recorded visit. Non-conformities have their own lifecycle; a
    post-clearance inspection's lot decision is final (record a new inspection instead)."""

    inspector: str | None = Field(None, min_length=1, max_length=200)
    location: dict[str, Any] | None = None
    checklist: list[ChecklistAnswer] | None = Field(None, max_length=200)
    result: Result | None = None
    notes: str | None = Notes


class NcActionIn(_Strict):
    note: str | None = Field(None, max_length=4000)


class ChecklistItemIn(_Strict):
    code: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_]+$")
    text: str = Field(min_length=1, max_length=500)


class ChecklistTemplateIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    items: list[ChecklistItemIn] = Field(min_length=1, max_length=200)

    @field_validator("items")
    @classmethod
    def _unique(cls, value: list[ChecklistItemIn]) -> list[ChecklistItemIn]:
        codes = [i.code for i in value]
        if len(codes) != len(set(codes)):
            raise ValueError("checklist item codes must be unique")
        return value


class SamplingBandIn(_Strict):
    min_lot_m2: float = Field(ge=0, le=1e12, allow_inf_nan=False)
    max_lot_m2: float | None = Field(None, gt=0, le=1e12, allow_inf_nan=False)
    sample_percent: float = Field(gt=0, le=100, allow_inf_nan=False)
    min_sample_m2: float = Field(0.0, ge=0, le=1e9, allow_inf_nan=False)
    cell_side_m: float = Field(10.0, ge=0.5, le=1000, allow_inf_nan=False)
    acceptance_number: int = Field(0, ge=0, le=1000)


class SamplingPlanIn(_Strict):
    bands: list[SamplingBandIn] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _contiguous(self) -> SamplingPlanIn:
        bands = sorted(self.bands, key=lambda b: b.min_lot_m2)
        if bands[0].min_lot_m2 != 0:
            raise ValueError("the first band must start at 0 m²")
        for low, high in itertools.pairwise(bands):
            if low.max_lot_m2 is None or low.max_lot_m2 != high.min_lot_m2:
                raise ValueError("bands must follow each other without gaps or overlaps")
        if bands[-1].max_lot_m2 is not None:
            raise ValueError("the last band must be open-ended (max_lot_m2 null)")
        for band in bands:
            if band.max_lot_m2 is not None and band.max_lot_m2 <= band.min_lot_m2:
                raise ValueError("max_lot_m2 must be above min_lot_m2")
        self.bands = bands
        return self
