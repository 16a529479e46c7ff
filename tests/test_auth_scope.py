"""Authentication, roles, programme scope, sessions and CSRF."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient


def test_api_needs_a_token(client: TestClient) -> None:
    response = client.get("/api/v1/programmes")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


def test_bad_or_malformed_token_is_401(client: TestClient) -> None:
    for header in ("Bearer sg_not-a-real-token", "Basic Zm9vOmJhcg==", "Bearer "):
        response = client.get("/api/v1/programmes", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert "detail" in response.json()


def test_health_is_open(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["postgis"].startswith("3.")


def test_user_sees_only_their_programmes(
    client: TestClient, make_user: Callable[..., dict[str, str]]
) -> None:
    libya = make_user("coordinator", ("LBY",))
    both = make_user("admin", ("SOM", "LBY"))
    assert [p["code"] for p in client.get("/api/v1/programmes", headers=libya).json()] == ["LBY"]
    assert [p["code"] for p in client.get("/api/v1/programmes", headers=both).json()] == ["LBY", "SOM"]

    orgs = client.get("/api/v1/organisations", headers=libya).json()
    assert orgs and {o["programme"] for o in orgs} == {"LBY"}
    teams = client.get("/api/v1/teams", headers=libya).json()
    assert teams and {t["programme"] for t in teams} == {"LBY"}

    areas = client.get("/api/v1/admin-areas", headers=libya).json()
    assert areas["type"] == "FeatureCollection"
    assert len(areas["features"]) == 22
    assert {f["properties"]["programme"] for f in areas["features"]} == {"LBY"}

    # Asking for another programme explicitly is refused, not silently emptied.
    for path in ("/api/v1/organisations", "/api/v1/teams", "/api/v1/admin-areas"):
        response = client.get(path, params={"programme": "SOM"}, headers=libya)
        assert response.status_code == 403, path


def test_admin_areas_page_through_without_gaps(client: TestClient, admin: dict[str, str]) -> None:
    seen: list[int] = []
    url: str | None = "/api/v1/admin-areas?limit=7"
    while url:
        page = client.get(url, headers=admin).json()
        seen += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert len(seen) == len(set(seen)) == 18 + 22


def test_roles_guard_writes(client: TestClient, make_user: Callable[..., dict[str, str]]) -> None:
    surveyor = make_user("surveyor", ("SOM",))
    response = client.post(
        "/api/v1/organisations", json={"programme": "SOM", "name": "New NGO"}, headers=surveyor
    )
    assert response.status_code == 403
    coordinator = make_user("coordinator", ("SOM",))
    response = client.post(
        "/api/v1/organisations", json={"programme": "SOM", "name": "New NGO"}, headers=coordinator
    )
    assert response.status_code == 201
    assert response.json()["programme"] == "SOM"
    # …but not in a programme they do not belong to.
    response = client.post(
        "/api/v1/organisations", json={"programme": "LBY", "name": "New NGO"}, headers=coordinator
    )
    assert response.status_code == 403


def test_team_in_other_programmes_organisation_is_not_found(
    client: TestClient, make_user: Callable[..., dict[str, str]]
) -> None:
    somalia = make_user("coordinator", ("SOM",))
    libya = make_user("coordinator", ("LBY",))
    lby_org = client.get("/api/v1/organisations", headers=libya).json()[0]["id"]
    response = client.post(
        "/api/v1/teams", json={"organisation_id": lby_org, "name": "Sneaky"}, headers=somalia
    )
    assert response.status_code == 404
    response = client.post(
        "/api/v1/teams",
        json={
            "organisation_id": lby_org,
            "name": "EOD 9",
            "capabilities": ["eod3"],
            "base_location": {"type": "Point", "coordinates": [13.2, 32.9]},
        },
        headers=libya,
    )
    assert response.status_code == 201
    assert response.json()["capabilities"] == ["EOD3"]
    assert response.json()["base_location"]["coordinates"] == [13.2, 32.9]


def test_login_session_and_csrf(client: TestClient, make_user: Callable[..., dict[str, str]]) -> None:
    make_user("coordinator", ("SOM",), username="amina", password="correct horse battery")
    # A page without a session sends the visitor to /login.
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")

    bad = client.post("/login", data={"username": "amina", "password": "wrong"}, follow_redirects=False)
    assert bad.status_code == 401
    assert "sg_session" not in client.cookies

    ok = client.post(
        "/login",
        data={"username": "amina", "password": "correct horse battery", "next": "/"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie

    me = client.get("/api/v1/me").json()
    assert me["username"] == "amina" and me["via"] == "session"
    assert client.get("/").status_code == 200

    # A cookie-authenticated write without the CSRF header is refused; with it, it works.
    body = {"programme": "SOM", "name": "Cookie NGO"}
    assert client.post("/api/v1/organisations", json=body).status_code == 403
    response = client.post("/api/v1/organisations", json=body, headers={"X-CSRF-Token": me["csrf_token"]})
    assert response.status_code == 201

    assert (
        client.post("/logout", headers={"X-CSRF-Token": me["csrf_token"]}, follow_redirects=False).status_code
        == 303
    )
    assert client.get("/api/v1/me").status_code == 401


def test_login_redirect_stays_on_site(client: TestClient, make_user: Callable[..., dict[str, str]]) -> None:
    make_user("coordinator", ("SOM",), username="omar", password="pw-omar-123")
    response = client.post(
        "/login",
        data={"username": "omar", "password": "pw-omar-123", "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/map"


def test_managers_update_organisations_and_teams(
    client: TestClient, make_user: Callable[..., dict[str, str]], sql: Callable[..., list[Any]]
) -> None:
    coordinator = make_user("coordinator", ("SOM",))
    surveyor = make_user("surveyor", ("SOM",))
    libya = make_user("coordinator", ("LBY",))
    org = client.get("/api/v1/organisations", headers=coordinator).json()[0]
    team = client.get("/api/v1/teams", headers=coordinator).json()[0]

    assert (
        client.patch(
            f"/api/v1/organisations/{org['id']}", json={"acronym": "X"}, headers=surveyor
        ).status_code
        == 403
    )
    assert (
        client.patch(f"/api/v1/organisations/{org['id']}", json={"acronym": "X"}, headers=libya).status_code
        == 404
    )
    response = client.patch(
        f"/api/v1/organisations/{org['id']}", json={"acronym": "NEW"}, headers=coordinator
    )
    assert response.status_code == 200 and response.json()["acronym"] == "NEW"

    response = client.patch(
        f"/api/v1/teams/{team['id']}",
        json={"capabilities": ["mdd", "TS"], "base_location": {"type": "Point", "coordinates": [45.3, 2.05]}},
        headers=coordinator,
    )
    assert response.status_code == 200
    assert response.json()["capabilities"] == ["MDD", "TS"]
    bad = client.patch(f"/api/v1/teams/{team['id']}", json={"capabilities": ["flying"]}, headers=coordinator)
    assert bad.status_code == 422
    off_globe = client.patch(
        f"/api/v1/teams/{team['id']}",
        json={"base_location": {"type": "Point", "coordinates": [200, 2]}},
        headers=coordinator,
    )
    assert off_globe.status_code == 422
    assert sql("SELECT capabilities FROM teams WHERE id = :id", id=team["id"])[0][0] == ["MDD", "TS"]
    actions = sql(
        "SELECT action FROM audit_log WHERE table_name = 'teams' AND record_id = :id", id=str(team["id"])
    )
    assert ("update",) in actions
