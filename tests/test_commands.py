"""One way in: a trigger fired from the API, the pages, the command line and the scenario runner,
and a launch from the flows, all reach the engine through `states.handling.Handler` (issue 15)."""
from __future__ import annotations

import json

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.case_cli import register
from app.web import create_site
from states.commands import Fire, Launch
from states.handling import Handler
from states.store import open_engine
from states.tokens import create_token

from factories import violence_report_data
from test_web import csrf_of, sign_in

ASSESS = {"immediate_danger": False, "perpetrator": "peer"}


@pytest.fixture
def handled(monkeypatch):
    """The commands the handler received, in order (the handler still does its work)."""
    seen: list = []
    original = Handler.handle

    def spy(self, command, caller, **kwargs):
        seen.append((type(command).__name__, caller.role, getattr(command, "trigger", None)))
        return original(self, command, caller, **kwargs)

    monkeypatch.setattr(Handler, "handle", spy)
    return seen


def _case(engine) -> str:
    return engine.launch("violence-report", "KZ-75", "kz-75.school-1", violence_report_data()).ref


def test_the_api_fires_through_the_handler(engine, handled):
    ref = _case(engine)
    secret, _ = create_token(engine.db, "kz-75.school-1", "agency")
    with TestClient(create_site(engine)) as client:
        r = client.post(f"/api/v1/cases/{ref}/fire", json={"trigger": "assess", "version": 1, "data": ASSESS},
                        headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200, r.text
    assert handled == [("Fire", "agency", "assess")]


def test_the_pages_fire_through_the_handler(engine, handled):
    ref = _case(engine)
    client = sign_in(create_site(engine, base_url="http://testserver"), engine, "kz-75.school-1", "agency")
    form = client.get(f"/cases/{ref}/tasks/t1")
    r = client.post(f"/cases/{ref}/fire", data={"csrf": csrf_of(form.text), "version": "1", "trigger": "assess",
                                                "task": "t1", "d.immediate_danger": "false", "d.perpetrator": "peer"})
    assert r.status_code == 303, r.text
    assert handled == [("Fire", "agency", "assess")]


def test_the_command_line_fires_through_the_handler(tmp_path, monkeypatch, handled):
    url = f"sqlite:///{tmp_path / 'q.sqlite'}"
    monkeypatch.setenv("QORGAU_DATABASE_URL", url)
    monkeypatch.delenv("QORGAU_API_URL", raising=False)
    engine = open_engine(url)
    ref = _case(engine)
    engine.db.dispose()
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    r = CliRunner().invoke(app, ["fire", ref, "assess", "--actor", "kz-75.school-1", "--version", "1",
                                 "--data", json.dumps(ASSESS)])
    assert r.exit_code == 0, r.output
    assert handled == [("Fire", "operator", "assess")]


def test_the_flows_launch_through_the_handler(engine, handled):
    from flows import runtime
    from flows.cases import open_case
    with runtime.use_engine(engine):
        out = open_case.fn("violence-report", "KZ-75", "kz-75.school-1", violence_report_data())
    assert out["ref"].startswith("VR-75-")
    assert handled == [("Launch", "operator", None)]


def test_the_scenario_runner_sends_commands(tmp_path, db_factory, handled):
    from states.simulation import run_scenario
    path = tmp_path / "s.yaml"
    path.write_text("""\
name: assess through the handler
algorithm: violence-report
start: 2026-04-06T10:00:00+05:00
region: KZ-75
actor: school
data: {form: bullying, channel: school, summary: test, detected_at: "2026-04-06T09:00:00+05:00", reporter: teacher}
steps:
  - at: +1h
    actor: school
    fire: assess
    data: {immediate_danger: false, perpetrator: peer}
    expect: {state: bullying_review}
""", encoding="utf-8")
    assert run_scenario(path, lambda: db_factory()).ok
    assert [h[:2] for h in handled] == [("Launch", "operator"), ("Fire", "operator")]


def test_a_command_the_handler_does_not_know_is_a_programming_error(engine):
    with pytest.raises(TypeError):
        Handler(engine).handle(object(), None)  # type: ignore[arg-type]
    assert Fire("VR-75-000001", "assess").data == {} and Launch("x", "KZ-75").version is None
