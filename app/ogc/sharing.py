"""What a programme shares: layers published without a token, and properties hidden from partners.

Both lists live on the programme (``programmes.published_layers`` and
``programmes.sensitive_fields``); :mod:`app.ogc.access` applies them on every request.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Problem
from app.ogc.collections import COLLECTIONS
from app.reference.models import Programme


def _known_field(name: str) -> bool:
    collection_id, _, prop = name.rpartition(".")
    if collection_id:
        collection = COLLECTIONS.get(collection_id)
        return collection is not None and collection.prop(prop) is not None
    return any(c.prop(name) is not None for c in COLLECTIONS.values())


def set_sharing(
    db: Session,
    code: str,
    publish: list[str] | None = None,
    sensitive: list[str] | None = None,
) -> Programme:
    """Replace the published layers and/or the sensitive fields of a programme (None: unchanged)."""
    programme = db.scalar(select(Programme).where(Programme.code == code))
    if programme is None:
        raise Problem(404, f"No programme {code!r}.")
    if publish is not None:
        unknown = [layer for layer in publish if layer not in COLLECTIONS]
        if unknown:
            raise Problem(
                422, f"Unknown layer(s): {', '.join(unknown)}; layers are {', '.join(COLLECTIONS)}."
            )
        closed = [layer for layer in publish if not COLLECTIONS[layer].partner_access]
        if closed:
            raise Problem(422, f"{', '.join(closed)} cannot be published (staff only).")
        programme.published_layers = sorted(set(publish))
    if sensitive is not None:
        unknown = [name for name in sensitive if not _known_field(name)]
        if unknown:
            raise Problem(422, f"Unknown field(s): {', '.join(unknown)} (use 'name' or 'collection.name').")
        programme.sensitive_fields = sorted(set(sensitive))
    db.flush()
    return programme
