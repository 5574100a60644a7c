"""Auditors can trust the history: every kind of tampering is caught and named, the past replays
the same whatever today's calendar says, and escalation steps are checked against the sweeper."""
from __future__ import annotations

from datetime import date

from sqlalchemy import insert, select, update

from states import tables as T
from states.anchor import make_anchor
from states.calendar import Calendar
from states.clock import iso
from states.history import event_document, event_hash
from states.replay import replay
from states.store import open_engine
from states.sweep import sweep
from states.verify import verify_all, verify_case

from conftest import kz
from factories import violence_report_data

T0 = kz(2026, 4, 6, 10)


def a_history(engine) -> str:
    """A bullying case with a few events: launch, two fires, and ladder steps."""
    school = engine.svc.directory.schools("KZ-75")[0].id
    ref = engine.launch("violence-report", "KZ-75", school,
                        violence_report_data(now=T0, summary="synthetic"), now=T0).ref
    bindings = engine.case(ref).bindings
    engine.fire(ref, "assess", bindings["school"], {"immediate_danger": False, "perpetrator": "peer"},
                now=kz(2026, 4, 6, 11))
    engine.fire(ref, "police_check_done", bindings["police"], {"outcome": "no_offence"}, now=kz(2026, 4, 6, 12))
    sweep(engine, now=kz(2026, 4, 10, 12))
    engine.fire(ref, "bullying_recognised", bindings["school"], {"mediation": True},
                now=kz(2026, 4, 10, 13))
    return ref


def check(engine, ref):
    with engine.reader() as conn:
        return verify_case(conn, ref, engine.registry)


def case_id(engine, ref):
    return engine.case(ref).id


def test_an_untouched_history_verifies(engine):
    ref = a_history(engine)
    result = check(engine, ref)
    assert result.ok, result.problems
    assert result.events == engine.case(ref).version


def test_an_edited_event_is_caught_and_named(engine):
    ref = a_history(engine)
    with engine.db.begin() as conn:
        conn.execute(update(T.events).where(T.events.c.case_id == case_id(engine, ref), T.events.c.seq == 2)
                     .values(data={"immediate_danger": True, "perpetrator": "peer"}))
    result = check(engine, ref)
    assert not result.ok and result.first_bad_seq == 2
    assert "edited" in result.first_divergence


def test_a_deleted_event_is_caught(engine):
    ref = a_history(engine)
    with engine.db.begin() as conn:
        conn.execute(T.events.delete().where(T.events.c.case_id == case_id(engine, ref), T.events.c.seq == 3))
    result = check(engine, ref)
    assert not result.ok and result.first_bad_seq == 4
    assert "deleted or reordered" in result.first_divergence


def test_two_reordered_events_are_caught(engine):
    ref = a_history(engine)
    cid = case_id(engine, ref)
    with engine.db.begin() as conn:
        conn.execute(update(T.events).where(T.events.c.case_id == cid, T.events.c.seq == 2).values(seq=-2))
        conn.execute(update(T.events).where(T.events.c.case_id == cid, T.events.c.seq == 3).values(seq=2))
        conn.execute(update(T.events).where(T.events.c.case_id == cid, T.events.c.seq == -2).values(seq=3))
    result = check(engine, ref)
    assert not result.ok and result.first_bad_seq == 2


def test_a_state_changed_behind_the_engine_is_caught(engine):
    ref = a_history(engine)
    with engine.db.begin() as conn:
        conn.execute(update(T.cases).where(T.cases.c.ref == ref).values(state="closed", outcome="resolved"))
    result = check(engine, ref)
    assert not result.ok
    assert any("stored state is 'closed' but the history gives 'support_plan'" in p for p in result.problems)


def test_a_task_due_moved_behind_the_engine_is_caught(engine):
    ref = a_history(engine)
    with engine.db.begin() as conn:
        conn.execute(update(T.tasks).where(T.tasks.c.case_id == case_id(engine, ref), T.tasks.c.kind == "draft_support_plan")
                     .values(due=kz(2026, 5, 30, 18)))
    result = check(engine, ref)
    assert not result.ok and any("due: stored" in p for p in result.problems)


def _rewrite_chain_from(engine, ref, seq):
    """What a capable forger does: edit an event and recompute every hash after it."""
    case = engine.case(ref)
    with engine.db.begin() as conn:
        rows = conn.execute(select(T.events).where(T.events.c.case_id == case.id).order_by(T.events.c.seq)).all()
        prev = rows[seq - 2].hash
        for r in rows[seq - 1:]:
            data = dict(r.data)
            if r.seq == seq:
                data["outcome"] = "criminal_case"
            doc = event_document(r, ref, case.algorithm, case.definition_hash)
            doc["data"] = data
            digest = event_hash(prev, doc)
            conn.execute(update(T.events).where(T.events.c.id == r.id).values(data=data, prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(update(T.cases).where(T.cases.c.id == case.id).values(head_hash=prev))


def test_a_rewritten_chain_is_caught_against_an_earlier_anchor(engine):
    ref = a_history(engine)
    anchor = make_anchor(engine, now=kz(2026, 4, 10, 23))
    assert anchor.cases == 1 and len(anchor.root) == 64
    _rewrite_chain_from(engine, ref, 3)  # police_check_done: "no_offence" → "criminal_case"
    result = check(engine, ref)
    assert not result.ok
    assert any("chain was rewritten" in p and f"anchor {anchor.id}" in p for p in result.problems)
    with engine.reader() as conn:
        report = verify_all(conn, engine.registry)
    assert not report.ok and any(ref in p for p in report.anchor_problems)


def test_a_rewritten_chain_without_an_anchor_still_hashes(engine):
    """Without an anchor the rewrite is self-consistent: this is why anchors exist."""
    ref = a_history(engine)
    _rewrite_chain_from(engine, ref, 3)
    assert check(engine, ref).ok


def test_an_altered_anchor_is_caught(engine):
    a_history(engine)
    anchor = make_anchor(engine, now=kz(2026, 4, 10, 23))
    with engine.db.begin() as conn:
        conn.execute(update(T.anchor_leaves).where(T.anchor_leaves.c.anchor_id == anchor.id).values(seq=1))
    with engine.reader() as conn:
        report = verify_all(conn, engine.registry)
    assert any("anchor was altered" in p for p in report.anchor_problems)


def test_verify_all_finds_only_the_bad_case(engine):
    good, bad = a_history(engine), a_history(engine)
    with engine.db.begin() as conn:
        conn.execute(update(T.events).where(T.events.c.case_id == case_id(engine, bad), T.events.c.seq == 1)
                     .values(actor="kz-75.police"))
    with engine.reader() as conn:
        report = verify_all(conn, engine.registry)
    assert report.cases == 2 and [f.ref for f in report.failures] == [bad]
    assert report.events == engine.case(good).version + engine.case(bad).version


def test_a_step_taken_later_than_the_sweep_that_should_have_taken_it_is_late(engine):
    school = engine.svc.directory.schools("KZ-75")[0].id
    ref = engine.launch("violence-report", "KZ-75", school,
                        violence_report_data(now=T0, summary="synthetic"), now=T0).ref
    # A sweep ran at 11:00 on the 7th (past police_check's due at 10:00) but did not take the step.
    with engine.db.begin() as conn:
        conn.execute(insert(T.sweep_runs).values(started_at=kz(2026, 4, 7, 11), now=kz(2026, 4, 7, 11),
                                                 finished_at=kz(2026, 4, 7, 11), processed=0))
    result = check(engine, ref)
    assert not result.ok and any("was never taken" in p and "t2" in p for p in result.problems)
    sweep(engine, now=kz(2026, 4, 7, 15))
    result = check(engine, ref)
    assert not result.ok
    assert any("overdue for t2" in p and "should have taken it" in p for p in result.problems)


def test_replay_at_a_moment_keeps_past_dues_after_a_holidays_change(db_factory, registry, directory):
    engine = db_factory()
    ref = a_history(engine)
    with engine.reader() as conn:
        case = conn.execute(select(T.cases).where(T.cases.c.ref == ref)).one()
        docs = [event_document(r, ref, case.algorithm, case.definition_hash)
                for r in conn.execute(select(T.events).where(T.events.c.case_id == case.id).order_by(T.events.c.seq))]
    before = replay(docs, at=kz(2026, 4, 8, 12))
    # Later the deployment learns that 8 and 9 April 2026 were days off (a new transfer file).
    changed = Calendar(days_off={date(2026, 4, 8), date(2026, 4, 9)}, working_weekend_days=set())
    assert changed.due("working_days", 3, kz(2026, 4, 6, 11)) != kz(2026, 4, 9, 18)
    later = open_engine(db=engine.db, registry=registry, directory=directory, calendar=changed, run_migrations=False)
    after = replay(docs, at=kz(2026, 4, 8, 12))
    assert [(t["kind"], t["due"]) for t in after.open_tasks()] == [(t["kind"], t["due"]) for t in before.open_tasks()]
    assert ("decide_bullying", iso(kz(2026, 4, 9, 18))) in [(t["kind"], t["due"]) for t in after.open_tasks()]
    assert check(later, ref).ok  # verification does not consult today's calendar either


def test_replay_shows_the_earlier_state_and_escalation_level(engine):
    ref = a_history(engine)
    with engine.reader() as conn:
        case = conn.execute(select(T.cases).where(T.cases.c.ref == ref)).one()
        docs = [event_document(r, ref, case.algorithm, case.definition_hash)
                for r in conn.execute(select(T.events).where(T.events.c.case_id == case.id).order_by(T.events.c.seq))]
    assert replay(docs, at=kz(2026, 4, 6, 10, 30)).state == "reported"
    at_escalation = replay(docs, at=kz(2026, 4, 10, 12))
    assert at_escalation.state == "bullying_review"
    decide = next(t for t in at_escalation.open_tasks() if t["kind"] == "decide_bullying")
    assert decide["level"] == 1  # overdue (due 9 April 18:00), not yet escalated (10 April 18:00)
    assert replay(docs).state == "support_plan"


def test_the_fast_canonical_form_equals_the_hashed_one():
    from hypothesis import HealthCheck, given, settings, strategies as st
    from states.history import canonical, canonical_from_parts

    scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=20))
    values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                          max_leaves=8)

    @given(actor=st.text(max_size=12), trigger=st.text(max_size=12), data=st.dictionaries(st.text(max_size=8), values),
           effects=st.dictionaries(st.text(max_size=8), values), seq=st.integers(1, 10**6),
           source=st.one_of(st.none(), st.text(max_size=8)))
    # Drawing these nested values is slow on a loaded 2-core machine (the health check failed there);
    # how fast they are drawn is not what this test is about.
    @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
    def same(actor, trigger, data, effects, seq, source):
        event = {"case": "VR-75-000001", "seq": seq, "at": "2026-04-06T05:00:00Z", "actor": actor, "trigger": trigger,
                 "data": data, "from": source, "to": "reported", "effects": effects, "algorithm": "violence-report",
                 "version": 1, "definition": "ab" * 32}
        assert canonical_from_parts(event, canonical(data), canonical(effects)) == canonical(event)

    same()


def test_parallel_verification_finds_the_same_failures(engine, monkeypatch):
    import states.verify as verify_module
    refs = [a_history(engine) for _ in range(5)]
    make_anchor(engine, now=kz(2026, 4, 10, 23))
    with engine.db.begin() as conn:
        conn.execute(update(T.events).where(T.events.c.case_id == case_id(engine, refs[3]), T.events.c.seq == 2)
                     .values(actor="kz-75.police"))
    _rewrite_chain_from(engine, refs[1], 3)
    monkeypatch.setattr(verify_module, "PARALLEL_FROM_CASES", 2)
    with engine.reader() as conn:
        serial = verify_all(conn, engine.registry, workers=1)
        parallel = verify_all(conn, engine.registry, workers=2)
    assert [f.ref for f in parallel.failures] == [f.ref for f in serial.failures] == [refs[3]]
    assert parallel.anchor_problems == serial.anchor_problems and refs[1] in parallel.anchor_problems[0]
    assert (parallel.cases, parallel.events) == (serial.cases, serial.events) == (5, 5 * engine.case(refs[0]).version)
