"""launch and fire, as the spec says: one transaction each, errors by code, nothing half-written."""
from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import func, select
from transitions.core import Condition

from states import tables as T
from states.errors import RuleViolation
from states.firing import FiringCase
from states.machines import machine_for
from states.verify import verify_case
from states.unit_of_work import CaseChange

from conftest import kz
from factories import violence_report_data

T0 = kz(2026, 4, 6, 10)  # a Monday without holidays
BULLYING = {"form": "bullying", "channel": "school", "summary": "repeated name-calling in class 5B"}
CHILD = {"birth_date": "2014-03-15", "sex": "female",
         "given_name": "Synthetic", "family_name": "Testchild", "address": "Synthetic street 1"}


def _iin_fixture() -> str:
    from states.iin import check_digit
    return "14031560001" + str(check_digit("14031560001"))


def launch(engine, data=None, now=T0):
    """A violence-report on the current version: valid launch data (`detected_at` an hour before
    `now`, a reporter) with `data` laid over it."""
    school = engine.svc.directory.schools("KZ-75")[0].id
    return engine.launch("violence-report", "KZ-75", school, violence_report_data(now=now, **{**BULLYING, **(data or {})}),
                         now=now)


def counts(engine) -> dict[str, int]:
    with engine.reader() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar()
                for t in (T.cases, T.events, T.tasks, T.steps, T.outbox, T.subjects, T.case_links)}


def body(engine, ref, role):
    return engine.case(ref).bindings[role]


def test_launch_opens_the_state_tasks_and_owes_case_opened(engine):
    out = launch(engine)
    case = engine.case(out.ref)
    assert out.ref == "VR-75-000001" and case.state == "reported" and case.version == 1
    with engine.reader() as conn:
        tasks = {t.kind: t for t in conn.execute(select(T.tasks))}
        notes = {(n.template, n.body_id) for n in conn.execute(select(T.outbox))}
    assert tasks["collect_information"].due == kz(2026, 4, 7, 18)
    assert tasks["police_check"].due == kz(2026, 4, 7, 10)
    assert "medical_examination" not in tasks  # only for physical / sexual
    assert ("case_opened", "kz-75.police") in notes and ("task_assigned", "kz-75.school-1") in notes


def test_physical_violence_also_alerts_health_and_guardianship(engine):
    launch(engine, {**BULLYING, "form": "physical"})
    with engine.reader() as conn:
        notes = {(n.template, n.body_id) for n in conn.execute(select(T.outbox))}
        kinds = {t.kind for t in conn.execute(select(T.tasks))}
    assert ("case_opened", "kz-75.health") in notes and ("case_opened", "kz-75.guardianship") in notes
    assert "medical_examination" in kinds


def test_fire_routes_by_guard_and_completes_the_task(engine):
    ref = launch(engine).ref
    out = engine.fire(ref, "assess", body(engine, ref, "school"), {"immediate_danger": False, "perpetrator": "peer"},
                      now=kz(2026, 4, 6, 11))
    assert out.state == "bullying_review" and out.version == 2
    out2 = launch(engine)
    out2 = engine.fire(out2.ref, "assess", body(engine, out2.ref, "police"),
                       {"immediate_danger": True, "perpetrator": "family"}, now=kz(2026, 4, 6, 11))
    assert out2.state == "emergency_protection"


@pytest.mark.parametrize("trigger, actor, data, code, field", [
    ("no_such_trigger", "school", {}, "unknown_trigger", "trigger"),
    ("resolved", "school", {}, "invalid_transition", None),
    ("assess", "health", {"immediate_danger": False, "perpetrator": "peer"}, "forbidden", "actor"),
    ("assess", "school", {"perpetrator": "peer"}, "invalid_data", "immediate_danger"),
    ("assess", "school", {"immediate_danger": False, "perpetrator": "alien"}, "invalid_data", "perpetrator"),
    ("assess", "school", {"immediate_danger": False, "perpetrator": "peer", "extra": 1}, "invalid_data", "extra"),
])
def test_rejected_trigger_returns_its_code_and_writes_nothing(engine, trigger, actor, data, code, field):
    ref = launch(engine).ref
    before = counts(engine)
    with pytest.raises(RuleViolation) as info:
        engine.fire(ref, trigger, body(engine, ref, actor), data, now=kz(2026, 4, 6, 11))
    assert info.value.code == code
    if field:
        assert info.value.field == field
    if code == "invalid_data":
        assert repr(field) in info.value.message  # the message names the field
    assert counts(engine) == before
    assert engine.case(ref).version == 1


def test_unknown_case_and_stale_version(engine):
    with pytest.raises(RuleViolation) as info:
        engine.fire("VR-75-999999", "assess", "kz-75.school-1", {}, now=T0)
    assert info.value.code == "unknown_case"
    ref = launch(engine).ref
    with pytest.raises(RuleViolation) as info:
        engine.fire(ref, "assess", "kz-75.school-1", {"immediate_danger": False, "perpetrator": "peer"},
                    now=T0, expected_version=0)
    assert info.value.code == "conflict"


def test_guard_failure_names_the_condition(engine):
    ref = launch(engine).ref
    dept = body(engine, ref, "education_department")
    school = body(engine, ref, "school")
    engine.fire(ref, "assess", school, {"immediate_danger": False, "perpetrator": "peer"}, now=kz(2026, 4, 6, 11))
    engine.fire(ref, "bullying_not_recognised", school, {"reason": "one-off conflict"}, now=kz(2026, 4, 7, 11))
    with pytest.raises(RuleViolation) as info:
        engine.fire(ref, "appeal_filed", dept, {"grounds": "new witnesses"}, now=kz(2026, 7, 8, 11))
    assert info.value.code == "guard_failed" and "within 3 months of the decision" in info.value.message
    out = engine.fire(ref, "appeal_filed", dept, {"grounds": "new witnesses"}, now=kz(2026, 7, 6, 11))
    assert out.state == "appeal_review"


def test_a_supervisor_may_fire_for_the_body_it_supervises_but_not_take_its_decision(engine):
    ref = launch(engine).ref
    out = engine.fire(ref, "assess", "ministry_education", {"immediate_danger": False, "perpetrator": "peer"},
                      now=kz(2026, 4, 6, 11))
    assert out.state == "bullying_review"
    with pytest.raises(RuleViolation) as info:  # version 2, C2: the school's decision alone
        engine.fire(ref, "bullying_recognised", "ministry_education", {}, now=kz(2026, 4, 7, 11))
    assert info.value.code == "forbidden" and "kz-75.school-1" in info.value.message
    assert engine.fire(ref, "bullying_recognised", body(engine, ref, "school"), {},
                       now=kz(2026, 4, 7, 11)).state == "support_plan"
    with pytest.raises(RuleViolation) as info:  # another region's department supervises nothing here
        engine.fire(ref, "withdraw", "kz-71.education_department", {"reason": "x"}, now=kz(2026, 4, 7, 12))
    assert info.value.code == "forbidden"


def test_version_1_a_supervisor_may_take_the_decision_of_the_body_it_supervises(engine):
    ref = engine.launch("violence-report", "KZ-75", "kz-75.school-1", BULLYING, now=T0, version=1).ref
    engine.fire(ref, "assess", "kz-75.school-1", {"immediate_danger": False, "perpetrator": "peer"},
                now=kz(2026, 4, 6, 11))
    out = engine.fire(ref, "bullying_recognised", "ministry_education", {}, now=kz(2026, 4, 7, 11))
    assert out.state == "support_plan"


def test_personal_data_is_kept_apart_from_the_history(engine):
    iin = _iin_fixture()
    ref = launch(engine, {**BULLYING, "child": {**CHILD, "iin": iin}}).ref
    case = engine.case(ref)
    assert case.subject_id
    with engine.reader() as conn:
        history = json.dumps([dict(r._mapping) for r in conn.execute(select(T.events.c.data, T.events.c.effects))],
                             ensure_ascii=False)
        outbox = json.dumps([r.context for r in conn.execute(select(T.outbox))], ensure_ascii=False)
        stored = json.dumps(conn.execute(select(T.subjects.c.payload)).scalar_one())
    for secret in (iin, "Testchild", "Synthetic street", "2014-03-15"):
        assert secret not in history and secret not in outbox and secret not in json.dumps(case.data)
        assert secret not in stored  # encrypted at rest
    from states.personal_data import read_subject
    with engine.db.begin() as conn:
        subject = read_subject(conn, case.subject_id, actor="kz-75.education_department", case_ref=ref,
                               purpose="audit", now=T0)
    assert subject["iin"] == iin


def test_an_iin_with_a_wrong_check_digit_is_invalid_data(engine):
    iin = _iin_fixture()
    wrong = iin[:-1] + str((int(iin[-1]) + 1) % 10)
    with pytest.raises(RuleViolation) as info:
        launch(engine, {**BULLYING, "child": {**CHILD, "iin": wrong}})
    assert info.value.code == "invalid_data" and info.value.field == "child.iin"
    assert counts(engine)["cases"] == 0


def test_an_iin_in_free_text_is_refused(engine):
    with pytest.raises(RuleViolation) as info:
        launch(engine, {**BULLYING, "summary": f"child {_iin_fixture()} was hit"})
    assert info.value.code == "invalid_data" and info.value.field == "summary"


def test_a_crash_after_the_event_insert_leaves_nothing_half_written(engine, monkeypatch):
    ref = launch(engine).ref
    before = counts(engine)

    def boom(self, *args):
        raise RuntimeError("power cut after the event insert")

    monkeypatch.setattr(CaseChange, "_insert_outbox", boom)
    with pytest.raises(RuntimeError):
        engine.fire(ref, "assess", body(engine, ref, "school"), {"immediate_danger": False, "perpetrator": "peer"},
                    now=kz(2026, 4, 6, 11))
    monkeypatch.undo()
    assert counts(engine) == before
    assert engine.case(ref).state == "reported"
    with engine.reader() as conn:
        assert verify_case(conn, ref, engine.registry).ok


def test_concurrent_fires_on_one_case_one_wins_one_conflicts(db_factory):
    engine = db_factory()
    ref = launch(engine).ref
    school = body(engine, ref, "school")
    barrier = threading.Barrier(2)
    results: list = []

    def worker(perpetrator):
        own = db_factory()
        barrier.wait()
        try:
            results.append(own.fire(ref, "assess", school, {"immediate_danger": False, "perpetrator": perpetrator},
                                    now=kz(2026, 4, 6, 11), expected_version=1))
        except RuleViolation as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker, args=(p,)) for p in ("peer", "family")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [r for r in results if not isinstance(r, RuleViolation)]
    losses = [r for r in results if isinstance(r, RuleViolation)]
    assert len(wins) == 1 and len(losses) == 1 and losses[0].code == "conflict"
    assert engine.case(ref).version == 2
    with engine.reader() as conn:
        assert conn.execute(select(func.count()).select_from(T.events)).scalar() == 2
        assert verify_case(conn, ref, engine.registry).ok


def test_spawn_links_both_ways_and_records_it_in_both_histories(engine):
    ref = launch(engine, {**BULLYING, "form": "neglect", "child": CHILD, "school": "kz-75.school-2"}).ref
    school = body(engine, ref, "school")
    engine.fire(ref, "assess", school, {"immediate_danger": False, "perpetrator": "family"}, now=kz(2026, 4, 6, 11))
    out = engine.fire(ref, "assessment_done", body(engine, ref, "guardianship"), {"refer_to_patronage": True},
                      now=kz(2026, 4, 7, 11))
    assert out.state == "support_plan" and len(out.spawned) == 1
    child_ref = out.spawned[0]
    spawned = engine.case(child_ref)
    assert spawned.algorithm == "social-patronage" and spawned.state == "referred"
    assert spawned.subject_id == engine.case(ref).subject_id and spawned.region == "KZ-75"
    assert spawned.bindings["school"] == "kz-75.school-2"  # the same child's school
    with engine.reader() as conn:
        links = {(r.case_id, r.relation) for r in conn.execute(select(T.case_links))}
        parent_fx = conn.execute(select(T.events.c.effects).where(T.events.c.case_id == engine.case(ref).id,
                                                                  T.events.c.seq == 3)).scalar_one()
        child_fx = conn.execute(select(T.events.c.effects).where(T.events.c.case_id == spawned.id,
                                                                 T.events.c.seq == 1)).scalar_one()
        assert verify_case(conn, ref, engine.registry).ok and verify_case(conn, child_ref, engine.registry).ok
    assert (engine.case(ref).id, "spawned") in links and (spawned.id, "spawned_from") in links
    assert parent_fx["spawned"] == [{"ref": child_ref, "algorithm": "social-patronage"}]
    assert child_fx["spawned_from"] == ref


def test_transfer_moves_open_tasks_to_the_new_region(engine):
    ref = launch(engine).ref
    out = engine.fire(ref, "transfer", body(engine, ref, "education_department"), {"to_region": "KZ-71"},
                      now=kz(2026, 4, 6, 12))
    case = engine.case(ref)
    assert out.state == "reported" and case.region == "KZ-71"
    assert case.bindings["police"] == "kz-71.police" and case.bindings["school"].startswith("kz-71.")
    with engine.reader() as conn:
        tasks = {t.kind: t for t in conn.execute(select(T.tasks).where(T.tasks.c.status == "open"))}
        notes = {(n.template, n.body_id) for n in conn.execute(select(T.outbox).where(T.outbox.c.event_seq == 2))}
        assert verify_case(conn, ref, engine.registry).ok
    assert tasks["police_check"].body_id == "kz-71.police"
    assert tasks["police_check"].due == kz(2026, 4, 7, 12)  # recomputed from the transfer
    assert tasks["accept_transfer"].body_id == "kz-71.education_department"
    assert ("case_transferred", "kz-75.police") in notes and ("case_transferred", "kz-71.police") in notes
    engine.fire(ref, "transfer_accepted", "kz-71.education_department", {}, now=kz(2026, 4, 7, 9))
    with engine.reader() as conn:
        assert conn.execute(select(T.tasks.c.status).where(T.tasks.c.kind == "accept_transfer")).scalar_one() == "done"


def test_withdraw_closes_and_cancels_every_task(engine):
    ref = launch(engine).ref
    out = engine.fire(ref, "withdraw", "ministry_education", {"reason": "duplicate report"}, now=kz(2026, 4, 6, 12))
    assert out.state == "closed" and out.outcome == "withdrawn"
    with engine.reader() as conn:
        assert set(conn.execute(select(T.tasks.c.status)).scalars()) == {"cancelled"}
        assert conn.execute(select(func.count()).select_from(T.steps).where(T.steps.c.status == "pending")).scalar() == 0
    with pytest.raises(RuleViolation) as info:
        engine.fire(ref, "withdraw", "ministry_education", {"reason": ""}, now=kz(2026, 4, 6, 13))
    assert info.value.code == "invalid_transition"


def test_withdraw_needs_a_reason(engine):
    ref = launch(engine).ref
    with pytest.raises(RuleViolation) as info:
        engine.fire(ref, "withdraw", body(engine, ref, "education_department"), {"reason": ""}, now=kz(2026, 4, 6, 12))
    assert info.value.code == "invalid_data" and info.value.field == "reason"


def test_link_records_the_relation_in_both_cases(engine):
    a = launch(engine).ref
    b = launch(engine).ref
    engine.fire(a, "link", body(engine, a, "police"), {"case": b}, now=kz(2026, 4, 6, 12))
    assert engine.case(b).version == 2  # the other case's history shows the link too
    with engine.reader() as conn:
        assert conn.execute(select(func.count()).select_from(T.case_links)).scalar() == 2
        assert verify_case(conn, a, engine.registry).ok and verify_case(conn, b, engine.registry).ok
    with pytest.raises(RuleViolation) as info:
        engine.fire(a, "link", body(engine, a, "police"), {"case": "VR-75-424242"}, now=kz(2026, 4, 6, 13))
    assert info.value.code == "invalid_data" and info.value.field == "case"


def test_every_event_is_chained_to_the_previous_one(engine):
    from states.history import GENESIS
    ref = launch(engine).ref
    engine.fire(ref, "assess", body(engine, ref, "school"), {"immediate_danger": False, "perpetrator": "peer"},
                now=kz(2026, 4, 6, 11))
    with engine.reader() as conn:
        rows = conn.execute(select(T.events).order_by(T.events.c.seq)).all()
    assert rows[0].prev_hash == GENESIS and rows[1].prev_hash == rows[0].hash
    assert rows[1].effects["tasks_closed"] == [{"key": "t1", "status": "done"}]
    assert rows[1].actor == "kz-75.school-1" and rows[1].trigger == "assess"
    assert (rows[1].from_state, rows[1].to_state) == ("reported", "bullying_review")
    assert rows[1].algorithm_version == 2  # new cases run the latest version


def test_the_definitions_machine_moves_the_case_and_decides_which_edge(engine, monkeypatch):
    ref = launch(engine).ref
    event = machine_for(engine.definition_for(engine.case(ref))).events["assess"]
    seen = []
    trigger = event.trigger

    def watched(model, *args, **kwargs):
        before = model.state
        result = trigger(model, *args, **kwargs)
        seen.append((type(model), model.case.ref, before, model.state, result))
        return result

    monkeypatch.setattr(event, "trigger", watched)
    school = body(engine, ref, "school")
    data = {"immediate_danger": False, "perpetrator": "peer"}
    out = engine.fire(ref, "assess", school, data, now=kz(2026, 4, 6, 11))
    assert seen == [(FiringCase, ref, "reported", "bullying_review", True)] and out.state == "bullying_review"

    # The machine's conditions, not the engine, choose: with every edge refused the fire is refused.
    other = launch(engine).ref
    for transition in event.transitions["reported"]:
        monkeypatch.setattr(transition, "conditions", [Condition(lambda _: False)])
    with pytest.raises(RuleViolation) as err:
        engine.fire(other, "assess", body(engine, other, "school"), data, now=kz(2026, 4, 6, 11))
    assert err.value.code == "guard_failed" and engine.case(other).state == "reported"
