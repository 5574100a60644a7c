"""Build the Word templates of the plan's reports: app/reports/templates/plan_report.<lang>.docx.

The templates are docxtpl (Jinja) documents: the headings and column names are written in from
app/reports/words.py, the values are Jinja tags that app/reports/word.py fills in. Run it after
changing the words or the layout, and commit the .docx files with it (the build is reproducible:
fixed core properties, no timestamps):

    .venv/bin/python scripts/build_report_templates.py
"""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.reports.words import LANGUAGES, word  # noqa: E402

OUT = ROOT / "app" / "reports" / "templates"
FIXED = datetime(2026, 1, 1)


def build(lang: str) -> Document:
    w = lambda key: word(key, lang)  # noqa: E731
    doc = Document()
    _page(doc)
    title = doc.add_paragraph(style="Title")
    title.add_run("{{ r.title }}")
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    plan = doc.add_paragraph()
    plan.alignment = WD_ALIGN_PARAGRAPH.CENTER
    plan.add_run("{{ r.plan_title }}").bold = True
    plan.add_run(" ({{ r.plan_approved }})")

    facts = doc.add_table(rows=0, cols=2, style="Table Grid")
    for key, tag in (("executor", "r.executor"), ("recipient", "r.recipient"), ("period", "r.period"),
                     ("case", "r.ref"), ("state", "r.state"), ("submitted", "r.submitted"),
                     ("generated", "r.generated")):
        cells = facts.add_row().cells
        cells[0].text = w(key)
        cells[1].text = "{{ " + tag + " }}"

    doc.add_heading(w("measures"), level=1)
    doc.add_paragraph("{%p if r.measures %}")
    _loop_table(doc, [w("col.number"), w("col.measure"), w("col.form"), w("col.deadline"), w("col.status"),
                      w("col.note")], "m in r.measures",
                ["m.number", "m.title", "m.form", "m.deadline", "m.status", "m.note"])
    doc.add_paragraph("{%p else %}")
    doc.add_paragraph(w("no_measures"))
    doc.add_paragraph("{%p endif %}")

    doc.add_paragraph("{%p if r.consolidated %}")
    doc.add_heading(w("missing"), level=1)
    doc.add_paragraph("{%p if r.missing %}")
    _loop_table(doc, [w("executor"), w("col.quarter"), w("col.report_state")], "x in r.missing",
                ["x.executor", "x.quarter", "x.state"])
    doc.add_paragraph("{%p else %}")
    doc.add_paragraph(w("none_missing"))
    doc.add_paragraph("{%p endif %}")
    doc.add_paragraph("{%p endif %}")

    doc.add_heading(w("statistics"), level=1)
    columns = ["region", "cases", "tasks", "on_time", "late", "overdue", "share_text", "reports", "reported_late"]
    table = _loop_table(doc, [w("col.region"), w("col.cases"), w("col.tasks"), w("col.on_time"), w("col.late"),
                              w("col.overdue"), w("col.share"), w("col.reports"), w("col.reported_late")],
                        "s in r.regions", [f"s.{c}" for c in columns])
    total = table.add_row().cells
    for cell, column in zip(total, columns):
        cell.paragraphs[0].add_run("{{ r.total.%s }}" % column).bold = True
    legend = doc.add_paragraph(w("statistics_legend"))
    legend.runs[0].font.size = Pt(9)

    props = doc.core_properties
    props.author = props.last_modified_by = "Qorgau"
    props.title = w("title.quarterly")
    props.created = props.modified = FIXED
    props.revision = 1
    return doc


def _page(doc) -> None:
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2.0))
    normal = doc.styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(12)


def _loop_table(doc, header: list[str], loop: str, cells: list[str]):
    """A table: the header, then one row per item of `loop` (docxtpl's `{%tr %}` rows)."""
    table = doc.add_table(rows=1, cols=len(header), style="Table Grid")
    for cell, text in zip(table.rows[0].cells, header):
        cell.paragraphs[0].add_run(text).bold = True
    table.add_row().cells[0].text = "{%tr for " + loop + " %}"
    for cell, tag in zip(table.add_row().cells, cells):
        cell.text = "{{ " + tag + " }}"
    table.add_row().cells[0].text = "{%tr endfor %}"
    return table


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for lang in LANGUAGES:
        path = OUT / f"plan_report.{lang}.docx"
        build(lang).save(path)
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
