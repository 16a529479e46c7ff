"""Property-based test of the land-release accounting rules, against the real PostGIS.

Hypothesis draws a hazard (one to three rectangles: L-shapes, multipart hazards) and a
sequence of operations on it: releases of random (multipart) polygons that may lie inside,
overlap earlier releases, stick out of the hazard, or stop a few centimetres short of an edge
(slivers); cancelling the whole remainder; rejecting a release (its land comes back) and
resubmitting it. After every step the database must satisfy the accounting rules.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon, box, mapping
from shapely.ops import unary_union
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.auth.service import Principal
from app.db import new_session
from app.deps import Scope
from app.errors import Problem
from app.settings import get_settings
from clearance import service
from clearance.schemas import CancelIn, LandReleaseIn
from tests.factories import insert_hazard_area

# The hazard lives in a 0.002° square (about 222 m) near Kismayo, south of the equator.
X0, Y0, D = 42.520, -0.360, 0.002
SX = D * 111_320 * math.cos(math.radians(Y0))  # metres per unit, approximately
SY = D * 110_574


def to_lonlat(geom: Any) -> Any:
    return affinity.affine_transform(geom, [D, 0, 0, D, X0, Y0])


def to_metres(geom: Any) -> Any:
    """Unit square coordinates to approximate metres, for predicting clear-cut outcomes."""
    return affinity.scale(geom, SX, SY, origin=(0, 0))


def from_lonlat(geom: Any) -> Any:
    return affinity.affine_transform(geom, [1 / D, 0, 0, 1 / D, -X0 / D, -Y0 / D])


start = st.integers(min_value=0, max_value=9)
size = st.integers(min_value=2, max_value=10)
rectangles = st.tuples(start, start, size, size).map(
    lambda t: (t[0], t[1], min(10, t[0] + t[2]), min(10, t[1] + t[3]))
)
hazards = st.lists(rectangles, min_size=1, max_size=3)
# The whole scene may be turned, so that edges are not all along meridians and parallels.
angles = st.sampled_from([0, 0, 17, 33, 45])

# A release is a rectangle inside one of the hazard's rectangles (valid unless released
# already), optionally spilling out of it, or nudged 0.02–0.2 m short of its grid lines
# (slivers), or anywhere at all (mostly outside).
nudge = st.sampled_from([0.0, 0.0, 0.0, 1e-4, -1e-4, 1e-3, -1e-3])
release_rect = st.tuples(
    st.sampled_from(["inside", "inside", "inside", "spill", "anywhere"]),
    st.integers(min_value=0, max_value=2),  # which hazard rectangle
    st.tuples(*[st.integers(min_value=0, max_value=10)] * 4),  # tenths of that rectangle
    nudge,
    nudge,
)
release_op = st.tuples(
    st.just("release"),
    st.sampled_from(["cancelled", "reduced", "cleared"]),
    st.lists(release_rect, min_size=1, max_size=2),
)
operations = st.lists(
    st.one_of(
        release_op,
        release_op,
        release_op,
        st.tuples(st.just("cancel_rest")),
        st.tuples(st.just("reject"), st.integers(min_value=0, max_value=7)),
        st.tuples(st.just("resubmit"), st.integers(min_value=0, max_value=7)),
    ),
    min_size=1,
    max_size=7,
)


def rect_shape(r: tuple[Any, ...], hazard_rects: list[Any]) -> Polygon:
    kind, which, (a, b, c, d), dx, dy = r
    if kind == "anywhere":
        x1, x2 = sorted((a / 10 * 1.4 - 0.2, c / 10 * 1.4 - 0.2))
        y1, y2 = sorted((b / 10 * 1.4 - 0.2, d / 10 * 1.4 - 0.2))
    else:
        hx1, hy1, hx2, hy2 = (v / 10 for v in hazard_rects[which % len(hazard_rects)])
        fx1, fx2 = sorted((a / 10, c / 10))
        fy1, fy2 = sorted((b / 10, d / 10))
        x1, x2 = hx1 + fx1 * (hx2 - hx1), hx1 + fx2 * (hx2 - hx1)
        y1, y2 = hy1 + fy1 * (hy2 - hy1), hy1 + fy2 * (hy2 - hy1)
        if kind == "spill":
            x1, y1, x2, y2 = x1 - 0.1, y1 - 0.1, x2 + 0.1, y2 + 0.1
    if x2 - x1 < 0.01 or y2 - y1 < 0.01:
        x2, y2 = x1 + 0.05, y1 + 0.05
    return box(x1 + dx, y1 + dy, x2 - dx, y2 - dy)


def as_multi(geom: Any) -> MultiPolygon:
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    return MultiPolygon([g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)])


def state(engine: Engine, hazard_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        h = (
            conn.execute(
                text(
                    "SELECT area_m2, cancelled_m2, reduced_m2, cleared_m2, remaining_m2, status, version, "
                    "ST_Area(coalesce(remaining_geom, geom)::geography) AS remaining_geom_m2, "
                    "ST_AsText(coalesce(remaining_geom, geom)) AS remaining_wkt FROM hazard_areas WHERE id = :id"
                ),
                {"id": hazard_id},
            )
            .mappings()
            .one()
        )
        sums = (
            conn.execute(
                text(
                    "SELECT coalesce(sum(area_m2) FILTER (WHERE method = 'cancelled'), 0) AS c, "
                    "coalesce(sum(area_m2) FILTER (WHERE method = 'reduced'), 0) AS r, "
                    "coalesce(sum(area_m2) FILTER (WHERE method = 'cleared'), 0) AS cl, count(*) AS n "
                    "FROM land_releases WHERE hazard_area_id = :id AND review_status <> 'rejected'"
                ),
                {"id": hazard_id},
            )
            .mappings()
            .one()
        )
        overlap = conn.execute(
            text(
                "SELECT coalesce(max(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0) "
                "FROM land_releases a JOIN land_releases b ON a.id < b.id "
                "AND a.hazard_area_id = b.hazard_area_id AND ST_Intersects(a.geom, b.geom) "
                "WHERE a.hazard_area_id = :id AND a.review_status <> 'rejected' AND b.review_status <> 'rejected'"
            ),
            {"id": hazard_id},
        ).scalar_one()
        geometry = (
            conn.execute(
                text(
                    """
                    SELECT
                      coalesce((SELECT max(ST_Area(ST_Difference(r.geom, h.geom)::geography))
                                FROM land_releases r WHERE r.hazard_area_id = h.id), 0) AS outside,
                      ST_Area(ST_SymDifference(coalesce(h.remaining_geom, h.geom), coalesce(
                          ST_Difference(h.geom, (SELECT ST_Union(r.geom) FROM land_releases r
                              WHERE r.hazard_area_id = h.id AND r.review_status <> 'rejected')),
                          h.geom))::geography) AS remaining_error,
                      (SELECT coalesce(min(ST_Area(d.geom::geography)), 1e9)
                       FROM ST_Dump(coalesce(h.remaining_geom, h.geom)) d) AS smallest_remaining_part
                    FROM hazard_areas h WHERE h.id = :id
                    """
                ),
                {"id": hazard_id},
            )
            .mappings()
            .one()
        )
        releases = conn.execute(
            text("SELECT id, review_status FROM land_releases WHERE hazard_area_id = :id ORDER BY id"),
            {"id": hazard_id},
        ).all()
    return {
        **h,
        **{f"sum_{k}": v for k, v in sums.items()},
        **geometry,
        "overlap": overlap,
        "releases": releases,
    }


def check_invariants(s: dict[str, Any]) -> None:
    cfg = get_settings()
    tol = cfg.accounting_tolerance_m2
    # The identity, and each figure is the sum of its releases.
    assert (
        abs(s["area_m2"] - (s["cancelled_m2"] + s["reduced_m2"] + s["cleared_m2"] + s["remaining_m2"])) <= tol
    )
    assert abs(s["cancelled_m2"] - s["sum_c"]) <= 1e-6
    assert abs(s["reduced_m2"] - s["sum_r"]) <= 1e-6
    assert abs(s["cleared_m2"] - s["sum_cl"]) <= 1e-6
    # Remaining geometry = original minus the released parts, and its area is remaining_m2.
    assert abs(s["remaining_geom_m2"] - s["remaining_m2"]) <= 1e-6
    assert s["remaining_error"] <= tol
    # Releases never overlap each other nor leave the hazard.
    assert s["overlap"] <= 0.01
    assert s["outside"] <= 0.01
    # No numerical dust left in the remainder.
    assert s["smallest_remaining_part"] >= 0.01
    # Status follows the remainder.
    if s["sum_n"]:
        expected = "closed" if s["remaining_m2"] < cfg.closure_threshold_m2 else "worked_on"
        assert s["status"] == expected


@pytest.fixture
def actor(engine: Engine) -> tuple[Principal, Scope]:
    with engine.connect() as conn:
        som = conn.execute(text("SELECT id FROM programmes WHERE code = 'SOM'")).scalar_one()
    principal = Principal(
        user_id=0, username="property-test", role="coordinator", programme_ids=frozenset({som})
    )
    return principal, Scope(principal)


def run(engine: Engine, action: Any) -> bool:
    """Run one operation in its own transaction; False when the service refused it (4xx)."""
    db = new_session("property-test")
    try:
        action(db)
        service.commit(db)
        return True
    except Problem as problem:
        assert 400 <= problem.status < 500, problem.detail
        db.rollback()
        return False
    finally:
        db.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hazard_rects=hazards, angle=angles, ops=operations)
def test_random_release_sequences_keep_the_accounting(
    engine: Engine, actor: tuple[Principal, Scope], hazard_rects: list[Any], angle: int, ops: list[Any]
) -> None:
    principal, scope = actor

    def turn(geom: Any) -> Any:
        return affinity.rotate(geom, angle, origin=(0.5, 0.5))

    shape = turn(unary_union([box(x1 / 10, y1 / 10, x2 / 10, y2 / 10) for x1, y1, x2, y2 in hazard_rects]))
    hazard_id = insert_hazard_area(engine, to_lonlat(shape).wkt)
    tolerance = get_settings().release_tolerance_m
    check_invariants(state(engine, hazard_id))

    for op in ops:
        before = state(engine, hazard_id)
        kind = op[0]
        if kind == "release":
            _, method, rects = op
            geometry = as_multi(turn(unary_union([rect_shape(r, hazard_rects) for r in rects])))
            if geometry.is_empty:
                continue
            data = LandReleaseIn(
                hazard_area_id=hazard_id,
                method=method,
                date="2026-02-01",
                depth_cm=20 if method == "cleared" else None,
                geometry=mapping(to_lonlat(geometry)),
            )
            accepted = run(engine, lambda db, data=data: service.create_release(db, principal, scope, data))
            # Predict the clear-cut cases from the remainder before the step (approximate metres).
            remaining = from_lonlat(_wkt(before["remaining_wkt"]))
            outside = to_metres(geometry).difference(to_metres(remaining).buffer(tolerance)).area
            well_inside = to_metres(geometry).within(to_metres(remaining).buffer(-1.0))
            if outside > 5.0:
                assert not accepted, f"accepted {outside:.1f} m² outside the remainder"
            if well_inside:
                assert accepted, "refused a release well inside the remainder"
        elif kind == "cancel_rest":
            cancel = CancelIn(date="2026-02-02")
            accepted = run(
                engine,
                lambda db, cancel=cancel: service.cancel_hazard_area(db, principal, scope, hazard_id, cancel),
            )
            if before["remaining_m2"] >= 1.0:
                assert accepted
        else:
            ids = [r.id for r in before["releases"]]
            if not ids:
                continue
            release_id = ids[op[1] % len(ids)]
            status = dict(before["releases"])[release_id]
            if kind == "reject":
                if status == "draft":
                    assert run(
                        engine,
                        lambda db, rid=release_id: service.review_release(
                            db, principal, scope, rid, "submit", None, None
                        ),
                    )
                accepted = run(
                    engine,
                    lambda db, rid=release_id: service.review_release(
                        db, principal, scope, rid, "reject", "property test", None
                    ),
                )
                assert accepted == (status in ("draft", "submitted"))
            else:
                accepted = run(
                    engine,
                    lambda db, rid=release_id: service.review_release(
                        db, principal, scope, rid, "submit", None, None
                    ),
                )
        event(f"{kind} {'accepted' if accepted else 'refused'}")
        after = state(engine, hazard_id)
        check_invariants(after)
        if kind in ("release", "cancel_rest") and not accepted:
            # A refused release changes nothing.
            assert after["version"] == before["version"]
            assert after["releases"] == before["releases"]
        if kind == "release" and accepted:
            assert len(after["releases"]) == len(before["releases"]) + 1
            missed, grabbed = _release_vs_request(engine, after["releases"][-1].id, before["remaining_wkt"])
            # All that was asked inside the remainder is released, and little more: what lies
            # beyond the tolerance around the request is only absorbed slivers. Near its edges
            # the request may lose a little: its vertices are snapped to the remainder's within
            # the tolerance (docs/land-release.md), which moves its edges by as much.
            assert missed <= 0.05, f"{missed:.2f} m² of the request inside the remainder not released"
            assert grabbed <= 5.0, f"{grabbed:.2f} m² released away from the request"


def _release_vs_request(engine: Engine, release_id: int, remaining_before_wkt: str) -> tuple[float, float]:
    with engine.connect() as conn:
        missed, grabbed = conn.execute(
            text(
                """
                SELECT ST_Area(ST_Difference(
                           sg_buffer_m(ST_Intersection(r.input_geom, b.g), -(:tol + 0.01)), r.geom)::geography),
                       ST_Area(ST_Difference(r.geom, sg_buffer_m(r.input_geom, :tol + 0.01))::geography)
                FROM land_releases r, (SELECT ST_GeomFromText(:wkt, 4326) AS g) b WHERE r.id = :id
                """
            ),
            {"id": release_id, "wkt": remaining_before_wkt, "tol": get_settings().release_tolerance_m},
        ).one()
    return float(missed), float(grabbed)


def _wkt(value: str) -> Any:
    from shapely import wkt

    return wkt.loads(value)
