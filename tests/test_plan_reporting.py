"""plan-reporting: the decree's control loop — one case per executor and period, reports on the
executor's own measures, and a consolidated half-year report that lists what is still missing."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from states import tables as T
from states.errors import RuleViolation
from states.verify import verify_case
from states.reporting import executor_bodies, missing_reports

from conftest import kz

T0 = kz(2026, 7, 1, 9)


def report(engine, period, executor, actor="system"):
    return engine.launch("plan-reporting", "KZ-71", actor, {"period": period, "executor": executor}, now=T0).ref


def test_a_quarterly_report_is_due_on_the_10th_after_the_quarter_and_goes_to_the_ministry(engine):
    ref = report(engine, "2026-Q2", "ministry_health")
    case = engine.case(ref)
    assert case.bindings["executor"] == "ministry_health" and case.bindings["recipient"] == "ministry_education"
    with engine.reader() as conn:
        task = conn.execute(select(T.tasks)).one()
        notes = {(n.template, n.body_id) for n in conn.execute(select(T.outbox))}
    assert (task.kind, task.body_id, task.due) == ("submit_report", "ministry_health", kz(2026, 7, 10, 18))
    assert ("report_due", "ministry_health") in notes


def test_a_task_opened_before_the_period_ends_is_due_after_the_period(engine):
    ref = engine.launch("plan-reporting", "KZ-71", "system", {"period": "2026-Q3", "executor": "akimat"},
                        now=kz(2026, 7, 1, 9)).ref
    assert engine.case(ref).bindings["executor"] == "kz-71.akimat"
    with engine.reader() as conn:
        assert conn.execute(select(T.tasks.c.due)).scalar_one() == kz(2026, 10, 12, 18)  # 10 Oct 2026 is a Saturday


def test_the_same_period_and_executor_twice_is_a_conflict(engine):
    report(engine, "2026-Q2", "ministry_health")
    with pytest.raises(RuleViolation) as info:
        report(engine, "2026-Q2", "ministry_health")
    assert info.value.code == "conflict"


@pytest.mark.parametrize("data, field", [
    ({"period": "2026-Q5", "executor": "ministry_health"}, "period"),
    ({"period": "2026-Q2", "executor": "no_such_body"}, "executor"),
])
def test_bad_launch_data_names_the_field(engine, data, field):
    with pytest.raises(RuleViolation) as info:
        engine.launch("plan-reporting", "KZ-71", "system", data, now=T0)
    assert info.value.code == "invalid_data" and info.value.field == field


def test_an_executor_reports_only_on_its_own_measures(engine):
    ref = report(engine, "2026-Q2", "ministry_health")
    with pytest.raises(RuleViolation) as info:
        engine.fire(ref, "report_submitted", "ministry_health", {"items": [{"item": "2", "status": "done"}]}, now=T0)
    assert info.value.code == "invalid_data" and info.value.field == "items.0.item"
    with pytest.raises(RuleViolation) as info:
        engine.fire(ref, "report_submitted", "ministry_health", {"items": [{"item": "99", "status": "done"}]}, now=T0)
    assert info.value.field == "items.0.item" and "not a measure" in info.value.message
    out = engine.fire(ref, "report_submitted", "ministry_health",
                      {"items": [{"item": "29-1", "status": "in_progress", "note": "registers opened"}]}, now=T0)
    assert out.state == "under_review"
    with pytest.raises(RuleViolation) as info:  # only the recipient reviews
        engine.fire(ref, "report_accepted", "ministry_health", {}, now=T0)
    assert info.value.code == "forbidden"
    engine.fire(ref, "report_returned", "ministry_education", {"comments": "add figures"}, now=T0)
    engine.fire(ref, "report_submitted", "ministry_health", {"items": [{"item": "29-1", "status": "done"}]}, now=T0)
    out = engine.fire(ref, "report_accepted", "ministry_education", {}, now=T0)
    assert out.state == "accepted" and out.outcome == "accepted"
    with engine.reader() as conn:
        assert verify_case(conn, ref, engine.registry).ok


def test_consolidated_half_year_report_lists_missing_quarterly_reports(engine):
    executors = executor_bodies(engine.svc.catalogue, engine.svc.directory)
    assert "ministry_health" in {b.id for b in executors} and "kz-75.akimat" in {b.id for b in executors}
    for quarter in ("2026-Q1", "2026-Q2"):
        ref = report(engine, quarter, "ministry_health")
        engine.fire(ref, "report_submitted", "ministry_health", {"items": [{"item": "29-1", "status": "done"}]}, now=T0)
        engine.fire(ref, "report_accepted", "ministry_education", {}, now=T0)
    half = report(engine, "2026-H1", "ministry_education", actor="ministry_education")
    case = engine.case(half)
    assert case.bindings["recipient"] == "government_office"
    with engine.reader() as conn:
        missing = missing_reports(conn, case, engine.svc.catalogue, engine.svc.directory)
    missing_bodies = {m["executor"] for m in missing}
    assert "ministry_health" not in missing_bodies  # both its quarters were accepted
    assert "kz-75.akimat" in missing_bodies and len(missing) == 2 * (len(executors) - 1)
    engine.fire(half, "report_submitted", "ministry_education", {"items": [{"item": "1", "status": "in_progress"}]},
                now=T0)
    with engine.reader() as conn:
        effects = conn.execute(select(T.events.c.effects).where(T.events.c.case_id == case.id, T.events.c.seq == 2)).scalar_one()
    assert effects["missing_reports"] == missing  # the submission records the list as it stood
