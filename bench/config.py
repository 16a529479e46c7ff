"""Benchmark sizes: the full run (the issue's figures) and the quick one (CI, < 3 minutes)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    label: str
    read_db: str
    # Hazard areas in the read scenarios' database, per programme.
    hazards: tuple[tuple[str, int], ...]
    import_features: int
    runs: int  # timed repetitions per case, after one warm-up
    import_runs: int
    import_warmup: int
    throughput_seconds: int
    workers: int = 2
    # Land releases per hazard area in the read database (100,000 × 3 = 300,000 in the full run).
    releases_per_hazard: int = 3
    # The "page" case of the items scenario (10,000 = the API's maximum page).
    page: int = 10_000
    seed: int = 20261126

    @property
    def total_hazards(self) -> int:
        return sum(n for _, n in self.hazards)


FULL = Sizes(
    label="full",
    read_db="sg_bench",
    hazards=(("SOM", 60_000), ("LBY", 40_000)),
    import_features=50_000,
    runs=15,
    import_runs=3,
    import_warmup=1,
    throughput_seconds=30,
)

QUICK = Sizes(
    label="quick",
    read_db="sg_bench_quick",
    hazards=(("SOM", 6_000), ("LBY", 4_000)),
    import_features=2_000,
    runs=5,
    import_runs=2,
    import_warmup=0,
    throughput_seconds=8,
    page=2_000,
)
