"""The results as Markdown: bench/results/<date>.md and bench/results/latest.md."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

from bench import database
from bench.config import Sizes
from bench.results_model import Outcome

RESULTS = Path(__file__).resolve().parent / "results"


def machine(read_db: str) -> dict[str, str]:
    cpu = "unknown CPU"
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        if match:
            cpu = match.group(1).strip()
    except OSError:
        pass
    ram = "?"
    try:
        match = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        if match:
            ram = f"{int(match.group(1)) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    with database.connect(read_db, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
        cur.execute("SELECT postgis_lib_version()")
        postgis = cur.fetchone()[0]
    load = os.getloadavg()
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "RAM": ram,
        "PostgreSQL / PostGIS": f"{pg} / {postgis}",
        "Python": platform.python_version(),
        "Load average at start (1/5/15 min)": f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
    }


def _ratio_cell(ratio: float | None, target: str, met: bool | None) -> str:
    if ratio is None:
        return "–"
    mark = "" if met is None else (" ✅" if met else " ❌")
    return f"{ratio:.2f}×{mark}"


def render(outcome: Outcome, sizes: Sizes, info: dict[str, str], started: datetime, elapsed: float) -> str:
    lines = [
        f"# SafeGround benchmark — {sizes.label} run, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Run with `python -m bench{' --quick' if sizes.label == 'quick' else ''}` in {elapsed / 60:.1f} min. "
        f"Read scenarios over {sizes.total_hazards:,} synthetic hazard areas "
        f"({', '.join(f'{c} {n:,}' for c, n in sizes.hazards)}); import of {sizes.import_features:,} polygons; "
        f"{sizes.runs} timed runs per case after one warm-up ({sizes.import_runs} for import, "
        f"after {sizes.import_warmup} warm-up); "
        f"servers with {sizes.workers} uvicorn workers each on loopback.",
        "",
        "| Machine | |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in info.items()],
        "",
        "Times are medians with the 5th–95th percentile range in brackets. Ratio = SafeGround ÷ baseline "
        "(below 1 means SafeGround is faster). ✅ target met, ❌ missed.",
        "",
        "| Scenario | Case | SafeGround | Baseline | Baseline time | Ratio | Target | Notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in outcome.results:
        sg = result.safeground.text() if result.safeground else "–"
        if not result.comparisons:
            lines.append(f"| {result.scenario} | {result.case} | {sg} | – | – | – | – | {result.note} |")
        for i, comparison in enumerate(result.comparisons):
            base = comparison.timing.text() if comparison.timing else "–"
            notes = "; ".join(n for n in (result.note if i == 0 else "", comparison.note) if n)
            lines.append(
                f"| {result.scenario if i == 0 else ''} | {result.case if i == 0 else ''} | {sg if i == 0 else ''} "
                f"| {comparison.against} | {base} "
                f"| {_ratio_cell(result.ratio(comparison), comparison.target_text, result.met(comparison))} "
                f"| {comparison.target_text} | {notes} |"
            )
        if result.max_seconds is not None:
            met = result.absolute_met()
            mark = "" if met is None else (" ✅" if met else " ❌")
            lines.append(f"|  |  |  | (absolute) | – | {sg}{mark} | ≤ {result.max_seconds:g} s median | |")
    if outcome.throughput:
        lines += [
            "",
            "## Throughput (mixed read load: 40 % single features, 30 % tiles, 30 % bbox pages of ≤ 100)",
            "",
            "`wrk -t1 -c8` on loopback, bounded in time; latency percentiles from wrk.",
            "",
            "| Server | Requests/s | p50 | p95 | p99 | Requests | Errors | Non-2xx | Notes |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for t in outcome.throughput:
            lines.append(
                f"| {t.server} | {t.requests_per_s:.0f} | {t.p50_ms:.1f} ms | {t.p95_ms:.1f} ms | "
                f"{t.p99_ms:.1f} ms | {t.requests:,} in {t.seconds:.0f} s | {t.errors} | {t.non_2xx} | {t.note} |"
            )
    if outcome.unavailable:
        lines += ["", "## Not measured in this run", ""]
        lines += [f"- {reason}" for reason in outcome.unavailable]
    if outcome.profiles:
        lines += ["", "## Profiles of missed targets", ""]
        lines += outcome.profiles
    lines.append("")
    return "\n".join(lines)


def write(text: str, started: datetime, label: str) -> list[Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    # A quick run (CI) never overwrites the full run's figures.
    suffix = "" if label == "full" else f"-{label}"
    dated = RESULTS / f"{started:%Y-%m-%d}{suffix}.md"
    latest = RESULTS / f"latest{suffix}.md"
    dated.write_text(text)
    latest.write_text(text)
    return [dated, latest]


def now() -> datetime:
    return datetime.now(UTC)
