"""Profiles of missed targets: py-spy samples a one-worker SafeGround server while the case's
request is repeated, and the summary says where the time goes.

The collapsed stacks are summarised two ways: "self" (the function on top of the stack: what
the CPU was doing) and "inclusive" for SafeGround's own code and the web stack (which call
paths the time is spent under). The raw stacks are kept next to the results for a flame graph
(``flamegraph.pl`` or https://www.speedscope.app accept them).
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench import servers

INTERESTING = re.compile(r"/(app|geo|survey|tasks|clearance)/|starlette|fastapi|sqlalchemy|anyio|psycopg2")


def _frame_name(frame: str) -> str:
    # py-spy's raw format: "function (path/file.py:line)"
    match = re.match(r"(.+?) \((.+?)(?::\d+)?\)$", frame.strip())
    if not match:
        return frame.strip()
    function, path = match.groups()
    short = re.sub(r"^.*?/(site-packages|lib/python3\.\d+|main)/", "", path)
    return f"{function} ({short})"


def summarise(collapsed: str, top: int = 12) -> tuple[list[tuple[str, float]], list[tuple[str, float]], int]:
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f.strip()]
        # Idle worker threads waiting for work are not time spent on the request.
        idle = bool(frames) and re.search(
            r"(^|\.)(wait|_wait_for_tstate_lock|select|poll|epoll_wait) ", frames[-1]
        )
        if idle and not any("stream" in f or "execute" in f for f in frames):
            continue
        total += count
        if frames:
            self_time[frames[-1]] += count
        for name in set(frames):
            if INTERESTING.search(name):
                inclusive[name] += count
    if total == 0:
        return [], [], 0
    return (
        [(n, c / total) for n, c in self_time.most_common(top)],
        [(n, c / total) for n, c in inclusive.most_common(top)],
        total,
    )


def profile_case(database: str, url: str, headers: dict[str, str], seconds: int, out: Path) -> str:
    """Profile ``url`` on a one-worker SafeGround; returns a Markdown summary (raw stacks in ``out``)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        return f"- `{url}`: py-spy is not installed (pip install py-spy); no profile taken."
    server = servers.start_safeground(database, 1, Path(tempfile.mkdtemp(prefix="sg-profile-")))
    try:
        stop = threading.Event()
        requests = 0

        def load() -> None:
            nonlocal requests
            with httpx.Client(base_url=server.base, headers=headers, timeout=120) as client:
                while not stop.is_set():
                    client.get(url).read()
                    requests += 1

        worker = threading.Thread(target=load, daemon=True)
        worker.start()
        time.sleep(0.5)  # past the first request's warm-up
        proc = subprocess.run(
            [
                py_spy,
                "record",
                "--pid",
                str(server.process.pid),
                "--duration",
                str(seconds),
                "--rate",
                "200",
                "--format",
                "raw",
                "--threads",
                "--output",
                str(out),
                "--nonblocking",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        stop.set()
        worker.join(timeout=120)
    finally:
        servers.stop(server)
    if proc.returncode != 0 or not out.exists():
        return f"- `{url}`: py-spy failed: {(proc.stderr or proc.stdout)[-300:]}"
    self_top, inclusive_top, samples = summarise(out.read_text())
    lines = [
        f"### `{url}`",
        "",
        f"py-spy, {seconds} s at 200 Hz on a one-worker server, {requests} requests, {samples} busy samples "
        f"(raw stacks: `{out.name}`).",
        "",
        "| Where the CPU was (self; `Runner.run` = the C event loop: socket I/O and waiting) | share |",
        "| --- | --- |",
        *[f"| `{n}` | {share:.0%} |" for n, share in self_top],
        "",
        "| Under which call (inclusive, SafeGround and web stack) | share |",
        "| --- | --- |",
        *[f"| `{n}` | {share:.0%} |" for n, share in inclusive_top],
        "",
    ]
    return "\n".join(lines)


def profile_command(cmd: list[str], env: dict[str, str], out: Path, title: str) -> str:
    """Profile a whole command (e.g. ``safeground import``) with py-spy; Markdown summary."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        return f"- {title}: py-spy is not installed (pip install py-spy); no profile taken."
    start = time.perf_counter()
    proc = subprocess.run(
        # --idle: time spent waiting for PostgreSQL shows as the execute call that waits.
        [py_spy, "record", "--idle", "--rate", "100", "--format", "raw", "--output", str(out), "--", *cmd],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if not out.exists():
        return f"- {title}: py-spy failed: {(proc.stderr or proc.stdout)[-300:]}"
    self_top, inclusive_top, samples = summarise(out.read_text())
    return "\n".join(
        [
            f"### {title}",
            "",
            f"py-spy over the whole command ({elapsed:.1f} s, {samples} samples at 100 Hz; raw stacks: "
            f"`{out.name}`), idle time included: time spent waiting for PostgreSQL shows as the "
            "psycopg2 `execute` call that waits (what PostgreSQL does then is not visible here).",
            "",
            "| Where the CPU was (self) | share |",
            "| --- | --- |",
            *[f"| `{n}` | {share:.0%} |" for n, share in self_top],
            "",
            "| Under which call (inclusive) | share |",
            "| --- | --- |",
            *[f"| `{n}` | {share:.0%} |" for n, share in inclusive_top],
            "",
        ]
    )


def explain(url: str, statements: list[tuple[str, Any]], top: int = 8) -> str:
    """EXPLAIN ANALYZE of the captured SQL: the plan nodes that take the most time (exclusive)."""
    from app.db import make_engine

    lines: list[str] = []
    # The app's own connection arguments (session settings such as jit=off), as in the floor.
    engine = make_engine(url)
    conn: Any = engine.raw_connection().driver_connection
    try:
        with conn.cursor() as cur:
            for statement, params in statements:
                if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
                plan = cur.fetchone()[0][0]
                nodes: list[tuple[float, str]] = []
                _walk(plan["Plan"], nodes)
                total = float(plan.get("Execution Time", 0.0))
                jit = plan.get("JIT", {}).get("Timing", {}).get("Total", 0.0)
                lines.append(
                    f"EXPLAIN ANALYZE of `{' '.join(statement.split())[:90]}…`: {total:.0f} ms execution"
                    + (f", of which JIT compilation {jit:.0f} ms" if jit else "")
                    + "."
                )
                lines += ["", "| Plan node (exclusive time) | ms | share |", "| --- | --- | --- |"]
                for ms, label in sorted(nodes, reverse=True)[:top]:
                    lines.append(
                        f"| {label} | {ms:.0f} | {ms / total:.0%} |" if total else f"| {label} | {ms:.0f} | |"
                    )
                lines.append("")
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()
    return "\n".join(lines)


def _walk(node: dict[str, Any], out: list[tuple[float, str]]) -> float:
    """Append (exclusive ms, label) for ``node`` and its children; return its inclusive ms."""
    loops = float(node.get("Actual Loops", 1) or 1)
    inclusive = float(node.get("Actual Total Time", 0.0)) * loops
    children = sum(_walk(child, out) for child in node.get("Plans", []))
    what = node.get("Relation Name") or node.get("CTE Name") or node.get("Function Name") or ""
    label = f"{node.get('Node Type', '?')}{' on ' + what if what else ''}"
    if node.get("Filter"):
        label += f" (filter: {str(node['Filter'])[:60]})"
    out.append((max(inclusive - children, 0.0), label))
    return inclusive
