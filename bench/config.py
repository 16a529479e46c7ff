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
    throughput_seconds: int
    workers: int = 2
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
    throughput_seconds=30,
)

QUICK = Sizes(
    label="quick",
    read_db="sg_bench_quick",
    hazards=(("SOM", 6_000), ("LBY", 4_000)),
    import_features=2_000,
    runs=5,
    import_runs=2,
    throughput_seconds=8,
)
