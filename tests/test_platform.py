"""Errors as problem+json, audit log, body limits, health recovery, migrations, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from app import db as app_db


def test_unknown_route_is_problem_json(client: TestClient) -> None:
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Not Found"


def test_validation_error_names_the_field(client: TestClient, coordinator: dict[str, str]) -> None:
    response = client.post("/api/v1/organisations", json={"programme": "SOM"}, headers=coordinator)
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["field"] == "body.name" for e in body["errors"])
    response = client.post(
        "/api/v1/organisations",
        content=b"{not json",
        headers={**coordinator, "content-type": "application/json"},
    )
    assert response.status_code == 422


def test_oversized_body_is_413(client: TestClient, coordinator: dict[str, str]) -> None:
    big = b"x" * (6 * 1024 * 1024)
    response = client.post(
        "/api/v1/organisations", content=big, headers={**coordinator, "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_text_postgresql_cannot_store_is_422_naming_where_and_changes_nothing(
    client: TestClient, coordinator: dict[str, str], sql: Callable[..., list[Any]]
) -> None:
    """NUL characters and unpaired UTF-16 surrogates (JSON spells them \\u0000 and \\ud800)
    cannot be stored by PostgreSQL; psycopg2 refused them with an error that became a 500."""
    before = sql("SELECT (SELECT count(*) FROM surveys), (SELECT count(*) FROM audit_log)")
    survey = {"programme": "SOM", "survey_date": "2026-03-01", "method": "other", "organisation_id": 1}
    cases = [
        (
            client.post("/api/v1/surveys", json={**survey, "programme": "SOM\u0000"}, headers=coordinator),
            "programme",
        ),
        (
            client.post(
                "/api/v1/surveys",
                content=b'{"programme": "SOM", "survey_date": "2026-03-01", "method": "other", '
                b'"location_name": "Kismayo", "outcomes": [{"note": "ok"}, {"note": "x\\ud8f4y"}]}',
                headers={**coordinator, "content-type": "application/json"},
            ),
            "outcomes[1].note",
        ),
        (
            client.get("/api/v1/hazard-areas?programme=SO%00M", headers=coordinator),
            "query parameter programme",
        ),
        (client.post("/login", data={"username": "amina\u0000", "password": "x"}), "form field username"),
    ]
    for response, where in cases:
        assert response.status_code == 422, (where, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == where
    # Where the guard cannot look (a multipart form field), the database driver's refusal is a
    # 422 too, with nothing written.
    upload = client.post(
        "/api/v1/imports",
        files={"file": ("a.geojson", b'{"type": "FeatureCollection", "features": []}')},
        data={"programme": "SOM\u0000", "layer": "hazard_areas"},
        headers=coordinator,
    )
    assert upload.status_code == 422, upload.text
    assert sql("SELECT (SELECT count(*) FROM surveys), (SELECT count(*) FROM audit_log)") == before


def test_a_streamed_answer_to_a_json_post_arrives_whole_from_a_real_server(
    live_server: Any, coordinator: dict[str, str]
) -> None:
    """The text guard reads JSON bodies before the app does; the app must still see the client
    connected while it streams its answer (a premature "disconnect" cut it off mid-way)."""
    import httpx

    response = httpx.post(
        f"{live_server.url}/api/v1/planning/queue", json={"programme": "SOM"}, headers=coordinator, timeout=30
    )
    assert response.status_code == 200
    assert response.json()["type"] == "FeatureCollection"


def test_every_write_is_audited_with_actor(
    client: TestClient, make_user: Callable[..., dict[str, str]], sql: Callable[..., list[Any]]
) -> None:
    headers = make_user("coordinator", ("SOM",), username="fatima")
    created = client.post(
        "/api/v1/organisations", json={"programme": "SOM", "name": "Audit NGO"}, headers=headers
    ).json()
    rows = sql(
        "SELECT actor, action, after->>'name' FROM audit_log "
        "WHERE table_name = 'organisations' AND record_id = :id",
        id=str(created["id"]),
    )
    assert rows == [("fatima", "insert", "Audit NGO")]
    # Secrets never reach the log.
    user_rows = sql("SELECT after FROM audit_log WHERE table_name IN ('users', 'api_tokens')")
    assert user_rows and all("password_hash" not in r[0] and "token_hash" not in r[0] for r in user_rows)


def test_failed_write_leaves_no_audit_row(
    client: TestClient, coordinator: dict[str, str], sql: Callable[..., list[Any]]
) -> None:
    before = sql("SELECT count(*) FROM audit_log")[0][0]
    body = {"programme": "SOM", "name": "The HALO Trust"}  # exists in the seed
    assert client.post("/api/v1/organisations", json=body, headers=coordinator).status_code == 409
    assert sql("SELECT count(*) FROM audit_log")[0][0] == before


def test_health_503_then_recovers(client: TestClient, engine: Any) -> None:
    dead = create_engine("postgresql+psycopg2://nobody:x@127.0.0.1:9/none", pool_pre_ping=True)
    app_db.set_engine(dead)
    try:
        response = client.get("/health")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
    finally:
        app_db.set_engine(engine)
    assert client.get("/health").status_code == 200


def test_migrations_up_down_up(empty_database_url: str) -> None:
    from app import migrate

    migrate.upgrade(empty_database_url)
    migrate.downgrade(empty_database_url, "base")
    engine = create_engine(empty_database_url)
    with engine.connect() as conn:
        tables = conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys'"
        ).all()
    assert [t for t in tables if t[0] != "alembic_version"] == []
    migrate.upgrade(empty_database_url)
    engine.dispose()


def test_downgrade_gives_lean_insert_audit_rows_their_copy_back(empty_database_url: str) -> None:
    """Migration 0010 stops copying inserted hazard areas into the audit log, 0011 leaves their
    remaining geometry NULL; going back to 0009 writes both out, so that 0009's readers find
    every version and every remaining geometry again."""
    from app import migrate

    migrate.upgrade(empty_database_url)
    engine = create_engine(empty_database_url)
    polygon = "ST_Multi(ST_MakeEnvelope(45.30, 2.00, 45.31, 2.01, 4326))"
    with engine.begin() as conn:
        programme = conn.exec_driver_sql(
            "INSERT INTO programmes (code, name, iso3) VALUES ('TST', 'Test', 'TST') RETURNING id"
        ).scalar_one()
        for name in ("kept", "edited"):
            conn.exec_driver_sql(
                "INSERT INTO hazard_areas (programme_id, reference, name, classification, geom) "
                f"VALUES ({programme}, 'TST-HA-{name}', '{name}', 'SHA', {polygon})"
            )
        conn.exec_driver_sql("UPDATE hazard_areas SET name = 'changed' WHERE name = 'edited'")
        lean = conn.exec_driver_sql(
            "SELECT count(*) FROM audit_log WHERE action = 'insert' AND after IS NULL"
        ).scalar_one()
    assert lean == 2
    migrate.downgrade(empty_database_url, "0009")
    with engine.connect() as conn:
        inserted = conn.exec_driver_sql(
            "SELECT after->>'name', after->>'geom' = (SELECT geom::text FROM hazard_areas LIMIT 1), "
            "after ? 'remaining_geom' FROM audit_log WHERE table_name = 'hazard_areas' AND action = 'insert' "
            "ORDER BY id"
        ).all()
    assert inserted == [("kept", True, False), ("edited", True, False)]
    with engine.connect() as conn:  # 0011's NULL remaining geometries are written out again
        remaining = conn.exec_driver_sql("SELECT bool_and(ST_Equals(remaining_geom, geom)) FROM hazard_areas")
        assert remaining.scalar_one() is True
    migrate.upgrade(empty_database_url)
    engine.dispose()


def test_items_recorded_before_reviews_existed_stay_counted(empty_database_url: str) -> None:
    """Migration 0013 gives EOD items a review status: finds already recorded (which counted
    in the figures) become approved; a find reported afterwards waits as submitted."""
    from app import migrate

    migrate.upgrade(empty_database_url, "0012")
    engine = create_engine(empty_database_url)

    def add_item() -> None:
        conn.exec_driver_sql(
            "INSERT INTO eo_items (programme_id, task_id, catalogue_id, quantity, disposal_method, found_on) "
            "SELECT t.programme_id, t.id, c.id, 1, 'destroyed_in_situ', '2026-01-01' "
            "FROM tasks t, eo_catalogue c LIMIT 1"
        )

    with engine.begin() as conn:
        programme = conn.exec_driver_sql(
            "INSERT INTO programmes (code, name, iso3) VALUES ('TST', 'Test', 'TST') RETURNING id"
        ).scalar_one()
        conn.exec_driver_sql(
            f"INSERT INTO tasks (programme_id, reference, type, status) VALUES ({programme}, 'T-1', 'eod_spot', "
            "'in_progress')"
        )
        add_item()
    migrate.upgrade(empty_database_url)
    with engine.begin() as conn:
        add_item()
        statuses = conn.exec_driver_sql("SELECT review_status FROM eo_items ORDER BY id").scalars().all()
    assert statuses == ["approved", "submitted"]
    migrate.downgrade(empty_database_url, "0012")
    migrate.upgrade(empty_database_url)
    engine.dispose()


def test_models_match_migrations(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from app.migrate import include_object
    from app.models import metadata

    engine = create_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True}
        )
        assert compare_metadata(context, metadata) == []
    engine.dispose()


def _cli(args: list[str], url: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAFEGROUND_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=120,
    )


def test_cli_user_add_prints_a_working_token(database_url: str, client: TestClient) -> None:
    result = _cli(["user", "add", "hodan", "--role", "partner", "--programme", "SOM"], database_url)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["role"] == "partner"

    result = _cli(["user", "add", "hodan2", "--role", "pilot", "--programme", "SOM"], database_url)
    assert result.returncode != 0
    assert "Unknown role" in result.stdout


def test_cli_programme_and_admin_areas(
    database_url: str, tmp_path: Any, client: TestClient, admin: dict[str, str]
) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    path = tmp_path / "areas.gpkg"
    gpd.GeoDataFrame(
        {"NAME": ["North", "South"], "PCODE": ["XX01", "XX02"]},
        geometry=[box(10, 10, 11, 11), box(10, 9, 11, 10)],
        crs="EPSG:4326",
    ).to_file(path)
    assert (
        _cli(
            ["programme", "add", "XXX", "--name", "Testland", "--iso3", "XTL", "--utm-epsg", "32633"],
            database_url,
        ).returncode
        == 0
    )
    result = _cli(
        [
            "admin-areas",
            "load",
            str(path),
            "--programme",
            "XXX",
            "--level",
            "1",
            "--name-field",
            "NAME",
            "--code-field",
            "PCODE",
        ],
        database_url,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 admin-1 areas" in result.stdout
    # Loading again refreshes instead of duplicating.
    assert (
        _cli(
            [
                "admin-areas",
                "load",
                str(path),
                "--programme",
                "XXX",
                "--name-field",
                "NAME",
                "--code-field",
                "PCODE",
            ],
            database_url,
        ).returncode
        == 0
    )
    from sqlalchemy import text

    with app_db.get_engine().connect() as conn:
        count = conn.execute(
            text(
                "SELECT count(*) FROM admin_areas a JOIN programmes p ON p.id = a.programme_id "
                "WHERE p.code = 'XXX'"
            )
        ).scalar_one()
    assert count == 2


@pytest.mark.parametrize("field", ["name", "code"])
def test_cli_admin_areas_unknown_field(database_url: str, tmp_path: Any, field: str) -> None:
    path = tmp_path / "a.geojson"
    path.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"n":"a"},'
        '"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}'
    )
    args = ["admin-areas", "load", str(path), "--programme", "SOM", "--name-field", "n", "--code-field", "n"]
    args[args.index(f"--{field}-field") + 1] = "missing"
    result = _cli(args, database_url)
    assert result.returncode == 1
    assert "no field 'missing'" in result.stdout
