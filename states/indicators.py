"""Aggregates per region for the regional risk map (plan item 1): counts and medians only, never a
case. Each indicator is one or two GROUP BY queries on indexed columns; nothing here reads a
child's data or a free-text field.

Indicators (`INDICATORS`):
- `open_cases`: cases not in a final state of their algorithm (optionally of one algorithm). Counted
  from the covering index (region, algorithm, state), so it never reads the cases themselves.
- `new_cases`: cases opened in `[start, end)` (optionally of one algorithm), by the case's region.
- `overdue_tasks`: open tasks past their due, as of `now`, in the region of the body that owes them
  (a republic body's task counts in its case's region); from the `open` tallies and this month's
  open tasks.
- `critical_cases`: cases flagged critical and not in a final state.
- `suicide_attempts`: suicide attempts in `[start, end)`: `suicide-response` cases launched as an
  attempt in the window, plus `repeat_attempt` events in the window.
- `median_reaction`: median hours from opening to completion (each task's in tenths of an hour) of
  the tasks that bodies of one type (`body_type`) completed in `[start, end)`, by the body's region;
  `n` is the number of tasks.
- `reported_late`: violence reports launched in `[start, end)` more than 24 hours after the harm was
  detected (the case's data records `reported_late: true` at launch, violence-report version 2, rule
  V2), by the case's region. Version-1 cases record nothing and never count.

The window indicators come from the month tallies (states/tallies.py) when the window is whole
Kazakhstan months or ends after the latest event (`tally_reads.months_for`), else from the scans.

Small counts: `disclose(figure, has_access)` shows counts from 1 to 4 as "<5" to a reader without
case access in that region (and a median built on 1 to 4 tasks likewise).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import median

from sqlalchemy import Connection, and_, func, select

from . import tables as T
from . import tally_reads
from .clock import as_utc
from .tallies import reaction_bin

INDICATORS = ("open_cases", "new_cases", "overdue_tasks", "critical_cases", "suicide_attempts", "reported_late",
              "median_reaction")
COUNT_INDICATORS = ("open_cases", "new_cases", "overdue_tasks", "critical_cases", "suicide_attempts",
                    "reported_late")
WINDOW_INDICATORS = ("new_cases", "suicide_attempts", "reported_late", "median_reaction")  # need (start, end)
SUPPRESS_BELOW = 5
SUICIDE_ALGORITHM = "suicide-response"
VIOLENCE_ALGORITHM = "violence-report"
LATE_RECORD = "reported_late"  # what violence-report version 2 records in the case's data at launch


@dataclass(frozen=True)
class Figure:
    value: float | int | None  # the count, or the median in hours (None: no data)
    n: int                     # what it is built on: the count itself, or the number of tasks


def final_states(registry) -> dict[str, frozenset[str]]:
    """algorithm id -> the names of its final states (over every loaded version)."""
    out: dict[str, set[str]] = {}
    for d in registry:
        out.setdefault(d.id, set()).update(d.final_states)
    return {k: frozenset(v) for k, v in out.items()}


def open_cases(conn: Connection, registry, *, algorithm: str | None = None) -> dict[str, Figure]:
    c = T.cases
    q = select(c.c.region, c.c.algorithm, c.c.state, func.count()).group_by(c.c.region, c.c.algorithm, c.c.state)
    if algorithm:
        q = q.where(c.c.algorithm == algorithm)
    finals = final_states(registry)
    counts: dict[str, int] = {}
    for region, alg, state, n in conn.execute(q):
        if state not in finals.get(alg, ()):
            counts[region] = counts.get(region, 0) + n
    return _figures(counts)


def critical_cases(conn: Connection, registry, *, algorithm: str | None = None) -> dict[str, Figure]:
    c = T.cases
    q = (select(c.c.region, c.c.algorithm, c.c.state, func.count()).where(c.c.critical == True)  # noqa: E712 (the index's own term)
         .group_by(c.c.region, c.c.algorithm, c.c.state))
    if algorithm:
        q = q.where(c.c.algorithm == algorithm)
    finals = final_states(registry)
    counts: dict[str, int] = {}
    for region, alg, state, n in conn.execute(q):
        if state not in finals.get(alg, ()):
            counts[region] = counts.get(region, 0) + n
    return _figures(counts)


def new_cases(conn: Connection, *, start: datetime, end: datetime, algorithm: str | None = None) -> dict[str, Figure]:
    start, end = as_utc(start), as_utc(end)
    months = tally_reads.months_for(conn, start, end)
    if months is not None:
        return _figures(tally_reads.launched_per_region(conn, months, column="n1", algorithm=algorithm))
    c = T.cases
    q = (select(c.c.region, func.count()).where(c.c.created_at >= start, c.c.created_at < end)
         .group_by(c.c.region))
    if algorithm:
        q = q.where(c.c.algorithm == algorithm)
    return _figures(dict(conn.execute(q).all()))


def overdue_tasks(conn: Connection, directory, *, now: datetime, algorithm: str | None = None) -> dict[str, Figure]:
    """A regional body's tasks count in its region, a republic body's (a ministry's
    ensure_completion) in its case's; with `algorithm`, every task in its case's region. From the
    `open` tallies (months before `now`'s) and this month's open tasks past due."""
    counts: dict[str, int] = {}
    for case_region, alg, body_id, n in tally_reads.open_past_due(conn, as_utc(now)):
        if algorithm:
            if alg != algorithm:
                continue
            region = case_region
        else:
            body = directory.find(body_id)
            if body is None:
                continue
            region = body.region or case_region
        counts[region] = counts.get(region, 0) + int(n)
    return _figures(counts)


def overdue_tasks_scan(conn: Connection, directory, *, now: datetime, algorithm: str | None = None) -> dict[str, Figure]:
    """`overdue_tasks` by scanning the open tasks, as it was read before the tallies: the reference
    the tests compare the tallies with, and the benchmark's before (benchmarks/national_year.py)."""
    now = as_utc(now)
    t, c = T.tasks, T.cases
    counts: dict[str, int] = {}
    if algorithm:
        q = (select(c.c.region, func.count()).select_from(t.join(c, c.c.id == t.c.case_id))
             .where(t.c.status == "open", t.c.due < now, c.c.algorithm == algorithm).group_by(c.c.region))
        return _figures(dict(conn.execute(q).all()))
    for body_id, n in conn.execute(select(t.c.body_id, func.count()).where(t.c.status == "open", t.c.due < now)
                                   .group_by(t.c.body_id)):
        body = directory.find(body_id)
        if body is not None and body.region is not None:
            counts[body.region] = counts.get(body.region, 0) + n
    republic = sorted(b.id for b in directory.bodies() if b.region is None)
    if republic:
        q = (select(c.c.region, func.count()).select_from(t.join(c, c.c.id == t.c.case_id))
             .where(t.c.body_id.in_(republic), t.c.status == "open", t.c.due < now).group_by(c.c.region))
        for region, n in conn.execute(q):
            counts[region] = counts.get(region, 0) + n
    return _figures(counts)


def suicide_attempts(conn: Connection, *, start: datetime, end: datetime) -> dict[str, Figure]:
    start, end = as_utc(start), as_utc(end)
    months = tally_reads.months_for(conn, start, end)
    if months is not None:
        counts = tally_reads.launched_per_region(conn, months, column="n4", algorithm=SUICIDE_ALGORITHM)
        for region, n in tally_reads.repeats_per_region(conn, months, SUICIDE_ALGORITHM).items():
            counts[region] = counts.get(region, 0) + n
        return _figures(counts)
    c, e = T.cases, T.events
    counts: dict[str, int] = {}
    launched = (select(c.c.region, func.count())
                .where(c.c.algorithm == SUICIDE_ALGORITHM, c.c.created_at >= start, c.c.created_at < end,
                       c.c.data["kind"].as_string() == "attempt")
                .group_by(c.c.region))
    for region, n in conn.execute(launched):
        counts[region] = counts.get(region, 0) + n
    repeated = (select(c.c.region, func.count()).select_from(c.join(e, e.c.case_id == c.c.id))
                .where(c.c.algorithm == SUICIDE_ALGORITHM, e.c.trigger == "repeat_attempt", e.c.at >= start,
                       e.c.at < end)
                .group_by(c.c.region))
    for region, n in conn.execute(repeated):
        counts[region] = counts.get(region, 0) + n
    return _figures(counts)


def reported_late(conn: Connection, *, start: datetime, end: datetime) -> dict[str, Figure]:
    start, end = as_utc(start), as_utc(end)
    months = tally_reads.months_for(conn, start, end)
    if months is not None:
        return _figures(tally_reads.launched_per_region(conn, months, column="n3", algorithm=VIOLENCE_ALGORITHM))
    c = T.cases
    q = (select(c.c.region, func.count())
         .where(c.c.algorithm == VIOLENCE_ALGORITHM, c.c.created_at >= start, c.c.created_at < end,
                c.c.data[LATE_RECORD].as_boolean().is_(True))
         .group_by(c.c.region))
    return _figures(dict(conn.execute(q).all()))


def median_reaction(conn: Connection, directory, *, body_type: str, start: datetime, end: datetime) -> dict[str, Figure]:
    start, end = as_utc(start), as_utc(end)
    t = T.tasks
    bodies = {b.id: b.region for b in directory.bodies() if b.type == body_type and b.region is not None}
    if not bodies:
        return {}
    months = tally_reads.months_for(conn, start, end)
    if months is not None:
        tenths = tally_reads.reactions(conn, months, bodies)  # region -> each task's hours in tenths
    else:
        tenths = {}
        q = (select(t.c.body_id, t.c.opened_at, t.c.closed_at)
             .where(t.c.body_id.in_(sorted(bodies)), t.c.status == "done",
                    and_(t.c.closed_at >= start, t.c.closed_at < end)))
        for body_id, opened, closed in conn.execute(q):
            tenths.setdefault(bodies[body_id], []).append(reaction_bin(opened, closed))
    return {r: Figure(round(median(v) / 10, 1), len(v)) for r, v in tenths.items()}


def _figures(counts: dict[str, int]) -> dict[str, Figure]:
    return {r: Figure(n, n) for r, n in counts.items() if n}


def region_figures(conn: Connection, registry, directory, indicator: str, *, now: datetime,
                   algorithm: str | None = None, start: datetime | None = None, end: datetime | None = None,
                   body_type: str | None = None) -> dict[str, Figure]:
    """Region code -> figure for one indicator (regions with nothing are absent)."""
    if indicator == "open_cases":
        return open_cases(conn, registry, algorithm=algorithm)
    if indicator == "overdue_tasks":
        return overdue_tasks(conn, directory, now=now, algorithm=algorithm)
    if indicator == "critical_cases":
        return critical_cases(conn, registry, algorithm=algorithm)
    if indicator in WINDOW_INDICATORS and (start is None or end is None):
        raise ValueError(f"{indicator} needs a window (start, end)")
    if indicator == "new_cases":
        return new_cases(conn, start=start, end=end, algorithm=algorithm)
    if indicator == "suicide_attempts":
        return suicide_attempts(conn, start=start, end=end)
    if indicator == "reported_late":
        return reported_late(conn, start=start, end=end)
    if indicator == "median_reaction":
        if not body_type:
            raise ValueError("median_reaction needs a body type")
        return median_reaction(conn, directory, body_type=body_type, start=start, end=end)
    raise ValueError(f"unknown indicator {indicator!r}; one of {', '.join(INDICATORS)}")


def disclose(figure: Figure | None, has_access: bool) -> str | None:
    """The figure as it may be shown: None for no data, "<5" for 1–4 to a reader without access."""
    if figure is None or figure.value is None:
        return None
    if not has_access and 0 < figure.n < SUPPRESS_BELOW:
        return "<5"
    value = figure.value
    return str(value) if isinstance(value, int) else f"{value:.1f}"


def scale_value(figure: Figure | None, has_access: bool) -> float | None:
    """The number used to colour a region: a suppressed count is coloured as the lowest bin."""
    if figure is None or figure.value is None:
        return None
    if not has_access and 0 < figure.n < SUPPRESS_BELOW:
        return 1.0
    return float(figure.value)
