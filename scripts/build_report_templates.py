"""Build the Word templates of the plan's reports: app/reports/templates/plan_report.<lang>.docx.

The templates are docxtpl (Jinja) documents: the headings and column names are written in from
app/reports/words.py, the values are Jinja tags that app/reports/word.py fills in. Run it after
changing the words or the layout, and commit the .docx files with it (the build is reproducible:
fixed core properties, no timestamps):

    .venv/bin/python scripts/build_report_templates.py

With --screenshot PATH it also renders the first page of a sample consolidated half-year report (a
fresh SQLite store in a temporary directory, synthetic cases) to a PNG, through LibreOffice and
poppler (Debian: apt-get install libreoffice-writer-nogui poppler-utils):

    .venv/bin/python scripts/build_report_templates.py --screenshot docs/screenshots/plan-report.png

which runs, on the rendered plan-report.docx:

    soffice --headless --convert-to pdf --outdir DIR plan-report.docx
    pdftoppm -png -r 90 -f 1 -l 1 -singlefile plan-report.pdf plan-report
"""
from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

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
    _widths(facts, [6.0, 19.7])

    doc.add_heading(w("measures"), level=1)
    doc.add_paragraph("{%p if r.measures %}")
    _loop_table(doc, [w("col.number"), w("col.measure"), w("col.form"), w("col.deadline"), w("col.status"),
                      w("col.note")], "m in r.measures",
                ["m.number", "m.title", "m.form", "m.deadline", "m.status", "m.note"],
                widths=[2.2, 10.0, 3.6, 3.4, 2.8, 3.7])
    doc.add_paragraph("{%p else %}")
    doc.add_paragraph(w("no_measures"))
    doc.add_paragraph("{%p endif %}")

    doc.add_paragraph("{%p if r.consolidated %}")
    doc.add_heading(w("missing"), level=1)
    doc.add_paragraph("{%p if r.missing %}")
    _loop_table(doc, [w("executor"), w("col.quarter"), w("col.report_state")], "x in r.missing",
                ["x.executor", "x.quarter", "x.state"], widths=[14.0, 5.0, 6.7])
    doc.add_paragraph("{%p else %}")
    doc.add_paragraph(w("none_missing"))
    doc.add_paragraph("{%p endif %}")
    doc.add_paragraph("{%p endif %}")

    doc.add_heading(w("statistics"), level=1)
    columns = ["region", "cases", "tasks", "on_time", "late", "overdue", "share_text", "reports", "reported_late"]
    table = _loop_table(doc, [w("col.region"), w("col.cases"), w("col.tasks"), w("col.on_time"), w("col.late"),
                              w("col.overdue"), w("col.share"), w("col.reports"), w("col.reported_late")],
                        "s in r.regions", [f"s.{c}" for c in columns], widths=[5.0] + [2.59] * 8)
    total = table.add_row().cells
    for cell, column in zip(total, columns):
        cell.paragraphs[0].add_run("{{ r.total.%s }}" % column).bold = True
    _widths(table, [5.0] + [2.59] * 8)
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
    for name, size in (("Normal", 12), ("Title", 16), ("Heading 1", 13)):
        style = doc.styles[name]
        fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
        for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
            fonts.attrib.pop(qn(theme), None)  # a theme font would win over the named one
        style.font.name = "Times New Roman"
        style.font.size = Pt(size)
        style.font.color.rgb = RGBColor(0, 0, 0)
    doc.styles["Title"].font.bold = True


def _loop_table(doc, header: list[str], loop: str, cells: list[str], widths: list[float]):
    """A table: the header, then one row per item of `loop` (docxtpl's `{%tr %}` rows); column widths in cm."""
    table = doc.add_table(rows=1, cols=len(header), style="Table Grid")
    for cell, text in zip(table.rows[0].cells, header):
        cell.paragraphs[0].add_run(text).bold = True
    table.add_row().cells[0].text = "{%tr for " + loop + " %}"
    for cell, tag in zip(table.add_row().cells, cells):
        cell.text = "{{ " + tag + " }}"
    table.add_row().cells[0].text = "{%tr endfor %}"
    _widths(table, widths)
    return table


def _widths(table, widths: list[float]) -> None:
    """Fixed column widths (cm): Word takes them from each cell, LibreOffice from the grid."""
    table.autofit = False
    for column, width in zip(table.columns, widths):
        column.width = Cm(width)
        for cell in column.cells:
            cell.width = Cm(width)


def screenshot(target: Path, lang: str = "ru") -> None:
    """The first page of a sample half-year report (МП, 2025-H1, a few measures, executors missing) as PNG."""
    from app.reports import plan_document
    from states.access import OPERATOR
    from states.store import open_engine

    kz = timezone(timedelta(hours=5))
    t0 = datetime(2025, 7, 1, 9, tzinfo=kz)
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(f"sqlite:///{tmp}/sample.sqlite")
        for quarter in ("2025-Q1", "2025-Q2"):
            ref = engine.launch("plan-reporting", "KZ-71", "system", {"period": quarter, "executor": "ministry_health"},
                                now=t0).ref
            engine.fire(ref, "report_submitted", "ministry_health",
                        {"items": [{"item": "29-1", "status": "done", "note": "реестры ведутся"}]}, now=t0)
            engine.fire(ref, "report_accepted", "ministry_education", {}, now=t0)
        half = engine.launch("plan-reporting", "KZ-71", "ministry_education",
                             {"period": "2025-H1", "executor": "ministry_education"}, now=t0).ref
        engine.fire(half, "report_submitted", "ministry_education", {"items": [
            {"item": "1", "status": "done", "note": "карта рисков размещена в НОБД"},
            {"item": "3", "status": "in_progress", "note": "проект приказа на согласовании"},
            {"item": "5", "status": "not_started", "note": ""}]}, now=t0)
        document = plan_document(engine, OPERATOR, half, "docx", lang)
        engine.db.dispose()
        docx = Path(tmp) / "plan-report.docx"
        docx.write_bytes(document.content)
        subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", tmp, str(docx)], check=True,
                       capture_output=True, timeout=180)
        subprocess.run(["pdftoppm", "-png", "-r", "90", "-f", "1", "-l", "1", "-singlefile",
                        str(Path(tmp) / "plan-report.pdf"), str(Path(tmp) / "plan-report")], check=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(tmp) / "plan-report.png", target)
    print(target)


def save(doc, path: Path) -> None:
    """Save with every zip entry dated FIXED: the same words and layout give the same bytes."""
    raw = io.BytesIO()
    doc.save(raw)
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, source.read(info.filename))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--screenshot", type=Path, help="also render a sample report's first page to this PNG")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for lang in LANGUAGES:
        path = OUT / f"plan_report.{lang}.docx"
        save(build(lang), path)
        print(path.relative_to(ROOT))
    if args.screenshot:
        screenshot(args.screenshot)


if __name__ == "__main__":
    main()
