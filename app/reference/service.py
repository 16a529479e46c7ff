"""Programmes, organisations, teams and admin areas. No HTTP here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.errors import Problem
from app.reference.models import AdminArea, Organisation, Programme, Team
from app.reference.schemas import (
    OrganisationIn,
    OrganisationOut,
    OrganisationPatch,
    TeamIn,
    TeamOut,
    TeamPatch,
)
from geo.points import point_from_geojson

if TYPE_CHECKING:  # annotations only: the command line's imports never load the web framework
    from app.deps import Scope


def add_programme(db: Session, code: str, name: str, iso3: str, utm_epsg: list[int]) -> Programme:
    code = code.upper()
    existing = db.scalar(select(Programme).where(Programme.code == code))
    if existing is not None:
        existing.name, existing.iso3, existing.utm_epsg = name, iso3.upper(), utm_epsg
        return existing
    programme = Programme(code=code, name=name, iso3=iso3.upper(), utm_epsg=utm_epsg)
    db.add(programme)
    db.flush()
    return programme


def next_references(db: Session, programme: Programme, kind: str, count: int = 1) -> list[str]:
    """Reserve ``count`` new references like ``SOM-HA-000123``; numbers are never reused.

    The counter row is locked by the upsert, so concurrent writers get distinct numbers.
    """
    last = db.execute(
        text(
            "INSERT INTO reference_counters (programme_id, kind, last_value) VALUES (:p, :k, :n) "
            "ON CONFLICT (programme_id, kind) DO UPDATE "
            "SET last_value = reference_counters.last_value + :n RETURNING last_value"
        ),
        {"p": programme.id, "k": kind, "n": count},
    ).scalar_one()
    return [f"{programme.code}-{kind}-{n:06d}" for n in range(last - count + 1, last + 1)]


def list_programmes(db: Session, scope: Scope) -> list[Programme]:
    stmt = scope.filter(select(Programme), Programme.id).order_by(Programme.code)
    return list(db.scalars(stmt))


def _organisation_out(org: Organisation, programme_code: str) -> OrganisationOut:
    return OrganisationOut(
        id=org.id, programme=programme_code, name=org.name, acronym=org.acronym, created_at=org.created_at
    )


def list_organisations(db: Session, scope: Scope, programme: str | None) -> list[OrganisationOut]:
    ids = scope.programme_filter(db, programme)
    rows = db.execute(
        select(Organisation, Programme.code)
        .join(Programme, Programme.id == Organisation.programme_id)
        .where(Organisation.programme_id.in_(ids))
        .order_by(Organisation.name)
    ).all()
    return [_organisation_out(org, code) for org, code in rows]


def add_organisation(db: Session, scope: Scope, data: OrganisationIn) -> OrganisationOut:
    programme = scope.programme(db, data.programme)
    dup = db.scalar(
        select(Organisation).where(Organisation.programme_id == programme.id, Organisation.name == data.name)
    )
    if dup is not None:
        raise Problem(409, f"Organisation {data.name!r} already exists in {programme.code}.")
    org = Organisation(programme_id=programme.id, name=data.name, acronym=data.acronym)
    db.add(org)
    db.flush()
    db.refresh(org)
    return _organisation_out(org, programme.code)


def get_organisation(db: Session, scope: Scope, organisation_id: int) -> Organisation:
    org = db.get(Organisation, organisation_id)
    if org is None:
        raise Problem(404, f"No organisation {organisation_id}.")
    scope.check(org.programme_id)
    return org


def update_organisation(
    db: Session, scope: Scope, organisation_id: int, data: OrganisationPatch
) -> OrganisationOut:
    org = get_organisation(db, scope, organisation_id)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] != org.name:
        clash = db.scalar(
            select(Organisation).where(
                Organisation.programme_id == org.programme_id, Organisation.name == changes["name"]
            )
        )
        if clash is not None:
            raise Problem(409, f"Organisation {changes['name']!r} already exists in this programme.")
    for key, value in changes.items():
        setattr(org, key, value)
    db.flush()
    code = db.scalar(select(Programme.code).where(Programme.id == org.programme_id))
    return _organisation_out(org, code or "")


_TEAM_SQL = """
SELECT t.id, p.code, t.organisation_id, t.name, t.capabilities,
       ST_AsGeoJSON(t.base_location)::json AS base_location
FROM teams t JOIN programmes p ON p.id = t.programme_id
"""


def _team_rows(db: Session, where: str, params: dict[str, Any]) -> list[TeamOut]:
    rows = db.execute(text(_TEAM_SQL + where + " ORDER BY t.name"), params).all()
    return [
        TeamOut(
            id=r[0], programme=r[1], organisation_id=r[2], name=r[3], capabilities=r[4], base_location=r[5]
        )
        for r in rows
    ]


def list_teams(
    db: Session, scope: Scope, programme: str | None, organisation_id: int | None, capability: str | None
) -> list[TeamOut]:
    params: dict[str, Any] = {"ids": scope.programme_filter(db, programme)}
    where = "WHERE t.programme_id = ANY(:ids)"
    if organisation_id is not None:
        where += " AND t.organisation_id = :org"
        params["org"] = organisation_id
    if capability is not None:
        where += " AND :cap = ANY(t.capabilities)"
        params["cap"] = capability.upper()
    return _team_rows(db, where, params)


def add_team(db: Session, scope: Scope, data: TeamIn) -> TeamOut:
    org = get_organisation(db, scope, data.organisation_id)
    location = None
    if data.base_location is not None:
        location = from_shape(point_from_geojson(data.base_location, "base_location"), srid=4326)
    dup = db.scalar(select(Team).where(Team.organisation_id == org.id, Team.name == data.name))
    if dup is not None:
        raise Problem(409, f"Team {data.name!r} already exists in that organisation.")
    team = Team(
        programme_id=org.programme_id,
        organisation_id=org.id,
        name=data.name,
        capabilities=data.capabilities,
        base_location=location,
    )
    db.add(team)
    db.flush()
    return _team_rows(db, "WHERE t.id = :id", {"id": team.id})[0]


def update_team(db: Session, scope: Scope, team_id: int, data: TeamPatch) -> TeamOut:
    team = db.get(Team, team_id)
    if team is None:
        raise Problem(404, f"No team {team_id}.")
    scope.check(team.programme_id)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is not None:
        team.name = changes["name"]
    if changes.get("capabilities") is not None:
        team.capabilities = changes["capabilities"]
    if "base_location" in changes:
        location = changes["base_location"]
        team.base_location = (
            None if location is None else from_shape(point_from_geojson(location, "base_location"), srid=4326)
        )
    db.flush()
    return _team_rows(db, "WHERE t.id = :id", {"id": team.id})[0]


def admin_areas_sql(
    programme_ids: list[int], level: int | None, after: int, limit: int
) -> tuple[str, dict[str, Any]]:
    """A page of admin-area Feature rows ``(feature json text, id)``, one more than ``limit``."""
    params: dict[str, Any] = {"ids": programme_ids, "after": after, "limit": limit + 1}
    level_clause = ""
    if level is not None:
        level_clause = " AND a.level = :level"
        params["level"] = level
    sql = f"""
        SELECT json_build_object(
            'type', 'Feature', 'id', a.id,
            'geometry', ST_AsGeoJSON(a.geom, 6)::json,
            'properties', json_build_object(
                'programme', p.code, 'level', a.level, 'name', a.name, 'code', a.code,
                'parent_code', a.parent_code)
        )::text, a.id
        FROM admin_areas a JOIN programmes p ON p.id = a.programme_id
        WHERE a.programme_id = ANY(:ids){level_clause} AND a.id > :after
        ORDER BY a.id LIMIT :limit
    """
    return sql, params


def load_admin_areas(
    db: Session,
    path: Path,
    programme_code: str,
    level: int,
    name_field: str,
    code_field: str,
    parent_field: str | None = None,
) -> int:
    """Load (or refresh) admin areas from any vector file GDAL reads. Returns the count."""
    import geopandas as gpd

    programme = db.scalar(select(Programme).where(Programme.code == programme_code.upper()))
    if programme is None:
        raise Problem(404, f"No programme {programme_code!r}; add it first.")
    frame = gpd.read_file(path)
    for field in (name_field, code_field):
        if field not in frame.columns:
            raise Problem(
                422, f"{path.name} has no field {field!r}; fields: {', '.join(map(str, frame.columns))}"
            )
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    count = 0
    for _, row in frame.iterrows():
        geom = row.geometry
        if geom is None or geom.is_empty:
            continue
        if not geom.is_valid:
            from shapely import make_valid

            geom = make_valid(geom)
        polys = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon)]
        multi = MultiPolygon(polys)
        code = str(row[code_field])
        existing = db.scalar(
            select(AdminArea).where(
                AdminArea.programme_id == programme.id, AdminArea.level == level, AdminArea.code == code
            )
        )
        values = dict(
            name=str(row[name_field]),
            parent_code=str(row[parent_field]) if parent_field else None,
            geom=from_shape(multi, srid=4326),
        )
        if existing is None:
            db.add(AdminArea(programme_id=programme.id, level=level, code=code, **values))
        else:
            for key, value in values.items():
                setattr(existing, key, value)
        count += 1
    db.flush()
    return count
