"""The generated algorithm pages (docs/algorithms/) are current and describe every definition."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from algorithms.loader import load_common, load_definition
from algorithms.registry import Registry
from app.algorithm_docs import (DOCS_DIR, docs_command, render_index, render_page, shipped_registry,
                                stale_pages, write_docs)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "algorithms"
MERMAID = re.compile(r"^```mermaid\n(.*?)\n```$", re.S | re.M)


@pytest.fixture(scope="module")
def shipped() -> Registry:
    return shipped_registry()


def _modified_registry(tmp_path: Path, shipped: Registry, alg_id: str, old: str, new: str) -> Registry:
    """The shipped registry with `alg_id` replaced by a copy of its YAML where `old` became `new`."""
    original = shipped.latest(alg_id)
    text = Path(original.file).read_text(encoding="utf-8")
    assert old in text
    copy = tmp_path / "defs" / Path(original.file).name
    copy.parent.mkdir()
    copy.write_text(text.replace(old, new, 1), encoding="utf-8")
    modified = load_definition(copy, load_common())
    return Registry([modified if d.key == original.key else d for d in shipped])


def test_committed_pages_are_current(shipped):
    assert DOCS_DIR == OUT
    stale = stale_pages(OUT, shipped)
    assert stale == [], f"docs/algorithms is stale ({', '.join(stale)}): run `qorgau docs` and commit the pages"


def test_changing_a_definition_makes_its_page_stale(tmp_path, shipped):
    out = tmp_path / "docs"
    written = write_docs(out, shipped)
    assert sorted(p.name for p in written) == sorted(
        ["README.md"] + [f"{d.id}.md" for d in shipped if d.version == shipped.latest(d.id).version])
    assert stale_pages(out, shipped) == []

    modified = _modified_registry(tmp_path, shipped, "violence-report",
                                  "deadline: {working_days: 1}", "deadline: {working_days: 2}")
    before = render_page(shipped.get("violence-report"))
    after = render_page(modified.get("violence-report"))
    assert "1 working day;" in before and "2 working days;" in after
    # the page and the index (content hash) change; the other algorithms' pages do not
    assert stale_pages(out, modified) == ["README.md", "violence-report.md"]

    write_docs(out, modified)
    assert stale_pages(out, modified) == []


def test_missing_and_extra_pages_are_stale(tmp_path, shipped):
    out = tmp_path / "docs"
    write_docs(out, shipped)
    (out / "violence-report.md").unlink()
    (out / "retired-algorithm.md").write_text("old\n", encoding="utf-8")
    (out / "notes.txt").write_text("not a page\n", encoding="utf-8")
    assert stale_pages(out, shipped) == ["retired-algorithm.md", "violence-report.md"]
    write_docs(out, shipped)
    assert stale_pages(out, shipped) == []
    assert not (out / "retired-algorithm.md").exists() and (out / "notes.txt").exists()


def test_several_versions_get_one_page_each_plus_the_latest(tmp_path, shipped):
    original = shipped.latest("violence-report")
    text = Path(original.file).read_text(encoding="utf-8")
    v2 = tmp_path / "violence-report.v2.yaml"
    v2.write_text(text.replace("version: 1", "version: 2", 1), encoding="utf-8")
    registry = Registry(list(shipped) + [load_definition(v2, load_common())])
    out = tmp_path / "docs"
    names = sorted(p.name for p in write_docs(out, registry))
    assert {"violence-report.md", "violence-report.v1.md", "violence-report.v2.md"} <= set(names)
    assert "social-patronage.v1.md" not in names
    latest = (out / "violence-report.md").read_text(encoding="utf-8")
    assert latest == (out / "violence-report.v2.md").read_text(encoding="utf-8")
    assert "# Violence report (v2)" in latest and "[v1](violence-report.v1.md)" in latest
    assert "# Violence report (v1)" in (out / "violence-report.v1.md").read_text(encoding="utf-8")
    assert "[v1](violence-report.v1.md)" in render_index(registry)


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
        assert "## Cross-cutting triggers" in page
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


def test_deadline_rules_read_in_words(shipped):
    vr = render_page(shipped.get("violence-report"))
    sp = render_page(shipped.get("social-patronage"))
    assert "`police`, 24 hours" in vr
    assert "`school`, 30 days" in vr
    assert "after 6 months in the state" in vr
    assert "`education_department`, 3 working days" in vr
    assert "7 days when `case.category = 'E'`; otherwise 14 days" in sp
    from algorithms.schema import Deadline
    from app.algorithm_docs import deadline_words
    assert deadline_words(Deadline(day_of_next_month=10)) == "10th of the month after the period"
    assert deadline_words(Deadline(hours=1)) == "1 hour"


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
    import app.algorithm_docs as docs

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
