"""``make fuzz``: schemathesis against a running SafeGround, as an admin, a partner and a surveyor.

It generates requests from the OpenAPI document (valid, boundary and hostile values) and fails on
any 5xx answer. An operation schemathesis itself could not test (an error inside the tool, not an
answer of SafeGround) is listed as not tested and does not fail the run. It runs on a throw-away
database (a copy of the benchmark's migrated base, with
the demo data loaded by ``safeground serve --demo``), dropped at the end. schemathesis lives in
a virtual environment of its own (``.fuzz-venv``), so the project's dependencies stay as they
are. ``FUZZ_EXAMPLES`` (default 20) sets the examples per operation and phase.

Not part of ``make test``: it takes minutes, and its random cases belong to exploration; what it
finds becomes a test (see tests/test_hostile_sweep.py and tests/test_platform.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from defusedxml import ElementTree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import database  # noqa: E402  (the benchmark's database helpers, after the path)

FUZZ_DB = "sg_fuzz"
VENV = ROOT / ".fuzz-venv"
PORT = int(os.environ.get("FUZZ_PORT", "8099"))
EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "20")


def schemathesis() -> Path:
    tool = VENV / "bin" / "schemathesis"
    if not tool.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "schemathesis>=4,<5"], check=True)
    return tool


def main() -> int:
    tool = schemathesis()
    database.ensure_base()
    database.copy_of(database.BASE_DB, FUZZ_DB)
    env = {**os.environ, "SAFEGROUND_DATABASE_URL": database.db_url(FUZZ_DB)}
    url = f"http://127.0.0.1:{PORT}"
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "safeground"),
            "serve",
            "--demo",
            "--host",
            "127.0.0.1",
            "--port",
            str(PORT),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    failed = False
    reports = Path(tempfile.mkdtemp(prefix="sg-fuzz-"))
    try:
        deadline = time.monotonic() + 300  # the demo data loads first
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                print("fuzz: the server did not start", file=sys.stderr)
                return 1
            time.sleep(1)
        for role in ("admin", "partner", "surveyor"):
            print(f"- as {role}", flush=True)
            token = database.bench_token(FUZZ_DB, role)
            command = [str(tool), "run", f"{url}/openapi.json", "--header", f"Authorization: Bearer {token}"]
            command += ["--checks", "not_a_server_error", "--max-examples", EXAMPLES, "--workers", "2"]
            report = reports / f"{role}.xml"
            command += ["--report", "junit", "--report-junit-path", str(report)]
            code = subprocess.run(command, check=False).returncode
            server_errors, untested = _outcomes(report)
            for name in untested:
                print(f"fuzz: not tested as {role} (schemathesis failed on its own): {name}", file=sys.stderr)
            # Without a report the run itself broke: that fails too.
            failed |= bool(server_errors) or not report.exists() or (code != 0 and not untested)
    finally:
        server.terminate()
        server.wait(timeout=30)
        database.drop(FUZZ_DB)
        shutil.rmtree(reports, ignore_errors=True)
    return 1 if failed else 0


def _outcomes(report: Path) -> tuple[list[str], list[str]]:
    """From schemathesis's JUnit report: the operations with a failed check (a 5xx), and those it
    could not test because of an error of its own."""
    if not report.exists():
        return [], []
    failures: list[str] = []
    errors: list[str] = []
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = case.get("name", "?")
        if case.find("failure") is not None:
            failures.append(name)
        elif case.find("error") is not None:
            errors.append(name)
    return failures, errors


if __name__ == "__main__":
    sys.exit(main())
