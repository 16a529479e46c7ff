"""Every operation of the API, fed hostile input: never a 500, always problem+json.

A small sweep in the spirit of schemathesis (which found a NUL character answered with a 500):
each operation in the OpenAPI document gets malformed, hostile and out-of-range JSON bodies and
query values, as an admin of both programmes, with ids that exist.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from shapely.geometry import box

from tests.factories import insert_hazard_area

BODIES = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"{not json",
    b'{"programme": "SOM\\u0000", "name": "x"}',
    b'{"programme": "SOM", "name": "\\ud800", "reason": "\\udfff"}',
    b'{"programme": 1e999, "limit": 99999999999999999999999, "weights": {"age": -1e308}}',
    b'{"geometry": {"type": "Polygon", "coordinates": [[[1e999, 0], [0, 1], [1, 1], [1e999, 0]]]}}',
    b'{"geometry": {"type": "GeometryCollection", "geometries": []}, "properties": []}',
    b"[" * 3000 + b"]" * 3000,
    b'{"name": "\\u0000", "deep": ' + b"[" * 3000 + b"]" * 3000 + b"}",
]
QUERY_VALUES = ["", "%00", "1e999", "-1", "99999999999999999999", "NaN", "x" * 3000, "1,2", "%ED%A0%80"]


def test_no_operation_answers_500_to_hostile_input(
    client: TestClient, admin: dict[str, str], engine: Any
) -> None:
    # Ids that exist, so that hostile input reaches the handlers behind the 404s.
    insert_hazard_area(engine, box(45.30, 2.03, 45.31, 2.04).wkt)
    spec = client.get("/openapi.json").json()
    failures: list[str] = []
    requests = 0
    for path, operations in spec["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method, operation in operations.items():
            headers = {**admin, "If-Match": '"1"'}
            if method in ("post", "put", "patch"):
                for body in BODIES:
                    response = client.request(
                        method,
                        concrete,
                        content=body,
                        headers={**headers, "content-type": "application/json"},
                    )
                    requests += 1
                    _judge(response, f"{method.upper()} {concrete} body {body[:50]!r}", failures)
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                for value in QUERY_VALUES:
                    url = f"{concrete}?{parameter['name']}={value}"
                    response = client.request(method, url, headers=headers)
                    requests += 1
                    _judge(response, f"{method.upper()} {url[:120]}", failures)
    assert requests > 1000  # not vacuous: the document lists every operation
    assert not failures, "\n".join(failures[:20])


def _judge(response: Any, what: str, failures: list[str]) -> None:
    if response.status_code >= 500:
        failures.append(f"{what}: {response.status_code} {response.text[:200]}")
    elif response.status_code >= 400 and not response.headers.get("content-type", "").startswith(
        "application/problem+json"
    ):
        failures.append(f"{what}: {response.status_code} without problem+json")
