"""A local Prefect server for the embedded setup: `prefect server start` as a child process, its
database (SQLite) and logs under one folder, stopped with its whole process group.

The in-process (ephemeral) server logs "database is locked" on SQLite under load, so `qorgau serve`
and the tests run a real one instead.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from deployments.ports import free_port, port_free

DEFAULT_PORT = 4200


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    """Does a Prefect API answer at `api_url` (e.g. http://127.0.0.1:4200/api)?"""
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(api_url: str, timeout: float = 90.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(api_url):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with status {process.returncode}")
        time.sleep(0.3)
    raise TimeoutError(f"no Prefect API at {api_url} after {timeout:.0f} s")


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM when the process that started us dies
    (even by SIGKILL), so no orphaned server is left behind."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except Exception:  # pragma: no cover - best effort
            pass


class LocalPrefectServer:
    """`prefect server start` on 127.0.0.1:`port`, with PREFECT_HOME=`home` (its SQLite database is
    `home/prefect.db`, its log `home/server.log`)."""

    def __init__(self, home: str | Path, port: int | None = None, host: str = "127.0.0.1", ui: bool = True):
        self.home = Path(home).resolve()
        self.host = host
        self.port = port if port is not None else (DEFAULT_PORT if port_free(DEFAULT_PORT, host) else free_port(host))
        self.ui = ui
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update({
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true" if self.ui else "false",
            "PREFECT_SERVER_API_HOST": self.host,
            "PREFECT_SERVER_API_PORT": str(self.port),
            "PREFECT_API_URL": self.api_url,
        })
        return env

    def start(self) -> "LocalPrefectServer":
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        # A session of its own: Ctrl-C in the terminal reaches `qorgau serve`, which stops the
        # runner first and the server last, instead of both at once.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", self.host, "--port", str(self.port)],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_die_with_parent)
        log.close()
        return self

    def wait(self, timeout: float = 90.0) -> "LocalPrefectServer":
        wait_healthy(self.api_url, timeout, self.process)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> "LocalPrefectServer":
        return self.start().wait()

    def __exit__(self, *exc) -> None:
        self.stop()
