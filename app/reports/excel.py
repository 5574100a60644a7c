"""Reports as Excel workbooks (openpyxl): a plan report (sheets: the measures, the statistics per
region, and for a consolidated report the missing executors) and the compliance report (one sheet
per table of its CSV export, the same rows)."""
from __future__ import annotations

import csv
import io
from datetime import datetime

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from states.compliance import PARTS, export

from .content import PlanReport
from .words import word

_BOLD = Font(bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")
_FIXED = datetime(2026, 1, 1)  # the workbook's own dates: the same report gives the same bytes


def plan_xlsx(report: PlanReport) -> bytes:
    """The report's .xlsx bytes, in the report's language."""
    w = lambda key: word(key, report.lang)  # noqa: E731
    book = Workbook()
    sheet = book.active
    sheet.title = w("sheet.measures")
    for line in ([report.title], [report.plan_title, report.plan_approved], [w("executor"), report.executor],
                 [w("recipient"), report.recipient], [w("period"), report.period], [w("case"), report.ref],
                 [w("state"), report.state], [w("submitted"), report.submitted], [w("generated"), report.generated],
                 []):
        sheet.append(line)
    sheet["A1"].font = Font(bold=True, size=14)
    _table(sheet, [w("col.number"), w("col.measure"), w("col.form"), w("col.deadline"), w("col.status"),
                   w("col.note")],
           [[m.number, m.title, m.form, m.deadline, m.status, m.note] for m in report.measures]
           or [[w("no_measures")]], widths=[10, 70, 22, 22, 18, 50])

    stats = book.create_sheet(w("sheet.statistics"))
    stats.append([w("statistics"), report.period])
    stats.append([])
    rows = [[r.region, r.cases, r.tasks, r.on_time, r.late, r.overdue, r.share, r.reports, r.reported_late]
            for r in (*report.regions, report.total)]
    _table(stats, [w("col.region"), w("col.cases"), w("col.tasks"), w("col.on_time"), w("col.late"),
                   w("col.overdue"), w("col.share"), w("col.reports"), w("col.reported_late")], rows,
           widths=[32, 14, 12, 14, 16, 14, 16, 16, 16])
    for cell in stats[stats.max_row]:
        cell.font = _BOLD
    stats.append([])
    stats.append([w("statistics_legend")])

    if report.consolidated:
        missing = book.create_sheet(w("sheet.missing"))
        missing.append([w("missing"), report.period])
        missing.append([])
        _table(missing, [w("executor"), w("col.quarter"), w("col.report_state")],
               [[m.executor, m.quarter, m.state] for m in report.missing] or [[w("none_missing")]],
               widths=[70, 24, 28])
    return _save(book)


def compliance_xlsx(summary, parts: tuple[str, ...] = PARTS) -> bytes:
    """The compliance report as a workbook: one sheet per table of the CSV export (`tasks`,
    `reported_late`, `versions`, ...; every one unless `parts` names some), with the CSV's header and
    rows, numbers as numbers."""
    book = Workbook()
    book.remove(book.active)
    for part in parts:
        sheet = book.create_sheet(part)
        lines = list(csv.reader(io.StringIO(export(summary, part, "csv"))))
        _table(sheet, lines[0], [[_number(v) for v in line] for line in lines[1:]])
    return _save(book)


def _table(sheet, header: list[str], rows: list[list], widths: list[int] | None = None) -> None:
    sheet.append(header)
    for cell in sheet[sheet.max_row]:
        cell.font = _BOLD
        cell.alignment = _WRAP
    for row in rows:
        sheet.append(row)
        for cell in sheet[sheet.max_row]:
            cell.alignment = _WRAP
    for i, width in enumerate(widths or [], start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width


def _number(value: str):
    """A CSV value as Excel should hold it: an integer or a decimal as a number, anything else as text
    (an empty value stays an empty cell)."""
    if value == "":
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _save(book: Workbook) -> bytes:
    book.properties.creator = "Qorgau"
    book.properties.created = book.properties.modified = _FIXED
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
