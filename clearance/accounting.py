"""The Python side of the land-release accounting rules.

The rules themselves are enforced by PostgreSQL (migration 0005): a BEFORE trigger on
``land_releases`` locks the hazard row, refuses land outside the hazard's remaining part and
clips/snaps what it accepts; an AFTER trigger recomputes the hazard's figures, remaining
geometry and status; a deferred constraint trigger checks the identity
``area = cancelled + reduced + cleared + remaining`` at commit. This module passes the
configured tolerances to those triggers and turns their refusals into problem+json.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.errors import Problem
from app.settings import get_settings

# SQLSTATEs raised by the triggers (class 23: integrity constraint violation).
OUTSIDE_REMAINING = "23SG1"
MOVED_HAZARD = "23SG2"
CHECK_VIOLATION = "23514"


def apply_settings(db: Session) -> None:
    """Pass this deployment's tolerances to the triggers, for the current transaction."""
    settings = get_settings()
    db.execute(
        text(
            "SELECT set_config('safeground.release_tolerance_m', :tol, true),"
            " set_config('safeground.closure_threshold_m2', :close, true),"
            " set_config('safeground.accounting_tolerance_m2', :acc, true)"
        ),
        {
            "tol": repr(float(settings.release_tolerance_m)),
            "close": repr(float(settings.closure_threshold_m2)),
            "acc": repr(float(settings.accounting_tolerance_m2)),
        },
    )


def lock_hazard(db: Session, hazard_area_id: int) -> dict[str, Any] | None:
    """Lock a hazard row for this transaction (concurrent releases on it wait) and return it."""
    row = (
        db.execute(
            text(
                "SELECT id, programme_id, reference, status, review_status, area_m2, remaining_m2 "
                "FROM hazard_areas WHERE id = :id FOR UPDATE"
            ),
            {"id": hazard_area_id},
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def raise_for_db_error(exc: DBAPIError, field: str = "geometry", index: int | None = None) -> NoReturn:
    """Translate a trigger's refusal into a 422 problem; re-raise anything else."""
    orig = exc.orig
    code = getattr(orig, "pgcode", None)
    diag = getattr(orig, "diag", None)
    message = getattr(diag, "message_primary", None) or str(orig).split("\n")[0]
    error: dict[str, Any] = {"field": field, "message": message}
    if index is not None:
        error["index"] = index
    if code == OUTSIDE_REMAINING:
        detail_text = getattr(diag, "message_detail", None) or "{}"
        try:
            conflict = json.loads(detail_text)
        except ValueError:
            conflict = {}
        raise Problem(
            422,
            message,
            title="Land release outside the remaining hazard area",
            errors=[error],
            tolerance_m=get_settings().release_tolerance_m,
            **conflict,
        ) from None
    if code in (MOVED_HAZARD, CHECK_VIOLATION):
        raise Problem(422, message, errors=[error]) from None
    raise exc
