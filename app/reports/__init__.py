"""The decree's reports as documents the ministries file (issue 20): an executor's quarterly report and
МП's consolidated half-year report of a plan-reporting case, as Word (docxtpl) and Excel (openpyxl), in
Russian or Kazakh; and the compliance report as Excel.

One way to a plan report for the API, the pages and the command line:

    document = plan_document(engine, principal, "PR-71-000001", "docx", "kk")   # reads the store
    document.content, document.filename, document.media_type

`content.py` gathers what a report says, `word.py` and `excel.py` render it; the Word templates are
built by scripts/build_report_templates.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from states.access import Principal
from states.clock import utcnow
from states.errors import RuleViolation

from .content import PlanReport, check_lang, plan_report
from .excel import compliance_xlsx, plan_xlsx
from .word import to_docx

FORMATS = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}

__all__ = ["FORMATS", "Document", "PlanReport", "check_lang", "compliance_xlsx", "plan_document", "plan_report"]


@dataclass(frozen=True)
class Document:
    content: bytes
    filename: str
    media_type: str


def plan_document(engine, principal: Principal, ref: str, fmt: str, lang: str,
                  now: datetime | None = None) -> Document:
    """The report of plan-reporting case `ref` as a `fmt` (docx or xlsx) file in `lang` (ru or kk),
    figures as of `now` (default: now). Reads the store: call it where the store's reads run.
    RuleViolation: `unknown_case`, `forbidden`, `invalid_data` naming `format`, `lang` or the case."""
    if fmt not in FORMATS:
        raise RuleViolation("invalid_data", f"field 'format': {fmt!r} is not one of {', '.join(FORMATS)}",
                            field="format")
    report = plan_report(engine, principal, ref, lang, now or utcnow())
    content = to_docx(report) if fmt == "docx" else plan_xlsx(report)
    return Document(content, f"{report.ref}-{report.period_code}-{lang}.{fmt}", FORMATS[fmt])
