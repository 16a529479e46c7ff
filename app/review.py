"""The review every field record goes through before it counts (domain: approval).

A record starts as a draft; it is submitted, then approved or rejected by a coordinator or an
admin; a rejected one is corrected and submitted again. Only approved records reach partners
and the official figures. Hazard areas, survey reports, land releases and the explosive-ordnance
items a team reports (which start as submitted: there is no draft of a find) follow these rules:
each service locks its record and checks its version, asks :func:`review_step` whether the
action is allowed, and writes the new status (and, for approve/reject, who reviewed it when).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from app.errors import Problem

if TYPE_CHECKING:
    from app.auth.service import Principal

WRITERS = ("admin", "coordinator", "surveyor")
REVIEWERS = ("admin", "coordinator")


class ReviewIn(BaseModel):
    """Body of submit/approve/reject: the reason (a rejection needs one)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=2000)


@dataclass(frozen=True)
class ReviewStep:
    """What an action does: who may take it, from which review statuses, to which one."""

    action: str
    roles: tuple[str, ...]
    sources: tuple[str, ...]
    target: str

    @property
    def reviewed(self) -> bool:
        """Approve and reject are reviews: they record the reviewer, the time and the reason."""
        return self.target in ("approved", "rejected")


REVIEW_STEPS = {
    step.action: step
    for step in (
        ReviewStep("submit", WRITERS, ("draft", "rejected"), "submitted"),
        ReviewStep("approve", REVIEWERS, ("submitted",), "approved"),
        ReviewStep("reject", REVIEWERS, ("submitted",), "rejected"),
    )
}


def review_step(
    principal: Principal,
    action: str,
    record: str,
    status: str,
    reason: str | None,
    drafts_reviewable: bool = False,
) -> ReviewStep:
    """The step ``action`` takes ``record`` (e.g. ``SOM-HA-000123``, now ``status``) through, once
    allowed: 403 without the role, 409 from any other status, 422 for a rejection without a
    reason. ``drafts_reviewable``: a reviewer may also approve or reject a draft (hazard areas:
    a coordinator's own mapping needs no submission to themselves)."""
    step = REVIEW_STEPS[action]
    if drafts_reviewable and step.reviewed:
        step = replace(step, sources=("draft", *step.sources))
    if not principal.has_role(*step.roles):
        raise Problem(
            403,
            f"To {action} {record} you need one of the roles {', '.join(step.roles)}; you are {principal.role}.",
        )
    if status not in step.sources:
        raise Problem(
            409,
            f"{record} is {status}; only a record that is {' or '.join(step.sources)} can be {step.target}.",
            review_status=status,
        )
    if action == "reject" and not (reason and reason.strip()):
        raise Problem(
            422,
            f"reason: say why {record} is rejected.",
            errors=[{"field": "reason", "message": "required to reject"}],
        )
    return step
