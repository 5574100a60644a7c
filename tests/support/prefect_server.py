"""Prefect for tests and benchmarks: one real local server per process (started on first use,
stopped at exit), and a switch that points this process — its Prefect settings, the global
settings context that background threads read, and the environment subprocesses inherit — at a
given server.

A real `prefect server start` rather than the in-process one: the in-process server logs "database
is locked" on SQLite under load, and worker subprocesses need a URL to reach.
"""
from __future__ import annotations

import atexit
import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from deployments.local_server import LocalPrefectServer
from deployments.ports import free_port

_lock = threading.Lock()
_shared: LocalPrefectServer | None = None


def shared_server() -> LocalPrefectServer:
    """The process's test server (about 10 s to start, once)."""
    global _shared
    with _lock:
        if _shared is None:
            home = Path(tempfile.mkdtemp(prefix="qorgau-prefect-"))
            server = LocalPrefectServer(home, port=free_port(), ui=False)
            server.start()
            atexit.register(server.stop)
            server.wait(timeout=120)
            _shared = server
        return _shared


def new_server(home: str | Path, port: int | None = None) -> LocalPrefectServer:
    """A server of its own (e.g. one a test stops and restarts); the caller stops it."""
    return LocalPrefectServer(home, port=port or free_port(), ui=False)


@contextmanager
def using_prefect(api_url: str, home: str | Path | None = None):
    """Point this process (and subprocesses it starts) at the Prefect API `api_url`."""
    import prefect.context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    saved = {k: os.environ.get(k) for k in ("PREFECT_API_URL", "PREFECT_HOME")}
    os.environ["PREFECT_API_URL"] = api_url
    if home is not None:
        os.environ["PREFECT_HOME"] = str(home)
    try:
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            with prefect.context._temporary_global_settings_context(prefect.context.get_settings_context()):
                try:
                    yield api_url
                finally:
                    drain()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def drain(timeout: float = 10.0) -> None:
    """Send the logs and events this process still queues (before its server goes away)."""
    from deployments.serve import flush_prefect_services
    flush_prefect_services(timeout)


def subprocess_env(api_url: str, **extra: str) -> dict[str, str]:
    """An environment for a worker subprocess: this one's, pointed at `api_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_API_URL": api_url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    home = os.environ.get("PREFECT_HOME")
    if home:
        env["PREFECT_HOME"] = home
    env.update(extra)
    return env
