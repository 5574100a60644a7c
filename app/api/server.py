"""Serving the API: in the foreground beside the deadline sweep (`qorgau serve`), or in a
background thread on a free loopback port (tests, benchmarks).

    from app.api.server import serve
    serve(engine, host="127.0.0.1", port=8000, sweep_interval=30)   # blocks until Ctrl-C
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Callable

import uvicorn

log = logging.getLogger("qorgau.api")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerThread:
    """Uvicorn serving `app` in a daemon thread; a context manager that waits until it listens
    and stops it on exit. `url` is its base address."""

    def __init__(self, app, host: str = "127.0.0.1", port: int | None = None, **config):
        self.host, self.port = host, port or free_port(host)
        config.setdefault("log_level", "warning")
        config.setdefault("access_log", False)
        self.server = uvicorn.Server(uvicorn.Config(app, host=self.host, port=self.port, **config))
        self.thread = threading.Thread(target=self.server.run, name="qorgau-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _sweep_loop(engine, interval: float, stop: threading.Event, echo: Callable[[str], None]) -> None:
    from states.sweep import sweep
    while not stop.is_set():
        try:
            report = sweep(engine)
            if report.processed:
                echo(f"{time.strftime('%H:%M:%S')} took {report.processed} due steps {report.by_kind}")
        except Exception:  # a failed sweep is retried at the next interval; the API keeps serving
            log.exception("sweep failed")
        stop.wait(interval)


def serve(engine, host: str = "127.0.0.1", port: int = 8000, sweep_interval: float | None = 30.0,
          echo: Callable[[str], None] = print, **config) -> None:
    """Serve the API on host:port (blocking, until Ctrl-C) and, unless `sweep_interval` is None,
    sweep deadlines every `sweep_interval` seconds in a background thread."""
    from . import create_app
    stop = threading.Event()
    if sweep_interval is not None:
        threading.Thread(target=_sweep_loop, args=(engine, sweep_interval, stop, echo), name="qorgau-sweep",
                         daemon=True).start()
    echo(f"API on http://{host}:{port}/api/v1 (docs: /api/v1/docs)"
         + (f"; sweeping every {sweep_interval:g} s" if sweep_interval is not None else ""))
    try:
        uvicorn.run(create_app(engine), host=host, port=port, log_level=config.pop("log_level", "info"), **config)
    finally:
        stop.set()
