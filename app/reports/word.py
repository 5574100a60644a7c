"""A plan report as a Word document: app/reports/templates/plan_report.<lang>.docx (built by
scripts/build_report_templates.py) filled in with docxtpl."""
from __future__ import annotations

import io
from pathlib import Path

from docxtpl import DocxTemplate

from .content import PlanReport

TEMPLATES = Path(__file__).resolve().parent / "templates"


def to_docx(report: PlanReport) -> bytes:
    """The report's .docx bytes, in the report's language."""
    template = DocxTemplate(TEMPLATES / f"plan_report.{report.lang}.docx")
    template.render({"r": report}, autoescape=True)
    out = io.BytesIO()
    template.save(out)
    return out.getvalue()
