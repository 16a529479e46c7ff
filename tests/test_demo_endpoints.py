"""Every map layer and partner endpoint answers on the demo data (real records of every kind).

Collection tests elsewhere use small hand-made data; this one catches what only appears with
every kind of record present together (dates, items, visits, releases), as a user of `make demo`
sees it.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from app.demo import load_demo


@pytest.fixture
def demo_client(client: TestClient) -> TestClient:
    load_demo(Console(quiet=True))
    return client


def _headers(client: TestClient, make_user: Any, role: str) -> dict[str, str]:
    return make_user(role, ("SOM", "LBY"))  # type: ignore[no-any-return]


def test_every_collection_answers_on_demo_data(demo_client: TestClient, make_user: Any) -> None:
    for role in ("coordinator", "partner"):
        headers = _headers(demo_client, make_user, role)
        collections = demo_client.get("/ogc/collections", headers=headers)
        assert collections.status_code == 200, collections.text
        ids = [c["id"] for c in collections.json()["collections"]]
        assert "hazard_areas" in ids
        for cid in ids:
            for path in (
                f"/ogc/collections/{cid}",
                f"/ogc/collections/{cid}/items?limit=5",
                f"/ogc/collections/{cid}/queryables",
                f"/ogc/collections/{cid}/tiles/WebMercatorQuad",
                f"/ogc/collections/{cid}/tiles/WebMercatorQuad/5/15/19",
            ):
                response = demo_client.get(path, headers=headers)
                assert response.status_code in (200, 204), (
                    f"{role} {path}: {response.status_code} {response.text[:300]}"
                )


def test_staff_see_every_kind_of_demo_record(demo_client: TestClient, make_user: Any) -> None:
    headers = _headers(demo_client, make_user, "coordinator")
    for path in (
        "/api/v1/hazard-areas?limit=5",
        "/api/v1/surveys?limit=5",
        "/api/v1/tasks?limit=5",
        "/api/v1/eo-items?limit=5",
        "/api/v1/land-releases?limit=5",
        "/api/v1/qa-visits?limit=5",
    ):
        response = demo_client.get(path, headers=headers)
        assert response.status_code == 200, f"{path}: {response.text[:300]}"
        body = response.json()
        features = body["features"] if isinstance(body, dict) and "features" in body else body
        assert features, f"{path} is empty on the demo data"
    summary = demo_client.get("/api/v1/summaries/land-release?group_by=admin1", headers=headers)
    assert summary.status_code == 200 and summary.json()["rows"]
