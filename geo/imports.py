"""File imports: read, check, find possible duplicates, store all-or-nothing, report.

Used by ``POST /api/v1/imports`` and by ``safeground import``. One call of :func:`run_import`
does the whole job inside the caller's transaction; the caller commits once (or rolls back).

* Everything is vectorised: the file is read in bulk (pyogrio / pandas), reprojected with one
  transform, checked by :func:`geo.checks.check_polygons` (hazard areas), and stored with
  set-based SQL (COPY into a temporary table, then one ``INSERT … SELECT``). No per-feature
  round trips.
* All-or-nothing: when any feature is rejected nothing is stored (the answer is 422 with the
  report), unless ``skip_invalid`` asks to store the valid ones. A dry run stores nothing.
* Idempotent: a file already committed to the same programme and layer (same SHA-256) is not
  stored again; the answer is the earlier import's report (``replayed: true``).
"""

from __future__ import annotations

import gc
import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, cast

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.errors import Problem, is_refusal
from app.reference.models import Programme
from app.settings import Settings, get_settings
from geo.import_models import IMPORT_LAYERS, Import
from geo.io import SourceFrame, read_upload

# From this many polygons on, their areas are computed on a second connection meanwhile; and
# their possible duplicates on a third, when the programme holds this many hazard areas too.
BACKGROUND_FROM = 2_000
# Fields an evidence-point file may carry (after the mapping); the location comes separately.
EVIDENCE_FIELDS = ("evidence_type", "direct", "description", "survey_id")
_TRUE = {"true", "t", "yes", "y", "1", "direct", "oui", "si", "نعم"}
_FALSE = {"false", "f", "no", "n", "0", "indirect", "non", "لا"}

Progress = Callable[[str, int, int], None]


@dataclass
class ImportOptions:
    filename: str
    layer: str
    crs: str | None = None
    mapping: dict[str, str] | None = None
    dry_run: bool = False
    skip_invalid: bool = False
    defaults: dict[str, Any] | None = None


@dataclass
class ImportResult:
    """What to answer: the HTTP status (200 dry run or replay, 201 stored, 422 refused) and report."""

    status: int
    report: dict[str, Any]

    @property
    def committed(self) -> bool:
        return bool(self.report.get("committed"))


def _nothing(stage: str, done: int, total: int) -> None:
    return None


def hazard_fields() -> tuple[str, ...]:
    from survey.service import IMPORT_FIELDS  # the hazard package says which fields a file may carry

    return tuple(IMPORT_FIELDS)


def fields_for(layer: str) -> tuple[str, ...]:
    return hazard_fields() if layer == "hazard_areas" else EVIDENCE_FIELDS


# -- CRS -----------------------------------------------------------------------------------
def _parse_crs(value: str) -> CRS:
    try:
        return CRS.from_user_input(value)
    except CRSError as exc:
        raise Problem(
            422,
            f"crs: {value!r} is not a CRS SafeGround knows (use e.g. EPSG:32638).",
            errors=[{"field": "crs", "message": str(exc)}],
        ) from exc


def _crs_label(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


@lru_cache(maxsize=16)
def _transformer(wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(wkt), "EPSG:4326", always_xy=True)


def to_wgs84(geometry: np.ndarray, crs: CRS) -> np.ndarray:
    """Reproject many geometries to lon/lat with one vectorised transform (Z kept if present)."""
    if crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return geometry
    transformer = _transformer(crs.to_wkt())

    def project(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        out = coords.copy()
        out[:, 0], out[:, 1] = x, y
        return out

    present = ~pd.isna(geometry)
    out = geometry.copy()
    if present.any():
        has_z = shapely.has_z(geometry[present])
        block = geometry[present]
        with np.errstate(invalid="ignore"):
            if (~has_z).any():
                block[~has_z] = shapely.transform(block[~has_z], project)
            if has_z.any():
                block[has_z] = shapely.transform(block[has_z], project, include_z=True)
        out[present] = block
    return out


def _choose_crs(source: SourceFrame, requested: str | None, notes: list[str]) -> CRS:
    declared = _parse_crs(source.source_crs) if source.source_crs else None
    if requested:
        chosen = _parse_crs(requested)
        if declared is not None and not declared.equals(chosen, ignore_axis_order=True):
            notes.append(
                f"the file declares {_crs_label(declared)}; its coordinates were read as "
                f"{_crs_label(chosen)} as you asked"
            )
        return chosen
    if declared is None:
        notes.append("the file declares no CRS: coordinates are taken as lon/lat (EPSG:4326)")
        return CRS.from_epsg(4326)
    return declared


# -- evidence points -----------------------------------------------------------------------
def _parse_bool(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(value, known) arrays for yes/no-like text."""
    text_values = values.astype(str).str.strip().str.lower()
    true = text_values.isin(_TRUE).to_numpy()
    false = text_values.isin(_FALSE).to_numpy()
    return true, true | false


def _check_points(
    db: Session, programme: Programme, source: SourceFrame, geometry: np.ndarray
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Per-feature results for evidence points, and the columns to store for the accepted ones."""
    from survey.nts.models import DIRECT_EVIDENCE, EVIDENCE_TYPES
    from survey.nts.service import points_outside_country

    count = len(geometry)
    reasons: list[list[str]] = [[] for _ in range(count)]
    notes: list[list[str]] = [[] for _ in range(count)]
    for index, reason in source.errors.items():
        reasons[index].append(reason)
    present = ~pd.isna(geometry)
    kinds = np.full(count, -1)
    kinds[present] = shapely.get_type_id(geometry[present])
    # A single-point MultiPoint (some GPS exports) is a point.
    single_multi = present & (kinds == 4)
    if single_multi.any():
        sizes = shapely.get_num_geometries(geometry[single_multi])
        positions = np.flatnonzero(single_multi)[sizes == 1]
        geometry[positions] = shapely.get_geometry(geometry[positions], 0)
        kinds[positions] = 0
    for i in np.flatnonzero(present & (kinds != 0)):
        reasons[i].append(f"a {geometry[i].geom_type} is not an evidence point: send points")
    points = present & (kinds == 0)
    has_z = np.zeros(count, dtype=bool)
    has_z[points] = shapely.has_z(geometry[points])
    for i in np.flatnonzero(has_z):
        notes[i].append("Z (height) dropped; evidence points are stored 2D")
    xy = np.full((count, 2), np.nan)
    if points.any():
        xy[points] = shapely.get_coordinates(geometry[points])
    finite = np.isfinite(xy).all(axis=1)
    in_range = finite & (np.abs(xy[:, 0]) <= 180) & (np.abs(xy[:, 1]) <= 90)
    for i in np.flatnonzero(points & ~in_range):
        reasons[i].append(
            f"({xy[i, 0]:g}, {xy[i, 1]:g}) is not a lon/lat position: outside -180..180 / -90..90"
            + ("; if these are metres, say which CRS with 'crs'" if finite[i] else "")
        )
    candidates = np.flatnonzero(points & in_range)
    outside = points_outside_country(db, programme.id, xy[candidates, 0], xy[candidates, 1])
    for position, reason in outside.items():
        reasons[int(candidates[position])].append(reason)

    attributes = source.attributes
    evidence_type = (
        attributes["evidence_type"].astype(str).str.strip().str.lower().replace("", "other").to_numpy()
        if "evidence_type" in attributes
        else np.full(count, "other", dtype=object)
    )
    for i in np.flatnonzero(~np.isin(evidence_type, EVIDENCE_TYPES)):
        reasons[i].append(f"evidence_type {evidence_type[i]!r} is not one of {', '.join(EVIDENCE_TYPES)}")
    direct = np.isin(evidence_type, DIRECT_EVIDENCE)
    if "direct" in attributes:
        given = attributes["direct"].astype(str).str.strip()
        value, known = _parse_bool(given)
        blank = (given == "").to_numpy()
        direct = np.where(known, value, direct)
        for i in np.flatnonzero(~known & ~blank):
            reasons[i].append(f"direct {given.iloc[i]!r} is not yes/no")
    survey_ids = np.full(count, None, dtype=object)
    if "survey_id" in attributes:
        numbers = pd.to_numeric(attributes["survey_id"], errors="coerce")
        given_ids = sorted({int(v) for v in numbers.dropna()})
        known_ids = set(
            db.scalars(
                text(
                    "SELECT id FROM surveys WHERE programme_id = :p AND id = ANY(:ids) AND review_status <> 'approved'"
                ),
                {"p": programme.id, "ids": given_ids},
            )
        )
        for row, value in enumerate(numbers):
            if pd.isna(value):
                continue
            if int(value) not in known_ids:
                reasons[row].append(
                    f"survey_id {int(value)} is not an open survey report of {programme.code}"
                )
            else:
                survey_ids[row] = int(value)

    features: list[dict[str, Any]] = []
    for row in range(count):
        if reasons[row]:
            features.append({"index": row, "status": "rejected", "messages": reasons[row] + notes[row]})
        else:
            features.append({"index": row, "status": "valid", "messages": notes[row]})
    description = np.full(count, None, dtype=object)
    if "description" in attributes:
        given_text = attributes["description"]
        present_text = (given_text.notna() & (given_text.astype(str).str.strip() != "")).to_numpy()
        description[present_text] = given_text.astype(str).to_numpy()[present_text]
    typed = source.coordinates
    columns = {
        "lon": xy[:, 0],
        "lat": xy[:, 1],
        "evidence_type": evidence_type,
        "direct": direct,
        "description": description,
        "survey_id": survey_ids,
        "coordinate_text": typed["coordinate_text"].to_numpy() if typed is not None else np.full(count, None),
        "coordinate_format": typed["coordinate_format"].to_numpy()
        if typed is not None
        else np.full(count, None),
        "coordinate_crs": typed["coordinate_crs"].to_numpy() if typed is not None else np.full(count, None),
    }
    return features, columns


def _store_points(
    db: Session,
    programme: Programme,
    columns: dict[str, np.ndarray],
    keep: np.ndarray,
    import_id: int,
    actor: str,
) -> int:
    from geo.checks import copy_rows

    db.execute(
        text(
            "CREATE TEMP TABLE tmp_evidence (idx int, lon float8, lat float8, evidence_type text, direct bool, "
            "description text, survey_id int, coordinate_text text, coordinate_format text, coordinate_crs text) "
            "ON COMMIT DROP"
        )
    )
    names = (
        "lon",
        "lat",
        "evidence_type",
        "direct",
        "description",
        "survey_id",
        "coordinate_text",
        "coordinate_format",
        "coordinate_crs",
    )
    rows = zip(keep.tolist(), *(columns[n][keep].tolist() for n in names), strict=True)
    copy_rows(db, "tmp_evidence", ("idx", *names), list(rows))
    result = db.execute(
        text(
            """
            INSERT INTO evidence_points (programme_id, survey_id, geom, evidence_type, direct, description,
                coordinate_text, coordinate_format, coordinate_crs, import_id, source_index, created_by)
            SELECT :p, survey_id, ST_SetSRID(ST_MakePoint(lon, lat), 4326), evidence_type, direct, description,
                coordinate_text, coordinate_format, coordinate_crs, :imp, idx, :who
            FROM tmp_evidence ORDER BY idx
            """
        ),
        {"p": programme.id, "imp": import_id, "who": actor},
    )
    db.execute(text("DROP TABLE tmp_evidence"))
    return int(getattr(result, "rowcount", len(keep)))


# -- hazard areas --------------------------------------------------------------------------
def _sendable(geometry: np.ndarray, settings: Settings) -> np.ndarray:
    """Positions of the features whose geodesic area and overlaps can be computed before they
    are checked: polygons with finite lon/lat coordinates and not over the vertex limit
    (``ST_Area`` of a geography refuses anything else, and the checks reject it anyway)."""
    present = ~shapely.is_missing(geometry)
    kinds = np.full(len(geometry), -1)
    kinds[present] = shapely.get_type_id(geometry[present])
    polygonal = np.flatnonzero(
        np.isin(kinds, (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON))
    )
    if not len(polygonal):
        return polygonal
    with np.errstate(invalid="ignore"):
        bounds = shapely.bounds(geometry[polygonal])
        sane = (
            np.isfinite(bounds).all(axis=1)
            & (bounds[:, 0] >= -180)
            & (bounds[:, 2] <= 180)
            & (bounds[:, 1] >= -90)
            & (bounds[:, 3] <= 90)
            & (shapely.get_num_coordinates(geometry[polygonal]) <= settings.max_vertices_per_feature)
        )
    return polygonal[sane]


def _flat(geometry: np.ndarray) -> np.ndarray:
    """The geometries in 2D (the checks drop Z and M; most files have none)."""
    out = geometry.copy()
    has_z = shapely.has_z(out)
    if has_z.any():
        out[has_z] = shapely.force_2d(out[has_z])
    return out


def _same_polygons(stored: np.ndarray, sent: np.ndarray) -> np.ndarray:
    """Which stored multipolygons are exactly the polygons sent (a polygon being the one part of
    its multipolygon): the same vertices, so the same geodesic area and the same overlaps."""
    compared = stored.copy()
    single = (shapely.get_type_id(sent) == shapely.GeometryType.POLYGON) & (
        shapely.get_num_geometries(stored) == 1
    )
    compared[single] = shapely.get_geometry(stored[single], 0)
    return np.asarray(shapely.equals_exact(compared, sent, tolerance=0), dtype=bool)


class SentPolygons:
    """A large import's polygons as read (only made 2D), sent to other connections as soon as
    the file is read: their geodesic areas (:class:`EarlyAreas`) and their possible duplicates
    (:class:`EarlyDuplicates`) are computed there while this thread checks them. Whatever was
    computed from a polygon the checks changed (repaired, a vertex dropped…) is computed again
    from the polygon stored; what was computed for a rejected one is dropped."""

    def __init__(self, geometry: np.ndarray, settings: Settings) -> None:
        self.positions = _sendable(geometry, settings)
        self.polygons = _flat(geometry[self.positions])

    def match(self, accepted: list[Any]) -> Matched:
        """The accepted features (their FeatureChecks, in order) against the polygons sent."""
        by_index = {int(i): k for k, i in enumerate(self.positions.tolist())}
        sent_at = np.array([by_index.get(c.index, -1) for c in accepted], dtype=np.int64)
        stored = np.empty(len(accepted), dtype=object)
        stored[:] = [c.geometry for c in accepted]
        unchanged = sent_at >= 0
        if unchanged.any():
            unchanged[unchanged] = _same_polygons(stored[unchanged], self.polygons[sent_at[unchanged]])
        return Matched(sent_at, unchanged, stored)


@dataclass
class Matched:
    """Per accepted feature: the position of its polygon among those sent (−1: none was sent),
    whether the polygon stored is exactly that one, and the polygon stored."""

    sent_at: np.ndarray
    unchanged: np.ndarray
    stored: np.ndarray

    @property
    def changed(self) -> np.ndarray:
        """Positions (among the accepted) of the features whose polygon is not the one sent."""
        return np.flatnonzero(~self.unchanged)


class EarlyAreas:
    """Geodesic areas of the polygons sent (:func:`geo.checks.areas_in_background`)."""

    def __init__(self, db: Session, sent: SentPolygons) -> None:
        from geo.checks import areas_in_background

        self._background = areas_in_background(db, sent.polygons)

    def for_checked(self, db: Session, matched: Matched, geometry_table: str) -> Callable[[], Any]:
        """A function giving the areas of the accepted features (``geometry_table`` holds their
        stored polygons at ``idx`` = their position among them), to be called as late as
        possible."""
        changed = matched.changed
        again: dict[int, float] = {}
        if len(changed):
            again = dict(
                db.execute(
                    text(f"SELECT idx, ST_Area(geom::geography) FROM {geometry_table} WHERE idx = ANY(:idx)"),
                    {"idx": changed.tolist()},
                ).all()
            )

        def areas() -> np.ndarray:
            out = np.empty(len(matched.unchanged), dtype=np.float64)
            unchanged = matched.unchanged
            if unchanged.any():
                out[unchanged] = self._background.result()[matched.sent_at[unchanged]]
            for position in changed.tolist():
                out[position] = again[position]
            return out

        return areas


class EarlyDuplicates:
    """Possible duplicates of the polygons sent among the programme's hazard areas
    (:func:`geo.checks.find_possible_duplicates`, on a connection of its own). Worth it when the
    programme holds many hazard areas: 50,000 polygons against 60,000 hazards take about 1.5 s,
    which then overlap the checks instead of following them. Read-only: the other connection
    sees the committed hazard areas, as this one does (an import inserts its own only later)."""

    def __init__(self, db: Session, programme_id: int, sent: SentPolygons) -> None:
        from geo.checks import Background, find_possible_duplicates

        engine = db.get_bind().engine

        def find() -> list[Any]:
            with Session(engine) as other:
                try:
                    return find_possible_duplicates(other, programme_id, sent.polygons)
                finally:
                    other.rollback()  # drops its temporary table

        self._programme_id = programme_id
        self._sent = len(sent.polygons)
        self._background = Background(find, "possible-duplicates")

    def for_checked(self, db: Session, matched: Matched) -> list[Any]:
        """The possible duplicates of the accepted features (``index``: the position among them),
        in the order of :func:`geo.checks.find_possible_duplicates`."""
        from geo.checks import find_possible_duplicates

        # Sent position -> accepted position, for the polygons stored as sent.
        accepted_at = np.full(self._sent, -1, dtype=np.int64)
        unchanged = np.flatnonzero(matched.unchanged)
        accepted_at[matched.sent_at[unchanged]] = unchanged
        found = [
            replace(d, index=int(accepted_at[d.index]))
            for d in self._background.result()
            if accepted_at[d.index] >= 0
        ]
        changed = matched.changed
        if len(changed):
            again = find_possible_duplicates(db, self._programme_id, matched.stored[changed])
            found += [replace(d, index=int(changed[d.index])) for d in again]
        found.sort(key=lambda d: (d.index, -d.overlap_m2))
        return found


@dataclass
class CheckedHazards:
    """What the checks of a hazard-area file found, and what they prepared for the insert."""

    features: list[dict[str, Any]]  # the report's per-feature results
    checks: list[Any]  # a FeatureCheck per feature
    properties: list[Any]  # validated attributes per feature (None where refused)
    duplicates: list[dict[str, Any]]  # the report's possible duplicates
    geometry_table: str  # the accepted polygons, in order (idx = position among them)
    admin_table: str | None  # their admin areas (key = idx), when they are to be stored
    areas: Callable[[], Any] | None  # their geodesic areas, or None: the insert computes them
    rows: list[str] | None  # the features at ``stored``, encoded for the insert (or None)
    stored: list[int]  # positions of the features whose rows were encoded


def _check_hazards(
    db: Session,
    programme: Programme,
    source: SourceFrame,
    geometry: np.ndarray,
    progress: Progress,
    will_store: bool,
    skip_invalid: bool,
    settings: Settings,
) -> CheckedHazards:
    from geo.checks import check_polygons, find_possible_duplicates, hazards_held, load_temp_geometries
    from survey.schemas import validate_hazard_frame
    from survey.service import encode_hazard_rows, load_admin_areas

    count = len(geometry)
    progress("checking", 0, count)
    large = count >= BACKGROUND_FROM
    among_many = large and hazards_held(db, programme.id, up_to=BACKGROUND_FROM) >= BACKGROUND_FROM
    sent = SentPolygons(geometry, settings) if large and (will_store or among_many) else None
    early_areas = EarlyAreas(db, sent) if sent is not None and will_store else None
    early_duplicates = EarlyDuplicates(db, programme.id, sent) if sent is not None and among_many else None
    checks = check_polygons(geometry, programme.id, db)
    accepted = [c for c in checks if c.status != "rejected"]
    accepted_geometries = [c.geometry for c in accepted]

    # The accepted polygons go into the database (once: the duplicates check and the insert both
    # read the table) while this thread checks the attributes: the session is used by one
    # thread at a time, the worker's until it is joined.
    loading: dict[str, Any] = {}

    def load() -> None:
        try:
            table = load_temp_geometries(db, accepted_geometries, index=True)
            loading["table"] = table
            if will_store:
                loading["admin"] = load_admin_areas(db, programme.id, table)
            if sent is not None:
                loading["matched"] = sent.match(accepted)
            if early_duplicates is not None:
                loading["duplicates"] = early_duplicates.for_checked(db, loading["matched"])
            else:
                loading["duplicates"] = find_possible_duplicates(
                    db, programme.id, accepted_geometries, loaded=table
                )
        except BaseException as exc:  # raised again in this thread below
            loading["error"] = exc

    worker = threading.Thread(target=load, name="import-load", daemon=True)
    worker.start()
    rows: list[str] | None = None
    try:
        # Validated once here, column by column; the validated attributes go straight to the insert.
        properties, errors = validate_hazard_frame(source.attributes, field_prefix="")
        features = _feature_reports(checks, source, errors)
        stored = [i for i, c in enumerate(checks) if c.status != "rejected"]
        if will_store and stored and (skip_invalid or len(stored) == count):
            # The rows to insert, encoded while the worker is still busy in the database.
            valid = [properties[i] for i in stored]  # none is None: refused attributes rejected it
            rows = encode_hazard_rows(
                [checks[i] for i in stored], cast(list[Any], valid), source_index=stored
            )
    finally:
        worker.join()
    if "error" in loading:
        raise loading["error"]
    progress("checking", count, count)
    progress("duplicates", 0, len(accepted))
    loaded: str = loading["table"]
    by_position = [c.index for c in accepted]
    found = []
    for duplicate in loading["duplicates"]:
        if checks[by_position[duplicate.index]].status == "rejected":
            continue  # its attributes were refused: not a feature to store, nor to compare
        entry = duplicate.as_report()
        entry["index"] = by_position[duplicate.index]
        found.append(entry)
    progress("duplicates", len(accepted), len(accepted))
    areas = early_areas.for_checked(db, loading["matched"], loaded) if early_areas is not None else None
    admin: str | None = loading.get("admin")
    still = np.array([c.status != "rejected" for c in accepted], dtype=bool)
    if not still.all():
        # Features whose attributes were refused leave the table and the areas: the insert
        # reads the stored features at their position among themselves (and finds their admin
        # areas itself).
        loaded, admin = _keep_only(db, loaded, np.flatnonzero(still)), None
        if areas is not None:
            areas = _subset(areas, still)
    return CheckedHazards(features, checks, properties, found, loaded, admin, areas, rows, stored)


def _feature_reports(
    checks: list[Any], source: SourceFrame, errors: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The report's entry of each feature; a feature whose attributes were refused (or that the
    reader could not read whole) is rejected, with those reasons first."""
    attribute_errors: dict[int, list[str]] = {}
    for error in errors:
        field = str(error["field"]).lstrip(".")
        attribute_errors.setdefault(int(error["index"]), []).append(
            f"{field}: {error['message']}" if field else str(error["message"])
        )
    features: list[dict[str, Any]] = []
    for check in checks:
        entry = check.as_report()
        read_error = source.errors.get(check.index)
        extra = ([read_error] if read_error else []) + attribute_errors.get(check.index, [])
        if extra:
            entry["status"] = check.status = "rejected"
            entry["messages"] = extra + [m for m in entry["messages"] if m not in extra]
        features.append(entry)
    return features


def _subset(areas: Callable[[], Any], keep: np.ndarray) -> Callable[[], Any]:
    return lambda: areas()[keep]


def _keep_only(db: Session, table: str, positions: np.ndarray) -> str:
    """A copy of a :func:`geo.checks.load_temp_geometries` table with only the rows at
    ``positions``, renumbered 0, 1, … in order."""
    kept = f"{table}_kept"
    db.execute(
        text(
            f"CREATE TEMP TABLE {kept} ON COMMIT DROP AS "
            f"SELECT (row_number() OVER (ORDER BY idx) - 1)::int AS idx, geom FROM {table} "
            "WHERE idx = ANY(:positions)"
        ),
        {"positions": positions.tolist()},
    )
    db.execute(text(f"CREATE INDEX ON {kept} (idx)"))
    # The insert joins it with the admin areas: without a GiST index that join took about 4 s
    # for 50,000 polygons instead of 0.5 s.
    db.execute(text(f"CREATE INDEX ON {kept} USING gist (geom)"))
    db.execute(text(f"ANALYZE {kept} (idx)"))
    return kept


def _store_hazards(
    db: Session, programme: Programme, checked: CheckedHazards, keep: np.ndarray, import_id: int, actor: str
) -> int:
    from survey.service import insert_hazard_areas

    # keep is exactly the accepted features, in order: those of the tables and the areas.
    inserted = insert_hazard_areas(
        db,
        programme,
        [checked.checks[i] for i in keep],
        [checked.properties[i] for i in keep],
        actor=actor,
        import_id=import_id,
        source_index=keep.tolist(),
        geometry_table=checked.geometry_table,
        area_m2=checked.areas,
        admin_table=checked.admin_table,
        # Encoded beforehand for exactly these features (else the insert encodes them itself).
        rows=checked.rows if checked.stored == keep.tolist() else None,
    )
    return len(inserted)


# -- the whole job -------------------------------------------------------------------------
def _lock(db: Session, programme: Programme, layer: str, digest: str) -> None:
    """Serialise imports of the same file to the same target (the second one sees the first)."""
    db.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"import:{programme.id}:{layer}:{digest}"}
    )


def earlier_import(db: Session, programme: Programme, layer: str, digest: str) -> Import | None:
    return db.scalar(
        select(Import).where(
            Import.programme_id == programme.id, Import.layer == layer, Import.sha256 == digest
        )
    )


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """An import allocates millions of objects (geometries, rows, report entries) that live until
    it ends; Python's cyclic garbage collector kept rescanning them: about 2 s of a 50,000-polygon
    import's 5 s of CPU. Reference counting still frees everything as usual meanwhile."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_import(
    db: Session,
    programme: Programme,
    data: bytes,
    options: ImportOptions,
    actor: str,
    progress: Progress | None = None,
    settings: Settings | None = None,
) -> ImportResult:
    """Check (and unless refused or a dry run, store) one uploaded file. The caller commits."""
    with _without_cyclic_gc():
        return _run_import(db, programme, data, options, actor, progress, settings)


def _run_import(
    db: Session,
    programme: Programme,
    data: bytes,
    options: ImportOptions,
    actor: str,
    progress: Progress | None,
    settings: Settings | None,
) -> ImportResult:
    settings = settings or get_settings()
    progress = progress or _nothing
    if options.layer not in IMPORT_LAYERS:
        raise Problem(
            422,
            f"layer: {options.layer!r} is not one of {', '.join(IMPORT_LAYERS)}.",
            errors=[{"field": "layer", "message": "unknown layer"}],
        )
    digest = hashlib.sha256(data).hexdigest()
    _lock(db, programme, options.layer, digest)
    earlier = earlier_import(db, programme, options.layer, digest)
    if earlier is not None:
        replay = full_report(earlier.report)
        replay.update(replayed=True, dry_run=options.dry_run)
        replay["notes"] = [
            *replay.get("notes", []),
            f"this file was already imported (import {earlier.id} by {earlier.created_by} "
            f"at {earlier.created_at:%Y-%m-%d %H:%M} UTC); nothing was stored again",
        ]
        return ImportResult(200, replay)

    progress("reading", 0, 1)
    source = read_upload(
        data,
        options.filename,
        options.layer,
        options.mapping,
        fields_for(options.layer),
        settings,
        options.defaults,
    )
    notes = list(source.notes)
    crs = _choose_crs(source, options.crs, notes)
    # Features over the vertex limit are not even reprojected; the checks reject them.
    vertices = shapely.get_num_coordinates(source.geometry)
    small = vertices <= settings.max_vertices_per_feature
    geometry = source.geometry.copy()
    geometry[small] = to_wgs84(source.geometry[small], crs)
    progress("reading", 1, 1)
    count = len(source)
    if count == 0:
        raise Problem(
            422,
            f"{options.filename!r} holds no features.",
            errors=[{"field": "file", "message": "no features"}],
        )

    duplicates: list[dict[str, Any]] = []
    point_columns: dict[str, np.ndarray] = {}
    hazards: CheckedHazards | None = None
    if options.layer == "hazard_areas":
        hazards = _check_hazards(
            db, programme, source, geometry, progress, not options.dry_run, options.skip_invalid, settings
        )
        features, duplicates = hazards.features, hazards.duplicates
    else:
        progress("checking", 0, count)
        features, point_columns = _check_points(db, programme, source, geometry)
        progress("checking", count, count)
    statuses = np.array([f["status"] for f in features])
    keep = np.flatnonzero(statuses != "rejected")
    rejected = count - len(keep)
    report: dict[str, Any] = {
        "import_id": None,
        "programme": programme.code,
        "layer": options.layer,
        "filename": options.filename,
        "format": source.format,
        "sha256": digest,
        "crs": _crs_label(crs),
        "dry_run": options.dry_run,
        "skip_invalid": options.skip_invalid,
        "committed": False,
        "replayed": False,
        "counts": {
            "features": count,
            "valid": int((statuses == "valid").sum()),
            "repaired": int((statuses == "repaired").sum()),
            "rejected": rejected,
            "stored": 0,
            "possible_duplicates": len({d["index"] for d in duplicates}),
        },
        "features": features,
        "possible_duplicates": duplicates,
        "notes": notes,
    }
    if options.dry_run:
        report["notes"].append("dry run: nothing was stored")
        return ImportResult(200, report)
    if rejected and not options.skip_invalid:
        report["notes"].append(
            f"{rejected} of {count} features were rejected, so nothing was stored; fix them, or send "
            "skip_invalid=true to store the others"
        )
        return ImportResult(422, report)
    if not len(keep):
        report["notes"].append("every feature was rejected: nothing was stored")
        return ImportResult(422, report)

    progress("writing", 0, len(keep))
    # The id is reserved first so that stored features carry it; the import row is written last,
    # complete, so that the audit log holds one insert for it.
    import_id = int(db.execute(text("SELECT nextval(pg_get_serial_sequence('imports', 'id'))")).scalar_one())
    if hazards is not None:
        stored = _store_hazards(db, programme, hazards, keep, import_id, actor)
    else:
        stored = _store_points(db, programme, point_columns, keep, import_id, actor)
    report["counts"]["stored"] = stored
    report["import_id"] = import_id
    report["committed"] = True
    if rejected:
        report["notes"].append(f"skip_invalid: {rejected} rejected feature(s) were left out")
    db.add(
        Import(
            id=import_id,
            programme_id=programme.id,
            layer=options.layer,
            filename=options.filename,
            sha256=digest,
            format=source.format,
            features=count,
            valid=report["counts"]["valid"],
            repaired=report["counts"]["repaired"],
            rejected=rejected,
            stored=stored,
            report=stored_report(report),
            created_by=actor,
        )
    )
    db.flush()
    progress("writing", len(keep), len(keep))
    return ImportResult(201, report)


def stored_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report as ``imports.report`` keeps it: the features with nothing to say (valid, no
    message) are left out, all alike (``plain_feature``) but for their index. 50,000 of them made
    3.3 MB of JSON to write and keep; :func:`full_report` puts them back."""
    features: list[dict[str, Any]] = report["features"]
    plain: dict[str, Any] | None = None
    kept = []
    for entry in features:
        rest = {k: v for k, v in entry.items() if k != "index"}
        if (
            plain is None
            and rest.get("status") == "valid"
            and not any(v for k, v in rest.items() if k != "status")
        ):
            plain = rest
        if rest != plain:
            kept.append(entry)
    if plain is None:
        return report
    return {**report, "features": kept, "plain_feature": plain}


def full_report(stored: dict[str, Any]) -> dict[str, Any]:
    """The report as the import answered it, from :func:`stored_report`'s form."""
    if "plain_feature" not in stored:
        return stored
    report = {k: v for k, v in stored.items() if k != "plain_feature"}
    by_index = {entry["index"]: entry for entry in stored["features"]}
    plain = stored["plain_feature"]
    report["features"] = [
        by_index.get(index) or {"index": index, **plain} for index in range(stored["counts"]["features"])
    ]
    return report


# -- command line --------------------------------------------------------------------------
EXIT_OK = 0
EXIT_REJECTED = 1  # features were rejected and nothing was committed
EXIT_REFUSED = 2  # the file itself was refused (unreadable, over a limit, bad option)


def cli_import(
    path: Any,
    programme_code: str,
    layer: str,
    crs: str | None,
    mapping: str | None,
    dry_run: bool,
    skip_invalid: bool,
    console: Any,
    report_path: Any = None,
    defaults: str | None = None,
) -> int:
    """``safeground import``: run an import with a progress bar and print the report's summary.

    Returns the exit code: 0 stored (or dry run / replay without rejects), 1 rejected features
    and nothing committed, 2 the file or an option was refused.
    """
    import getpass
    from pathlib import Path

    import orjson
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app.db import new_session

    file = Path(path)
    if not file.is_file():
        console.print(f"[red]error:[/red] {file} is not a file")
        return EXIT_REFUSED
    parsed: dict[str, dict[str, Any] | None] = {}
    for name, value in (("mapping", mapping), ("defaults", defaults)):
        try:
            parsed[name] = orjson.loads(value) if value else None
        except orjson.JSONDecodeError as exc:
            console.print(f"[red]error:[/red] --{name} is not JSON: {exc}")
            return EXIT_REFUSED
        if parsed[name] is not None and not isinstance(parsed[name], dict):
            console.print(f"[red]error:[/red] --{name} must be a JSON object")
            return EXIT_REFUSED
    actor = f"cli:{getpass.getuser()}"
    mapping_of = {k: str(v) for k, v in (parsed["mapping"] or {}).items()} or None
    options = ImportOptions(
        file.name, layer, crs, mapping_of, dry_run, skip_invalid, defaults=parsed["defaults"]
    )
    db = new_session(actor)
    try:
        programme = db.scalar(select(Programme).where(Programme.code == programme_code.upper()))
        if programme is None:
            console.print(f"[red]error:[/red] no programme {programme_code!r}")
            return EXIT_REFUSED
        with Progress(
            TextColumn("{task.description:<11}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar:
            tasks: dict[str, Any] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=max(total, 1))
                bar.update(tasks[stage], completed=done if total else 1, total=max(total, 1))

            try:
                result = run_import(db, programme, file.read_bytes(), options, actor, progress)
            except Problem as exc:
                db.rollback()
                console.print(f"[red]refused:[/red] {exc.detail}")
                return EXIT_REFUSED
            except DBAPIError as exc:
                return _refused_by_database(db, exc, console)
        try:
            if result.committed:
                db.commit()  # deferred checks (area accounting) run here
            else:
                db.rollback()
        except DBAPIError as exc:
            return _refused_by_database(db, exc, console)
    finally:
        db.close()
    report = result.report
    if report_path is not None:
        Path(report_path).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print_report(report, console)
    rejected = report["counts"]["rejected"]
    if rejected and not result.committed and not report.get("replayed"):
        return EXIT_REJECTED
    return EXIT_OK


def _refused_by_database(db: Session, error: DBAPIError, console: Any) -> int:
    """A rule the database enforces (a unique reference, the area accounting…) refused what the
    import would store: nothing is stored, and the user reads the database's one-line reason.
    Anything else is a fault, raised as such."""
    if not is_refusal(error):
        raise error
    db.rollback()
    reason = str(error.orig).strip().splitlines()
    console.print(f"[red]refused by the database:[/red] {' '.join(line.strip() for line in reason)}")
    console.print("[red]nothing stored[/red]")
    return EXIT_REFUSED


def print_report(report: dict[str, Any], console: Any, limit: int = 20) -> None:
    """The validation report as rich tables: counts, then the first rejected/repaired features."""
    from rich.table import Table

    counts = report["counts"]
    summary = Table(
        title=f"{report['filename']} → {report['programme']} {report['layer']} ({report['format']}, {report['crs']})"
    )
    for column in ("features", "valid", "repaired", "rejected", "possible duplicates", "stored"):
        summary.add_column(column, justify="right")
    summary.add_row(
        *(
            str(counts[k])
            for k in ("features", "valid", "repaired", "rejected", "possible_duplicates", "stored")
        )
    )
    console.print(summary)
    notable = [f for f in report["features"] if f["status"] != "valid"]
    if notable:
        table = Table(
            title=f"rejected and repaired features (first {min(limit, len(notable))} of {len(notable)})"
        )
        table.add_column("index", justify="right")
        table.add_column("status")
        table.add_column("what")
        for feature in notable[:limit]:
            what = "; ".join(feature.get("messages", []))
            if "area_before_m2" in feature:
                what += f" (area {feature['area_before_m2']:,} → {feature.get('area_after_m2', 0):,} m²)"
            table.add_row(str(feature["index"]), feature["status"], what)
        console.print(table)
    duplicates = report.get("possible_duplicates") or []
    if duplicates:
        table = Table(title=f"possible duplicates (first {min(limit, len(duplicates))} of {len(duplicates)})")
        for column in ("index", "existing hazard", "overlap % of new", "overlap % of existing"):
            table.add_column(column)
        for d in duplicates[:limit]:
            table.add_row(
                str(d["index"]), d["reference"], f"{d['overlap_pct']:.1f}", f"{d['existing_overlap_pct']:.1f}"
            )
        console.print(table)
    for note in report.get("notes", []):
        console.print(f"• {note}")
    if report.get("replayed"):
        console.print("[yellow]already imported:[/yellow] nothing stored again")
    elif report.get("committed"):
        console.print(f"[green]stored[/green] {counts['stored']} features (import {report['import_id']})")
    elif report.get("dry_run"):
        console.print("[cyan]dry run:[/cyan] nothing stored")
    else:
        console.print("[red]nothing stored[/red]")
