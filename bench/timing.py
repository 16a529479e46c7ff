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


def measure_together(
    runs: dict[str, Callable[[], object]], n: int, warmup: int = 1, budget_s: float = BUDGET_S
) -> dict[str, Timing]:
    """Time several ways of getting the same answer (SafeGround, its SQL floor, a peer server)
    in alternation: round k runs each once, in an order rotated every round.

    Timed one after the other, a ratio also measures how the machine changed between the two
    series (a shared 2-core VM varies by tens of per cent over minutes); in alternation both
    sides see the same conditions.
    """
    names = list(runs)
    round_s = 0.0
    for _ in range(warmup):
        for name in names:
            start = time.perf_counter()
            runs[name]()
            round_s += time.perf_counter() - start
    round_s /= max(warmup, 1)
    if round_s * n > budget_s * len(names):
        n = max(3, int(budget_s * len(names) / max(round_s, 1e-9)))
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for k in range(n):
        shift = k % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            runs[name]()
            seconds[name].append(time.perf_counter() - start)
    return {name: Timing(values) for name, values in seconds.items()}
