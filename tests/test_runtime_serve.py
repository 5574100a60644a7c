"""`qorgau serve` (what `make run` runs) on a fresh folder: starts its own Prefect server, serves
every deployment, says where the UI and the .eml folder are, and the demo case's escalation
appears there as an .eml file. Ctrl-C stops it all, the server included."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from deployments.local_server import healthy
from deployments.ports import free_port, port_free

from conftest import ROOT

pytestmark = pytest.mark.prefect

# The command as app/cli.py registers it (`register(app)`), without depending on that file.
CLI = ("import sys, typer; sys.path.insert(0, {root!r}); from app.serve_cli import register; "
       "app = typer.Typer(); register(app); app.command('version')(lambda: None); app()")


def test_serve_starts_everything_delivers_the_demo_escalation_as_eml_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k not in (
        "QORGAU_DATABASE_URL", "QORGAU_DEFAULT_CHANNELS")}
    out = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", CLI.format(root=str(ROOT)), "serve", "--port", str(port),
                             "--demo-escalation-in", "10", "--sweep-interval", "5"],
                            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    eml = tmp_path / "var" / "outbox-eml"
    try:
        escalation = _wait(lambda: [p for p in eml.glob("*_escalation_*.eml")] if eml.exists() else None, 180,
                           "the demo escalation .eml", proc)
        text = (tmp_path / "serve.log").read_text()
        assert f"Prefect UI:     http://127.0.0.1:{port}" in text and f".eml folder:    {eml}" in text
        assert "sweep-deadlines/qorgau: every 5 s" in text and "demo case VR-75-" in text
        mail = escalation[0].read_text(encoding="utf-8")
        assert "X-Qorgau-Template: escalation" in mail and "Message-ID: <" in mail
        # version 2 (C1): the hospital's overdue examination goes to the regional health department
        assert escalation[0].name.endswith("_escalation_kz-75.health_department_t3.eml")
        names = _deployments(port)
        assert {"sweep-deadlines", "dispatch-notifications", "plan-reporting-cycle", "verify-histories",
                "launch-case"} <= names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:  # the UI
            assert page.status == 200
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        out.close()
    assert code == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert "stopped" in (tmp_path / "serve.log").read_text()
    assert _wait(lambda: not healthy(f"http://127.0.0.1:{port}/api", timeout=1) and port_free(port), 30,
                 "the local server to stop")
    assert (tmp_path / "var" / "qorgau.sqlite").exists() and (tmp_path / "var" / "prefect" / "prefect.db").exists()


def _wait(predicate, timeout: float, what: str, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"qorgau serve exited with {proc.returncode} before {what}")
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _deployments(port: int) -> set[str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/flows/filter", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return {f["name"] for f in json.load(r)}
