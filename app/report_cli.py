"""`qorgau report`: reports over the case store.

    qorgau report compliance --region KZ-75 --from 2026-04-01 --to 2026-07-01
    qorgau report compliance --from 2026-04-01 --to 2026-07-01 --by body_type --format csv --output q2.csv
    qorgau report compliance --from 2026-04-01 --to 2026-07-01 --part reported_late --format csv
    qorgau report compliance --region KZ-75 --from 2026-04-01 --to 2026-07-01 --part persons

The root CLI registers this sub-app with `app.add_typer(report_app, name="report")`.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from states.calendar import KZ_TZ
from states.clock import utcnow
from states.compliance import compliance_summary, export
from states.directory import Directory
from states.store import open_engine

from app.compliance_text import persons_table, summary_text

report_app = typer.Typer(
    help="Reports over the case store: e.g. `qorgau report compliance --region KZ-75 "
         "--from 2026-04-01 --to 2026-07-01` (reaction times of each body).",
    no_args_is_help=True,
)


class By(str, Enum):
    body = "body"
    body_type = "body_type"


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class Part(str, Enum):
    tasks = "tasks"
    reported_late = "reported_late"
    versions = "versions"
    persons = "persons"


def kazakhstan_midnight(value: str, option: str) -> datetime:
    """00:00 Kazakhstan time of the date `value` (YYYY-MM-DD), as a UTC instant."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-04-01",
                                 param_hint=option) from None
    return datetime.combine(day, time(0), KZ_TZ).astimezone(timezone.utc)


@report_app.command()
def compliance(
    date_from: Annotated[str, typer.Option(
        "--from", help="First day of the window (Kazakhstan date, YYYY-MM-DD), included.")],
    date_to: Annotated[str, typer.Option(
        "--to", help="Day after the window (Kazakhstan date, YYYY-MM-DD), excluded.")],
    region: Annotated[Optional[str], typer.Option(
        "--region", "-r", help="Region by ISO 3166-2:KZ code, e.g. KZ-75 (default: every region).")] = None,
    by: Annotated[By, typer.Option("--by", help="One row per body, or per body type (all bodies of a type).")]
        = By.body,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table for a terminal, csv or json.")]
        = Format.table,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Write the report to this file instead of the terminal.")] = None,
    part: Annotated[Part, typer.Option(
        "--part", help="Which table: the tasks per body, kind and version; the late reports per region "
                       "and reporting body; the cases per algorithm version; or the tasks done per person "
                       "(who closed them). With csv or json one table; the terminal table shows the tasks, "
                       "versions and late reports, or with --part persons the tasks done by person.")]
        = Part.tasks,
) -> None:
    """How each body met its deadlines: tasks opened in a window, as of now.

    Per body (or body type), task kind and algorithm version: the tasks opened
    in [--from, --to); how many were done on time, done late (median and worst
    delay in hours), are still overdue or were cancelled (counted apart: a
    cancelled task is neither done nor on time); how many escalation steps were
    taken on them (L1 overdue, L2 escalation to the parent body, L3 critical).
    A window that spans versions 1 and 2 gives each body's tasks of each version
    as their own row, and says how many cases ran each version.

    Reported late (violence-report version 2, duty to report): per region and
    reporting body, the reports launched in the window and how many of them
    came more than 24 hours after the harm was detected.

    By person (--part persons): the tasks done of the task table, per body, the
    body that acted and the person who closed each (the history names them;
    the name from the persons table, the pseudonym once erased). Without a
    person: a service token, the local operator or the system closed it.

    Dates are Kazakhstan dates: the window runs from --from 00:00 to --to 00:00
    Kazakhstan time. A case counts in the region it is in now.

    Examples (second quarter of 2026; add -f csv -o q2.csv for a spreadsheet):

        qorgau report compliance --region KZ-75 --from 2026-04-01 --to 2026-07-01

        qorgau report compliance --from 2026-04-01 --to 2026-07-01 --by body_type

        qorgau report compliance --from 2026-04-01 --to 2026-07-01 --part reported_late -f csv

        qorgau report compliance --region KZ-75 --from 2026-04-01 --to 2026-07-01 --part persons
    """
    start = kazakhstan_midnight(date_from, "--from")
    end = kazakhstan_midnight(date_to, "--to")
    if end <= start:
        raise typer.BadParameter(f"{date_to} is not after --from {date_from}; the window would be empty",
                                 param_hint="--to")
    directory = Directory.load()
    if region is not None:
        code = region.strip().upper()
        if code not in directory.regions:
            known = ", ".join(sorted(directory.regions))
            raise typer.BadParameter(f"unknown region {region!r}; use an ISO 3166-2:KZ code: {known}",
                                     param_hint="--region")
        region = code

    engine = open_engine(directory=directory)
    now = utcnow()
    try:
        with engine.reader() as conn:
            summary = compliance_summary(conn, engine.svc.directory, region=region, start=start, end=end, now=now,
                                         by=by.value)
    finally:
        engine.db.dispose()

    rows = {Part.tasks: summary.rows, Part.reported_late: summary.late, Part.versions: summary.versions,
            Part.persons: summary.persons}[part]
    if fmt is Format.csv:
        text = export(summary, part.value, "csv")
    elif fmt is Format.json:
        text = export(summary, part.value, "json") + "\n"
    else:
        where = region or "all regions"
        rows = summary.persons if part is Part.persons else summary.rows
        body = persons_table(summary.persons) if part is Part.persons else summary_text(summary)
        text = (f"Compliance, {where}: tasks opened {date_from} to {date_to} (excluded), Kazakhstan time; "
                f"as of {now.astimezone(KZ_TZ):%Y-%m-%d %H:%M}\n\n{body}\n")
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {len(rows)} rows to {output}", err=True)


class DocumentFormat(str, Enum):
    docx = "docx"
    xlsx = "xlsx"


class Language(str, Enum):
    ru = "ru"
    kk = "kk"


@report_app.command("plan")
def plan(
    ref: Annotated[str, typer.Argument(help="A plan-reporting case, e.g. PR-71-000001.")],
    fmt: Annotated[DocumentFormat, typer.Option("--format", "-f", help="docx (Word) or xlsx (Excel).")]
        = DocumentFormat.docx,
    lang: Annotated[Language, typer.Option("--lang", help="The document's language: ru or kk.")] = Language.ru,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Write the document to this file (default: REF-PERIOD-LANG.FORMAT here).")] = None,
) -> None:
    """A plan-reporting case's report as the document a ministry files: the executor's quarterly
    report, or МП's consolidated half-year report with the executors still missing; the plan's
    title, the measures reported with status and note, the period's case statistics per region.
    Reads the local store as the operator.

    Examples:

        qorgau report plan PR-71-000001 --format docx --lang kk

        qorgau report plan PR-71-000002 --format xlsx --lang ru --out 2025-H1.xlsx
    """
    # Imported here: docxtpl and openpyxl load in ~0.3 s, which every other `qorgau` command would pay.
    from app.case_backends import run
    from app.reports import plan_document
    from states.access import OPERATOR

    engine = open_engine()
    try:
        document = run(lambda: plan_document(engine, OPERATOR, ref, fmt.value, lang.value))
    finally:
        engine.db.dispose()
    path = out or Path(document.filename)
    path.write_bytes(document.content)
    typer.echo(f"wrote {path}", err=True)
