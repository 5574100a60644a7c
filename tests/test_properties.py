"""Property: any sequence of valid and invalid triggers at any times leaves a case whose history
verifies; every rejected trigger changed nothing."""
from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

import conftest
from conftest import kz
from factories import police_check_data, violence_report_data
from states import tables as T
from states.errors import RuleViolation
from states.verify import verify_case
from states.store import open_engine
from states.sweep import sweep

ROLES = ["school", "police", "health", "guardianship", "education_department", "kdn", "consilium",
         "psych_center", "social_services", "ministry_education"]
PAYLOADS = {
    "assess": [{"immediate_danger": False, "perpetrator": "peer"}, {"immediate_danger": True, "perpetrator": "family"},
               {"immediate_danger": False, "perpetrator": "unknown"}, {"perpetrator": "peer"}],
    "police_check_done": [{"outcome": "no_offence"}, {"outcome": "maybe"}, police_check_data("criminal_case"),
                          {"outcome": "administrative"}],
    "examined": [{"injuries_recorded": True}, {}],
    "child_safe": [{}, {"placement": "relatives"}],
    "placement_decided": [{"placement": "relatives"}, {}],
    "bullying_recognised": [{"rehabilitation_consent": True}],
    "bullying_not_recognised": [{"reason": "one-off"}, {}],
    "appeal_filed": [{"grounds": "witnesses"}],
    "appeal_granted": [{}],
    "appeal_forwarded": [{}],
    "appeal_upheld": [{}],
    "appeal_rejected": [{"reason": "no grounds"}],
    "assessment_done": [{"refer_to_patronage": False}, {"refer_to_patronage": True}],
    "plan_approved": [{"measures": ["weekly talks"]}, {"measures": []},
                      {"measures": ["weekly talks"], "intra_school_registration": True}],
    "deregistered": [{"reason": "a term without incidents"}],
    "review": [{"progress": "improving"}, {"progress": "worse"}],
    "continue_monitoring": [{"reason": "steady"}],
    "refer_to_consilium": [{"question": "which school"}],
    "consilium_done": [{"recommendations": ["change class"]}],
    "refer_to_kdn": [{"materials": "file"}],
    "kdn_decided": [{"close": True}, {"close": False, "measures": ["warning"]}],
    "resolved": [{"summary": "resolved"}],
    "reopen": [{"reason": "new incident"}],
    "withdraw": [{"reason": "duplicate"}, {"reason": ""}],
    "transfer": [{"to_region": "KZ-71"}, {"to_region": "KZ-00"}],
    "transfer_accepted": [{}],
    "no_such_trigger": [{}],
}

actions = st.lists(st.tuples(
    st.integers(min_value=0, max_value=60 * 24 * 20),  # minutes to wait before the action
    st.sampled_from(sorted(PAYLOADS)),
    st.sampled_from(ROLES),
    st.integers(min_value=0, max_value=3),
), min_size=1, max_size=14)


def _fresh_engine(registry, directory, calendar):
    if conftest.PG_URL:
        return open_engine(db=conftest._pg_db(), registry=registry, directory=directory, calendar=calendar,
                           run_migrations=False)
    return open_engine("sqlite://", registry=registry, directory=directory, calendar=calendar)


def _snapshot(engine, case_id):
    version = engine.case("VR-75-000001").version
    with engine.reader() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t).where(t.c.case_id == case_id)).scalar()
                     for t in (T.events, T.tasks, T.steps, T.outbox)) + (version,)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=actions, danger=st.booleans())
def test_random_triggers_keep_the_history_verifiable(registry, directory, calendar, steps, danger):
    engine = _fresh_engine(registry, directory, calendar)
    try:
        now = kz(2026, 4, 6, 10)
        school = directory.schools("KZ-75")[0].id
        ref = engine.launch("violence-report", "KZ-75", school,
                            violence_report_data(now=now, form="physical", summary="synthetic", immediate_danger=danger),
                            now=now).ref
        case_id = engine.case(ref).id
        for wait, trigger, role, pick in steps:
            now += timedelta(minutes=wait)
            sweep(engine, now=now)
            case = engine.case(ref)
            actor = case.bindings.get(role) or role
            payload = PAYLOADS[trigger][pick % len(PAYLOADS[trigger])]
            before = _snapshot(engine, case_id)
            try:
                engine.fire(ref, trigger, actor, payload, now=now)
            except RuleViolation:
                assert _snapshot(engine, case_id) == before, f"rejected {trigger} changed the store"
        with engine.reader() as conn:
            for (r,) in conn.execute(select(T.cases.c.ref)):
                result = verify_case(conn, r, engine.registry)
                assert result.ok, result.problems
    finally:
        engine.db.dispose()
