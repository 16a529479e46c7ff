"""The shapes of the summary, time-series and treaty-report answers (for the API documentation).

The answers are built by clearance/reports/service.py; these models describe them in OpenAPI.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ClassArea(BaseModel):
    sha_m2: float
    cha_m2: float


class ItemsDestroyed(BaseModel):
    ap_mines: int
    at_mines: int
    submunitions: int
    other_uxo: int
    ied: int
    small_arms_ammunition: int


class Beneficiaries(BaseModel):
    women: int
    men: int
    girls: int
    boys: int
    total: int


class Figures(BaseModel):
    cancelled_m2: float = Field(description="Cancelled by NTS (approved releases, not BAC)")
    reduced_m2: float = Field(description="Reduced by technical survey (not BAC)")
    cleared_m2: float = Field(description="Cleared (clearance; BAC is separate)")
    bac_m2: float = Field(description="Released by battle area clearance")
    released_m2: float = Field(description="cancelled + reduced + cleared + BAC")
    remaining_sha_m2: float
    remaining_cha_m2: float
    remaining_by_contamination: dict[str, ClassArea] = Field(
        description="Remaining SHA/CHA m² per contamination type (CMR separate); an area with "
        "several types counts under each"
    )
    hazards_open: int
    hazards_worked_on: int
    hazards_closed: int
    items_destroyed: ItemsDestroyed
    tasks_completed: int
    qa_visits: int
    qa_passed: int
    qa_pass_rate: float | None = Field(description="qa_passed / qa_visits; null without visits")
    beneficiaries: Beneficiaries = Field(description="People (SADD) of hazard areas closed in the period")


class SummaryRow(Figures):
    """Figures of one group; the group keys asked for (admin1_code, month, …) come first."""

    model_config = {"extra": "allow"}


class SummaryOut(BaseModel):
    filters: dict[str, Any]
    group_by: list[str]
    totals: Figures
    rows: list[SummaryRow]


class MonthOut(BaseModel):
    month: str
    cancelled_m2: float
    reduced_m2: float
    cleared_m2: float
    bac_m2: float
    released_m2: float
    items_destroyed: ItemsDestroyed
    remaining_m2: float | None
    remaining_sha_m2: float | None
    remaining_cha_m2: float | None


class ForecastOut(BaseModel):
    method: str
    window_months: int
    released_in_window_m2: float
    monthly_rate_m2: float
    remaining_m2: float | None
    assumption: str
    months_to_completion: float | None
    completion_date: str | None


class TimeSeriesOut(BaseModel):
    filters: dict[str, Any]
    months: list[MonthOut]
    forecast: ForecastOut | None


class Article7Area(BaseModel):
    reference: str
    name: str | None
    admin1: str | None
    admin2: str | None
    classification: str
    contamination_types: list[str]
    status: str
    estimated_area_m2: float
    released_in_year_m2: float
    remaining_area_m2: float


class Article7Out(BaseModel):
    treaty: str
    title: str
    programme: dict[str, str]
    year: int
    period: dict[str, str]
    as_of: str | None
    contamination_types: list[str]
    areas: list[Article7Area]
    areas_summary: dict[str, Any]
    remaining: ClassArea
    released: dict[str, float]
    released_by_admin1: list[dict[str, Any]]
    items_destroyed: ItemsDestroyed
    destroyed_in_year: dict[str, int]
