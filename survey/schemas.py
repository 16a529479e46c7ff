"""What clients send for hazard areas, validated; what they get back is built in SQL (service).

Property names are the ones partners' scripts and field forms rely on (see docs/hazard-areas.md).
List properties accept a JSON list or, as in files and spreadsheets, comma/semicolon-separated
text (``"AP,AT"``). Beneficiaries may be an object ``{"women": 10, ...}`` or flat
``beneficiaries_women`` … columns; evidence an object ``{"direct": [...], "indirect": [...]}``
or flat ``evidence_direct`` / ``evidence_indirect`` text.
"""

from __future__ import annotations

import operator
import re
from datetime import datetime
from itertools import repeat
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from survey.models import CONTAMINATION_TYPES

# Computed or managed by SafeGround: a client sending them is told so (never silently taken).
READ_ONLY_PROPERTIES = {
    "id": "the record id is assigned by SafeGround",
    "reference": "references are generated per programme (e.g. SOM-HA-000123)",
    "area_m2": "the area is computed from the geometry (geodesic m²), never typed in",
    "remaining_m2": "the remaining area is computed from land release",
    "cancelled_m2": "land release figures come from land-release reports",
    "reduced_m2": "land release figures come from land-release reports",
    "cleared_m2": "land release figures come from land-release reports",
    "admin1_code": "admin areas are assigned from the geometry",
    "admin1_name": "admin areas are assigned from the geometry",
    "admin2_code": "admin areas are assigned from the geometry",
    "admin2_name": "admin areas are assigned from the geometry",
    "review_status": "use the submit/approve/reject actions",
    "review_reason": "use the reject action",
    "reviewed_by": "set by the approve/reject actions",
    "reviewed_at": "set by the approve/reject actions",
    "version": "the version is counted by SafeGround",
    "created_by": "recorded by SafeGround",
    "created_at": "recorded by SafeGround",
    "updated_by": "recorded by SafeGround",
    "updated_at": "recorded by SafeGround",
    "import_id": "recorded by SafeGround",
}

CONTAMINATION_ALIASES = {"UXO": "ERW", "ERW/UXO": "ERW", "MIX": "MIXED", "CM": "CMR"}

_SPLIT = re.compile(r"\s*[,;|]\s*")

Text200 = Annotated[str, Field(max_length=200)]


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in _SPLIT.split(value.strip()) if v]
    return value


class Beneficiaries(BaseModel):
    """People affected by the blockage, disaggregated by sex and age (SADD)."""

    model_config = ConfigDict(extra="forbid")

    women: int = Field(0, ge=0, le=100_000_000)
    men: int = Field(0, ge=0, le=100_000_000)
    girls: int = Field(0, ge=0, le=100_000_000)
    boys: int = Field(0, ge=0, le=100_000_000)


class Evidence(BaseModel):
    """Direct (mine seen, accident, marking…) and indirect (craters, hearsay…) evidence."""

    model_config = ConfigDict(extra="forbid")

    direct: list[Text200] = Field(default_factory=list, max_length=50)
    indirect: list[Text200] = Field(default_factory=list, max_length=50)

    @field_validator("direct", "indirect", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _as_list(value)


class HazardPropertiesIn(BaseModel):
    """The properties of a hazard area a surveyor or coordinator may set."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, max_length=200)
    classification: Literal["SHA", "CHA"]
    status: Literal["open", "worked_on", "closed"] = "open"
    status_date: datetime | None = None
    status_reason: str | None = Field(None, max_length=2000)
    contamination_types: list[str] = Field(default_factory=list, max_length=len(CONTAMINATION_TYPES))
    evidence: Evidence = Field(default_factory=Evidence)
    information_source: str | None = Field(None, max_length=500)
    reliability: str | None = Field(None, max_length=100)
    blockages: list[Text200] = Field(default_factory=list, max_length=50)
    beneficiaries: Beneficiaries = Field(default_factory=Beneficiaries)
    priority: int | None = Field(None, ge=1, le=5, description="1 (highest) to 5")
    notes: str | None = Field(None, max_length=10_000)

    @model_validator(mode="before")
    @classmethod
    def _flat_columns(cls, data: Any) -> Any:
        """Accept the flat column names of files and spreadsheets."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        flat_people = {
            k: data.pop(f"beneficiaries_{k}")
            for k in ("women", "men", "girls", "boys")
            if f"beneficiaries_{k}" in data
        }
        if flat_people:
            people = data.get("beneficiaries") or {}
            if not isinstance(people, dict):
                return data  # let the field validator report the wrong type
            data["beneficiaries"] = {**people, **{k: v for k, v in flat_people.items() if v is not None}}
        flat_evidence = {
            k: data.pop(f"evidence_{k}") for k in ("direct", "indirect") if f"evidence_{k}" in data
        }
        if flat_evidence:
            evidence = data.get("evidence") or {}
            if not isinstance(evidence, dict):
                return data
            data["evidence"] = {**evidence, **flat_evidence}
        for key in ("evidence", "beneficiaries"):
            if key in data and data[key] is None:
                data.pop(key)
        return data

    @field_validator("classification", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("status", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower().replace(" ", "_") if isinstance(value, str) else value

    @field_validator("contamination_types", mode="before")
    @classmethod
    def _contamination(cls, value: Any) -> Any:
        value = _as_list(value)
        if not isinstance(value, list):
            return value
        out: list[str] = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"contamination types are text codes, got {item!r}")
            code = CONTAMINATION_ALIASES.get(item.strip().upper(), item.strip().upper())
            if code not in CONTAMINATION_TYPES:
                raise ValueError(f"unknown contamination type {item!r}; use {', '.join(CONTAMINATION_TYPES)}")
            if code not in out:
                out.append(code)
        return out

    @field_validator("blockages", mode="before")
    @classmethod
    def _blockages(cls, value: Any) -> Any:
        return _as_list(value)

    def columns(self) -> dict[str, Any]:
        """The values as ``hazard_areas`` columns (JSON-ready, for jsonb_populate_record)."""
        return {
            "name": self.name,
            "classification": self.classification,
            "status": self.status,
            "status_date": self.status_date.isoformat() if self.status_date else None,
            "status_reason": self.status_reason,
            "contamination_types": self.contamination_types,
            "evidence": self.evidence.model_dump(),
            "information_source": self.information_source,
            "reliability": self.reliability,
            "blockages": self.blockages,
            "beneficiaries_women": self.beneficiaries.women,
            "beneficiaries_men": self.beneficiaries.men,
            "beneficiaries_girls": self.beneficiaries.girls,
            "beneficiaries_boys": self.beneficiaries.boys,
            "priority": self.priority,
            "notes": self.notes,
        }


EDITABLE_COLUMNS = tuple(HazardPropertiesIn(classification="SHA").columns())


def validate_hazard_properties(
    rows: list[dict[str, Any]], field_prefix: str = "properties"
) -> tuple[list[HazardPropertiesIn | None], list[dict[str, Any]]]:
    """Validate many property dicts: the valid ones, and errors ``{index, field, message}``.

    Read-only properties (``area_m2``, ``reference``…) are reported as errors saying why.
    Used by the API (one feature) and by imports (many).
    """
    out: list[HazardPropertiesIn | None] = []
    errors: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            errors.append({"index": index, "field": field_prefix, "message": "properties must be an object"})
            out.append(None)
            continue
        read_only = [k for k in row if k in READ_ONLY_PROPERTIES]
        for key in read_only:
            errors.append(
                {
                    "index": index,
                    "field": f"{field_prefix}.{key}",
                    "message": f"{key} cannot be sent: {READ_ONLY_PROPERTIES[key]}",
                }
            )
        if read_only:
            out.append(None)
            continue
        try:
            out.append(HazardPropertiesIn.model_validate(row))
        except ValidationError as exc:
            out.append(None)
            for e in exc.errors():
                loc = ".".join(str(p) for p in e.get("loc", ()))
                errors.append(
                    {
                        "index": index,
                        "field": f"{field_prefix}.{loc}" if loc else field_prefix,
                        "message": e.get("msg", "invalid"),
                    }
                )
    return out, errors


class PolygonGeometry(BaseModel):
    """A GeoJSON Polygon or MultiPolygon in longitude/latitude (EPSG:4326)."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any] = Field(description="rings of [longitude, latitude] positions (GeoJSON)")


class HazardFeatureProperties(HazardPropertiesIn):
    programme: str = Field(description="the programme's code, e.g. SOM")


class HazardFeatureIn(BaseModel):
    """Body of ``POST /api/v1/hazard-areas``: one GeoJSON Feature. Declared for the OpenAPI
    document; the service parses the body itself, so that its errors name the field."""

    type: Literal["Feature"]
    geometry: PolygonGeometry
    properties: HazardFeatureProperties


class HazardPatchIn(BaseModel):
    """Body of ``PATCH /api/v1/hazard-areas/{id}``: a JSON Merge Patch (RFC 7396) of the
    Feature. Members of ``properties`` replace the stored ones (``null`` removes an optional one;
    ``evidence`` and ``beneficiaries`` merge); ``geometry`` replaces the polygon."""

    properties: dict[str, Any] | None = Field(None, description="the POST properties' names, any subset")
    geometry: PolygonGeometry | None = None


# -- many rows at once (file imports) ---------------------------------------------------------


class HazardColumns(dict[str, Any]):
    """Validated properties as ``hazard_areas`` columns (what :meth:`HazardPropertiesIn.columns`
    returns), for rows validated in bulk by :func:`validate_hazard_frame`. Read-only: rows with
    the same list value (contamination types, blockages…) share one list, rows with the same
    evidence lists one evidence object."""


# Free-text properties: valid when text of at most this many characters (after stripping).
_TEXT_FIELDS = {
    "name": 200,
    "status_reason": 2000,
    "information_source": 500,
    "reliability": 100,
    "notes": 10_000,
}
# Where a flat column's validated value lands in :meth:`HazardPropertiesIn.columns`.
_COLUMN_OF = {
    "classification": ("classification",),
    "status": ("status",),
    "status_date": ("status_date",),
    "contamination_types": ("contamination_types",),
    "evidence_direct": ("evidence", "direct"),
    "evidence_indirect": ("evidence", "indirect"),
    "blockages": ("blockages",),
    "beneficiaries_women": ("beneficiaries_women",),
    "beneficiaries_men": ("beneficiaries_men",),
    "beneficiaries_girls": ("beneficiaries_girls",),
    "beneficiaries_boys": ("beneficiaries_boys",),
    "priority": ("priority",),
}


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts without the blanks of files (NaN, NaT, empty text).

    Built column by column: only present values are visited (a row-wise ``to_dict`` of 50,000
    rows cost about a second).
    """
    records: list[dict[str, Any]] = [{} for _ in range(len(frame))]
    for key in frame.columns:
        name = str(key)
        values, present = _present_values(frame[key])
        for i in np.flatnonzero(present).tolist():
            records[i][name] = values[i]
    return records


def _present_values(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values as Python objects, which are present): NaN/NaT and blank text are absent."""
    values = np.empty(len(column), dtype=object)
    values[:] = column.astype(object).tolist()
    present = column.notna().to_numpy().copy()
    if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        return values, present
    rows = np.flatnonzero(present)
    texts = values[rows].tolist()
    if (pd.api.types.is_string_dtype(column.dtype) and not pd.api.types.is_object_dtype(column.dtype)) or set(
        map(type, texts)
    ) == {str}:
        # map() with C functions: no Python frame per value (a generator cost 0.2 s per 500,000).
        blank = np.fromiter(map(operator.not_, map(str.strip, texts)), dtype=bool, count=len(rows))
        present[rows[blank]] = False
        return values, present
    for i in rows.tolist():
        value = values[i]
        if isinstance(value, str):
            if not value.strip():
                present[i] = False
        elif isinstance(value, pd.Timestamp):
            values[i] = value.to_pydatetime()
    return values, present


def _is_typed(column: pd.Series) -> bool:
    """Whether every value of the column has one Python type (text, integer, float or bool
    columns): its distinct values can then be found by pandas, which equates 1 and True only
    in columns of mixed objects."""
    return not pd.api.types.is_object_dtype(column.dtype) and (
        pd.api.types.is_string_dtype(column.dtype)
        or pd.api.types.is_numeric_dtype(column.dtype)
        or pd.api.types.is_bool_dtype(column.dtype)
    )


def _int_bounds(name: str) -> tuple[int, int] | None:
    """The model's (ge, le) of an integer property, read from its field metadata."""
    if name.startswith("beneficiaries_"):
        field = Beneficiaries.model_fields[name.removeprefix("beneficiaries_")]
    elif name in HazardPropertiesIn.model_fields:
        field = HazardPropertiesIn.model_fields[name]
    else:
        return None
    low = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in field.metadata if hasattr(m, "le")), None)
    return (int(low), int(high)) if low is not None and high is not None else None


def validate_hazard_frame(
    frame: pd.DataFrame, field_prefix: str = ""
) -> tuple[list[HazardColumns | None], list[dict[str, Any]]]:
    """:func:`validate_hazard_properties` of :func:`frame_records`, column by column.

    Same rules, same values and the same errors, without a model per row: free text is checked
    with length tests, integer columns against the model's bounds, and every other column is
    validated by the model once per distinct value (files repeat their codes). A row with
    anything these checks do not accept as plainly valid (a missing classification, a value the
    model refuses, text with surrounding blanks, a column that is not a hazard property…) is
    validated by the model as a whole, so its errors read exactly as for a single feature.
    """
    count = len(frame)
    if any(str(key) not in _TEXT_FIELDS and str(key) not in _COLUMN_OF for key in frame.columns):
        validated, model_errors = validate_hazard_properties(frame_records(frame), field_prefix)
        return [None if v is None else HazardColumns(v.columns()) for v in validated], model_errors

    slow = np.zeros(count, dtype=bool)
    values: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # flat name -> (validated values, present)
    for key in frame.columns:
        name = str(key)
        column = frame[key]
        raw, present = _present_values(column)
        bounds = _int_bounds(name)
        if name in _TEXT_FIELDS:
            ok = _text_ok(raw, present, _TEXT_FIELDS[name])
            out = raw
        elif bounds is not None and pd.api.types.is_integer_dtype(column.dtype):
            numbers = column.to_numpy()
            ok = present & (numbers >= bounds[0]) & (numbers <= bounds[1])
            out = raw
        else:
            out, ok = _distinct_values(name, column, raw, present)
        slow |= present & ~ok
        values[name] = (out, present)
    if "classification" in values:
        slow |= ~values["classification"][1]  # required: the model says so in its words
    else:
        slow[:] = True

    fast = np.flatnonzero(~slow)
    defaults = HazardPropertiesIn(classification="SHA").columns()
    flat: dict[str, list[Any]] = {}
    for name in (*EDITABLE_COLUMNS, "evidence_direct", "evidence_indirect"):
        if name == "evidence":
            continue
        default = defaults[name] if name in defaults else defaults["evidence"][name.removeprefix("evidence_")]
        if name in values:
            out, present = values[name]
            kept = out[fast]
            for i in np.flatnonzero(~present[fast]).tolist():  # one by one: a default may be a list
                kept[i] = default
            flat[name] = kept.tolist()
        else:
            flat[name] = [default] * len(fast)
    # Rows with the same evidence lists share one evidence object (encoded once by the insert).
    shared: dict[tuple[int, int], dict[str, Any]] = {}
    evidence = []
    for direct, indirect in zip(flat.pop("evidence_direct"), flat.pop("evidence_indirect"), strict=True):
        pair = (id(direct), id(indirect))
        found = shared.get(pair)
        if found is None:
            found = shared[pair] = {"direct": direct, "indirect": indirect}
        evidence.append(found)
    flat["evidence"] = evidence
    names = list(EDITABLE_COLUMNS)
    # Dicts built by map()/zip() in C: no Python frame per row.
    built = map(HazardColumns, map(zip, repeat(names), zip(*(flat[n] for n in names), strict=True)))
    results: list[HazardColumns | None]
    if len(fast) == count:
        results = list(built)
    else:
        results = [None] * count
        for i, row in zip(fast.tolist(), built, strict=True):
            results[i] = row
    errors: list[dict[str, Any]] = []
    rows = np.flatnonzero(slow)
    if len(rows):
        validated, slow_errors = validate_hazard_properties(frame_records(frame.iloc[rows]), field_prefix)
        for position, v in zip(rows.tolist(), validated, strict=True):
            results[position] = None if v is None else HazardColumns(v.columns())
        for error in slow_errors:
            errors.append({**error, "index": int(rows[int(error["index"])])})
    return results, errors


def _text_ok(raw: np.ndarray, present: np.ndarray, limit: int) -> np.ndarray:
    """Free text that is plainly valid: text, no surrounding blanks (the model strips them; so
    do Python's rules, which count at least the same characters as blanks), ≤ ``limit`` long."""
    ok = np.zeros(len(raw), dtype=bool)
    rows = np.flatnonzero(present)
    texts = raw[rows].tolist()
    if set(map(type, texts)) == {str}:
        short = np.fromiter(map(len, texts), dtype=np.int64, count=len(rows)) <= limit
        unpadded = np.fromiter(map(str.__eq__, texts, map(str.strip, texts)), dtype=bool, count=len(rows))
        ok[rows] = short & unpadded
        return ok
    ok[rows] = np.fromiter(
        (type(v) is str and len(v) <= limit and v == v.strip() for v in texts),
        dtype=bool,
        count=len(rows),
    )
    return ok


def _distinct_values(
    name: str, column: pd.Series, raw: np.ndarray, present: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct value validated once by the model; (validated values, valid)."""
    path = _COLUMN_OF[name]
    out = np.full(len(raw), None, dtype=object)
    ok = np.zeros(len(raw), dtype=bool)
    rows = np.flatnonzero(present)
    if not len(rows):
        return out, ok
    if _is_typed(column):
        codes, _distinct = pd.factorize(column.iloc[rows])
        # The first row of each distinct value: codes are numbered in order of first appearance
        # (hashing, where np.unique sorted all the codes).
        first = np.flatnonzero(~pd.Series(codes).duplicated().to_numpy())
        checked = [_validate_one(name, raw[rows[j]], path) for j in first.tolist()]
        found = np.empty(len(checked), dtype=object)
        found[:] = [c[1] for c in checked]
        ok[rows] = np.array([c[0] for c in checked], dtype=bool)[codes]
        out[rows] = found[codes]
        return out, ok
    seen: dict[tuple[type, Any], tuple[bool, Any]] = {}
    for i in rows.tolist():
        value = raw[i]
        try:
            known = seen.get((type(value), value))
        except TypeError:  # unhashable (a list from JSON): the model sees the whole row
            continue
        if known is None:
            known = seen[(type(value), value)] = _validate_one(name, value, path)
        ok[i], out[i] = known
    return out, ok


def _validate_one(name: str, value: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    """(valid, validated column value) of one flat property, by the model itself."""
    row = {name: value} if name == "classification" else {"classification": "SHA", name: value}
    try:
        columns = HazardPropertiesIn.model_validate(row).columns()
    except ValidationError:
        return False, None
    found: Any = columns
    for part in path:
        found = found[part]
    return True, found
