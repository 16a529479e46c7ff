"""Repeated timings with a warm-up, summarised as median and 5th/95th percentiles."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Timing:
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p5(self) -> float:
        return float(np.percentile(self.seconds, 5))

    @property
    def p95(self) -> float:
        return float(np.percentile(self.seconds, 95))

    def text(self) -> str:
        """``12.3 ms (11.9–13.0)``: median and the p5–p95 spread, in a readable unit."""
        return f"{_fmt(self.median)} ({_fmt(self.p5, unit=False)}–{_fmt(self.p95, unit=False)})"


def _fmt(seconds: float, unit: bool = True) -> str:
    if seconds >= 1:
        return f"{seconds:.2f}" + (" s" if unit else "")
    return f"{seconds * 1000:.1f}" + (" ms" if unit else "")


# A case whose warm-up shows it would need more than this many seconds runs fewer times
# (at least 3), so that one very slow case cannot stretch the run by half an hour.
BUDGET_S = 120.0


def measure(run: Callable[[], object], runs: int, warmup: int = 1, budget_s: float = BUDGET_S) -> Timing:
    """Time ``run`` ``runs`` times after ``warmup`` untimed calls (caches, pools, JIT of plans)."""
    for _ in range(warmup):
        start = time.perf_counter()
        run()
        one = time.perf_counter() - start
        if one * runs > budget_s:
            runs = max(3, int(budget_s / max(one, 1e-9)))
    seconds: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return Timing(seconds)
