"""The compliance report (`states.compliance`) as plain text for a terminal: the task table with its
totals and legend, the algorithm versions behind it, the late reports per region and body; and apart,
who did the tasks done (per person)."""
from __future__ import annotations

from collections.abc import Sequence

from states.compliance import (ALL_BODIES, LEVEL_NAMES, ComplianceRow, ComplianceSummary, LateReportRow, VersionRow,
                               region_totals)
from states.compliance_persons import PersonRow


TABLE_HEADERS = ("body", "type", "task", "version", "opened", "on time", "late", "on time %", "median late h",
                 "worst late h", "overdue now", "cancelled", "cancelled past due", "L1", "L2", "L3")
LEGEND = ("on time % = on time / (on time + late + overdue now); late h = hours from due to done, over tasks done late.\n"
          "cancelled = stopped when the case closed (version 2: closing cancels the other bodies' open tasks):\n"
          "  counted apart, neither done nor on time; cancelled past due = of them, already past due when cancelled.\n"
          "version = the version of the algorithm the tasks' cases ran; a body's tasks under each version are\n"
          "  separate rows (in version 1 closing a case marked the other bodies' open tasks done, so they could\n"
          "  count as on time).\n"
          "L1, L2, L3 = escalation steps taken on these tasks: overdue, escalation to the parent body, critical.")
LATE_LEGEND = ("reported late = launched more than 24 hours after the harm was detected (detected_at; violence-report\n"
               "  version 2, duty to report); per the case's region and the body that launched it. Version-1 cases\n"
               "  record no detection time and are not counted.")


def _hours(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def _rate(on_time: int, late: int, overdue: int) -> str:
    judged = on_time + late + overdue
    return f"{100 * on_time / judged:.0f}%" if judged else "-"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _aligned(headers: list[str], body: list[list[str]], totals: list[list[str]], text_columns: int) -> list[str]:
    widths = [max(len(line[i]) for line in [headers, *body, *totals]) for i in range(len(headers))]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) if i < text_columns else v.rjust(w)
                         for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return [line(headers), rule, *(line(c) for c in body), rule, *(line(t) for t in totals)]


def to_table(rows: Sequence[ComplianceRow]) -> str:
    """An aligned plain-text table with a totals line and a legend (the body column is left out when
    rows are aggregated by body type)."""
    rows = list(rows)
    if not rows:
        return "No tasks opened in the window."
    by_type = all(r.body_id == ALL_BODIES for r in rows)

    def cells(r: ComplianceRow) -> list[str]:
        return [r.body_id, r.body_type, r.task_kind, f"v{r.algorithm_version}", str(r.opened), str(r.done_on_time),
                str(r.done_late), _rate(r.done_on_time, r.done_late, r.still_overdue),
                _hours(r.median_delay_h) or "-", _hours(r.worst_delay_h) or "-", str(r.still_overdue),
                str(r.cancelled), str(r.cancelled_past_due),
                *(str(r.escalations.get(level, 0)) for level in LEVEL_NAMES)]

    worst = [r.worst_delay_h for r in rows if r.worst_delay_h is not None]
    total = [sum(getattr(r, f) for r in rows) for f in ("opened", "done_on_time", "done_late", "still_overdue",
                                                          "cancelled", "cancelled_past_due")]
    versions = "+".join(f"v{v}" for v in sorted({r.algorithm_version for r in rows}))
    totals = ["total", "", f"{len(rows)} rows", versions, str(total[0]), str(total[1]), str(total[2]),
              _rate(total[1], total[2], total[3]), "-", _hours(max(worst)) if worst else "-",
              str(total[3]), str(total[4]), str(total[5]),
              *(str(sum(r.escalations.get(level, 0) for r in rows)) for level in LEVEL_NAMES)]
    body = [cells(r) for r in rows]
    headers = list(TABLE_HEADERS)
    if by_type:
        headers, body, totals = headers[1:], [c[1:] for c in body], ["total", f"{len(rows)} rows", *totals[3:]]
    text_columns = 3 if by_type else 4
    return "\n".join([*_aligned(headers, body, [totals], text_columns), "", LEGEND])


def versions_text(versions: Sequence[VersionRow]) -> str:
    """One line per algorithm version: the cases behind the task rows and their tasks."""
    if not versions:
        return "Cases by algorithm version: none."
    lines = ["Cases by algorithm version (the version each case ran):"]
    lines += [f"  {v.algorithm} version {v.algorithm_version}: {v.cases} case{'s' if v.cases != 1 else ''}, "
              f"{v.tasks} task{'s' if v.tasks != 1 else ''}" for v in versions]
    if len({v.algorithm_version for v in versions}) > 1:
        lines.append("  The window spans versions: each body's tasks are split by version (column 'version').")
    return "\n".join(lines)


def late_table(rows: Sequence[LateReportRow]) -> str:
    """Late reports per region and reporting body, a total line per region, and a legend."""
    rows = list(rows)
    if not rows:
        return "Reported late: no violence report of version 2 launched in the window.\n\n" + LATE_LEGEND
    by_type = all(r.body_id == ALL_BODIES for r in rows)
    headers = ["region", "reporting body", "type", "launched", "reported late", "late %"]
    body: list[list[str]] = []
    totals = {t.region: t for t in region_totals(rows)}
    for region in sorted(totals):
        mine = [r for r in rows if r.region == region]
        body += [[r.region, r.body_id, r.body_type, str(r.launched), str(r.reported_late),
                  _percent(r.reported_late, r.launched)] for r in mine]
        if len(mine) > 1:
            t = totals[region]
            body.append([region, "(all bodies)", "(all)" if by_type else "", str(t.launched), str(t.reported_late),
                         _percent(t.reported_late, t.launched)])
    n, late = sum(r.launched for r in rows), sum(r.reported_late for r in rows)
    total = ["total", f"{len(totals)} regions", "", str(n), str(late), _percent(late, n)]
    if by_type:
        headers, body, total = [h for i, h in enumerate(headers) if i != 1], [c[:1] + c[2:] for c in body], \
            [total[0], total[1], *total[3:]]
    text_columns = 2 if by_type else 3
    return "\n".join(["Reported late (duty to report), per region and reporting body:", "",
                      *_aligned(headers, body, [total], text_columns), "", LATE_LEGEND])


NO_PERSON = "(no person)"
PERSONS_LEGEND = ("by person = the tasks done of the task table, per body, the body that acted and the person who\n"
                  "  closed each task (the history's closing event). (no person) = a service token, the local\n"
                  "  operator or the system closed it; acted for = another body than the task's (a supervisor, or in\n"
                  "  version 1 the closing of the case). An erased person shows as their pseudonym.")


def persons_table(rows: Sequence[PersonRow]) -> str:
    """Who did the tasks done: one line per body, acting body and person, a total line per body with
    more than one, and a legend."""
    rows = list(rows)
    if not rows:
        return "By person: no task of the window done yet.\n\n" + PERSONS_LEGEND
    headers = ["body", "acted for", "person", "done", "on time", "late", "on time %"]
    body: list[list[str]] = []
    for body_id in sorted({r.body_id for r in rows}):
        mine = [r for r in rows if r.body_id == body_id]
        body += [[r.body_id, "" if r.acted_for == r.body_id else (r.acted_for or "?"), r.person or NO_PERSON,
                  str(r.done), str(r.done_on_time), str(r.done_late), _percent(r.done_on_time, r.done)]
                 for r in mine]
        if len(mine) > 1:
            done, on_time = sum(r.done for r in mine), sum(r.done_on_time for r in mine)
            body.append([body_id, "", "(all)", str(done), str(on_time), str(done - on_time), _percent(on_time, done)])
    done, on_time = sum(r.done for r in rows), sum(r.done_on_time for r in rows)
    people = len({r.person_id for r in rows if r.person_id})
    total = ["total", "", f"{people} person{'s' if people != 1 else ''}", str(done), str(on_time),
             str(done - on_time), _percent(on_time, done)]
    return "\n".join(["Tasks done, by person:", "", *_aligned(headers, body, [total], 3), "", PERSONS_LEGEND])


def summary_text(summary: ComplianceSummary) -> str:
    """The report for a terminal: the task table, the versions behind it, the late reports (the tasks
    done by person are their own table, `persons_table`: one line per person is long)."""
    return "\n\n".join([to_table(summary.rows), versions_text(summary.versions), late_table(summary.late)])
