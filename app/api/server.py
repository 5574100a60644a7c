"""Serving the web pages and the API: in the foreground, in one or more worker processes
(`qorgau api`, `serve_http`), or in a background thread on a free loopback port (`ServerThread`:
`qorgau serve` beside the flows, tests).

    from app.api.server import serve_http
    serve_http("127.0.0.1", 8000, workers=2)   # blocks until Ctrl-C
"""
from __future__ import annotations

import gc
import os
import signal
import socket
import threading
import time
from typing import Callable

import uvicorn

from deployments.ports import free_port
from flows.kick import install as install_kick


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


def listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket listening on host:port. With `reuse_port`, several processes each bind their own
    and the kernel spreads new connections over them (SO_REUSEPORT, Linux)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def _serve_on(sock: socket.socket, log_level: str, engine=None) -> None:
    """Serve the web pages and the API over `engine` (default: opened here; the parent migrated the
    store) on `sock` until SIGINT/SIGTERM (in this process)."""
    from app.web import create_site
    from states.store import open_engine
    engine = engine or open_engine(run_migrations=False)
    install_kick(engine)  # a commit starts its delivery at once, as under `qorgau serve` (docs/deploy.md)
    server = uvicorn.Server(uvicorn.Config(create_site(engine), log_level=log_level, access_log=False))
    gc.collect()
    gc.freeze()  # what start-up built lives as long as the process: no full collection scans it again
    server.run(sockets=[sock])


def _worker(host: str, port: int, log_level: str, supervisor: int) -> None:
    threading.Thread(target=_stop_when_orphaned, args=(supervisor,), name="qorgau-parent-watch",
                     daemon=True).start()
    _serve_on(listening_socket(host, port, reuse_port=True), log_level)


def _stop_when_orphaned(parent: int, every: float = 1.0) -> None:
    """A worker whose supervisor is gone (killed outright, so it could not stop its workers) stops
    itself, finishing the requests in flight, instead of serving the port on its own forever."""
    while os.getppid() == parent:
        time.sleep(every)
    os.kill(os.getpid(), signal.SIGTERM)


def serve_http(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, *, log_level: str = "info",
               echo: Callable[[str], None] = print) -> int:
    """Serve the web pages and the HTTP API (no Prefect) on host:port until Ctrl-C or SIGTERM, in
    `workers` processes that share the port (SO_REUSEPORT: the kernel spreads connections over them;
    SQLite writes queue on one file lock across them, see app/store.py). The store is migrated
    here first. A worker that dies is restarted; one that dies within `_FATAL_WITHIN` seconds of
    starting stops them all (exit code 1). Returns the exit code."""
    from states.db import database_url
    from states.store import open_engine
    if workers < 1:
        raise ValueError("workers: must be at least 1")
    if workers > 1 and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("workers: more than one needs SO_REUSEPORT (Linux, BSD, macOS)")
    if workers > 1 and database_url() in ("sqlite://", "sqlite:///:memory:"):
        raise ValueError("workers: an in-memory store lives in one process; use a file or PostgreSQL")
    sock = listening_socket(host, port, reuse_port=workers > 1)  # fails here, clearly, if the port is taken
    engine = open_engine()  # migrate and mirror the directory once, before any worker starts
    echo(f"web pages and HTTP API on http://{host}:{port}/ (API docs: /api/v1/docs); store {database_url()}; "
         f"{workers} worker process{'es' if workers > 1 else ''}")
    if workers == 1:
        _serve_on(sock, log_level, engine)
        return 0
    engine.db.dispose()
    sock.close()  # each worker binds its own socket on the port
    return _Supervisor(host, port, workers, log_level, echo).run()


_FATAL_WITHIN = 10.0


class _Supervisor:
    """Starts the worker processes, restarts one that dies, stops them all on Ctrl-C or SIGTERM."""

    def __init__(self, host: str, port: int, workers: int, log_level: str, echo: Callable[[str], None]):
        import multiprocessing
        self.context = multiprocessing.get_context("spawn")
        self.args = (host, port, log_level, os.getpid())
        self.echo = echo
        self.procs: list = [None] * workers
        self.started: list[float] = [0.0] * workers
        self.stopping = threading.Event()

    def _start(self, i: int) -> None:
        proc = self.context.Process(target=_worker, args=self.args, name=f"qorgau-http-{i + 1}")
        proc.start()
        self.procs[i], self.started[i] = proc, time.monotonic()

    def run(self) -> int:
        previous = signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        code = 0
        try:
            for i in range(len(self.procs)):
                self._start(i)
            while not self.stopping.wait(0.5):
                for i, proc in enumerate(self.procs):
                    if proc.is_alive():
                        continue
                    if time.monotonic() - self.started[i] < _FATAL_WITHIN:
                        self.echo(f"worker {i + 1} exited with code {proc.exitcode} right after starting; stopping")
                        code = 1
                        self.stopping.set()
                        break
                    self.echo(f"worker {i + 1} exited with code {proc.exitcode}; starting it again")
                    self._start(i)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            self._stop()
        return code

    def _stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.is_alive():
                proc.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for proc in self.procs:
            if proc is not None:
                proc.join(timeout=15)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
