"""SafeGround and tipg as real uvicorn servers on loopback ports (subprocesses).

Both get the same number of workers, no access log, and the same database. They are started
once per benchmark run and stopped (by their own process id) when it ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.database import ROOT, db_url, plain_url


@dataclass
class Server:
    name: str
    base: str
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(server: Server, path: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start-up; see {server.log}")
        try:
            if httpx.get(server.base + path, timeout=5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{server.name} did not answer {path} within {timeout:.0f} s; see {server.log}")


def _start(name: str, app: str, env: dict[str, str], workers: int, log_dir: Path, ready: str) -> Server:
    port = free_port()
    log = log_dir / f"{name}.log"
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(server, ready)
    except BaseException:
        stop(server)
        raise
    return server


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def start_safeground(database: str, workers: int, log_dir: Path) -> Server:
    env = {"SAFEGROUND_DATABASE_URL": db_url(database), "SAFEGROUND_POOL_SIZE": "10"}
    return _start("safeground", "app.asgi:app", env, workers, log_dir, "/health")


def start_tipg(database: str, workers: int, log_dir: Path) -> Server:
    env = {
        "DATABASE_URL": plain_url(database),
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": '["public.hazard_areas"]',
        "TIPG_MAX_FEATURES_PER_QUERY": "10000",
        # Same connection pool size as SafeGround's.
        "DB_MIN_CONN_SIZE": "1",
        "DB_MAX_CONN_SIZE": "10",
    }
    return _start("tipg", "tipg.main:app", env, workers, log_dir, "/collections")


@contextmanager
def running(starter: object, *args: object) -> Iterator[Server | None]:
    """Start a server for the block; yields None (with the reason printed) if it cannot start."""
    server: Server | None = None
    try:
        server = starter(*args)  # type: ignore[operator]
    except RuntimeError as exc:
        print(f"  ! {exc}")
    try:
        yield server
    finally:
        if server is not None:
            stop(server)
