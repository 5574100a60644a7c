"""The definition language of version 2: what the rules need is declared data, and a definition that
uses it wrongly is rejected with its file and line (issue 13, item 1)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from algorithms.loader import DefinitionError, load_definition
from algorithms.registry import Registry
from support.definitions import rejects

from conftest import ROOT

ALGORITHMS = ROOT / "algorithms"
# Content hashes of version 1 as launched: a running case refuses a definition that changed.
V1_HASHES = {
    "violence-report": "4bbbd16e111a", "suicide-response": "36121e3be142",
    "social-patronage": "22778a914c0f", "plan-reporting": "164a8bff5dff",
}


def _broken(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = (ALGORITHMS / name).read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_version_1_is_unchanged_and_version_2_is_the_latest():
    registry = Registry.load()
    for algorithm, prefix in V1_HASHES.items():
        assert registry.get(algorithm, 1).content_hash.startswith(prefix)
        assert registry.latest(algorithm).version == 2
        assert registry.get(algorithm, 1).spec.subordination == "spec_2023"
        assert registry.get(algorithm, 2).spec.subordination == "directory"


def test_decisions_are_marked_as_version_2_lists_them():
    registry = Registry.load()
    decisions = {
        "violence-report": {"bullying_recognised", "bullying_not_recognised", "appeal_granted", "appeal_upheld",
                            "appeal_rejected", "police_check_done", "placement_decided", "kdn_decided",
                            "consilium_done"},
        "suicide-response": {"police_check_done", "help_ordered", "help_not_ordered", "kdn_decided",
                             "review_completed"},
        "social-patronage": {"assessed", "kdn_decided"},
        "plan-reporting": {"report_accepted", "report_returned", "withdraw"},
    }
    for algorithm, names in decisions.items():
        d = registry.get(algorithm, 2)
        assert {n for n, t in d.spec.triggers.items() if t.decision} == names, algorithm
        assert not any(t.decision for t in registry.get(algorithm, 1).spec.triggers.values())


def test_plan_reporting_takes_no_transfer_and_only_the_ministry_withdraws():
    d = Registry.load().get("plan-reporting", 2)
    assert "transfer" not in d.spec.triggers and "transfer_accepted" not in d.spec.triggers
    assert d.spec.triggers["withdraw"].actors == ["ministry_education"]
    assert "transfer" in Registry.load().get("violence-report", 2).spec.triggers


def test_return_becomes_one_edge_per_origin():
    d = Registry.load().get("violence-report", 2)
    assert {(e.source, e.dest) for e in d.edges["consilium_done"]} == {
        ("consilium_review", "support_plan"), ("consilium_review", "monitoring")}
    assert all(e.returns_to == e.dest for e in d.edges["consilium_done"])


def test_a_decision_fired_by_the_system_is_rejected(tmp_path):
    path = _broken(tmp_path, "violence-report.v2.yaml", "    actors: [kdn]\n    decision: true",
                   "    actors: [kdn, any_bound]\n    decision: true")
    rejects(path, "a decision is taken by a named body type, not by 'any_bound'", "actors: [kdn, any_bound]")


def test_return_from_a_state_nothing_leads_into_is_rejected(tmp_path):
    # `screening` is entered only at launch: there is nowhere to return to.
    path = _broken(tmp_path, "suicide-response.v2.yaml", "      - {from: screening, to: follow_up}",
                   "      - {from: screening, to: return}")
    rejects(path, "`return` from 'screening', but no transition leads into that state",
             "{from: screening, to: return}")


def test_a_timer_anchored_to_an_unknown_trigger_is_rejected(tmp_path):
    path = _broken(tmp_path, "violence-report.v2.yaml", "anchor: [plan_approved, kdn_decided]",
                   "anchor: [plan_aproved, kdn_decided]")
    rejects(path, "timer anchored to unknown trigger 'plan_aproved'", "plan_aproved")


def test_a_history_guard_on_an_unknown_trigger_is_rejected(tmp_path):
    path = _broken(tmp_path, "violence-report.v2.yaml", "not: {event: {trigger: [deregistered], since: [plan_approved]}}",
                   "not: {event: {trigger: [deregisterd], since: [plan_approved]}}")
    rejects(path, "event names unknown trigger 'deregisterd'")


def test_omitting_or_amending_a_trigger_the_common_file_lacks_is_rejected(tmp_path):
    path = _broken(tmp_path, "plan-reporting.v2.yaml", "omit: [transfer, transfer_accepted]",
                   "omit: [transfer, transfer_acepted]")
    rejects(path, "omits 'transfer_acepted'", "omit: [transfer, transfer_acepted]")
    path = _broken(tmp_path, "plan-reporting.v2.yaml", "    withdraw: {actors: [ministry_education], decision: true}",
                   "    withdrew: {actors: [ministry_education], decision: true}")
    rejects(path, "amends 'withdrew'", "withdrew:")


def test_lateness_counted_from_a_field_that_is_not_a_date_time_is_rejected(tmp_path):
    path = _broken(tmp_path, "violence-report.v2.yaml", "    from: detected_at\n", "    from: summary\n")
    rejects(path, "late counts from a datetime launch field; 'summary' is not one", "from: summary")


def test_a_field_both_required_and_required_when_is_rejected(tmp_path):
    path = _broken(tmp_path, "violence-report.v2.yaml", "        type: registry_number\n",
                   "        type: registry_number\n        required: true\n")
    rejects(path, "either `required` or `required_when`")


def test_an_unknown_ladder_recipient_is_rejected(tmp_path):
    (tmp_path / "common.yaml").write_text((ALGORITHMS / "common.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    common = (ALGORITHMS / "common-v2.yaml").read_text(encoding="utf-8")
    (tmp_path / "common-v2.yaml").write_text(common.replace("assignee.line_ministry]", "assignee.line_minstry]", 1),
                                             encoding="utf-8")
    path = tmp_path / "violence-report.v2.yaml"
    path.write_text((ALGORITHMS / "violence-report.v2.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    assert re.search(rf"{re.escape(str(tmp_path / 'common-v2.yaml'))}:\d+: .*unknown recipient 'assignee.line_minstry'",
                     str(info.value)), str(info.value)


def test_within_past_on_a_field_that_is_not_a_date_time_is_rejected(tmp_path):
    path = _broken(tmp_path, "violence-report.v2.yaml", "      type: datetime\n      required: true\n      within_past:",
                   "      type: string\n      required: true\n      within_past:")
    rejects(path, "`within_past` applies to a datetime field")
