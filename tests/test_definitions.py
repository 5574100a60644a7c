"""Algorithm definitions are data: a bad one is rejected with `file:line: rule`, a good one pins."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from algorithms.loader import DefinitionError, load_definition
from algorithms.registry import Registry
from states.errors import DefinitionChanged
from support.definitions import line_of, rejects

from conftest import ROOT

VR = ROOT / "algorithms" / "violence-report.v1.yaml"


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = VR.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "violence-report.v1.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_shipped_definitions_load_and_pin_their_content_hash():
    registry = Registry.load()
    assert {"violence-report", "social-patronage"} <= set(registry.ids())
    for d in registry:
        assert len(d.content_hash) == 64


def test_unknown_target_state_is_named_with_its_line(tmp_path):
    path = _broken(tmp_path, "- {from: appeal_review, to: support_plan}", "- {from: appeal_review, to: suport_plan}")
    text = rejects(path, "unknown state 'suport_plan'")
    assert f"{path}:{line_of(path, 'suport_plan')}:" in text


def test_unknown_body_type_is_rejected(tmp_path):
    path = _broken(tmp_path, "body: guardianship, deadline: {working_days: 3}", "body: guardianshp, deadline: {working_days: 3}")
    rejects(path, "unknown body type 'guardianshp'")


def test_unknown_template_is_rejected(tmp_path):
    path = _broken(tmp_path, "{template: case_closed, to: [all_bound]}", "{template: case_finished, to: [all_bound]}")
    rejects(path, "unknown template 'case_finished'")


def test_unknown_task_kind_in_completes_is_rejected(tmp_path):
    path = _broken(tmp_path, "completes: [collect_information]", "completes: [collect_info]")
    rejects(path, "unknown task kind 'collect_info'")


def test_timer_firing_an_unknown_trigger_is_rejected(tmp_path):
    path = _broken(tmp_path, "open_task: {kind: decide_kdn_referral, body: school, deadline: {working_days: 5}, ladder: standard, source: Rules 506 p.12.3}",
                   "fire: no_such_trigger")
    rejects(path, "unknown trigger 'no_such_trigger'")


def test_unreachable_state_is_rejected(tmp_path):
    path = _broken(tmp_path, "      - {from: [monitoring, support_plan], to: consilium_review}",
                   "      - {from: [monitoring, support_plan], to: monitoring}")
    rejects(path, "unreachable state 'consilium_review'")


def test_non_final_state_without_a_way_out_is_rejected(tmp_path):
    path = _broken(tmp_path, "      - {from: consilium_review, to: monitoring}", "      - {from: consilium_review, to: same}")
    rejects(path, "non-final state 'consilium_review' has no way out")


def test_bad_deadline_syntax_is_rejected(tmp_path):
    path = _broken(tmp_path, "deadline: {working_days: 15}", "deadline: {workdays: 15}")
    text = rejects(path, "")
    assert "workdays" in text
    assert f"{path}:{line_of(path, 'workdays')}:" in text


def test_deadline_with_two_rules_is_rejected(tmp_path):
    path = _broken(tmp_path, "deadline: {working_days: 15}", "deadline: {working_days: 15, hours: 2}")
    rejects(path, "exactly one of")


def test_guard_on_undeclared_field_is_rejected(tmp_path):
    path = _broken(tmp_path, "when: {field: data.immediate_danger, equals: true}",
                   "when: {field: data.immediate_dangr, equals: true}")
    text = rejects(path, "guard on undeclared field 'data.immediate_dangr'")
    assert f"{path}:{line_of(path, 'immediate_dangr')}:" in text


def test_guard_written_as_python_is_not_evaluated_but_rejected(tmp_path):
    path = _broken(tmp_path, "when: {field: data.immediate_danger, equals: true}",
                   "when: \"__import__('os').system('true')\"")
    rejects(path, "when")


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "violence-report.v1.yaml"
    path.write_text("id: violence-report\nversion: 1\nstates: [\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    assert f"{path}:" in str(info.value) and "YAML syntax" in str(info.value)


def test_a_changed_definition_under_a_used_version_is_refused(db_factory, tmp_path):
    db_factory()  # pins the shipped definitions
    changed = tmp_path / "defs"
    changed.mkdir()
    text = VR.read_text(encoding="utf-8").replace("deadline: {working_days: 15}", "deadline: {working_days: 10}", 1)
    (changed / "violence-report.v1.yaml").write_text(text, encoding="utf-8")
    other = (ROOT / "algorithms" / "social-patronage.v1.yaml").read_text(encoding="utf-8")
    (changed / "social-patronage.v1.yaml").write_text(other, encoding="utf-8")
    registry = Registry.load([changed], include_shipped=False)
    with pytest.raises(DefinitionChanged, match="publish the change as version 2"):
        db_factory(registry=registry)


def test_deadline_override_changes_the_pinned_hash(tmp_path):
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(yaml.safe_dump({"violence-report": {"kdn_decision": {"working_days": 10}}}), encoding="utf-8")
    base = Registry.load().get("violence-report")
    changed = Registry.load(overrides_file=overrides).get("violence-report")
    assert base.content_hash != changed.content_hash
    task = changed.task_spec("kdn_decision")
    assert task.deadlines()[0].rule() == {"working_days": 10}
    assert "deployment override" in task.source


def test_overrides_may_be_written_flat_as_algorithm_dot_task(tmp_path):
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("violence-report.kdn_decision: {working_days: 10}\n", encoding="utf-8")
    task = Registry.load(overrides_file=overrides).get("violence-report").task_spec("kdn_decision")
    assert task.deadlines()[0].rule() == {"working_days": 10}


def test_override_for_an_unknown_task_is_rejected(tmp_path):
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(yaml.safe_dump({"violence-report": {"no_such_task": {"days": 1}}}), encoding="utf-8")
    with pytest.raises(DefinitionError, match="unknown task kind 'no_such_task'"):
        Registry.load(overrides_file=overrides)


def test_diagram_is_mermaid_with_every_state(registry):
    from states.machines import mermaid
    d = registry.get("violence-report")
    text = mermaid(d)
    assert "stateDiagram-v2" in text
    for state in d.spec.states:
        assert f"as {state}" in text
    assert "reported --> bullying_review: assess" in text


def test_a_case_keeps_the_deadline_override_it_was_launched_under(db_factory, tmp_path):
    from conftest import kz
    from factories import violence_report_data
    from sqlalchemy import select
    from states import tables as T
    from states.verify import verify_case
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(yaml.safe_dump({"violence-report": {"collect_information": {"working_days": 3}}}),
                         encoding="utf-8")
    with_override = db_factory(registry=Registry.load(overrides_file=overrides))
    school = with_override.svc.directory.schools("KZ-75")[0].id
    ref = with_override.launch("violence-report", "KZ-75", school,
                               violence_report_data(now=kz(2026, 4, 6, 10), summary="synthetic"), now=kz(2026, 4, 6, 10)).ref
    plain = db_factory()  # the deployment later drops the override
    plain.fire(ref, "police_check_done", plain.case(ref).bindings["police"],
               {"outcome": "no_offence"}, now=kz(2026, 4, 6, 11))
    with plain.reader() as conn:
        due = conn.execute(select(T.tasks.c.due).where(T.tasks.c.kind == "collect_information")).scalar_one()
        assert verify_case(conn, ref, plain.registry).ok
    assert due == kz(2026, 4, 9, 18)  # 3 working days, as pinned at launch
    assert plain.case(ref).overrides == {"collect_information": {"working_days": 3}}
