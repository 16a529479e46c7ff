"""A real uvicorn server on a free loopback port, for clients that need a socket (GDAL, owslib,
geopandas, Chromium). It runs in a thread of the test process, so it uses the application
engine the ``engine`` fixture pointed at this test's database."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve() -> Iterator[str]:
    from app.main import create_app

    port = free_port()
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    # Wait for the socket to accept connections (the server sets .started once it listens).
    for _ in range(500):
        if server.started:
            started.set()
            break
        threading.Event().wait(0.01)
    if not started.is_set():
        server.should_exit = True
        raise RuntimeError("the test server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
