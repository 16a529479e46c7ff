"""Concurrent land releases on one hazard, through a live server: the hazard row lock serialises them."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine

from tests.factories import insert_hazard_area, row
from tests.test_land_release import HAZARD, box, release


@pytest.fixture
def live_url(engine: Engine) -> Iterator[str]:
    from app.main import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _fire(url: str, headers: dict[str, str], bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Send every body at the same moment, each on its own connection."""
    barrier = threading.Barrier(len(bodies))

    def send(body: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            barrier.wait()
            return http.post("/api/v1/land-releases", json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def test_overlapping_releases_sent_at_once_only_one_is_accepted(
    live_url: str, engine: Engine, coordinator: dict[str, str]
) -> None:
    hazard = insert_hazard_area(engine, HAZARD)
    # Six different polygons that all overlap the middle of the hazard.
    bodies = [release(hazard, box(0.05 * i, 0.05 * i, 0.55 + 0.05 * i, 0.55 + 0.05 * i)) for i in range(6)]
    responses = _fire(live_url, coordinator, bodies)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 422, 422, 422, 422, 422], [r.text for r in responses]
    assert all(r.json()["overlaps"] for r in responses if r.status_code == 422)
    stored = row(
        engine,
        "SELECT count(*) AS n, sum(area_m2) AS released FROM land_releases WHERE hazard_area_id = :id",
        id=hazard,
    )
    hazard_row = row(
        engine, "SELECT area_m2, cleared_m2, remaining_m2 FROM hazard_areas WHERE id = :id", id=hazard
    )
    assert stored.n == 1
    assert abs(hazard_row.cleared_m2 - stored.released) < 1e-6
    assert abs(hazard_row.area_m2 - hazard_row.cleared_m2 - hazard_row.remaining_m2) < 1.0


def test_disjoint_releases_sent_at_once_are_all_accepted(
    live_url: str, engine: Engine, coordinator: dict[str, str]
) -> None:
    hazard = insert_hazard_area(engine, HAZARD)
    quarters = [box(0, 0, 0.5, 0.5), box(0.5, 0, 1, 0.5), box(0, 0.5, 0.5, 1), box(0.5, 0.5, 1, 1)]
    responses = _fire(live_url, coordinator, [release(hazard, q) for q in quarters])
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    hazard_row = row(
        engine, "SELECT area_m2, cleared_m2, remaining_m2, status FROM hazard_areas WHERE id = :id", id=hazard
    )
    assert hazard_row.status == "closed"
    assert hazard_row.remaining_m2 < 1.0
    assert abs(hazard_row.area_m2 - hazard_row.cleared_m2 - hazard_row.remaining_m2) < 1.0
