"""Summary, time-series and treaty-report endpoints, and the dashboard page. Thin HTTP over
clearance/reports/service.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.deps import DB, CurrentScope, get_public_db
from app.errors import Problem
from app.pages import page_principal
from clearance.reports import service
from clearance.reports.schemas import Article7Out, SummaryOut, TimeSeriesOut
from survey.models import CONTAMINATION_TYPES

router = APIRouter(tags=["summaries and reports"])

HERE = Path(__file__).parent
# Our templates first, then the application's (for base.html).
templates = Jinja2Templates(directory=[HERE / "templates", HERE.parent.parent / "app" / "templates"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"

From = Annotated[date | None, Query(alias="from", description="first day of the period (YYYY-MM-DD)")]
To = Annotated[date | None, Query(description="last day of the period, inclusive (YYYY-MM-DD)")]
AsOf = Annotated[
    str | None,
    Query(description="figures as they stood at this moment (date = end of that day, UTC; or ISO date-time)"),
]
Organisation = Annotated[
    list[str] | None, Query(description="organisation id(s), comma-separated or repeated")
]
AdminArea = Annotated[str | None, Query(max_length=100, description="admin-1 or admin-2 code")]
Contamination = Annotated[
    list[str] | None, Query(description=f"contamination type(s): {', '.join(CONTAMINATION_TYPES)}")
]


def _values(raw: list[str] | None) -> list[str]:
    return [v.strip() for item in raw or [] for v in item.split(",") if v.strip()]


def summary_filters(
    db: DB,
    scope: CurrentScope,
    programme: str | None = None,
    date_from: From = None,
    to: To = None,
    organisation: Organisation = None,
    admin_area: AdminArea = None,
    contamination_type: Contamination = None,
    as_of: AsOf = None,
) -> service.Filters:
    """The query parameters the summary and the time series share, checked (422 names the one
    that is wrong)."""
    if date_from and to and date_from > to:
        raise Problem(
            422, "from is after to.", errors=[{"field": "from", "message": "must be on or before 'to'"}]
        )
    types = [t.upper() for t in _values(contamination_type)]
    bad_types = [t for t in types if t not in CONTAMINATION_TYPES]
    if bad_types:
        raise Problem(
            422,
            f"contamination_type: unknown {', '.join(bad_types)}; use {', '.join(CONTAMINATION_TYPES)}.",
            errors=[{"field": "contamination_type", "message": "unknown contamination type"}],
        )
    organisation_ids: list[int] = []
    for value in _values(organisation):
        if not value.isdigit() or int(value) > 2**31 - 1:
            raise Problem(
                422,
                f"organisation: {value!r} is not an organisation id.",
                errors=[{"field": "organisation", "message": "not an integer id"}],
            )
        organisation_ids.append(int(value))
    return service.Filters(
        programme_ids=scope.programme_filter(db, programme),
        date_from=date_from,
        date_to=to,
        organisation_ids=organisation_ids or None,
        admin_area=admin_area or None,
        contamination_types=types or None,
        as_of=service.parse_as_of(as_of),
    )


SummaryFilters = Annotated[service.Filters, Depends(summary_filters)]


def _group_keys(group_by: list[str] | None) -> list[str]:
    groups = _values(group_by)
    unknown = [g for g in groups if g not in service.GROUP_KEYS]
    if unknown:
        raise Problem(
            422,
            f"group_by: unknown key(s) {', '.join(unknown)}; use {', '.join(service.GROUP_KEYS)}.",
            errors=[{"field": "group_by", "message": f"unknown: {', '.join(unknown)}"}],
        )
    return list(dict.fromkeys(groups))  # each key once, in the order asked


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/api/v1/summaries/land-release", response_model=SummaryOut)
def land_release_summary(
    db: DB,
    filters: SummaryFilters,
    group_by: Annotated[
        list[str] | None,
        Query(description=f"any of {', '.join(service.GROUP_KEYS)}; comma-separated or repeated"),
    ] = None,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Response:
    """Land released, remaining, items destroyed, tasks, QA and beneficiaries; official
    figures (approved records only), in groups and in total. See docs/summaries.md."""
    result = service.summary(db, replace(filters, group_by=_group_keys(group_by)))
    if format == "json":
        return _json(result)
    columns, rows = service.table_rows(result)
    if format == "csv":
        return Response(
            service.to_csv(columns, rows),
            media_type=CSV,
            headers={"Content-Disposition": 'attachment; filename="land-release-summary.csv"'},
        )
    return Response(
        service.to_xlsx([("Land release summary", columns, rows)]),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="land-release-summary.xlsx"'},
    )


@router.get("/api/v1/summaries/time-series", response_model=TimeSeriesOut)
def land_release_time_series(
    db: DB,
    filters: SummaryFilters,
    forecast_months: Annotated[int, Query(ge=1, le=120, description="months of the recent release rate")] = 6,
) -> Response:
    """Released m² per month by method, items per month, remaining area at each month end
    (burn-down), and a linear forecast of the completion date with its assumption."""
    return _json(service.time_series(db, filters, forecast_months))


@router.get(
    "/api/v1/reports/article7",
    response_model=Article7Out,
    responses={200: {"content": {"text/html": {}, "text/csv": {}}}},
)
def article7_report(
    request: Request,
    db: DB,
    scope: CurrentScope,
    programme: str,
    year: Annotated[int, Query(ge=1990, le=2100)],
    treaty: Literal["apmbc", "ccm"] = "apmbc",
    as_of: AsOf = None,
    format: Literal["json", "html", "csv"] = "json",
    table: Annotated[
        Literal["areas", "released", "items"], Query(description="the table given as CSV")
    ] = "areas",
) -> Response:
    """APMBC Article 7 or CCM Article 7 Form F figures of one calendar year, as JSON, a printable
    HTML report or CSV tables. See docs/treaty-reports.md."""
    programme_row = scope.programme(db, programme)
    report = service.article7(db, programme_row.id, year, treaty, service.parse_as_of(as_of))
    if format == "json":
        return _json(report)
    if format == "csv":
        columns, rows = service.article7_tables(report)[table]
        name = f"article7-{treaty}-{programme_row.code}-{year}-{table}.csv"
        return Response(
            service.to_csv(columns, rows),
            media_type=CSV,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return templates.TemplateResponse(request, "article7.html", {"report": report, "csrf_token": None})


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard(
    request: Request,
    principal: Annotated[Principal, Depends(page_principal)],
    db: Annotated[Session, Depends(get_public_db)],
) -> Response:
    """Charts of the summaries and a map of remaining area by admin-1 (login required)."""
    programmes = db.execute(
        text("SELECT code, name FROM programmes WHERE id = ANY(:ids) ORDER BY code"),
        {"ids": sorted(principal.programme_ids)},
    ).all()
    return templates.TemplateResponse(
        request,
        "dashboard.html",
        {
            "principal": principal,
            "programmes": [{"code": c, "name": n} for c, n in programmes],
            "csrf_token": principal.csrf_token,
        },
    )
