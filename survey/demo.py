"""Demo hazard areas: a few hundred synthetic ones in Somalia and Libya (deterministic).

Idempotent: hazards from this loader are tagged in ``notes`` by the generator
("synthetic hazard …"); when a programme already has them, nothing is added.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.reference.models import Programme
from geo.checks import check_polygons
from geo.synthetic import synthetic_hazards
from survey.models import HazardArea
from survey.service import insert_hazard_areas

COUNTS = {"SOM": 240, "LBY": 160}
SEED = 2026
# Share of demo hazards per review status: most are approved (what partners see).
REVIEW_MIX = (("approved", 0.7), ("submitted", 0.15), ("draft", 0.15))


def load(db: Session, console: Console) -> None:
    for code, count in COUNTS.items():
        programme = db.scalar(select(Programme).where(Programme.code == code))
        if programme is None:
            continue
        existing = db.scalar(
            select(func.count())
            .select_from(HazardArea)
            .where(HazardArea.programme_id == programme.id, HazardArea.notes.like("synthetic hazard %"))
        )
        if existing:
            console.print(f"demo: {code} hazard areas already there ({existing})")
            continue
        frame = synthetic_hazards(code, count, seed=SEED)
        checks = check_polygons(frame.geometry.to_numpy(), programme.id, db)
        keep = [c.index for c in checks if c.ok]
        rng = np.random.default_rng(SEED)
        statuses = [s for s, _ in REVIEW_MIX]
        weights = [w for _, w in REVIEW_MIX]
        review = [statuses[i] for i in rng.choice(len(statuses), size=len(keep), p=weights)]
        attributes = frame.drop(columns="geometry").iloc[keep].reset_index(drop=True)
        ids = insert_hazard_areas(
            db, programme, [checks[i] for i in keep], attributes, actor="demo", review_status=review
        )
        db.execute(
            update(HazardArea)
            .where(HazardArea.id.in_(ids), HazardArea.review_status == "approved")
            .values(reviewed_by="demo-coordinator", reviewed_at=func.now())
        )
        console.print(f"demo: {len(ids)} {code} hazard areas")
