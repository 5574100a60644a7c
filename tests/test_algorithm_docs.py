"""The generated algorithm pages (docs/algorithms/) are current and describe every definition."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from algorithms.loader import load_common, load_definition
from algorithms.registry import Registry
from app.algorithm_docs import (DOCS_DIR, GENERATED, docs_command, render_index, render_page, rules_for,
                                shipped_registry, stale_pages, write_docs)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "algorithms"
MERMAID = re.compile(r"^```mermaid\n(.*?)\n```$", re.S | re.M)
GENERATED_LINE = GENERATED
# The algorithms and their own rules of version-2.md (besides the common rules C1-C5).
ALGORITHMS = {
    "violence-report": [f"V{i}" for i in range(1, 11)],
    "suicide-response": ["S1", "S2", "S3"],
    "social-patronage": ["P1", "P2"],
    "plan-reporting": ["R1", "R2", "R3", "R4"],
}


@pytest.fixture(scope="module")
def shipped() -> Registry:
    return shipped_registry()


def _modified_registry(tmp_path: Path, shipped: Registry, alg_id: str, old: str, new: str,
                       version: int | None = None) -> Registry:
    """The shipped registry with one version of `alg_id` (default: the latest) replaced by a copy of
    its YAML where `old` became `new`."""
    original = shipped.get(alg_id, version) if version else shipped.latest(alg_id)
    text = Path(original.file).read_text(encoding="utf-8")
    assert old in text
    copy = tmp_path / f"defs-{alg_id}-v{original.version}" / Path(original.file).name
    copy.parent.mkdir()
    copy.write_text(text.replace(old, new, 1), encoding="utf-8")
    modified = load_definition(copy, load_common())
    return Registry([modified if d.key == original.key else d for d in shipped])


def _v2_sources(d) -> list[str]:
    """Every `source:` string of the merged definition that names a rule of version-2.md."""
    found: list[str] = []

    def walk(value):
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "source" and isinstance(v, str) and "version-2.md" in v:
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(d.raw)
    return found


def _section(page: str, heading: str) -> str:
    """The text of a `###` section of a page, up to the next heading."""
    start = page.index(heading)
    rest = page[start + len(heading):]
    m = re.search(r"^##", rest, re.M)
    return rest[:m.start()] if m else rest


def test_committed_pages_are_current(shipped):
    assert DOCS_DIR == OUT
    stale = stale_pages(OUT, shipped)
    assert stale == [], f"docs/algorithms is stale ({', '.join(stale)}): run `qorgau docs` and commit the pages"


def test_both_versions_of_every_algorithm_get_a_page(shipped):
    names = sorted(p.name for p in OUT.glob("*.md"))
    index = (OUT / "README.md").read_text(encoding="utf-8")
    for alg_id in ALGORITHMS:
        assert {1, 2} <= {d.version for d in shipped if d.id == alg_id}
        for v in (1, 2):
            assert f"{alg_id}.v{v}.md" in names
            page = (OUT / f"{alg_id}.v{v}.md").read_text(encoding="utf-8")
            assert page.startswith(GENERATED_LINE)
            assert f"(v{v})" in page.splitlines()[2]
            assert f"`algorithms/{alg_id}.v{v}.yaml`" in page
            assert f"[v1]({alg_id}.v1.md)" in page and f"[v2]({alg_id}.v2.md) (latest)" in page
        # <id>.md (the link every older page and README kept) is the latest version's page
        assert (OUT / f"{alg_id}.md").read_text(encoding="utf-8") == (OUT / f"{alg_id}.v2.md").read_text(encoding="utf-8")
        assert f"[v1]({alg_id}.v1.md)" in index and f"]({alg_id}.md)" in index
        assert "## Changes from version" not in (OUT / f"{alg_id}.v1.md").read_text(encoding="utf-8")


def test_changing_a_definition_makes_its_pages_stale(tmp_path, shipped):
    out = tmp_path / "docs"
    written = write_docs(out, shipped)
    expected = ["README.md"] + [f"{i}.md" for i in {d.id for d in shipped}] + [
        f"{d.id}.v{d.version}.md" for d in shipped if len([e for e in shipped if e.id == d.id]) > 1] + [
        f"{d.id}.diff-{d.version - 1}-{d.version}.md" for d in shipped if d.version > 1]
    assert sorted(p.name for p in written) == sorted(expected)
    assert stale_pages(out, shipped) == []

    # the latest version: its page, the latest page, the index (content hash) and what changed from v1
    modified = _modified_registry(tmp_path, shipped, "violence-report",
                                  "deadline: {working_days: 1}", "deadline: {working_days: 2}")
    before = render_page(shipped.get("violence-report"))
    after = render_page(modified.get("violence-report"))
    assert "1 working day;" in before and "2 working days;" in after
    assert stale_pages(out, modified) == ["README.md", "violence-report.diff-1-2.md", "violence-report.md",
                                          "violence-report.v2.md"]
    write_docs(out, modified)
    assert stale_pages(out, modified) == []

    # version 1: its page, version 2's "Changes from version 1" and the diff page, which now differ from it
    write_docs(out, shipped)
    modified = _modified_registry(tmp_path, shipped, "violence-report",
                                  "deadline: {working_days: 1}", "deadline: {working_days: 2}", version=1)
    assert stale_pages(out, modified) == ["violence-report.diff-1-2.md", "violence-report.md",
                                          "violence-report.v1.md", "violence-report.v2.md"]
    v2 = (out / "violence-report.v2.md").read_text(encoding="utf-8")
    assert "task `collect_information` in `reported`" not in v2
    write_docs(out, modified)
    v2 = (out / "violence-report.v2.md").read_text(encoding="utf-8")
    assert "- task `collect_information` in `reported`: changed: `deadline`: 2 working days → 1 working day" in v2


def test_missing_and_extra_pages_are_stale(tmp_path, shipped):
    out = tmp_path / "docs"
    write_docs(out, shipped)
    (out / "violence-report.md").unlink()
    (out / "suicide-response.v1.md").unlink()
    (out / "retired-algorithm.md").write_text("old\n", encoding="utf-8")
    (out / "notes.txt").write_text("not a page\n", encoding="utf-8")
    assert stale_pages(out, shipped) == ["retired-algorithm.md", "suicide-response.v1.md", "violence-report.md"]
    write_docs(out, shipped)
    assert stale_pages(out, shipped) == []
    assert not (out / "retired-algorithm.md").exists() and (out / "notes.txt").exists()


def test_a_further_version_gets_its_page_and_its_differences(tmp_path, shipped):
    original = shipped.get("violence-report", 2)
    text = Path(original.file).read_text(encoding="utf-8")
    v3 = tmp_path / "violence-report.v3.yaml"
    v3.write_text(text.replace("version: 2", "version: 3", 1)
                  .replace("deadline: {working_days: 20}", "deadline: {working_days: 15}", 1), encoding="utf-8")
    registry = Registry(list(shipped) + [load_definition(v3, load_common())])
    out = tmp_path / "docs"
    names = sorted(p.name for p in write_docs(out, registry))
    assert {"violence-report.md", "violence-report.v1.md", "violence-report.v2.md", "violence-report.v3.md"} <= set(names)
    latest = (out / "violence-report.md").read_text(encoding="utf-8")
    assert latest == (out / "violence-report.v3.md").read_text(encoding="utf-8")
    assert "# Violence report (v3)" in latest and "[v2](violence-report.v2.md)" in latest
    assert "## Changes from version 2" in latest and "### C1." not in latest  # the rules are version 2's
    assert ("- task `review_appeal_higher` in `appeal_higher`: changed: `deadline`: 20 working days → "
            "15 working days") in latest
    v2 = (out / "violence-report.v2.md").read_text(encoding="utf-8")
    assert "# Violence report (v2)" in v2 and "## Changes from version 1" in v2
    assert "[v1](violence-report.v1.md), [v2](violence-report.v2.md)" in render_index(registry)


def test_version_2_pages_trace_every_rule_to_its_source(shipped):
    for alg_id, own in ALGORITHMS.items():
        d = shipped.get(alg_id, 2)
        page = (OUT / f"{alg_id}.v2.md").read_text(encoding="utf-8")
        assert page == render_page(d, [1, 2], shipped.get(alg_id, 1))
        changes = page[page.index("## Changes from version 1"):]
        assert "[from version 1](#changes-from-version-1)" in page
        rules = [f"C{i}" for i in range(1, 6)] + own
        assert rules_for(alg_id) == rules
        for rule in rules:
            assert re.search(rf"^### {rule}\. \S", changes, re.M), f"{alg_id}: rule {rule} has no section"
            section = _section(changes, f"### {rule}. ")
            assert "What changed: " in section and "Sources naming" in section
        # every `source:` naming a rule is quoted under each rule it names
        sources = _v2_sources(d)
        assert sources, alg_id
        for src in sources:
            ids = re.findall(r"\b([CVSPR]\d{1,2})\b", re.split(r"[:;(]", src.split("version-2.md", 1)[1])[0])
            assert ids, src
            for rule in ids:
                assert f"«{src}»" in _section(changes, f"### {rule}. "), f"{alg_id}: {src!r} not under {rule}"
        # rules no source names say so instead of passing in silence
        for rule in rules:
            if not any(rule in re.findall(r"\b([CVSPR]\d{1,2})\b", re.split(r"[:;(]", src.split("version-2.md", 1)[1])[0])
                       for src in sources):
                assert f"no `source:` in this definition names {rule}" in _section(changes, f"### {rule}. ")
        assert "### Other differences from version 1" in changes
    # the common file's ladders carry C1
    vr = (OUT / "violence-report.v2.md").read_text(encoding="utf-8")
    assert '- ladder `standard`: changed: ' in _section(vr, "### C1. ")
    assert '«spec README, "Tasks and escalation"; version-2.md C1»' in _section(vr, "### C1. ")


def test_new_language_features_read_in_words(shipped):
    vr1, vr2 = (render_page(shipped.get("violence-report", v)) for v in (1, 2))
    sr2 = render_page(shipped.get("suicide-response", 2))
    pr1, pr2 = (render_page(shipped.get("plan-reporting", v)) for v in (1, 2))
    # decisions
    assert "decision of the `police` bound to the case; a supervisor may not take it" in vr2
    assert "decision of the `recipient` bound to the case; a supervisor may not take it" in pr2
    assert "a supervisor may not take it" not in vr1
    # back to the state it came from
    assert "`consilium_review` → back to the state it came from (`support_plan` or `monitoring`)" in vr2
    assert "`kdn_review` → back to the state it came from (`support_plan` or `follow_up`)" in sr2
    # a timer anchored to events
    assert ("`kdn_referral`: 6 months after the latest `plan_approved` or `kdn_decided` event (the clock does not "
            "start on entering the state, so leaving and re-entering it does not restart it; `continue_monitoring` "
            "restarts it)") in vr2
    assert "`kdn_referral`: after 6 months in the state (`continue_monitoring` restarts it)" in vr1
    # guards on the case's history
    assert "at most 3 months since the latest `bullying_not_recognised` event" in vr2
    assert "no `appeal_filed` event after the latest `bullying_not_recognised`" in vr2
    assert "no `deregistered` event after the latest `plan_approved`" in vr2
    assert "opened only when the case entered its state by `launch`" in vr2
    # fields: required on a condition, a date-time in the past, a registry number, a period in the plan
    assert "`register`: enum, required when `data.outcome ≠ 'no_offence'`, optional otherwise" in vr2
    assert "`registry_number`: registry_number (digits and dashes" in vr2
    assert "required when `data.register is set`, optional otherwise, at most 30 characters" in vr2
    assert "not in the future and at most 12 months before the moment it is entered" in vr2
    assert "a period inside the span of a plan in the plan catalogue" in pr2
    # late reports at launch
    assert ("- Reported late: a case launched more than 24 hours after `detected_at` is recorded as reported late "
            "(case field `reported_late`") in vr2
    assert "Reported late" not in vr1
    # launch routes on data
    assert "1. `emergency_protection` (Emergency protection) when `case.immediate_danger = True` (source: version-2.md V1)" in vr2
    # ladder recipients per step; version 1's when a ladder does not name them
    assert ("4. critical: 18:00 on the 3rd working day after the due date → the case's `akimat`, the assignee's "
            "line ministry") in vr2
    assert ("4. critical: 18:00 on the 3rd working day after the due date → the case's `akimat`, the top of the "
            "assignee's chain<br>(recipients as in version 1: the ladder does not name them)") in vr1
    assert "recipients as in version 1" not in vr2
    # the cross-cutting triggers: common file, left out, amended
    assert "Taken from `algorithms/common-v2.yaml` (which extends `algorithms/common.yaml`)" in pr2
    assert "Taken from `algorithms/common.yaml`," in pr1
    assert "- Left out for this algorithm: `transfer`, `transfer_accepted` (firing one is `unknown_trigger`)." in pr2
    assert ("- Amended for this algorithm: `withdraw`: only `ministry_education` may fire it; it is a decision of "
            "that body, so a supervisor may not take it in its place.") in pr2
    assert "| `transfer` |" not in pr2 and "| `transfer` |" in pr1
    # closing cancels the rest
    assert "when it closes the case, every open task it does not complete is cancelled (not done)" in vr2
    # subordination
    assert "| Escalation line | `directory`, the line of subordination" in vr2
    assert "| Escalation line | `spec_2023`, the parent types version 1 was written for" in vr1
    assert "| `health` | `health_department` → `ministry_health` | the case's `akimat`, `ministry_health` (line ministry) |" in vr2
    assert "| `health` | `ministry_health` | the case's `akimat`, `ministry_health` (top of the chain) |" in vr1
    assert "| `guardianship` | `education_department` → `ministry_education` |" in vr2
    assert "| `guardianship` | `akimat` → `government_office` |" in vr1


def test_every_state_and_trigger_is_on_the_page(shipped):
    for d in shipped:
        page = render_page(d)
        assert f"# {d.spec.title.en} (v{d.version})" in page
        assert d.spec.title.kk in page and d.spec.title.ru in page
        assert f"`{d.content_hash[:12]}`" in page
        for src in d.spec.sources:
            assert f"- {src}" in page
        for name in d.spec.states:
            assert f"| `{name}`" in page, f"{d.id}: state {name} missing"
        for name in d.spec.triggers:
            assert f"| `{name}` |" in page, f"{d.id}: trigger {name} missing"
        for name in d.spec.ladders:
            assert f"| `{name}` |" in page
        assert "## Cross-cutting triggers" in page and "## Line of subordination" in page
        # suggested defaults stay visible
        if "suggested default" in Path(d.file).read_text(encoding="utf-8"):
            assert "**suggested default**" in page


def test_mermaid_block_is_valid_state_diagram(shipped):
    for d in shipped:
        blocks = MERMAID.findall(render_page(d))
        assert len(blocks) == 1
        block = blocks[0]
        m = re.match(r"---\ntitle: (.+)\n---\nstateDiagram-v2\n", block)
        assert m, block[:200]
        assert m.group(1) == f'"{d.spec.title.en} (v{d.version})"'
        assert "s_active" not in block.split("classDef s_active", 1)[1]  # no state drawn as current
        for name, st in d.spec.states.items():
            assert f'state "{st.title.en}" as {name}' in block
        assert not any(line != line.rstrip() for line in block.splitlines())
        # a `return` is drawn to each state the case may have come from, and only there
        for name, edges in d.edges.items():
            for e in edges:
                if e.returns_to and name not in d.common_triggers:
                    assert re.search(rf"^  {e.source} --> {e.dest}: (.* \| )?{name} \(return\)", block, re.M), (d.key, e)
    vr2 = MERMAID.findall(render_page(shipped.get("violence-report", 2)))[0]
    assert "  consilium_review --> support_plan: consilium_done (return)" in vr2.splitlines()
    assert "  consilium_review --> monitoring: consilium_done (return)" in vr2.splitlines()
    assert "consilium_done (return)" not in MERMAID.findall(render_page(shipped.get("violence-report", 1)))[0]
    assert "  consilium_review --> monitoring: consilium_done" in MERMAID.findall(
        render_page(shipped.get("violence-report", 1)))[0].splitlines()


def test_deadline_rules_read_in_words(shipped):
    vr = render_page(shipped.get("violence-report", 1))
    sp = render_page(shipped.get("social-patronage"))
    assert "`police`, 24 hours" in vr
    assert "`school`, 30 days" in vr
    assert "after 6 months in the state" in vr
    assert "`education_department`, 3 working days" in vr
    assert "7 days when `case.category = 'E'`; otherwise 14 days" in sp
    sr1, sr2 = (render_page(shipped.get("suicide-response", v)) for v in (1, 2))
    assert "(`risk_screening`): `school`, end of the same working day; ladder `urgent`" in sr1
    assert "(`risk_screening`): `school`, 24 hours; ladder `urgent`" in sr2
    pr2 = render_page(shipped.get("plan-reporting", 2))
    assert ("`executor`, the last working day before the 10th of the month after the period when "
            "`case.period matches '-H[12]$'`; otherwise 10th of the month after the period") in pr2
    from algorithms.schema import Deadline
    from app.algorithm_docs import deadline_words
    assert deadline_words(Deadline(day_of_next_month=10)) == "10th of the month after the period"
    assert deadline_words(Deadline(hours=1)) == "1 hour"
    assert deadline_words(Deadline(working_day_before_day_of_next_month=10)) == \
        "the last working day before the 10th of the month after the period"


def test_output_is_deterministic_and_ignores_deployment_overrides(tmp_path, monkeypatch, shipped):
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("violence-report: {police_check: {hours: 12}}\n", encoding="utf-8")
    monkeypatch.setenv("QORGAU_DEADLINE_OVERRIDES", str(overrides))
    again = shipped_registry()
    for d in shipped:
        assert render_page(again.get(d.id, d.version)) == render_page(d)
    assert render_index(list(again)) == render_index(list(shipped))


def test_docs_command_check(tmp_path, monkeypatch):
    import typer
    import app.algorithm_docs.command as docs

    cli = typer.Typer()
    cli.command("docs")(docs_command)
    cli.command("noop")(lambda: None)
    monkeypatch.setattr(docs, "DOCS_DIR", tmp_path / "docs")
    runner = CliRunner()
    result = runner.invoke(cli, ["docs", "--check"])
    assert result.exit_code == 1
    assert "qorgau docs" in result.output and "README.md (missing)" in result.output
    result = runner.invoke(cli, ["docs"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(cli, ["docs", "--check"]).exit_code == 0
    assert (tmp_path / "docs" / "README.md").exists()
