"""What a scenario hands to the report: timings of SafeGround and of what it is compared with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.timing import Timing


@dataclass
class Comparison:
    """SafeGround against one baseline; ``ratio`` = SafeGround median / baseline median."""

    against: str
    timing: Timing | None
    max_ratio: float | None  # the target: ratio must be ≤ this (None: reported only)
    target_text: str
    note: str = ""


@dataclass
class Result:
    scenario: str
    case: str
    safeground: Timing | None
    comparisons: list[Comparison] = field(default_factory=list)
    note: str = ""  # "not available yet: …", sizes, feature counts
    max_seconds: float | None = None  # an absolute target on SafeGround's median
    url: str = ""  # SafeGround's URL, for the profile of a missed target
    command: list[str] = field(default_factory=list)  # or the command (import)
    headers: dict[str, str] = field(default_factory=dict)  # when not the partner token
    statements: list[Any] = field(default_factory=list)  # SafeGround's SQL, for EXPLAIN ANALYZE

    def absolute_met(self) -> bool | None:
        if self.max_seconds is None or self.safeground is None:
            return None
        return self.safeground.median <= self.max_seconds

    def ratio(self, comparison: Comparison) -> float | None:
        if self.safeground is None or comparison.timing is None or comparison.timing.median <= 0:
            return None
        return self.safeground.median / comparison.timing.median

    def met(self, comparison: Comparison) -> bool | None:
        ratio = self.ratio(comparison)
        if ratio is None or comparison.max_ratio is None:
            return None
        return ratio <= comparison.max_ratio


@dataclass
class Throughput:
    server: str
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    seconds: float
    errors: int
    non_2xx: int
    note: str = ""


@dataclass
class Outcome:
    results: list[Result] = field(default_factory=list)
    throughput: list[Throughput] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
