"""`qorgau launch / fire / inbox / cases / show / history / token`, locally and against a running API."""
from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from app.api import create_app
from app.api.server import ServerThread
from app.case_cli import register
from states.store import open_engine

from factories import detected_at, violence_report_data

runner = CliRunner()
# Launched at the wall clock's now (no --now): detected an hour before this module was imported.
REPORT = json.dumps(violence_report_data(summary="name-calling in 5B (synthetic)", school="kz-75.school-1"))
ASSESS = json.dumps({"immediate_danger": False, "perpetrator": "peer"})


@pytest.fixture
def cli():
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """qorgau"""

    register(app)
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'q.sqlite'}"
    monkeypatch.setenv("QORGAU_DATABASE_URL", url)
    monkeypatch.delenv("QORGAU_API_URL", raising=False)
    monkeypatch.delenv("QORGAU_TOKEN", raising=False)
    engine = open_engine(url)
    yield engine
    engine.db.dispose()


def test_local_walk_launch_inbox_fire_show_history(cli, store):
    r = cli("launch", "violence-report", "--region", "KZ-75", "--actor", "kz-75.school-1", "--data", REPORT)
    assert r.exit_code == 0, r.output
    assert r.output.startswith("launched VR-75-000001: state reported, version 1")
    r = cli("inbox", "--body", "kz-75.school-1")
    assert r.exit_code == 0, r.output
    assert "VR-75-000001" in r.output and "collect_information" in r.output
    assert "→ assess(immediate_danger*, perpetrator*=peer|family|school_staff|other_adult|unknown)" in r.output
    r = cli("fire", "VR-75-000001", "assess", "--actor", "kz-75.school-1", "--version", 1, "--data", ASSESS)
    assert r.exit_code == 0 and "assess → bullying_review, version 2" in r.output, r.output
    r = cli("fire", "VR-75-000001", "assess", "--actor", "kz-75.school-1", "--version", 1, "--data", ASSESS)
    assert r.exit_code == 1 and "error: conflict:" in r.output
    r = cli("show", "VR-75-000001")
    assert r.exit_code == 0 and "state: bullying_review" in r.output and "decide_bullying" in r.output
    shown = json.loads(cli("show", "VR-75-000001", "--json").output)
    assert shown["version"] == 2 and shown["state"]["name"] == "bullying_review"
    r = cli("history", "VR-75-000001")
    assert "launch" in r.output and "reported → bullying_review" in r.output
    events = json.loads(cli("history", "VR-75-000001", "--json").output)["events"]
    assert [e["trigger"] for e in events] == ["launch", "assess"]
    listed = json.loads(cli("cases", "--region", "KZ-75", "--json").output)
    assert [c["ref"] for c in listed["items"]] == ["VR-75-000001"]
    inbox = json.loads(cli("inbox", "--body", "kz-75.school-1", "--json").output)
    assert [i["task"]["kind"] for i in inbox["items"]] == ["decide_bullying"]  # the school's (version 2, V5)


def test_errors_and_usage(cli, store, tmp_path):
    r = cli("fire", "VR-75-000009", "assess", "--actor", "kz-75.school-1")
    assert r.exit_code == 1 and "error: unknown_case:" in r.output
    r = cli("fire", "VR-75-000009", "assess")
    assert r.exit_code == 2 and "--actor" in r.output
    r = cli("launch", "violence-report", "--region", "KZ-75", "--actor", "kz-75.school-1", "--data", "{broken")
    assert r.exit_code == 2 and "not valid JSON" in r.output
    r = cli("launch", "violence-report", "--region", "KZ-75", "--actor", "kz-75.school-1",
            "--data", json.dumps(violence_report_data(summary=None)))
    assert r.exit_code == 1 and "error: invalid_data:" in r.output and "(field: summary)" in r.output
    data = tmp_path / "report.yaml"
    # A date-time written in YAML without quotes (read as a date-time) is sent as ISO text.
    data.write_text(f"form: bullying\nchannel: school\nsummary: from a file\ndetected_at: {detected_at()}\n"
                    "reporter: parent\n")
    r = cli("launch", "violence-report", "--region", "KZ-75", "--actor", "kz-75.school-1", "--data", f"@{data}")
    assert r.exit_code == 0, r.output
    data.write_text("form: bullying\nchannel: school\nsummary: no offset\ndetected_at: 2026-04-06 09:00:00\n"
                    "reporter: parent\n")
    r = cli("launch", "violence-report", "--region", "KZ-75", "--actor", "kz-75.school-1", "--data", f"@{data}")
    assert r.exit_code == 1 and "error: invalid_data:" in r.output and "(field: detected_at)" in r.output
    r = cli("inbox", "--body", "kz-75.nowhere")
    assert r.exit_code == 2 and "unknown body" in r.output
    assert "Examples" in cli("fire", "--help").output


def test_tokens_locally(cli, store):
    r = cli("token", "create", "--body", "kz-75.police", "--role", "agency", "--label", "inspectors")
    assert r.exit_code == 0, r.output
    secret = r.output.splitlines()[0]
    assert secret.startswith("qg_") and "not shown again" in r.output
    listed = json.loads(cli("token", "list", "--json").output)
    assert listed[0]["body_id"] == "kz-75.police" and secret not in json.dumps(listed)
    assert cli("token", "revoke", secret[:12]).exit_code == 0
    assert json.loads(cli("token", "list", "--json").output)[0]["revoked_at"]
    assert cli("token", "create", "--body", "kz-75.police", "--role", "root").exit_code == 2
    r = cli("token", "create", "--body", "nowhere", "--role", "agency")
    assert r.exit_code == 1 and "unknown body" in r.output


def test_the_same_commands_against_a_running_api(cli, store, monkeypatch):
    from states.tokens import create_token
    coordinator = create_token(store.db, "kz-75.education_department", "coordinator")[0]
    school = create_token(store.db, "kz-75.school-1", "agency")[0]
    admin = create_token(store.db, "government_office", "admin")[0]
    with ServerThread(create_app(store)) as server:
        api = ("--api", server.url)
        r = cli("launch", "violence-report", "-r", "KZ-75", "--data", REPORT, *api, "--token", coordinator)
        assert r.exit_code == 0 and "launched VR-75-000001" in r.output, r.output
        monkeypatch.setenv("QORGAU_API_URL", server.url)
        monkeypatch.setenv("QORGAU_TOKEN", school)
        inbox = json.loads(cli("inbox", "--json").output)
        local = json.loads(cli("inbox", "--json", "--api", "", "--body", "kz-75.school-1").output)
        for item in inbox["items"] + local["items"]:  # read a moment apart: the clock moved
            for key in ("seconds_left", "time_left", "late_by"):
                item["task"].pop(key)
        assert inbox == local  # the same JSON in both modes
        r = cli("fire", "VR-75-000001", "assess", "--data", ASSESS)  # version read first
        assert r.exit_code == 0 and "version 2" in r.output, r.output
        r = cli("fire", "VR-75-000001", "assess", "--data", ASSESS, "--version", 1)
        assert r.exit_code == 1 and "error: conflict:" in r.output
        assert json.loads(cli("show", "VR-75-000001", "--json").output)["version"] == 2
        assert len(json.loads(cli("history", "VR-75-000001", "--json").output)["events"]) == 2
        assert json.loads(cli("cases", "--all", "--json").output)["total"] == 1
        r = cli("token", "list")
        assert r.exit_code == 1 and "error: forbidden:" in r.output
        r = cli("token", "create", "--body", "kz-75.kdn", "--role", "agency", "--json", "--token", admin)
        assert r.exit_code == 0 and json.loads(r.output)["token"].startswith("qg_")
        r = cli("show", "VR-75-000001", "--token", "qg_wrong")
        assert r.exit_code == 1 and "error: unauthenticated:" in r.output
    r = cli("show", "VR-75-000001", "--api", "http://127.0.0.1:9", "--token", school)
    assert r.exit_code == 1 and "error: unreachable:" in r.output
