"""plan-reporting: the decree's control loop — one case per executor and period, reports on the
executor's own measures, and a consolidated half-year report that lists what is still missing."""
from __future__ import annotations

from datetime import date

import pytest
import yaml
from sqlalchemy import select

from algorithms.catalogue import DEFAULT_PATH, PLANS_ENV, load_catalogue

from states import tables as T
from states.errors import RuleViolation
from states.verify import verify_case
from states.reporting import (
    check_items, check_period_in_plan, cycle_periods, executor_bodies, missing_reports, plan_for,
    reporting_executors,
)

from conftest import kz

T0 = kz(2026, 7, 1, 9)


def report(engine, period, executor, actor="system"):
    return engine.launch("plan-reporting", "KZ-71", actor, {"period": period, "executor": executor}, now=T0).ref


def test_a_quarterly_report_is_due_on_the_10th_after_the_quarter_and_goes_to_the_ministry(engine):
    ref = report(engine, "2025-Q2", "ministry_health")
    case = engine.case(ref)
    assert case.bindings["executor"] == "ministry_health" and case.bindings["recipient"] == "ministry_education"
    with engine.reader() as conn:
        task = conn.execute(select(T.tasks)).one()
        notes = {(n.template, n.body_id) for n in conn.execute(select(T.outbox))}
    assert (task.kind, task.body_id, task.due) == ("submit_report", "ministry_health", kz(2025, 7, 10, 18))
    assert ("report_due", "ministry_health") in notes


def test_a_task_opened_before_the_period_ends_is_due_after_the_period(engine):
    ref = engine.launch("plan-reporting", "KZ-71", "system", {"period": "2025-Q4", "executor": "akimat"},
                        now=kz(2025, 10, 1, 9)).ref
    assert engine.case(ref).bindings["executor"] == "kz-71.akimat"
    with engine.reader() as conn:
        assert conn.execute(select(T.tasks.c.due)).scalar_one() == kz(2026, 1, 12, 18)  # 10 Jan 2026 is a Saturday


def test_the_same_period_and_executor_twice_is_a_conflict(engine):
    report(engine, "2025-Q2", "ministry_health")
    with pytest.raises(RuleViolation) as info:
        report(engine, "2025-Q2", "ministry_health")
    assert info.value.code == "conflict"


@pytest.mark.parametrize("data, field", [
    ({"period": "2025-Q5", "executor": "ministry_health"}, "period"),
    ({"period": "2026-Q1", "executor": "ministry_health"}, "period"),  # after the plan (R1)
    ({"period": "2025-Q2", "executor": "no_such_body"}, "executor"),
])
def test_bad_launch_data_names_the_field(engine, data, field):
    with pytest.raises(RuleViolation) as info:
        engine.launch("plan-reporting", "KZ-71", "system", data, now=T0)
    assert info.value.code == "invalid_data" and info.value.field == field


def test_an_executor_reports_only_on_its_own_measures(engine):
    ref = report(engine, "2025-Q2", "ministry_health")
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
    executors = executor_bodies(engine.svc.catalogue, engine.svc.directory, on=date(2025, 1, 1))
    ids = {b.id for b in executors}
    assert {"ministry_health", "kz-75.akimat", "republic.mki"} <= ids and "republic.mior" not in ids
    for quarter in ("2025-Q1", "2025-Q2"):
        ref = report(engine, quarter, "ministry_health")
        engine.fire(ref, "report_submitted", "ministry_health", {"items": [{"item": "29-1", "status": "done"}]}, now=T0)
        engine.fire(ref, "report_accepted", "ministry_education", {}, now=T0)
    half = report(engine, "2025-H1", "ministry_education", actor="ministry_education")
    case = engine.case(half)
    assert case.bindings["recipient"] == "government_office"
    with engine.reader() as conn:
        due = conn.execute(select(T.tasks.c.due).where(T.tasks.c.case_id == case.id)).scalar_one()
        missing = missing_reports(conn, case, engine.svc.catalogue, engine.svc.directory)
    assert due == kz(2025, 7, 9, 18)  # "до 10 числа" (§3, R3): before Thursday 10 July 2025
    missing_bodies = {m["executor"] for m in missing}
    assert "ministry_health" not in missing_bodies  # both its quarters were accepted
    assert "republic.mior" not in missing_bodies and "republic.mki" in missing_bodies  # the successor reports (R2)
    assert "kz-75.akimat" in missing_bodies and len(missing) == 2 * (len(executors) - 1)
    engine.fire(half, "report_submitted", "ministry_education", {"items": [{"item": "1", "status": "in_progress"}]},
                now=T0)
    with engine.reader() as conn:
        effects = conn.execute(select(T.events.c.effects).where(T.events.c.case_id == case.id, T.events.c.seq == 2)).scalar_one()
    assert effects["missing_reports"] == missing  # the submission records the list as it stood


# --- version 2: the plan's span (R1) and the reorganised executors (R2) ---------------------------

@pytest.mark.parametrize("period", ["2023-Q3", "2023-H2", "2024-Q1", "2025-Q4", "2025-H2"])
def test_a_period_of_the_plan_may_be_reported_on(period):
    check_period_in_plan(period, load_catalogue())


@pytest.mark.parametrize("period", ["2023-Q2", "2023-H1", "2026-Q1", "2026-H1"])
def test_a_period_outside_the_plan_is_invalid_data_naming_the_period(period):
    with pytest.raises(RuleViolation) as info:
        check_period_in_plan(period, load_catalogue())
    assert info.value.code == "invalid_data" and info.value.field == "period"
    assert "quarters 2023-Q3 … 2025-Q4, half-years 2023-H2 … 2025-H2" in info.value.message


def test_a_malformed_period_is_invalid_data_naming_the_period():
    with pytest.raises(RuleViolation) as info:
        check_period_in_plan("2025-Q5", load_catalogue())
    assert info.value.code == "invalid_data" and info.value.field == "period"


def test_a_later_plan_named_by_the_deployment_covers_its_own_periods(tmp_path, monkeypatch):
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    data["span"] = {"start": date(2026, 3, 1), "end": date(2028, 12, 31)}
    later = tmp_path / "plan-2026.yaml"
    later.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv(PLANS_ENV, str(later))
    check_period_in_plan("2026-Q1", load_catalogue())  # March 2026 is in force
    assert plan_for("2026-Q1", load_catalogue()).span.start == date(2026, 3, 1)
    assert plan_for("2025-Q4", load_catalogue()) is load_catalogue()
    with pytest.raises(RuleViolation, match="2029-Q1 is outside the plan"):
        check_period_in_plan("2029-Q1", load_catalogue())
    assert cycle_periods(date(2026, 4, 1), load_catalogue()) == ["2026-Q1", "2025-H2"]


@pytest.mark.parametrize("today, periods", [
    (date(2023, 9, 15), []),                      # 2023-Q2 and 2023-H1 ended before the plan
    (date(2023, 10, 1), ["2023-Q3"]),
    (date(2025, 7, 1), ["2025-Q2", "2025-H1"]),
    (date(2026, 1, 1), ["2025-Q4", "2025-H2"]),   # the plan's last quarter and half-year
    (date(2026, 4, 1), ["2025-H2"]),              # no 2026-Q1; 2025-H2 is still the latest half-year
    (date(2026, 7, 1), []),                       # the cycle has stopped
    (date(2026, 11, 25), []),
])
def test_the_cycle_launches_only_periods_of_the_plan(today, periods, monkeypatch):
    monkeypatch.delenv(PLANS_ENV, raising=False)
    assert cycle_periods(today, load_catalogue()) == periods


def test_a_quarter_after_the_reorganisation_is_reported_by_the_successors(engine):
    catalogue, directory = engine.svc.catalogue, engine.svc.directory
    before = {b.id for b in reporting_executors("2023-Q3", catalogue, directory)}  # began 1 July 2023
    after = {b.id for b in reporting_executors("2023-Q4", catalogue, directory)}
    old = {"republic.mior", "republic.mks", "republic.miir"}
    new = {"republic.mki", "republic.mts", "republic.mps", "republic.mt"}
    assert old | new <= before  # the successors execute measures of their own too
    assert new <= after and not old & after
    assert after == before - old and "ministry_health" in after and "kz-75.akimat" in after
    assert [b.id for b in reporting_executors("2025-H2", catalogue, directory)] == ["ministry_education"]
    assert reporting_executors("2026-Q1", catalogue, directory) == []


@pytest.mark.parametrize("executor, item", [
    ("republic.mki", "4"),   # МИОР's measure
    ("republic.mki", "7"),   # МКС's (with МИОР)
    ("republic.mts", "7"),
    ("republic.mt", "21"),   # МИИР's
    ("republic.mps", "21"),
])
def test_a_successor_reports_on_its_predecessors_measures(engine, executor, item):
    ref = engine.launch("plan-reporting", "KZ-71", "system", {"period": "2025-Q2", "executor": executor}, now=T0).ref
    out = engine.fire(ref, "report_submitted", executor, {"items": [{"item": item, "status": "done"}]}, now=T0)
    assert out.state == "under_review"


def test_a_successor_reports_only_on_measures_it_took_over(engine):
    ref = engine.launch("plan-reporting", "KZ-71", "system", {"period": "2025-Q2", "executor": "republic.mts"},
                        now=T0).ref
    with pytest.raises(RuleViolation) as info:  # measure 4 is МИОР's, whose successor is МКИ alone
        engine.fire(ref, "report_submitted", "republic.mts", {"items": [{"item": "4", "status": "done"}]}, now=T0)
    assert info.value.code == "invalid_data" and info.value.field == "items.0.item"


def test_for_a_quarter_begun_before_the_reorganisation_the_old_executor_reports(engine):
    catalogue, directory = engine.svc.catalogue, engine.svc.directory
    items = [{"item": "4", "status": "done"}]
    check_items(items, "items", "item", "republic.mki", catalogue, directory, period="2023-Q4")
    check_items(items, "items", "item", "republic.mior", catalogue, directory, period="2023-Q3")
    with pytest.raises(RuleViolation) as info:
        check_items(items, "items", "item", "republic.mki", catalogue, directory, period="2023-Q3")
    assert info.value.field == "items.0.item"


def test_version_1_still_launches_a_period_outside_the_plan_and_due_on_the_10th(engine):
    quarter = engine.launch("plan-reporting", "KZ-71", "system", {"period": "2026-Q2", "executor": "ministry_health"},
                            now=T0, version=1)
    half = engine.launch("plan-reporting", "KZ-71", "ministry_education",
                         {"period": "2026-H1", "executor": "ministry_education"}, now=T0, version=1)
    with engine.reader() as conn:
        dues = dict(conn.execute(select(T.tasks.c.case_id, T.tasks.c.due)).all())
    assert dues[engine.case(quarter.ref).id] == kz(2026, 7, 10, 18)
    assert dues[engine.case(half.ref).id] == kz(2026, 7, 10, 18)  # version 2: the 9th
