"""The compliance report: how fast each body reacted to the tasks it was given.

This is the evidence for the plan's expected results (reaction times of each agency): per body (or
per body type), task kind and algorithm version, how many tasks opened in a window were done on time,
done late (and by how many hours), are still overdue, were cancelled, and how far up the escalation
ladder they went. Beside it (`compliance_summary`): how many cases of each algorithm version the
report covers, and the duty to report (version 2, rule V2): violence reports launched in the window
per region and reporting body, and how many of them were reported late.

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
- **Tallies first.** Where the window is whole Kazakhstan months (or ends after the latest event)
  and ``now`` is at or after the latest event, every figure comes from the month tallies kept by
  each event (states/tallies.py, states/tally_reads.py): flat in the store's size. Otherwise the
  scans below: counts aggregated in SQL (GROUP BY with CASE sums), late tasks' delays fetched row by
  row. Both give the same figures (tests/test_tallies.py).
- Delays are hours between ``due`` and ``closed_at`` in hundredths of an hour (each late task's delay
  rounded to 2 decimals first); the median is of those.
- **Cancelled is not done** (version 2, rule C3). A task cancelled when its case closed is counted
  in ``cancelled`` only: never in ``done_on_time`` or ``done_late``, and never in the on-time share
  (on time / (on time + late + overdue now)). ``cancelled_past_due`` says how many of them were
  already past due when cancelled: the body had missed its deadline before the case closed.
- **Versions.** Each row holds the tasks of cases of one ``algorithm_version`` (the version each
  case ran, ``cases.algorithm_version``): a window that spans both versions gives a body's version-1
  and version-2 tasks as two rows. They are not comparable: in version 1 closing a case marked the
  other bodies' open tasks done (so they could count as on time); in version 2 it cancels them.
  ``case_versions`` counts the cases behind the rows per algorithm and version.
- **Reported late** (``late_reports``): the cases launched in ``[start, end)`` (and by ``now``)
  whose data records ``reported_late`` (violence-report version 2 records it at launch: launched
  more than 24 hours after ``detected_at``), per region of the case and per reporting body, the
  launch event's actor. Version-1 cases record nothing and are not counted.
- **By person** (``persons``, states/compliance_persons.py): the done tasks of the task rows again,
  per body, the body that acted and the person who closed them (the closing event's ``person``).
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from statistics import median

from sqlalchemy import Connection, and_, case, func, select

from . import tables as T
from . import tally_reads
from .clock import as_utc
from .compliance_persons import PERSON_FIELDS, PersonRow, persons_report
from .tallies import delay_bin

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
    algorithm_version: int         # the version of the algorithm the tasks' cases ran
    opened: int                    # tasks of this body and kind opened in the window [start, end)
    done_on_time: int              # done with closed_at <= due
    done_late: int                 # done after due
    median_delay_h: float | None   # over tasks done late: hours between due and done (None if none)
    worst_delay_h: float | None
    still_overdue: int             # open (as of `now`) and due < now
    cancelled: int                 # cancelled (as of `now`): neither done nor on time
    escalations: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0, 3: 0})
    # ladder level -> count of steps taken on these tasks: 1 overdue, 2 escalation, 3 critical
    cancelled_past_due: int = 0    # of `cancelled`: cancelled after their due

    @property
    def open_now(self) -> int:
        """Tasks still open as of `now` (overdue or not yet due)."""
        return self.opened - self.done_on_time - self.done_late - self.cancelled

    @property
    def on_time_rate(self) -> float | None:
        """Share done on time among the tasks whose outcome is known: done, or past due and still open.
        Cancelled tasks are in neither part."""
        judged = self.done_on_time + self.done_late + self.still_overdue
        return self.done_on_time / judged if judged else None


# ---------------------------------------------------------------------------------------------- query

def compliance_report(conn: Connection, directory, *, region: str | None, start: datetime, end: datetime,
                      now: datetime, by: str = "body") -> list[ComplianceRow]:
    """Rows per (body, task kind, algorithm version) for tasks opened in ``[start, end)``, figures as
    of ``now``.

    ``by="body_type"`` aggregates per (body type, task kind, version) with ``body_id`` ``"*"``;
    ``region`` keeps the cases whose region is that ISO code (None: every region). Sorted by body (or
    type), then kind, then version.
    """
    start, end, now = _window(start, end, now, by)
    groups: dict[tuple[str, str, int], _Group] = {}

    types: dict[str, str] = {}

    def group(body_id: str, kind: str, v: int) -> _Group:
        body_type = types.get(body_id) or types.setdefault(body_id, _body_type(directory, body_id))
        key = (body_id if by == "body" else body_type, kind, v)
        g = groups.get(key)
        if g is None:
            g = groups[key] = _Group(body_id if by == "body" else ALL_BODIES, body_type, kind, v)
        return g

    months = tally_reads.months_for(conn, start, end, now)
    if months is not None:
        _from_tallies(conn, months, group, region=region, start=start, end=end, now=now)
        for (body_id, kind, version), delays in tally_reads.late_delays(conn, months, region).items():
            group(body_id, kind, version).delays.extend(delays)
    else:
        _from_scan(conn, group, region=region, start=start, end=end, now=now)
    return [groups[k].row() for k in sorted(groups)]


def _from_tallies(conn: Connection, months, group, *, region, start, end, now) -> None:
    """The rows from the month tallies: open now = opened - done - cancelled; of those, the ones not
    due yet (a few, on an index) are not overdue. (The late delays: the caller.)"""
    open_versions: dict[tuple[str, str], set[int]] = {}
    for body_id, kind, version, opened, on_time, late, cancelled, past_due, *steps in \
            tally_reads.task_groups(conn, months, region):
        if opened - on_time - late - cancelled:
            open_versions.setdefault((body_id, kind), set()).add(version)
        g = group(body_id, kind, version)
        g.opened += opened
        g.on_time += on_time
        g.late += late
        g.cancelled += cancelled
        g.cancelled_past_due += past_due
        g.overdue += opened - on_time - late - cancelled
        for level, n in zip((1, 2, 3), steps):
            g.escalations[level] += n
    for body_id, kind, version, n in tally_reads.not_yet_due(conn, start=start, end=end, now=now, region=region,
                                                             open_versions=open_versions):
        group(body_id, kind, version).overdue -= n


def _from_scan(conn: Connection, group, *, region, start, end, now) -> None:
    t, c = T.tasks, T.cases
    closed = and_(t.c.closed_at.is_not(None), t.c.closed_at <= now)
    done = and_(t.c.status == "done", closed)
    cancelled = and_(t.c.status == "cancelled", closed)
    version = c.c.algorithm_version

    def where(q):
        q = q.where(t.c.opened_at >= start, t.c.opened_at < end, t.c.opened_at <= now)
        return q.where(c.c.region == region) if region is not None else q

    tasks_of_cases = t.join(c, c.c.id == t.c.case_id)
    counts = where(select(
        t.c.body_id, t.c.kind, version,
        func.count().label("opened"),
        _count_if(and_(done, t.c.closed_at <= t.c.due)).label("on_time"),
        _count_if(and_(done, t.c.closed_at > t.c.due)).label("late"),
        _count_if(and_(~closed, t.c.due < now)).label("overdue"),
        _count_if(cancelled).label("cancelled"),
        _count_if(and_(cancelled, t.c.closed_at > t.c.due)).label("cancelled_past_due"),
    ).select_from(tasks_of_cases)).group_by(t.c.body_id, t.c.kind, version)

    late = where(select(t.c.body_id, t.c.kind, version, t.c.due, t.c.closed_at).select_from(tasks_of_cases)
                 .where(done, t.c.closed_at > t.c.due))

    e = T.events
    on_task = and_(e.c.case_id == t.c.case_id, e.c.actor == "system", e.c.trigger.in_(list(LEVELS)),
                   e.c.data["task"].as_string() == t.c.key, e.c.at <= now)
    steps = where(select(t.c.body_id, t.c.kind, version, e.c.trigger, func.count().label("n"))
                  .select_from(tasks_of_cases.join(e, on_task))).group_by(t.c.body_id, t.c.kind, version,
                                                                           e.c.trigger)

    for r in conn.execute(counts):
        g = group(r.body_id, r.kind, r.algorithm_version)
        g.opened += r.opened
        g.on_time += int(r.on_time or 0)
        g.late += int(r.late or 0)
        g.overdue += int(r.overdue or 0)
        g.cancelled += int(r.cancelled or 0)
        g.cancelled_past_due += int(r.cancelled_past_due or 0)
    for r in conn.execute(late):
        group(r.body_id, r.kind, r.algorithm_version).delays.append(delay_bin(r.due, r.closed_at))
    for r in conn.execute(steps):
        group(r.body_id, r.kind, r.algorithm_version).escalations[LEVELS[r.trigger]] += r.n


def _window(start: datetime, end: datetime, now: datetime, by: str) -> tuple[datetime, datetime, datetime]:
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    start, end, now = as_utc(start), as_utc(end), as_utc(now)
    if end <= start:
        raise ValueError(f"the window is empty: end {end.isoformat()} is not after start {start.isoformat()}")
    return start, end, now


def _count_if(condition):
    return func.sum(case((condition, 1), else_=0))


@dataclass
class _Group:
    body_id: str
    body_type: str
    kind: str
    version: int
    opened: int = 0
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    cancelled: int = 0
    cancelled_past_due: int = 0
    delays: list[int] = field(default_factory=list)  # late tasks' delays in hundredths of an hour
    escalations: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0, 3: 0})

    def row(self) -> ComplianceRow:
        middle, worst = (median(self.delays), max(self.delays)) if self.delays else (None, None)
        return ComplianceRow(
            body_id=self.body_id, body_type=self.body_type, task_kind=self.kind, algorithm_version=self.version,
            opened=self.opened, done_on_time=self.on_time, done_late=self.late,
            median_delay_h=round(middle / 100, 2) if middle is not None else None,
            worst_delay_h=round(worst / 100, 2) if worst is not None else None,
            still_overdue=self.overdue, cancelled=self.cancelled, escalations=dict(self.escalations),
            cancelled_past_due=self.cancelled_past_due)


@dataclass(frozen=True, order=True)
class VersionRow:
    algorithm: str
    algorithm_version: int
    cases: int   # cases with at least one task opened in the window (as in the task rows)
    tasks: int   # their tasks opened in the window


def case_versions(conn: Connection, *, region: str | None, start: datetime, end: datetime,
                  now: datetime) -> list[VersionRow]:
    """Which version of its algorithm each case behind the task rows ran: cases and tasks per
    (algorithm, version), sorted."""
    start, end, now = _window(start, end, now, "body")
    months = tally_reads.months_for(conn, start, end, now)
    if months is not None:
        return sorted(VersionRow(alg, ver, cases, tasks)
                      for (alg, ver), (cases, tasks) in tally_reads.versions(conn, months, region).items())
    t, c = T.tasks, T.cases
    q = (select(c.c.algorithm, c.c.algorithm_version, func.count(func.distinct(c.c.id)).label("cases"),
                func.count().label("tasks"))
         .select_from(t.join(c, c.c.id == t.c.case_id))
         .where(t.c.opened_at >= start, t.c.opened_at < end, t.c.opened_at <= now)
         .group_by(c.c.algorithm, c.c.algorithm_version))
    if region is not None:
        q = q.where(c.c.region == region)
    return sorted(VersionRow(r.algorithm, r.algorithm_version, r.cases, r.tasks) for r in conn.execute(q))


LATE_RECORD = "reported_late"  # what violence-report version 2 records in the case's data at launch


@dataclass(frozen=True)
class LateReportRow:
    region: str
    body_id: str        # the reporting body (the launch event's actor); "*" when by body type
    body_type: str
    launched: int       # cases launched in the window that record whether they were reported late
    reported_late: int  # of them: launched more than the threshold (24 h) after detected_at

    @property
    def late_share(self) -> float | None:
        return self.reported_late / self.launched if self.launched else None


def late_reports(conn: Connection, directory, *, region: str | None, start: datetime, end: datetime,
                 now: datetime, by: str = "body") -> list[LateReportRow]:
    """The duty to report: per region (of the case) and reporting body (or body type), the cases
    launched in ``[start, end)`` (by ``now``) that record ``reported_late``, and how many of them were
    reported late. Sorted by region, then body (or type)."""
    start, end, now = _window(start, end, now, by)
    months = tally_reads.months_for(conn, start, end, now)
    if months is not None:
        found = [(r.region, r.body_id, int(r.n2), int(r.n3)) for r in tally_reads.launches_by_actor(conn, months, region)]
    else:
        found = _late_scan(conn, region=region, start=start, end=end, now=now)
    groups: dict[tuple[str, str], list] = {}
    for case_region, actor, launched, late in found:
        body_type = _body_type(directory, actor)
        key = (case_region, actor if by == "body" else body_type)
        g = groups.setdefault(key, [actor if by == "body" else ALL_BODIES, body_type, 0, 0])
        g[2] += launched
        g[3] += late
    return [LateReportRow(k[0], g[0], g[1], g[2], g[3]) for k, g in sorted(groups.items())]


def _late_scan(conn: Connection, *, region, start, end, now) -> list[tuple[str, str, int, int]]:
    c, e = T.cases, T.events
    flag = c.c.data[LATE_RECORD].as_boolean()
    q = (select(c.c.region, e.c.actor, func.count().label("launched"),
                _count_if(flag.is_(True)).label("late"))
         .select_from(c.join(e, and_(e.c.case_id == c.c.id, e.c.seq == 1, e.c.trigger == "launch")))
         .where(c.c.created_at >= start, c.c.created_at < end, c.c.created_at <= now, flag.is_not(None))
         .group_by(c.c.region, e.c.actor))
    if region is not None:
        q = q.where(c.c.region == region)
    return [(r.region, r.actor, r.launched, int(r.late or 0)) for r in conn.execute(q)]


@dataclass(frozen=True)
class ComplianceSummary:
    rows: list[ComplianceRow]
    versions: list[VersionRow]
    late: list[LateReportRow]
    persons: list[PersonRow] = field(default_factory=list)

    @property
    def spans_versions(self) -> bool:
        return len({v.algorithm_version for v in self.versions}) > 1


def compliance_summary(conn: Connection, directory, *, region: str | None, start: datetime, end: datetime,
                       now: datetime, by: str = "body") -> ComplianceSummary:
    """The task rows, the cases behind them per algorithm version, the late reports and who did the
    tasks done (per person; always per body, whatever `by`): what the surfaces of the report (CLI,
    API, CSV, web page) show."""
    kw = dict(region=region, start=start, end=end, now=now)
    return ComplianceSummary(compliance_report(conn, directory, by=by, **kw), case_versions(conn, **kw),
                             late_reports(conn, directory, by=by, **kw), persons_report(conn, **kw))


def _body_type(directory, body_id: str) -> str:
    body = directory.find(body_id)
    return body.type if body is not None else UNKNOWN_TYPE


# ---------------------------------------------------------------------------------------------- output

FIELDS = ("body_id", "body_type", "task_kind", "algorithm_version", "opened", "done_on_time", "done_late",
          "median_delay_h", "worst_delay_h", "still_overdue", "cancelled", "cancelled_past_due")
CSV_HEADER = FIELDS + tuple(f"escalations_{level}" for level in LEVEL_NAMES)
LATE_FIELDS = ("region", "body_id", "body_type", "launched", "reported_late", "reported_late_share")
VERSION_FIELDS = ("algorithm", "algorithm_version", "cases", "tasks")
PARTS = ("tasks", "reported_late", "versions", "persons")  # what a CSV or JSON export holds (one table each)


def _share(value: float | None) -> float | str:
    return "" if value is None else round(value, 4)


def _csv(header: Sequence[str], lines: Iterable[Sequence]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in line] for line in lines)
    return out.getvalue()


def to_csv(rows: Iterable[ComplianceRow]) -> str:
    """A header, then one line per row; delays empty when none; one column per escalation level."""
    return _csv(CSV_HEADER, ([getattr(r, f) for f in FIELDS] + [r.escalations.get(level, 0) for level in LEVEL_NAMES]
                             for r in rows))


def late_to_csv(rows: Iterable[LateReportRow]) -> str:
    """Late reports, one line per region and reporting body; the share as a fraction (empty: none)."""
    return _csv(LATE_FIELDS, ([r.region, r.body_id, r.body_type, r.launched, r.reported_late, _share(r.late_share)]
                              for r in rows))


def versions_to_csv(rows: Iterable[VersionRow]) -> str:
    return _csv(VERSION_FIELDS, ([getattr(r, f) for f in VERSION_FIELDS] for r in rows))


def _row_json(r: ComplianceRow) -> dict:
    return {**asdict(r), "escalations": {str(k): v for k, v in sorted(r.escalations.items())}}


def late_json(r: LateReportRow) -> dict:
    return {**asdict(r), "late_share": None if r.late_share is None else round(r.late_share, 4)}


def to_json(rows: Iterable[ComplianceRow]) -> str:
    """A JSON array of row objects; `escalations` keyed by level ("1", "2", "3")."""
    return json.dumps([_row_json(r) for r in rows], ensure_ascii=False, indent=2)


def late_to_json(rows: Iterable[LateReportRow]) -> str:
    return json.dumps([late_json(r) for r in rows], ensure_ascii=False, indent=2)


def versions_to_json(rows: Iterable[VersionRow]) -> str:
    return json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2)


def persons_to_csv(rows: Iterable[PersonRow]) -> str:
    """Who did the tasks done: one line per body, acting body and person (person_id empty: none)."""
    return _csv(PERSON_FIELDS, (r.values() for r in rows))


def persons_to_json(rows: Iterable[PersonRow]) -> str:
    return json.dumps([dict(zip(PERSON_FIELDS, r.values())) for r in rows], ensure_ascii=False, indent=2)


def export(summary: ComplianceSummary, part: str, fmt: str) -> str:
    """One table of the summary as CSV or JSON: `tasks` (the rows), `reported_late`, `versions`,
    `persons`."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, not {part!r}")
    rows = {"tasks": summary.rows, "reported_late": summary.late, "versions": summary.versions,
            "persons": summary.persons}[part]
    writers = {"tasks": (to_csv, to_json), "reported_late": (late_to_csv, late_to_json),
               "versions": (versions_to_csv, versions_to_json), "persons": (persons_to_csv, persons_to_json)}[part]
    return writers[0](rows) if fmt == "csv" else writers[1](rows)


def region_totals(rows: Iterable[LateReportRow]) -> list[LateReportRow]:
    """Late reports per region (every reporting body of the region together), sorted by region."""
    totals: dict[str, list[int]] = {}
    for r in rows:
        t = totals.setdefault(r.region, [0, 0])
        t[0] += r.launched
        t[1] += r.reported_late
    return [LateReportRow(region, ALL_BODIES, ALL_BODIES, n, late) for region, (n, late) in sorted(totals.items())]
