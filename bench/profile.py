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
import threading
import time
from pathlib import Path

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
    server = servers.start_safeground(database, 1, out.parent)
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
