"""Reading uploaded files into a GeoDataFrame, safely and in bulk.

What arrives is untrusted. Everything that can be refused cheaply is refused before any heavy
work: the byte size, the kind of file (by its content, not only its name), the members of a zip
(path traversal, links, declared unzipped size), XML with DTDs or entities, the feature count.

Formats: GeoJSON, GeoPackage, zipped shapefile (its ``.prj`` honoured), KML/KMZ, GPX, CSV (a WKT
column, lon/lat columns, an MGRS or free-form coordinate column, a KoboToolbox/ODK geopoint or
geoshape column) and XLSX exports of KoboToolbox/ODK forms. GDAL (through pyogrio) reads the GIS
formats; CSV and XLSX are read as text with pandas so that every cell arrives as typed.

The result is a :class:`SourceFrame`: one row per feature in file order, the geometry in the
file's own CRS (``None`` where the row's location could not be read, with the reason in
``errors``), and the attribute columns renamed to SafeGround's field names by the mapping.
"""

from __future__ import annotations

import io
import re
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import shapely

from app.errors import Problem
from app.settings import Settings, get_settings
from geo.coords import CoordinateError, parse_coordinate

EXTENSIONS = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".zip": "zip",
    ".kml": "kml",
    ".kmz": "kmz",
    ".gpx": "gpx",
    ".csv": "csv",
    ".xlsx": "xlsx",
}
FORMAT_NAMES = {
    "geojson": "GeoJSON",
    "gpkg": "GeoPackage",
    "shapefile": "zipped shapefile",
    "kml": "KML",
    "kmz": "KMZ",
    "gpx": "GPX",
    "csv": "CSV",
    "xlsx": "XLSX",
}
# Target fields that say where a row is, in tables without a geometry of their own (CSV, XLSX).
LOCATION_FIELDS = ("wkt", "lon", "lat", "mgrs", "geopoint", "coordinate")
# Other names the same field goes by in common exports (GPX ``desc``, KML ``description``…).
ALIASES = {"description": ("desc", "cmt", "comment"), "name": ("title",)}
MAX_ZIP_MEMBERS = 10_000
_SQLITE_MAGIC = b"SQLite format 3\x00"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


@dataclass
class SourceFrame:
    """What a file holds, row by row, before any geometry check."""

    format: str
    geometry: np.ndarray  # shapely geometries (object array), None where unreadable
    attributes: pd.DataFrame  # SafeGround field names (after mapping) → values, same row order
    source_crs: str | None  # the CRS the file declares, None when it declares none
    errors: dict[int, str] = field(default_factory=dict)  # row index → why its location is unreadable
    notes: list[str] = field(default_factory=list)
    # For rows located by a typed coordinate (MGRS, UTM, DMS, geopoint): the text, its format, CRS.
    coordinates: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.geometry)


def _problem(status: int, detail: str, field_name: str = "file") -> Problem:
    return Problem(status, detail, errors=[{"field": field_name, "message": detail}])


# -- kind of file --------------------------------------------------------------------------
def detect_format(data: bytes, filename: str) -> str:
    """The file's format, from its extension, confirmed by its content."""
    suffix = PurePosixPath(filename.lower()).suffix
    kind = EXTENSIONS.get(suffix)
    if kind is None:
        raise _problem(
            415,
            f"{filename!r}: SafeGround reads {', '.join(sorted(set(EXTENSIONS)))} files, "
            f"not {suffix or 'files without an extension'}.",
        )
    head = data[:64]
    text_head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    looks = (
        "a zip archive"
        if head.startswith(_ZIP_MAGIC)
        else "a GeoPackage/SQLite file"
        if head.startswith(_SQLITE_MAGIC)
        else "JSON"
        if text_head.startswith((b"{", b"["))
        else "XML"
        if text_head.startswith(b"<")
        else "something else"
    )
    expected = {
        "geojson": "JSON",
        "gpkg": "a GeoPackage/SQLite file",
        "zip": "a zip archive",
        "kmz": "a zip archive",
        "xlsx": "a zip archive",
        "kml": "XML",
        "gpx": "XML",
    }.get(kind)
    if expected is not None and looks != expected:
        raise _problem(422, f"{filename!r} is named {suffix} but its content is {looks}, not {expected}.")
    if kind == "csv" and (looks in ("a zip archive", "a GeoPackage/SQLite file") or b"\x00" in data[:8192]):
        raise _problem(422, f"{filename!r} is named .csv but is a binary file ({looks}).")
    return kind


# -- zip archives --------------------------------------------------------------------------
def _unsafe_member(name: str) -> bool:
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\\" in name:
        return True
    return ".." in PurePosixPath(name).parts


def safe_extract(data: bytes, target: Path, settings: Settings, filename: str) -> list[Path]:
    """Extract a zip into ``target`` after checking every member; returns the extracted files.

    Refused: not a zip, too many members, absolute or ``..`` paths, links, a declared unzipped
    size over ``max_unzipped_bytes``; while extracting, a member that inflates beyond its declared
    size (a lying header) stops the extraction.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise _problem(422, f"{filename!r} is not a readable zip archive ({exc}).") from exc
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise _problem(422, f"{filename!r} holds {len(members)} files; the limit is {MAX_ZIP_MEMBERS}.")
        declared = 0
        for member in members:
            if _unsafe_member(member.filename):
                raise _problem(
                    422,
                    f"{filename!r} contains the path {member.filename!r}, which points outside the archive.",
                )
            if stat.S_ISLNK(member.external_attr >> 16):
                raise _problem(422, f"{filename!r} contains a symbolic link ({member.filename!r}).")
            declared += member.file_size
        if declared > settings.max_unzipped_bytes:
            raise _problem(
                413,
                f"{filename!r} would unzip to {declared:,} bytes; the limit is {settings.max_unzipped_bytes:,}.",
            )
        extracted: list[Path] = []
        written = 0
        for member in members:
            if member.is_dir():
                continue
            destination = target / PurePosixPath(member.filename)
            destination.parent.mkdir(parents=True, exist_ok=True)
            member_written = 0
            try:
                with archive.open(member) as source, destination.open("wb") as sink:
                    while chunk := source.read(1 << 20):
                        member_written += len(chunk)
                        written += len(chunk)
                        if member_written > member.file_size or written > settings.max_unzipped_bytes:
                            raise _problem(
                                413, f"{filename!r}: {member.filename!r} inflates beyond its declared size."
                            )
                        sink.write(chunk)
            except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
                raise _problem(422, f"{filename!r}: cannot unzip {member.filename!r} ({exc}).") from exc
            extracted.append(destination)
        return extracted


def _one_of(files: Iterable[Path], suffixes: tuple[str, ...], filename: str, what: str) -> Path:
    found = [f for f in files if f.suffix.lower() in suffixes and not f.name.startswith("._")]
    if not found:
        raise _problem(422, f"{filename!r} contains no {what}.")
    if len(found) > 1:
        names = ", ".join(sorted(f.name for f in found))
        raise _problem(422, f"{filename!r} contains several {what}s ({names}); upload one at a time.")
    return found[0]


# -- XML -----------------------------------------------------------------------------------
def check_xml(path: Path, expected_root: str, filename: str) -> None:
    """Refuse XML with DTDs or entities (billion laughs, external entities) before GDAL reads it,
    and check that the root element is the expected one (``kml`` or ``gpx``)."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    try:
        for _event, element in iterparse(str(path), events=("start",), forbid_dtd=True):
            root = element.tag.rsplit("}", 1)[-1].lower()
            if root != expected_root:
                raise _problem(422, f"{filename!r} is XML with root <{root}>, not <{expected_root}>.")
            break
        # Parse the rest too: a DTD or entity further down is refused as well.
        for _event, element in iterparse(str(path), events=("end",), forbid_dtd=True):
            element.clear()
    except DefusedXmlException as exc:
        raise _problem(422, f"{filename!r}: XML with a DTD or entities is refused ({exc}).") from exc
    except ParseError as exc:
        raise _problem(422, f"{filename!r} is not well-formed XML ({exc}).") from exc


# -- GIS formats through GDAL --------------------------------------------------------------
def _gdal_error(exc: Exception, filename: str, kind: str, workdir: Path) -> Problem:
    message = str(exc).replace(str(workdir), "").strip() or type(exc).__name__
    return _problem(422, f"{filename!r} cannot be read as {FORMAT_NAMES.get(kind, kind)}: {message}")


def _count_features(path: Path, layers: list[str] | None, settings: Settings, filename: str) -> None:
    import pyogrio

    total = 0
    for layer in layers or [None]:  # type: ignore[list-item]
        total += max(int(pyogrio.read_info(path, layer=layer, force_feature_count=True)["features"]), 0)
    if total > settings.max_features:
        raise _problem(413, f"{filename!r} has {total:,} features; the limit is {settings.max_features:,}.")


def _read_gdal(path: Path, layers: list[str] | None) -> tuple[np.ndarray, pd.DataFrame, str | None]:
    """Geometry (shapely array), attributes and declared CRS of one or more layers."""
    import pyogrio

    geometries: list[np.ndarray] = []
    frames: list[pd.DataFrame] = []
    crs: str | None = None
    for layer in layers or [None]:  # type: ignore[list-item]
        meta, _fids, wkb, field_data = pyogrio.raw.read(path, layer=layer)
        geometries.append(shapely.from_wkb(wkb) if wkb is not None else np.full(len(_fids), None))
        names = list(meta["fields"])
        frames.append(pd.DataFrame({name: values for name, values in zip(names, field_data, strict=True)}))
        crs = crs or meta.get("crs")
    geometry = np.concatenate(geometries) if geometries else np.array([], dtype=object)
    attributes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(attributes) != len(geometry):  # layers without fields
        attributes = attributes.reindex(range(len(geometry)))
    return geometry, attributes, crs


def _layers_with_features(path: Path) -> list[str]:
    import pyogrio

    listed = pyogrio.list_layers(path)
    names = [str(row[0]) for row in listed]
    return [n for n in names if pyogrio.read_info(path, layer=n, force_feature_count=True)["features"] > 0]


def _gpx_layers(path: Path, layer: str) -> list[str]:
    present = set(_layers_with_features(path))
    wanted = ("tracks", "routes") if layer == "hazard_areas" else ("waypoints",)
    chosen = [name for name in wanted if name in present]
    return chosen[:1] or [wanted[0]]


def _lines_to_polygons(geometry: np.ndarray, notes: list[str]) -> np.ndarray:
    """A GPS track walked around a hazard is its boundary: close each track into a polygon."""
    out = geometry.copy()
    kinds = shapely.get_type_id(geometry)
    lines = np.isin(kinds, (1, 5))  # LineString, MultiLineString
    if lines.any():
        closed = []
        for geom in geometry[lines]:
            parts = shapely.get_parts(geom)
            rings = [shapely.linearrings(shapely.get_coordinates(p)) for p in parts if len(p.coords) >= 3]
            closed.append(shapely.multipolygons([shapely.polygons(r) for r in rings]) if rings else None)
        out[lines] = closed
        notes.append(f"{int(lines.sum())} GPS track(s) closed into polygons.")
    return out


# -- tables (CSV, XLSX) --------------------------------------------------------------------
def _read_table(path: Path, kind: str, filename: str) -> pd.DataFrame:
    try:
        if kind == "csv":
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=None, engine="python")
        # openpyxl parses the workbook XML with defusedxml when it is installed (it is).
        return pd.read_excel(path, sheet_name=0, dtype=str, engine="openpyxl").fillna("")
    except Problem:
        raise
    except Exception as exc:  # pandas/openpyxl raise many kinds for broken files
        raise _problem(422, f"{filename!r} cannot be read as {FORMAT_NAMES[kind]}: {exc}") from exc


_GEOPOINT = re.compile(r"^\s*-?\d+(\.\d+)?\s+-?\d+(\.\d+)?(\s+-?\d+(\.\d+)?){0,2}\s*(;|$)")


def _find_column(columns: list[str], patterns: tuple[str, ...]) -> str | None:
    for pattern in patterns:
        for column in columns:
            if re.search(pattern, column.strip().lower()):
                return column
    return None


def _location_columns(table: pd.DataFrame, mapping: dict[str, str]) -> dict[str, str]:
    """Which columns locate the rows: from the mapping, else recognised by name or content."""
    given = {k: v for k, v in mapping.items() if k in LOCATION_FIELDS}
    if given:
        if ("lon" in given) != ("lat" in given):
            raise _problem(422, "mapping: give both 'lon' and 'lat' columns, or neither.", "mapping")
        return given
    columns = [str(c) for c in table.columns]
    wkt = _find_column(columns, (r"^(wkt|geometry|geom|the_geom|shape)$",))
    if wkt:
        return {"wkt": wkt}
    mgrs = _find_column(columns, (r"^mgrs$", r"mgrs"))
    if mgrs:
        return {"mgrs": mgrs}
    # Kobo/ODK: a geopoint/geoshape column holds "lat lon alt accuracy" (";"-separated for shapes).
    for column in columns:
        sample = table[column].astype(str).head(20)
        sample = sample[sample.str.strip() != ""]
        if len(sample) and sample.str.match(_GEOPOINT).all():
            return {"geopoint": column}
    lat = _find_column(columns, (r"^(lat|latitude|y)$", r"[_\-/]latitude$"))
    lon = _find_column(columns, (r"^(lon|lng|long|longitude|x)$", r"[_\-/]longitude$"))
    if lat and lon:
        return {"lon": lon, "lat": lat}
    coordinate = _find_column(columns, (r"^(coordinate|coordinates|location|position|grid)$",))
    if coordinate:
        return {"coordinate": coordinate}
    raise _problem(
        422,
        "The table has no column SafeGround can locate rows with: give a WKT column, lon/lat "
        "columns, an MGRS column or a KoboToolbox/ODK geopoint column, or say which with "
        f'\'mapping\' (e.g. {{"lon": "X", "lat": "Y"}}). Columns: {", ".join(columns)}',
    )


def _parse_geopoints(values: pd.Series, errors: dict[int, str]) -> np.ndarray:
    """Kobo/ODK geopoint "lat lon alt acc" (vectorised) and geoshape "p;p;p" (per shape)."""
    text = values.astype(str).str.strip()
    out = np.full(len(text), None, dtype=object)
    shapes = text.str.contains(";", regex=False)
    points = ~shapes & (text != "")
    parts = text[points].str.split(r"\s+", expand=True, regex=True)
    if len(parts):
        lat = pd.to_numeric(parts[0], errors="coerce").to_numpy(float)
        lon = (
            pd.to_numeric(parts[1], errors="coerce").to_numpy(float)
            if 1 in parts
            else np.full(len(parts), np.nan)
        )
        ok = np.isfinite(lat) & np.isfinite(lon)
        positions = np.flatnonzero(points.to_numpy())
        out[positions[ok]] = shapely.points(lon[ok], lat[ok])
        for position in positions[~ok]:
            errors[int(position)] = f"geopoint {text.iloc[position]!r} is not 'lat lon alt accuracy'"
    for position in np.flatnonzero(shapes.to_numpy()):
        try:
            vertices = [p.split() for p in text.iloc[position].split(";") if p.strip()]
            coords = [(float(v[1]), float(v[0])) for v in vertices]
            out[position] = shapely.polygons(coords) if len(coords) >= 3 else shapely.linestrings(coords)
        except (ValueError, IndexError):
            errors[int(position)] = "geoshape is not a ';'-separated list of 'lat lon alt accuracy'"
    for position in np.flatnonzero((text == "").to_numpy()):
        errors[int(position)] = "the geopoint is empty"
    return out


def _parse_typed(values: pd.Series, errors: dict[int, str], what: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Coordinates typed by people (MGRS, UTM, DD, DMS): parsed one by one (each is different)."""
    out = np.full(len(values), None, dtype=object)
    kept: dict[str, list[Any]] = {"coordinate_text": [], "coordinate_format": [], "coordinate_crs": []}
    for position, value in enumerate(values.astype(str)):
        try:
            parsed = parse_coordinate(value)
            if what == "mgrs" and parsed.format != "mgrs":
                raise CoordinateError(f"{value!r} is not an MGRS reference")
        except CoordinateError as exc:
            errors[position] = str(exc)
            kept["coordinate_text"].append(value)
            kept["coordinate_format"].append(None)
            kept["coordinate_crs"].append(None)
            continue
        out[position] = shapely.Point(parsed.lon, parsed.lat)
        kept["coordinate_text"].append(parsed.text)
        kept["coordinate_format"].append(parsed.format)
        kept["coordinate_crs"].append(parsed.crs)
    return out, pd.DataFrame(kept)


def _locate_table(
    table: pd.DataFrame, mapping: dict[str, str], errors: dict[int, str], notes: list[str]
) -> tuple[np.ndarray, pd.DataFrame | None, bool]:
    """(geometries, typed coordinates kept, whether the geometry is already lon/lat)."""
    columns = _location_columns(table, mapping)
    notes.append("rows located by " + ", ".join(f"{k}={v!r}" for k, v in columns.items()))
    if "wkt" in columns:
        text = table[columns["wkt"]].astype(str)
        geometry = shapely.from_wkt(text.to_numpy(), on_invalid="ignore")
        for position in np.flatnonzero(pd.isna(geometry)):
            errors[int(position)] = f"{columns['wkt']!r} is not WKT: {text.iloc[position][:60]!r}"
        return geometry, None, False
    if "lon" in columns:
        lon = pd.to_numeric(table[columns["lon"]], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(table[columns["lat"]], errors="coerce").to_numpy(float)
        ok = np.isfinite(lon) & np.isfinite(lat)
        geometry = np.full(len(table), None, dtype=object)
        geometry[ok] = shapely.points(lon[ok], lat[ok])
        for position in np.flatnonzero(~ok):
            errors[int(position)] = (
                f"{columns['lon']!r}/{columns['lat']!r} are not numbers: "
                f"{table[columns['lon']].iloc[position]!r}, {table[columns['lat']].iloc[position]!r}"
            )
        return geometry, None, False
    if "geopoint" in columns:
        return _parse_geopoints(table[columns["geopoint"]], errors), None, True
    key = "mgrs" if "mgrs" in columns else "coordinate"
    geometry, typed = _parse_typed(table[columns[key]], errors, key)
    return geometry, typed, True


# -- entry point ---------------------------------------------------------------------------
def check_mapping(
    columns: list[str],
    mapping: dict[str, str],
    allowed: list[str],
    filename: str,
    defaults: dict[str, Any] | None = None,
) -> None:
    """Refuse mapping targets SafeGround does not know and source columns the file lacks."""
    unknown = sorted(set(mapping) - set(allowed) - set(LOCATION_FIELDS))
    if unknown:
        raise _problem(422, f"mapping: unknown target field(s) {unknown}; use {sorted(allowed)}", "mapping")
    missing = sorted({source for source in mapping.values() if source not in columns})
    if missing:
        raise _problem(
            422, f"mapping: {filename!r} has no column(s) {missing}; columns: {', '.join(columns)}", "mapping"
        )
    unknown_defaults = sorted(set(defaults or {}) - set(allowed))
    if unknown_defaults:
        raise _problem(
            422, f"defaults: unknown field(s) {unknown_defaults}; use {sorted(allowed)}", "defaults"
        )


def apply_mapping(
    table: pd.DataFrame,
    mapping: dict[str, str],
    allowed: Iterable[str],
    filename: str,
    defaults: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Rename source columns to SafeGround fields: the mapping first, then same-named columns
    (also under common aliases and the 10-character names of shapefiles); ``defaults`` fill
    fields the file lacks or leaves blank."""
    allowed = list(allowed)
    columns = [str(c) for c in table.columns]
    check_mapping(columns, mapping, allowed, filename, defaults)
    out = pd.DataFrame(index=range(len(table)))
    by_lower = {c.strip().lower(): c for c in columns}
    for target in allowed:
        # Shapefiles cut field names to 10 characters ("classification" → "classifica").
        names = (target.lower(), *ALIASES.get(target, ()), target.lower()[:10])
        source = mapping.get(target) or next((by_lower[n] for n in names if n in by_lower), None)
        if source is not None:
            out[target] = table[source].to_numpy()
    for target, value in (defaults or {}).items():
        if target not in out:
            out[target] = value
        else:
            blank = out[target].isna() | (out[target].astype(str).str.strip() == "")
            out.loc[blank, target] = value
    return out


def read_upload(
    data: bytes,
    filename: str,
    layer: str,
    mapping: dict[str, str] | None,
    fields: Iterable[str],
    settings: Settings | None = None,
    defaults: dict[str, Any] | None = None,
) -> SourceFrame:
    """Read an uploaded file after the cheap checks. ``fields`` are the target fields of the layer."""
    settings = settings or get_settings()
    mapping = mapping or {}
    fields = list(fields)
    if not data:
        raise _problem(422, f"{filename!r} is empty.")
    if len(data) > settings.max_upload_bytes:
        raise _problem(
            413, f"{filename!r} is {len(data):,} bytes; the limit is {settings.max_upload_bytes:,}."
        )
    kind = detect_format(data, filename)
    errors: dict[int, str] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sg-import-") as tmp:
        workdir = Path(tmp)
        path = workdir / f"upload{PurePosixPath(filename.lower()).suffix}"
        if kind in ("zip", "kmz", "xlsx"):
            files = safe_extract(data, workdir / "x", settings, filename)
            if kind == "xlsx":
                if not any(f.name == "workbook.xml" for f in files):
                    raise _problem(422, f"{filename!r} is a zip archive but not an XLSX workbook.")
                path.write_bytes(data)
            elif kind == "kmz":
                path = _one_of(files, (".kml",), filename, "KML document")
                kind = "kml"
            else:
                path = _one_of(files, (".shp", ".gpkg", ".geojson", ".json", ".kml"), filename, "shapefile")
                kind = {".shp": "shapefile", ".gpkg": "gpkg", ".kml": "kml"}.get(
                    path.suffix.lower(), "geojson"
                )
                if (
                    kind == "shapefile"
                    and not path.with_suffix(".prj").exists()
                    and not any(f.suffix.lower() == ".prj" for f in files)
                ):
                    notes.append("the shapefile has no .prj: its coordinates are taken as given by 'crs'")
        else:
            path.write_bytes(data)
        if kind in ("kml", "gpx"):
            check_xml(path, kind, filename)

        coordinates: pd.DataFrame | None = None
        if kind in ("csv", "xlsx"):
            table = _read_table(path, kind, filename)
            check_mapping([str(c) for c in table.columns], mapping, list(fields), filename, defaults)
            if len(table) > settings.max_features:
                raise _problem(
                    413, f"{filename!r} has {len(table):,} rows; the limit is {settings.max_features:,}."
                )
            geometry, coordinates, lonlat = _locate_table(table, mapping, errors, notes)
            source_crs = "EPSG:4326" if lonlat else None
        else:
            try:
                if kind == "gpx":
                    layers: list[str] | None = _gpx_layers(path, layer)
                elif kind == "kml":
                    layers = _layers_with_features(path) or None
                else:
                    layers = None
                _count_features(path, layers, settings, filename)
                geometry, table, source_crs = _read_gdal(path, layers)
            except Problem:
                raise
            except Exception as exc:  # pyogrio/GDAL errors of every kind: the file is the client's
                raise _gdal_error(exc, filename, FORMAT_NAMES.get(kind, kind), workdir) from exc
            if kind == "gpx" and layer == "hazard_areas":
                geometry = _lines_to_polygons(geometry, notes)
            if kind in ("kml", "gpx", "geojson") and source_crs is None:
                source_crs = "EPSG:4326"  # these formats are WGS84 by definition
        for position in np.flatnonzero(pd.isna(geometry)):
            errors.setdefault(int(position), "the feature has no geometry")
    attributes = apply_mapping(table, mapping, fields, filename, defaults)
    return SourceFrame(
        format=kind,
        geometry=np.asarray(geometry, dtype=object),
        attributes=attributes,
        source_crs=source_crs,
        errors=errors,
        notes=notes,
        coordinates=coordinates,
    )
