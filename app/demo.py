"""Demo data: Somalia and Libya programmes on their real admin-1 boundaries, organisations,
teams, one user per role, and each domain package's synthetic records.

Loading is idempotent: a second run finds what is there and adds no duplicates.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from rich.console import Console
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.auth.models import ApiToken, User
from app.auth.service import create_user, issue_token
from app.db import session_scope
from app.reference.models import AdminArea, Organisation, Team
from app.reference.service import add_programme, load_admin_areas

BOUNDARIES = Path(__file__).parent / "data" / "boundaries"

PROGRAMMES = [
    ("SOM", "Somalia", "SOM", [32637, 32638, 32639, 32737, 32738], "SOM_ADM1.geojson"),
    ("LBY", "Libya", "LBY", [32632, 32633, 32634, 32635], "LBY_ADM1.geojson"),
]

ORGANISATIONS = {
    "SOM": [
        ("The HALO Trust", "HALO"),
        ("Mines Advisory Group", "MAG"),
        ("Somali Explosive Management Authority", "SEMA"),
    ],
    "LBY": [
        ("Danish Demining Group", "DDG"),
        ("Libyan Mine Action Centre", "LibMAC"),
        ("Mines Advisory Group", "MAG"),
    ],
}

# (name suffix, capabilities, base location lon/lat) per organisation index
TEAMS = {
    "SOM": [
        ("NTS 1", ["NTS"], (45.34, 2.05)),
        ("Manual 1", ["TS", "MANUAL"], (44.06, 1.71)),
        ("EOD 1", ["EOD2"], (42.55, 3.13)),
        ("QA 1", ["QA"], (45.34, 2.04)),
        ("Mechanical 1", ["MECHANICAL", "TS"], (43.65, 3.12)),
        ("MDD 1", ["MDD", "TS"], (44.07, 9.56)),
    ],
    "LBY": [
        ("NTS 1", ["NTS"], (13.19, 32.88)),
        ("Manual 1", ["TS", "MANUAL"], (20.07, 32.12)),
        ("EOD 1", ["EOD3"], (15.09, 32.37)),
        ("QA 1", ["QA"], (13.18, 32.89)),
        ("Mechanical 1", ["MECHANICAL", "TS"], (16.59, 31.21)),
        ("BAC 1", ["EOD1", "TS"], (22.64, 32.76)),
    ],
}

ROLES = ["admin", "coordinator", "surveyor", "qa_officer", "partner"]

# Each domain package's demo module has ``load(db: Session, console: Console) -> None``.
DEMO_MODULES = ["survey.demo", "survey.nts.demo", "tasks.demo", "clearance.demo"]


def _reference_data(db: Session) -> None:
    for code, name, iso3, utm, boundary_file in PROGRAMMES:
        programme = add_programme(db, code, name, iso3, utm)
        has_areas = db.scalar(
            select(func.count()).select_from(AdminArea).where(AdminArea.programme_id == programme.id)
        )
        if not has_areas:
            load_admin_areas(db, BOUNDARIES / boundary_file, code, 1, "shapeName", "shapeISO")
        orgs: list[Organisation] = []
        for org_name, acronym in ORGANISATIONS[code]:
            org = db.scalar(
                select(Organisation).where(
                    Organisation.programme_id == programme.id, Organisation.name == org_name
                )
            )
            if org is None:
                org = Organisation(programme_id=programme.id, name=org_name, acronym=acronym)
                db.add(org)
                db.flush()
            orgs.append(org)
        # Teams are spread over the organisations in turn.
        for index, (suffix, capabilities, (lon, lat)) in enumerate(TEAMS[code]):
            org = orgs[index % len(orgs)]
            team_name = f"{org.acronym} {suffix}"
            if db.scalar(select(Team).where(Team.organisation_id == org.id, Team.name == team_name)) is None:
                db.add(
                    Team(
                        programme_id=programme.id,
                        organisation_id=org.id,
                        name=team_name,
                        capabilities=capabilities,
                        base_location=f"SRID=4326;POINT({lon} {lat})",
                    )
                )
    db.flush()


def _users(db: Session) -> list[tuple[str, str, str, str]]:
    """One demo user per role in both programmes; fresh tokens each start (old ones revoked)."""
    logins = []
    for role in ROLES:
        username = f"demo-{role.replace('_', '-')}"
        password = f"{username}-pass"
        user = db.scalar(select(User).where(User.username == username))
        if user is None:
            user = create_user(db, username, role, [p[0] for p in PROGRAMMES], password)
        else:
            db.execute(
                update(ApiToken)
                .where(ApiToken.user_id == user.id, ApiToken.name == "demo")
                .values(revoked=True)
            )
        token = issue_token(db, user, name="demo")
        logins.append((username, role, password, token))
    return logins


def load_demo(console: Console | None = None) -> list[tuple[str, str, str, str]]:
    console = console or Console()
    with session_scope("demo") as db:
        console.print("demo: programmes, admin areas, organisations, teams")
        _reference_data(db)
        for module_name in DEMO_MODULES:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError:
                continue  # that package has no demo data yet
            module.load(db, console)
        logins = _users(db)
    return logins
