"""Demo non-technical survey reports: one per demo hazard area (up to a limit), with evidence
points inside the hazard typed as MGRS, as surveyors write them. Deterministic.

Idempotent: when a programme already has survey reports, nothing is added. Runs after the
hazard-area demo (``survey.demo``), whose hazards the reports define.
"""

from __future__ import annotations

from datetime import date, timedelta

import mgrs
import numpy as np
from rich.console import Console
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.reference.models import Programme, Team
from app.reference.service import next_references
from survey.nts.models import (
    DIRECT_EVIDENCE,
    INDIRECT_EVIDENCE,
    SURVEY_METHODS,
    EvidencePoint,
    Survey,
    SurveyHazard,
)

PER_PROGRAMME = 80
SEED = 2026
METHODS = [m for m in SURVEY_METHODS if m not in ("remote_sensing", "other")]


def load(db: Session, console: Console) -> None:
    converter = mgrs.MGRS()
    for programme in db.scalars(select(Programme).order_by(Programme.code)):
        if db.scalar(select(func.count()).select_from(Survey).where(Survey.programme_id == programme.id)):
            console.print(f"demo: {programme.code} survey reports already there")
            continue
        teams = [
            t
            for t in db.scalars(select(Team).where(Team.programme_id == programme.id).order_by(Team.id))
            if "NTS" in t.capabilities
        ]
        hazards = db.execute(
            text(
                "SELECT id, classification, review_status, ST_X(p), ST_Y(p) FROM ("
                " SELECT id, classification, review_status, ST_PointOnSurface(geom) AS p FROM hazard_areas"
                " WHERE programme_id = :p ORDER BY id LIMIT :n) h"
            ),
            {"p": programme.id, "n": PER_PROGRAMME},
        ).all()
        if not teams or not hazards:
            continue
        rng = np.random.default_rng([SEED, programme.id])
        references = next_references(db, programme, "NTS", len(hazards))
        for number, (hazard_id, classification, hazard_review, lon, lat) in enumerate(hazards):
            team = teams[number % len(teams)]
            start = date(2025, 1, 6) + timedelta(days=int(rng.integers(0, 400)))
            counts = rng.integers(0, 8, 4)
            # Reports of approved hazards are approved; the others wait for review.
            review = "approved" if hazard_review == "approved" else str(rng.choice(["draft", "submitted"]))
            survey = Survey(
                programme_id=programme.id,
                reference=references[number],
                organisation_id=team.organisation_id,
                team_id=team.id,
                survey_date=start,
                end_date=start + timedelta(days=int(rng.integers(0, 3))),
                method=METHODS[int(rng.integers(0, len(METHODS)))],
                informants_women=int(counts[0]),
                informants_men=int(counts[1]),
                informants_girls=int(counts[2]),
                informants_boys=int(counts[3]),
                summary="Demo report: community members described the area and its accidents.",
                review_status=review,
                reviewed_by="demo-coordinator" if review == "approved" else None,
                reviewed_at=func.now() if review == "approved" else None,
                created_by="demo",
                updated_by="demo",
            )
            db.add(survey)
            db.flush()
            outcome = "define_cha" if classification == "CHA" else "define_sha"
            db.add(SurveyHazard(survey_id=survey.id, hazard_area_id=hazard_id, outcome=outcome))
            kinds = DIRECT_EVIDENCE if classification == "CHA" else INDIRECT_EVIDENCE[:-1]
            typed = converter.toMGRS(lat, lon, MGRSPrecision=5)
            mgrs_lat, mgrs_lon = converter.toLatLon(typed)
            kind = kinds[int(rng.integers(0, len(kinds)))]
            db.add(
                EvidencePoint(
                    programme_id=programme.id,
                    survey_id=survey.id,
                    geom=f"SRID=4326;POINT({mgrs_lon!r} {mgrs_lat!r})",
                    evidence_type=kind,
                    direct=kind in DIRECT_EVIDENCE,
                    description="Demo evidence point inside the hazard area.",
                    coordinate_text=typed,
                    coordinate_format="mgrs",
                    coordinate_crs="EPSG:4326",
                    precision_m=1.0,
                    created_by="demo",
                )
            )
        db.flush()
        console.print(f"demo: {len(hazards)} {programme.code} survey reports with evidence points")
