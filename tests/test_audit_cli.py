"""The auditor's commands, as a person at a terminal would run them."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from app.cli import app
from states import tables as T
from states.store import open_engine
from states.sweep import sweep

from conftest import kz
from factories import violence_report_data

runner = CliRunner()


@pytest.fixture
def store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'q.sqlite'}"
    monkeypatch.setenv("QORGAU_DATABASE_URL", url)
    engine = open_engine(url)
    school = engine.svc.directory.schools("KZ-75")[0].id
    ref = engine.launch("violence-report", "KZ-75", school,
                        violence_report_data(now=kz(2026, 4, 6, 10), summary="synthetic"), now=kz(2026, 4, 6, 10)).ref
    engine.fire(ref, "assess", school, {"immediate_danger": False, "perpetrator": "peer"}, now=kz(2026, 4, 6, 11))
    sweep(engine, now=kz(2026, 4, 8, 12))
    yield engine, ref
    engine.db.dispose()


def test_verify_all_passes_then_names_a_tampered_event(store):
    engine, ref = store
    result = runner.invoke(app, ["verify", "--all"])
    assert result.exit_code == 0, result.output
    assert "1 cases" in result.output and "all verify" in result.output
    with engine.db.begin() as conn:
        conn.execute(update(T.events).where(T.events.c.seq == 2).values(trigger="bullying_recognised"))
    result = runner.invoke(app, ["verify", "--all"])
    assert result.exit_code == 1
    assert f"✗ {ref} (first bad event: 2)" in result.output
    data = json.loads(runner.invoke(app, ["verify", ref, "--json"]).output)
    assert data["ok"] is False and data["failures"][0]["first_bad_event"] == 2


def test_verify_needs_cases_or_all(store):
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 2 and "--all" in result.output


def test_replay_at_a_moment_shows_the_earlier_state(store):
    _, ref = store
    early = runner.invoke(app, ["replay", ref, "--at", "2026-04-06T10:30"])
    assert early.exit_code == 0, early.output
    assert "state: reported" in early.output and "events (1 of" in early.output
    later = json.loads(runner.invoke(app, ["replay", ref, "--at", "2026-04-08T13:00", "--json"]).output)
    assert later["state"] == "bullying_review"
    police = next(t for t in later["open_tasks"] if t["kind"] == "police_check")
    assert police["overdue"] and police["level"] == 1 and later["escalation_level"] == 1


def test_replay_rejects_a_bad_moment_and_a_time_before_launch(store):
    _, ref = store
    bad = runner.invoke(app, ["replay", ref, "--at", "yesterday"])
    assert bad.exit_code == 2 and "--at" in bad.output
    before = runner.invoke(app, ["replay", ref, "--at", "2026-01-01T00:00"])
    assert before.exit_code == 1


def test_anchor_prints_a_root_and_lists_it(store):
    made = runner.invoke(app, ["anchor", "--json"])
    assert made.exit_code == 0, made.output
    anchor = json.loads(made.output)
    assert anchor["cases"] == 1 and len(anchor["root"]) == 64
    listed = runner.invoke(app, ["anchor", "--list"])
    assert anchor["root"] in listed.output


def test_verify_anchors_names_a_case_cut_off_and_proof_checks(store, tmp_path, monkeypatch):
    from sqlalchemy import delete, select

    from states.proof import check_proof
    from support.witnesses import deliver_witnesses
    engine, ref = store
    witness = tmp_path / "witness"
    monkeypatch.setenv("QORGAU_ANCHOR_WITNESSES", f"eml://{witness}")
    made = json.loads(runner.invoke(app, ["anchor", "--json"]).output)
    assert deliver_witnesses(engine) == 1
    ok = runner.invoke(app, ["verify", "--anchors", str(witness)])
    assert ok.exit_code == 0 and "1 witnessed anchors" in ok.output and "all match the store" in ok.output, ok.output
    proof_file = tmp_path / "proof.json"
    assert runner.invoke(app, ["proof", ref, "1", "--out", str(proof_file)]).exit_code == 0
    assert check_proof(json.loads(proof_file.read_text()), made["root"])
    case = engine.case(ref)
    with engine.db.begin() as conn:  # the last event cut off, the case row rolled back to the one before
        before = conn.execute(select(T.events).where(T.events.c.case_id == case.id,
                                                     T.events.c.seq == case.version - 1)).one()
        conn.execute(delete(T.outbox).where(T.outbox.c.case_id == case.id, T.outbox.c.event_seq == case.version))
        conn.execute(delete(T.events).where(T.events.c.case_id == case.id, T.events.c.seq == case.version))
        conn.execute(update(T.cases).where(T.cases.c.id == case.id).values(version=case.version - 1,
                                                                           head_hash=before.hash))
    caught = runner.invoke(app, ["verify", "--anchors", str(witness)])
    assert caught.exit_code == 1
    assert f"cases whose heads no longer match the witnesses: {ref}" in caught.output
    missing = runner.invoke(app, ["verify", "--anchors", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
