"""How fast could any import of the benchmark's GeoPackage be? A probe, not part of ``make bench``.

It does a *subset* of what ``safeground import`` does, in the cheapest way we know, and times it
against ``ogr2ogr`` in alternation on fresh copies of the benchmark's base database:

- a bare Python process (numpy, shapely, pyogrio, psycopg2: none of the app's imports);
- the file read in chunks; per chunk, vectorised: validity, coordinate ranges, the longest edge
  (haversine), inside the country (prepared, buffered), areas on the authalic sphere in numpy
  (not PostGIS's geodesic areas: within about 1e-4 m² for these polygons, but up to 12 m² on
  large polygons with 5-km edges), admin-1 by point in polygon (not the largest overlap);
- each chunk written while the next is checked: a ``COPY`` straight into ``hazard_areas`` on a
  second thread, one transaction (the table's indexes, foreign key and audit trigger included).

Left out: attribute validation, repairs, duplicates against existing hazard areas, the stored
report and import record. Whatever the import does beyond this can only add to the time, so this
is a lower bound for the import's design, not a proposal.

    python -m bench.import_lower_bound [--runs 3] [--chunks 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROBE_DB = "sg_bench_lower_bound"
COLUMNS = (
    "programme_id, reference, name, classification, status, contamination_types, geom, area_m2, "
    "remaining_m2, admin1_code, admin1_name, review_status, source_index, created_by, updated_by, "
    "information_source, reliability, blockages, beneficiaries_women, beneficiaries_men, "
    "beneficiaries_girls, beneficiaries_boys, priority, notes"
)

# The probe process itself: a string run with ``python -c`` so that its start-up holds only the
# libraries it needs (the point is a lower bound).
PROBE = r"""
import io, queue, sys, threading
import numpy as np, psycopg2, shapely
from pyogrio import read_info
from pyogrio.raw import read

path, dsn, chunks, columns = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
conn = psycopg2.connect(dsn)
cur = conn.cursor()
cur.execute("SELECT id FROM programmes WHERE code = 'SOM'")
programme = cur.fetchone()[0]
cur.execute("SELECT code, name, ST_AsBinary(geom) FROM admin_areas WHERE programme_id = %s AND level = 1",
            (programme,))
admin = cur.fetchall()
admin_geoms = shapely.from_wkb([bytes(a[2]) for a in admin])
shapely.prepare(admin_geoms)
country = shapely.buffer(shapely.union_all(admin_geoms), 0.05)
shapely.prepare(country)
tree = shapely.STRtree(admin_geoms)
A, F = 6378137.0, 1 / 298.257223563
E2 = F * (2 - F)
E = np.sqrt(E2)
def q(s):
    return (1 - E2) * (s / (1 - E2 * s**2) + np.arctanh(E * s) / E)
QP = q(1.0)
def authalic_areas(g):
    rings, owner = shapely.get_rings(g, return_index=True)
    exterior = np.zeros(len(rings), bool)
    exterior[np.r_[0, np.cumsum(shapely.get_num_interior_rings(g) + 1)[:-1]]] = True
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    t = np.tan(np.arcsin(q(np.sin(np.radians(xy[:, 1]))) / QP) / 2)
    dl = np.radians(np.diff(xy[:, 0]))
    excess = 2 * np.arctan2(np.tan(dl / 2) * (t[:-1] + t[1:]), 1 + t[:-1] * t[1:])
    per_ring = np.abs(np.bincount(ring[:-1], np.where(ring[1:] == ring[:-1], excess, 0), len(rings)))
    per_ring *= A * A * QP / 2
    return np.bincount(owner, np.where(exterior, per_ring, -per_ring), len(g))
def esc(v):
    return "\\N" if v is None else str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
chunks_out = queue.Queue()
failed = []
def writer():
    try:
        w = psycopg2.connect(dsn)
        with w.cursor() as c:
            while (chunk := chunks_out.get()) is not None:
                c.copy_expert(f"COPY hazard_areas ({columns}) FROM STDIN", chunk)
        w.commit()
    except Exception as exc:
        failed.append(exc)
        while chunks_out.get() is not None:
            pass
thread = threading.Thread(target=writer)
thread.start()
total = read_info(path)["features"]  # from the GeoPackage metadata, without reading features
size = -(-total // chunks)
for start in range(0, total, size):
    _, _, wkb, fields = read(path, skip_features=start, max_features=size)
    g = shapely.from_wkb(wkb)
    valid = shapely.is_valid(g)
    xy, owner = shapely.get_coordinates(g, return_index=True)
    in_range = (np.abs(xy[:, 0]) <= 180) & (np.abs(xy[:, 1]) <= 90)
    lon, lat = np.radians(xy[:, 0]), np.radians(xy[:, 1])
    h = np.sin(np.diff(lat) / 2) ** 2 + np.cos(lat[:-1]) * np.cos(lat[1:]) * np.sin(np.diff(lon) / 2) ** 2
    same = owner[1:] == owner[:-1]
    longest = np.zeros(len(g))
    np.maximum.at(longest, owner[1:][same], (2 * 6371008.8 * np.arcsin(np.sqrt(h)))[same])
    inside = shapely.intersects(country, g)
    assert valid.all() and in_range.all() and inside.all() and (longest < 5000).all()
    m2 = authalic_areas(g).tolist()
    found = tree.query(shapely.point_on_surface(g), predicate="within")
    where = np.full(len(g), -1)
    where[found[0]] = found[1]
    multi = shapely.set_srid(shapely.multipolygons(g, indices=np.arange(len(g))), 4326)
    hexes = [b.hex() for b in shapely.to_wkb(multi, include_srid=True)]
    name, cls, status, types, _, _, source, reliability, blockages, bw, bm, bg, bb, priority, notes = fields
    lines = []
    for i in range(len(g)):
        k = where[i]
        lines.append("\t".join((
            str(programme), f"LB-{start + i:06d}", esc(name[i]), cls[i], status[i] or "open",
            "{" + (types[i] or "") + "}", hexes[i], repr(m2[i]), repr(m2[i]),
            esc(admin[k][0]) if k >= 0 else "\\N", esc(admin[k][1]) if k >= 0 else "\\N", "draft",
            str(start + i), "probe", "probe", esc(source[i]), esc(reliability[i]),
            "{" + (blockages[i] or "") + "}", str(bw[i]), str(bm[i]), str(bg[i]), str(bb[i]),
            str(priority[i]), esc(notes[i]),
        )))
    chunks_out.put(io.StringIO("\n".join(lines) + "\n"))
chunks_out.put(None)
thread.join()
if failed:
    raise failed[0]
"""


def main() -> None:
    from bench import data, database
    from bench.config import FULL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=5)
    args = parser.parse_args()
    database.ensure_base()
    gpkg: Path = data.import_file(FULL)
    dsn = database.libpq_dsn(PROBE_DB)
    probe = [sys.executable, "-c", PROBE, str(gpkg), dsn, str(args.chunks), COLUMNS]
    ogr = ["ogr2ogr", "-f", "PostgreSQL", f"PG:{dsn}", str(gpkg), "-nln", "ogr_hazard_areas", "-overwrite"]

    def timed(command: list[str], stored: str) -> float:
        database.copy_of(database.BASE_DB, PROBE_DB)
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        elapsed = time.perf_counter() - start
        with database.connect(PROBE_DB) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {stored}")
            loaded.add(cur.fetchone()[0])
        return elapsed

    loaded: set[int] = set()
    probe_times: list[float] = []
    ogr_times: list[float] = []
    for _ in range(args.runs):
        probe_times.append(timed(probe, "hazard_areas WHERE reference LIKE 'LB-%'"))
        ogr_times.append(timed(ogr, "ogr_hazard_areas"))
    database.drop(PROBE_DB)
    if len(loaded) != 1:
        sys.exit(f"the probe and ogr2ogr stored different numbers of polygons: {sorted(loaded)}")
    (count,) = loaded
    lower, baseline = statistics.median(probe_times), statistics.median(ogr_times)
    print(f"{count:,} polygons stored by each, {args.chunks} chunks, {args.runs} runs in alternation")
    print(f"lower bound of an import: median {lower:.2f} s ({', '.join(f'{t:.2f}' for t in probe_times)})")
    print(f"ogr2ogr -f PostgreSQL:    median {baseline:.2f} s ({', '.join(f'{t:.2f}' for t in ogr_times)})")
    print(f"ratio {lower / baseline:.2f}× (the import's target is ≤ 5×)")


if __name__ == "__main__":
    main()
