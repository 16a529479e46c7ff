"""Benchmark data: the read scenarios' database and the import scenario's GeoPackage."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import geopandas as gpd

from bench import database
from bench.config import Sizes
from geo import synthetic

CACHE = Path(__file__).resolve().parent / ".cache"


def prepare_read_db(sizes: Sizes) -> str:
    """``sizes.read_db`` with the synthetic hazard areas, rebuilt only when out of date."""
    database.ensure_base()
    key = f"{sizes.hazards}-{sizes.seed}-{sizes.releases_per_hazard}"
    if database.read_db_is_current(sizes.read_db, key):
        print(f"  reusing database {sizes.read_db}")
        return sizes.read_db
    start = time.perf_counter()
    frames = [(code, synthetic.synthetic_hazards(code, n, seed=sizes.seed)) for code, n in sizes.hazards]
    generated = time.perf_counter()
    database.copy_of(database.BASE_DB, sizes.read_db)
    rows = database.load_hazards(sizes.read_db, frames)
    loaded = time.perf_counter()
    print(
        f"  {rows:,} hazard areas generated in {generated - start:.1f} s and loaded into "
        f"{sizes.read_db} in {loaded - generated:.1f} s"
    )
    if database.has_table(sizes.read_db, "land_releases"):
        releases = database.load_releases(sizes.read_db, sizes.releases_per_hazard)
        print(f"  {releases:,} land releases made in {time.perf_counter() - loaded:.1f} s")
    if all(database.has_table(sizes.read_db, t) for t in ("tasks", "eo_items", "qa_visits", "eo_catalogue")):
        made = database.load_operations(sizes.read_db)
        print("  " + ", ".join(f"{n:,} {table}" for table, n in made.items()) + " made")
    database.mark_read_db(sizes.read_db, key)
    return sizes.read_db


def to_geopackage(frame: gpd.GeoDataFrame, path: Path) -> Path:
    """Write ``frame`` (file-ready columns, as a surveyor's file has them) as layer ``hazard_areas``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.gpkg")
    tmp.unlink(missing_ok=True)
    frame.to_file(tmp, layer="hazard_areas", driver="GPKG")
    tmp.replace(path)
    return path


def import_file(sizes: Sizes) -> Path:
    """The import scenario's GeoPackage (one programme, SOM), cached by size and seed."""
    source = hashlib.sha1(Path(synthetic.__file__).read_bytes()).hexdigest()[:8]  # noqa: S324
    path = CACHE / f"import-SOM-{sizes.import_features}-{sizes.seed}-{source}.gpkg"
    if not path.exists():
        to_geopackage(synthetic.synthetic_hazards("SOM", sizes.import_features, seed=sizes.seed + 1), path)
    return path
