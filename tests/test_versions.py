"""Both versions in one store: version-1 cases keep their rules, new cases run version 2, and the
whole store verifies (issue 13: "verify --all passes on a store holding cases of both versions")."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from states import tables as T
from states.errors import RuleViolation
from states.queries import case_actions
from states.sweep import sweep
from states.verify import verify_all

from conftest import kz

VR_V1 = {"form": "physical", "channel": "school", "summary": "a bruise noticed in class"}


def vr_v2(**extra):
    return {**VR_V1, "detected_at": "2026-04-06T09:00:00+05:00", "reporter": "teacher", **extra}


def _tasks(engine, ref):
    with engine.reader() as conn:
        case_id = conn.execute(select(T.cases.c.id).where(T.cases.c.ref == ref)).scalar_one()
        return conn.execute(select(T.tasks).where(T.tasks.c.case_id == case_id)).all()


def test_new_cases_launch_on_version_2_and_pinned_ones_keep_version_1(engine):
    v1 = engine.launch("violence-report", "KZ-75", "kz-75.school-1", VR_V1, now=kz(2026, 4, 6, 10), version=1)
    v2 = engine.launch("violence-report", "KZ-75", "kz-75.school-1", vr_v2(), now=kz(2026, 4, 6, 10))
    assert engine.case(v1.ref).algorithm_version == 1 and engine.case(v2.ref).algorithm_version == 2
    with pytest.raises(RuleViolation) as info:
        engine.launch("violence-report", "KZ-75", "kz-75.school-1", VR_V1, now=kz(2026, 4, 6, 10))
    assert info.value.code == "invalid_data" and info.value.field == "detected_at"


def test_a_store_with_cases_of_both_versions_verifies(engine):
    refs = []
    for version, data in ((1, VR_V1), (None, vr_v2())):
        ref = engine.launch("violence-report", "KZ-75", "kz-75.school-1", data, now=kz(2026, 4, 6, 10),
                            version=version).ref
        engine.fire(ref, "assess", "kz-75.school-1", {"immediate_danger": False, "perpetrator": "family"},
                    now=kz(2026, 4, 6, 11))
        refs.append(ref)
    sweep(engine, now=kz(2026, 4, 20, 12))  # overdue, escalation and critical steps on both
    with engine.reader() as conn:
        report = verify_all(conn, engine.registry)
    assert report.ok, [f.problems for f in report.failures]
    assert report.cases == 2
    # The medical examination escalated along each version's own chain.
    escalated = {ref: {t.body_id for t in _tasks(engine, ref) if t.kind == "ensure_completion"} for ref in refs}
    assert "ministry_health" in escalated[refs[0]]
    assert "kz-75.health_department" in escalated[refs[1]] and "ministry_health" not in escalated[refs[1]]


def test_a_supervisor_may_not_take_a_decision_nor_see_it_offered(engine):
    ref = engine.launch("violence-report", "KZ-75", "kz-75.school-1", vr_v2(), now=kz(2026, 4, 6, 10)).ref
    with pytest.raises(RuleViolation) as info:
        engine.fire(ref, "police_check_done", "ministry_interior", {"outcome": "no_offence"}, now=kz(2026, 4, 6, 11))
    assert info.value.code == "forbidden" and "kz-75.police" in info.value.message
    with engine.reader() as conn:
        offered = {a["trigger"] for a in case_actions(conn, ref, engine.registry, engine.svc.directory,
                                                        "ministry_interior")}
    assert "police_check_done" not in offered and "examined" not in offered
    # ...while a supervisor still fires what is not a decision (the education department's school).
    engine.fire(ref, "assess", "kz-75.education_department", {"immediate_danger": False, "perpetrator": "family"},
                now=kz(2026, 4, 6, 11))
    engine.fire(ref, "police_check_done", "kz-75.police", {"outcome": "no_offence"}, now=kz(2026, 4, 6, 12))


def test_closing_cancels_other_bodies_work_and_names_the_closing_event(engine):
    ref = engine.launch("violence-report", "KZ-75", "kz-75.school-1", vr_v2(), now=kz(2026, 4, 6, 10)).ref
    outcome = engine.fire(ref, "withdraw", "kz-75.education_department", {"reason": "duplicate of another report"},
                          now=kz(2026, 4, 6, 11))
    rows = _tasks(engine, ref)
    assert rows and all(t.status == "cancelled" and t.cancelled_by == outcome.version for t in rows)


def test_a_form_learns_when_a_field_is_required_and_how_old_a_time_may_be(engine):
    from states.queries import field_schema, trigger_fields
    d = engine.registry.get("violence-report", 2)
    fields = {f["name"]: f for f in trigger_fields(d, "police_check_done")}
    assert fields["register"]["required"] is False
    assert fields["register"]["required_when"] == "data.outcome ≠ 'no_offence'"
    assert fields["registry_number"]["required_when"] == "data.register is set"
    assert field_schema("detected_at", d.spec.launch.data["detected_at"])["within_past"] == {"months": 12}
