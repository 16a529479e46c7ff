"""``python -m bench [--quick] [--only items,tiles,…]``: run the benchmark and write the report.

SafeGround against the SQL floor, ogr2ogr and tipg, in one run. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time

SCENARIOS = ("import", "items", "tiles", "summary", "throughput")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI; under 3 minutes)")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated scenarios of {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--no-write", action="store_true", help="print the report, do not write results/")
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="profile missed targets with py-spy (default: on for the full run, off for --quick)",
    )
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")

    from bench import data, database, report, scenarios, servers
    from bench.config import FULL, QUICK

    sizes = QUICK if args.quick else FULL
    started = report.now()
    clock = time.perf_counter()
    print(f"SafeGround benchmark ({sizes.label}), {started:%Y-%m-%d %H:%M} UTC")
    print("- preparing data")
    read_db = data.prepare_read_db(sizes)
    token = database.bench_token(read_db)
    info = report.machine(read_db)
    work_dir = scenarios.new_work_dir()

    outcome = None
    with (
        servers.running(servers.start_safeground, read_db, sizes.workers, work_dir) as sg,
        servers.running(servers.start_tipg, read_db, sizes.workers, work_dir) as tipg,
    ):
        ctx = scenarios.Context(sizes, read_db, token, sg, tipg, work_dir)
        try:
            for name in ("items", "tiles", "summary", "throughput"):
                if name in chosen:
                    print(f"- {name}")
                    getattr(scenarios, name)(ctx)
        finally:
            ctx.close()
        outcome = ctx.outcome
    if "import" in chosen:
        # Last, and with the servers stopped: it copies databases and needs the CPU to itself.
        print("- import")
        gpkg = data.import_file(sizes)
        scenarios.import_gpkg(ctx, gpkg, sizes.import_features, database.BASE_DB, "an empty database")
        # The same file where the duplicates check has work to do: SOM already holds
        # hazard areas (those of the read scenarios), and some of them overlap the new ones.
        held = dict(sizes.hazards).get("SOM", 0)
        scenarios.import_gpkg(
            ctx, gpkg, sizes.import_features, read_db, f"the read database ({held:,} SOM hazard areas)"
        )
    if args.profile if args.profile is not None else not args.quick:
        print("- profiles of missed targets")
        scenarios.profile_missed(ctx, seconds=10)

    text = report.render(outcome, sizes, info, started, time.perf_counter() - clock)
    print()
    print(text)
    if not args.no_write:
        for path in report.write(text, started, sizes.label):
            print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
