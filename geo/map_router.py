"""The operations map page (/map): MapLibre GL JS on SafeGround's own vector tiles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from app.auth.service import Principal
from app.db import get_engine
from app.ogc import access as access_mod
from app.ogc.collections import COLLECTIONS
from app.pages import page_principal, render

router = APIRouter(tags=["map"])

# Roles that may create tasks from the planning panel (the tasks API checks again).
PLANNERS = ("admin", "coordinator")


@router.get("/map", response_class=HTMLResponse, include_in_schema=False)
def operations_map(
    request: Request, principal: Annotated[Principal, Depends(page_principal)]
) -> HTMLResponse:
    with get_engine().connect() as conn:
        programmes = access_mod.load_programmes(conn)
    mine = [p.code for p in programmes if p.id in principal.programme_ids]
    layers = [c.id for c in COLLECTIONS.values() if access_mod.readable(principal, c, programmes)]
    return render(
        request,
        "map.html",
        {
            "principal": principal,
            "csrf_token": principal.csrf_token,
            "programmes": mine,
            "layers": layers,
            "can_plan": principal.role in PLANNERS,
        },
    )
