"""The compliance report: how fast each body reacted to the tasks it was given.

This is the evidence for the plan's expected results (reaction times of each agency): per body (or
per body type) and task kind, how many tasks opened in a window were done on time, done late (and by
how many hours), are still overdue, were cancelled, and how far up the escalation ladder they went.

Decisions:
- **Window.** A task belongs to the report if it *opened* in ``[start, end)``; what happened to it
  afterwards (even after ``end``) is counted, up to ``now``.
- **As of ``now``.** Every figure is a snapshot at ``now``: a task closed after ``now`` counts as still
  open, a ladder step taken after ``now`` is not counted, a task opened after ``now`` does not exist
  yet. With ``now`` = the present this is simply the store's current content; with a past ``now`` the
  report is reproducible (it says what an auditor would have seen then).
- **Region.** A task is in region R if its case's ``cases.region`` is R. Simplification: that is the
  case's region *now*. A case transferred from R to another region leaves R's report entirely (its
  tasks, which moved to the new region's bodies, are reported there, with their earlier history);
  the store keeps no per-task region history, and the transfer is rare enough not to warrant one.
  ``ensure_completion`` tasks of republic bodies (e.g. ``ministry_interior``) appear under the region
  of the case they serve.
- **Escalation levels** are counted from the case **history**: system events with trigger
  ``overdue`` (level 1), ``escalation`` (2) or ``critical`` (3), whose data names the task
  (``{"task": key, ...}``). Not from the ``steps`` queue, because the history is the record an
  auditor can verify (hash chain, replay), it holds exactly one event per step that took effect (the
  sweep marks a step ``done`` even when it found its task already closed and did nothing), and it
  survives any pruning of the operational queue. The join on ``data->>'task'`` is portable SQL
  (SQLAlchemy's JSON path: ``JSON_EXTRACT`` on SQLite, ``->>`` on PostgreSQL) and stays on the
  ``(case_id, seq)`` index. An escalation is attributed to the task's *current* body (a transfer
  moves a task and its earlier escalations to the new body).
- ``ensure_completion`` tasks are reported as their own kind, under the supervising body: they show
  how supervisors react once a task is escalated to them.
- Counts are aggregated in SQL (GROUP BY with CASE sums); delays of late tasks are fetched row by
  row and reduced in Python (a median is not portable SQL, and late tasks are few).
- Delays are hours between ``due`` and ``closed_at``, rounded to 2 decimals.
"""
from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import Connection, and_, case, func, select

from . import tables as T
from .clock import as_utc

LEVELS: dict[str, int] = {"overdue": 1, "escalation": 2, "critical": 3}
LEVEL_NAMES: dict[int, str] = {v: k for k, v in LEVELS.items()}
GROUPINGS = ("body", "body_type")
ALL_BODIES = "*"
UNKNOWN_TYPE = "unknown"


@dataclass(frozen=True)
class ComplianceRow:
    body_id: str
    body_type: str
    task_kind: str
    opened: int                    # tasks of this body and kind opened in the window [start, end)
    done_on_time: int              # done with closed_at <= due
    done_late: int                 # done after due
    median_delay_h: float | None   # over tasks done late: hours between due and done (None if none)
    worst_delay_h: float | None
    still_overdue: int             # open (as of `now`) and due < now
    cancelled: int
    escalations: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0, 3: 0})
    # ladder level -> count of steps taken on these tasks: 1 overdue, 2 escalation, 3 critical

    @property
    def open_now(self) -> int:
        """Tasks still open as of `now` (overdue or not yet due)."""
        return self.opened - self.done_on_time - self.done_late - self.cancelled

    @property
    def on_time_rate(self) -> float | None:
        """Share done on time among the tasks whose outcome is known: done, or past due and still open."""
        judged = self.done_on_time + self.done_late + self.still_overdue
        return self.done_on_time / judged if judged else None


# ---------------------------------------------------------------------------------------------- query

def compliance_report(conn: Connection, directory, *, region: str | None, start: datetime, end: datetime,
                      now: datetime, by: str = "body") -> list[ComplianceRow]:
    """Rows per (body, task kind) for tasks opened in ``[start, end)``, figures as of ``now``.

    ``by="body_type"`` aggregates per (body type, task kind) with ``body_id`` ``"*"``; ``region`` keeps
    the cases whose region is that ISO code (None: every region). Sorted by body (or type), then kind.
    """
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    start, end, now = as_utc(start), as_utc(end), as_utc(now)
    if end <= start:
        raise ValueError(f"the window is empty: end {end.isoformat()} is not after start {start.isoformat()}")

    t = T.tasks
    closed = and_(t.c.closed_at.is_not(None), t.c.closed_at <= now)
    done = and_(t.c.status == "done", closed)

    def where(q):
        q = q.where(t.c.opened_at >= start, t.c.opened_at < end, t.c.opened_at <= now)
        if region is not None:
            q = q.join(T.cases, T.cases.c.id == t.c.case_id).where(T.cases.c.region == region)
        return q

    def count_if(condition):
        return func.sum(case((condition, 1), else_=0))

    counts = where(select(
        t.c.body_id, t.c.kind,
        func.count().label("opened"),
        count_if(and_(done, t.c.closed_at <= t.c.due)).label("on_time"),
        count_if(and_(done, t.c.closed_at > t.c.due)).label("late"),
        count_if(and_(~closed, t.c.due < now)).label("overdue"),
        count_if(and_(t.c.status == "cancelled", closed)).label("cancelled"),
    ).select_from(t)).group_by(t.c.body_id, t.c.kind)

    late = where(select(t.c.body_id, t.c.kind, t.c.due, t.c.closed_at).select_from(t)
                 .where(done, t.c.closed_at > t.c.due))

    e = T.events
    on_task = and_(e.c.case_id == t.c.case_id, e.c.actor == "system", e.c.trigger.in_(list(LEVELS)),
                   e.c.data["task"].as_string() == t.c.key, e.c.at <= now)
    steps = where(select(t.c.body_id, t.c.kind, e.c.trigger, func.count().label("n"))
                  .select_from(t.join(e, on_task))).group_by(t.c.body_id, t.c.kind, e.c.trigger)

    groups: dict[tuple[str, str], _Group] = {}

    def group(body_id: str, kind: str) -> _Group:
        if by == "body":
            key, body_type = (body_id, kind), _body_type(directory, body_id)
        else:
            body_type = _body_type(directory, body_id)
            key = (body_type, kind)
        g = groups.get(key)
        if g is None:
            g = groups[key] = _Group(body_id if by == "body" else ALL_BODIES, body_type, kind)
        return g

    for r in conn.execute(counts):
        g = group(r.body_id, r.kind)
        g.opened += r.opened
        g.on_time += int(r.on_time or 0)
        g.late += int(r.late or 0)
        g.overdue += int(r.overdue or 0)
        g.cancelled += int(r.cancelled or 0)
    for r in conn.execute(late):
        group(r.body_id, r.kind).delays.append((r.closed_at - r.due).total_seconds() / 3600)
    for r in conn.execute(steps):
        group(r.body_id, r.kind).escalations[LEVELS[r.trigger]] += r.n

    return [groups[k].row() for k in sorted(groups)]


@dataclass
class _Group:
    body_id: str
    body_type: str
    kind: str
    opened: int = 0
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    cancelled: int = 0
    delays: list[float] = field(default_factory=list)
    escalations: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0, 3: 0})

    def row(self) -> ComplianceRow:
        return ComplianceRow(
            body_id=self.body_id, body_type=self.body_type, task_kind=self.kind, opened=self.opened,
            done_on_time=self.on_time, done_late=self.late,
            median_delay_h=round(statistics.median(self.delays), 2) if self.delays else None,
            worst_delay_h=round(max(self.delays), 2) if self.delays else None,
            still_overdue=self.overdue, cancelled=self.cancelled, escalations=dict(self.escalations))


def _body_type(directory, body_id: str) -> str:
    body = directory.find(body_id)
    return body.type if body is not None else UNKNOWN_TYPE


# ---------------------------------------------------------------------------------------------- output

FIELDS = ("body_id", "body_type", "task_kind", "opened", "done_on_time", "done_late", "median_delay_h",
          "worst_delay_h", "still_overdue", "cancelled")
CSV_HEADER = FIELDS + tuple(f"escalations_{level}" for level in LEVEL_NAMES)


def _hours(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def to_csv(rows: Iterable[ComplianceRow]) -> str:
    """A header, then one line per row; delays empty when none; one column per escalation level."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for r in rows:
        values = [getattr(r, f) for f in FIELDS]
        writer.writerow(["" if v is None else v for v in values]
                        + [r.escalations.get(level, 0) for level in LEVEL_NAMES])
    return out.getvalue()


def to_json(rows: Iterable[ComplianceRow]) -> str:
    """A JSON array of row objects; `escalations` keyed by level ("1", "2", "3")."""
    return json.dumps([{**asdict(r), "escalations": {str(k): v for k, v in sorted(r.escalations.items())}}
                       for r in rows], ensure_ascii=False, indent=2)


TABLE_HEADERS = ("body", "type", "task", "opened", "on time", "late", "on time %", "median late h",
                 "worst late h", "overdue now", "cancelled", "L1", "L2", "L3")
LEGEND = ("on time % = on time / (on time + late + overdue now); late h = hours from due to done, over tasks done late.\n"
          "L1, L2, L3 = escalation steps taken on these tasks: overdue, escalation to the parent body, critical.")


def _rate(on_time: int, late: int, overdue: int) -> str:
    judged = on_time + late + overdue
    return f"{100 * on_time / judged:.0f}%" if judged else "-"


def to_table(rows: Sequence[ComplianceRow]) -> str:
    """An aligned plain-text table with a totals line and a legend (the body column is left out when
    rows are aggregated by body type)."""
    rows = list(rows)
    if not rows:
        return "No tasks opened in the window."
    by_type = all(r.body_id == ALL_BODIES for r in rows)

    def cells(r: ComplianceRow) -> list[str]:
        return [r.body_id, r.body_type, r.task_kind, str(r.opened), str(r.done_on_time), str(r.done_late),
                _rate(r.done_on_time, r.done_late, r.still_overdue), _hours(r.median_delay_h) or "-",
                _hours(r.worst_delay_h) or "-", str(r.still_overdue), str(r.cancelled),
                *(str(r.escalations.get(level, 0)) for level in LEVEL_NAMES)]

    worst = [r.worst_delay_h for r in rows if r.worst_delay_h is not None]
    total = [sum(getattr(r, f) for r in rows) for f in ("opened", "done_on_time", "done_late", "still_overdue",
                                                          "cancelled")]
    totals = ["total", "", f"{len(rows)} rows", str(total[0]), str(total[1]), str(total[2]),
              _rate(total[1], total[2], total[3]), "-", _hours(max(worst)) if worst else "-",
              str(total[3]), str(total[4]),
              *(str(sum(r.escalations.get(level, 0) for r in rows)) for level in LEVEL_NAMES)]
    body = [cells(r) for r in rows]
    headers = list(TABLE_HEADERS)
    if by_type:
        headers, body, totals = headers[1:], [c[1:] for c in body], ["total", f"{len(rows)} rows", *totals[3:]]
    text_columns = 2 if by_type else 3
    widths = [max(len(line[i]) for line in [headers, *body, totals]) for i in range(len(headers))]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) if i < text_columns else v.rjust(w)
                         for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(c) for c in body), rule, line(totals), "", LEGEND])
