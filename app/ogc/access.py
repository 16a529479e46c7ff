"""Who sees what in the partner API, tiles, exports and map.

- Staff (admin, coordinator, surveyor, QA officer) see every record of their programmes, in
  every review state, for the collections their role may read.
- Partner tokens see only *approved* records of their programmes, without the properties each
  programme lists in ``programmes.sensitive_fields``.
- Without a token, a collection is readable only for programmes that list it in
  ``programmes.published_layers`` (empty by default, so anonymous access is off), with the same
  rules as partners. Otherwise: 401.

``sensitive_fields`` entries are property names (``notes``: hidden in every collection) or
``collection.property`` (``hazard_areas.notes``: only there).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.auth.service import Principal
from app.deps import optional_principal, optional_principal_on
from app.errors import Problem
from app.ogc.collections import Collection, Prop


@dataclass(frozen=True)
class ProgrammeInfo:
    id: int
    code: str
    utm_epsg: tuple[int, ...]
    sensitive_fields: tuple[str, ...]
    published_layers: tuple[str, ...]

    def hides(self, collection: Collection, prop: Prop) -> bool:
        return prop.name in self.sensitive_fields or f"{collection.id}.{prop.name}" in self.sensitive_fields


@dataclass(frozen=True)
class Access:
    """What one caller may read of one collection."""

    collection: Collection
    programmes: tuple[ProgrammeInfo, ...]  # the programmes whose records are visible
    approved_only: bool
    redact: bool  # remove sensitive properties
    principal: Principal | None

    @property
    def programme_ids(self) -> list[int]:
        return sorted(p.id for p in self.programmes) or [-1]

    def hidden(self, programme: ProgrammeInfo) -> set[str]:
        if not self.redact:
            return set()
        return {p.name for p in self.collection.properties if programme.hides(self.collection, p)}

    def property_groups(self) -> list[tuple[list[int], tuple[Prop, ...]]]:
        """Programme ids grouped by the properties they may show (usually a single group)."""
        groups: dict[tuple[str, ...], list[int]] = {}
        for programme in self.programmes:
            key = tuple(sorted(self.hidden(programme)))
            groups.setdefault(key, []).append(programme.id)
        return [
            (ids, tuple(p for p in self.collection.properties if p.name not in hidden))
            for hidden, ids in groups.items()
        ] or [([-1], self.collection.properties)]

    def visible_properties(self) -> tuple[Prop, ...]:
        """Properties visible in every visible programme: the ones a caller may filter on."""
        hidden: set[str] = set()
        for programme in self.programmes:
            hidden |= self.hidden(programme)
        return tuple(p for p in self.collection.properties if p.name not in hidden)

    def visibility_sql(self) -> str:
        """The WHERE condition every query of this collection starts with (uses ``:vis_ids``)."""
        condition = f"{self.collection.programme_column} = ANY(:vis_ids)"
        if self.approved_only and self.collection.approved_sql:
            condition += f" AND {self.collection.approved_sql}"
        return condition

    @property
    def utm_epsg(self) -> list[int]:
        return sorted({c for p in self.programmes for c in p.utm_epsg})


PROGRAMMES_SQL = text(
    "SELECT id, code, utm_epsg, sensitive_fields, published_layers FROM programmes ORDER BY code"
)


def load_programmes(conn: Connection) -> list[ProgrammeInfo]:
    return [
        ProgrammeInfo(
            r.id,
            r.code,
            tuple(r.utm_epsg or ()),
            tuple(r.sensitive_fields or ()),
            tuple(r.published_layers or ()),
        )
        for r in conn.execute(PROGRAMMES_SQL)
    ]


def resolve(principal: Principal | None, collection: Collection, programmes: list[ProgrammeInfo]) -> Access:
    """The caller's access to ``collection`` (401/403 when there is none)."""
    if (principal is None or principal.is_partner) and not collection.partner_access:
        if principal is None:
            raise Problem(
                401,
                f"Authentication required for {collection.id}.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        raise Problem(403, f"{collection.id} is not shared with partners.")
    if principal is None:
        published = tuple(p for p in programmes if collection.id in p.published_layers)
        if not published:
            raise Problem(
                401,
                f"Authentication required for {collection.id}: send a bearer token or log in.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Access(collection, published, approved_only=True, redact=True, principal=None)
    mine = tuple(p for p in programmes if p.id in principal.programme_ids)
    if principal.is_partner:
        return Access(collection, mine, approved_only=True, redact=True, principal=principal)
    if principal.role not in collection.staff_roles:
        raise Problem(403, f"The role {principal.role} cannot read {collection.id}.")
    return Access(collection, mine, approved_only=False, redact=False, principal=principal)


def readable(principal: Principal | None, collection: Collection, programmes: list[ProgrammeInfo]) -> bool:
    try:
        resolve(principal, collection, programmes)
    except Problem:
        return False
    return True


def caller(request: Request, conn: Connection | None = None) -> Principal | None:
    """The caller, or None when anonymous (a malformed or unknown token is still a 401).
    Looked up on ``conn`` when given."""
    return optional_principal(request) if conn is None else optional_principal_on(request, conn)
