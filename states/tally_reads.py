"""The compliance report's and the risk map's figures read from the tallies (states/tallies.py)
instead of scanning tasks, events and cases.

The tallies count per Kazakhstan month, as the store is now. So they answer a window exactly when it
starts on the first of a month (00:00, Kazakhstan time) and ends on one, or ends after the store's
latest event (nothing was opened, closed or launched between that event and the window's end); and,
for the report, when its `now` is at or after the latest event (the counts are as of now). Otherwise
(`months_for` gives None) the callers scan, as before; both ways give the same figures (tested).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Select, String, case, cast, func, select

from . import tables as T
from .calendar import KZ_TZ
from .clock import as_utc
from .tallies import DELAY, LAUNCH, OPEN, PERSON, REACTION, REPEAT, SPREAD, TASKS, month_of

_t = T.tallies
_LATEST = select(func.max(T.events.c.at))


def _month_start(at: datetime) -> bool:
    local = at.astimezone(KZ_TZ)
    return (local.day, local.hour, local.minute, local.second, local.microsecond) == (1, 0, 0, 0, 0)


def months_for(conn: Connection, start: datetime, end: datetime, now: datetime | None = None) -> tuple[str, str] | None:
    """The months [first, after) that answer [start, end) (as of `now`, when given), or None."""
    if not _month_start(start):
        return None
    latest = conn.execute(_LATEST).scalar()
    if now is not None and latest is not None and as_utc(now) < latest:
        return None
    if _month_start(end):
        after = month_of(end)
    elif latest is None or as_utc(end) > latest:
        local = end.astimezone(KZ_TZ)
        after = month_of((local.replace(day=1) + timedelta(days=32)).replace(day=1))
    else:
        return None
    first = month_of(start)
    return (first, after) if first < after else None


def _window(q, months: tuple[str, str], figure: str, region: str | None = None):
    q = q.where(_t.c.figure == figure, _t.c.month >= months[0], _t.c.month < months[1])
    return q.where(_t.c.region == region) if region is not None else q


def _sums(*columns):
    return [func.sum(_t.c[c]).label(c) for c in columns]


# ---------------------------------------------------------------------------------------------- the report

def task_groups(conn: Connection, months, region: str | None):
    """(body_id, kind, version, opened, on_time, late, cancelled, cancelled_past_due, esc1, esc2, esc3)."""
    q = select(_t.c.body_id, _t.c.kind, _t.c.version, *_sums("n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"))
    rows = conn.execute(_window(q, months, TASKS, region).group_by(_t.c.body_id, _t.c.kind, _t.c.version))
    return [(r[0], r[1], r[2], *map(int, r[3:])) for r in rows if r[3]]  # not the rows a transfer or migration emptied


def late_delays(conn: Connection, months, region: str | None) -> dict[tuple[str, str, int], list[int]]:
    """(body_id, kind, version) -> the late tasks' delays in hundredths of an hour (one per task)."""
    return values_of(conn, _window(select(_t.c.body_id, _t.c.kind, _t.c.version), months, DELAY, region),
                     [_t.c.body_id, _t.c.kind, _t.c.version])


def not_yet_due(conn: Connection, *, start: datetime, end: datetime, now: datetime, region: str | None,
                open_versions: dict[tuple[str, str], set[int]]) -> list[tuple[str, str, int, int]]:
    """Open tasks opened in [start, end) not due yet at `now`: (body_id, kind, version, n). Few: on the
    open tasks' due index from `now` on, which covers them.

    `open_versions`: (body_id, kind) -> the versions of the window's task rows with tasks open now.
    A task's version is its case's; where every (body_id, kind) has open tasks of one version (a
    window not across a migration) and the report is not of one region, it is that one and no case
    row is read (`_one_version_each`)."""
    t, c = T.tasks, T.cases
    when = (t.c.status == "open", t.c.due >= as_utc(now), t.c.opened_at >= as_utc(start), t.c.opened_at < as_utc(end))
    if region is None and _one_version_each(open_versions):
        q = select(t.c.body_id, t.c.kind, func.count()).where(*when).group_by(t.c.body_id, t.c.kind)
        found = conn.execute(q).all()
        if all((body, kind) in open_versions for body, kind, _ in found):
            return [(body, kind, next(iter(open_versions[(body, kind)])), n) for body, kind, n in found]
    q = (select(t.c.body_id, t.c.kind, c.c.algorithm_version, func.count())
         .select_from(t.join(c, c.c.id == t.c.case_id)).where(*when)
         .group_by(t.c.body_id, t.c.kind, c.c.algorithm_version))
    if region is not None:
        q = q.where(c.c.region == region)
    return [tuple(r) for r in conn.execute(q)]


def _one_version_each(open_versions: dict[tuple[str, str], set[int]]) -> bool:
    """Whether the not-yet-due tasks' versions can be told without their cases. The join to the case
    of each task was two thirds of `not_yet_due` at 120,000 cases (28 of 30 ms with the task rows,
    5 ms covered without them), and it reads case rows scattered over one of the largest tables
    (docs/performance.md, "A national year"); tests/test_tallies_speed.py notices when it stops
    mattering."""
    return all(len(versions) == 1 for versions in open_versions.values())


def versions(conn: Connection, months, region: str | None) -> dict[tuple[str, int], list[int]]:
    """(algorithm, version) -> [cases with a task opened in the window, tasks opened in it]."""
    out: dict[tuple[str, int], list[int]] = {}
    q = select(_t.c.algorithm, _t.c.version, *_sums("n1"))
    first = _window(q, months, SPREAD, region).where(_t.c.detail < months[0])  # '' (no earlier month) sorts first
    for alg, ver, n in conn.execute(first.group_by(_t.c.algorithm, _t.c.version)):
        out.setdefault((alg, ver), [0, 0])[0] += int(n)
    for alg, ver, n in conn.execute(_window(q, months, TASKS, region).group_by(_t.c.algorithm, _t.c.version)):
        out.setdefault((alg, ver), [0, 0])[1] += int(n)
    return {k: v for k, v in out.items() if v[1]}


def launches_by_actor(conn: Connection, months, region: str | None):
    """(region, actor, recording reported_late, reported late) of the cases launched in the window."""
    q = select(_t.c.region, _t.c.body_id, *_sums("n2", "n3"))
    return [r for r in conn.execute(_window(q, months, LAUNCH, region).group_by(_t.c.region, _t.c.body_id)) if r.n2]


def persons(conn: Connection, months, region: str | None):
    """(body_id, detail = JSON [acting body, person], done, done on time)."""
    q = select(_t.c.body_id, _t.c.detail, *_sums("n1", "n2"))
    return [r for r in conn.execute(_window(q, months, PERSON, region).group_by(_t.c.body_id, _t.c.detail)) if r.n1]


# ---------------------------------------------------------------------------------------------- the map

def launched_per_region(conn: Connection, months, *, column: str, algorithm: str | None = None) -> dict[str, int]:
    """Region -> cases launched in the window (`n1`), recording lateness (`n2`), reported late (`n3`),
    launched as a suicide attempt (`n4`)."""
    q = _window(select(_t.c.region, func.sum(_t.c[column])), months, LAUNCH)
    if algorithm:
        q = q.where(_t.c.algorithm == algorithm)
    return {r: int(n) for r, n in conn.execute(q.group_by(_t.c.region)) if n}


def repeats_per_region(conn: Connection, months, algorithm: str) -> dict[str, int]:
    q = _window(select(_t.c.region, func.sum(_t.c.n1)), months, REPEAT).where(_t.c.algorithm == algorithm)
    return {r: int(n) for r, n in conn.execute(q.group_by(_t.c.region)) if n}


def reactions(conn: Connection, months, bodies: dict[str, str]) -> dict[str, list[int]]:
    """Region -> the hours from opening to done, in tenths (one per task), of the tasks that `bodies`
    (body_id -> region) closed in the window."""
    out: dict[str, list[int]] = {}
    q = _window(select(_t.c.body_id), months, REACTION).where(_t.c.body_id.in_(sorted(bodies)))
    for (body_id,), values in values_of(conn, q, [_t.c.body_id]).items():
        out.setdefault(bodies[body_id], []).extend(values)
    return out


def values_of(conn: Connection, rows: Select, groups: list) -> dict[tuple, list[int]]:
    """Per group of the tally rows `rows` selects (their columns: `groups`): the values they count
    (`detail`, an integer), each as many times as counted, in no order.

    One text per group, made in the database (group_concat / string_agg), parsed here: a national
    year's late delays are about one row per late task (tens of thousands: the values are hundredths
    of an hour), and fetching them as rows, or working out the medians with window functions over
    them, was most of the compliance report's time (docs/performance.md, "A national year").
    Tested against the scans in tests/test_tallies.py."""
    # "value", or "value*n" where it is counted n > 1 times (in one month and region: few)
    one = case((_t.c.n1 == 1, _t.c.detail), else_=_t.c.detail + "*" + cast(_t.c.n1, String))
    out: dict[tuple, list[int]] = {}
    for *key, text in conn.execute(rows.add_columns(func.aggregate_strings(one, " ")).where(_t.c.n1 > 0)
                                   .group_by(*groups)):
        parts = text.split(" ")
        if "*" in text:
            found = [int(p) for p in parts if "*" not in p]
            for value, n in (p.split("*") for p in parts if "*" in p):
                found += [int(value)] * int(n)
        else:
            found = list(map(int, parts))
        out[tuple(key)] = found
    return out


def open_past_due(conn: Connection, now: datetime):
    """(case region, algorithm, body_id, open tasks) past their due at `now`: the tallies of every
    month before `now`'s, and this month's open tasks due before `now` on the open tasks' due index.
    Of the present: the tallies hold each task's status now, whatever `now` is."""
    month = month_of(now)
    start = now.astimezone(KZ_TZ).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    before = (select(_t.c.region, _t.c.algorithm, _t.c.body_id, func.sum(_t.c.n1))
              .where(_t.c.figure == OPEN, _t.c.month < month).group_by(_t.c.region, _t.c.algorithm, _t.c.body_id))
    t, c = T.tasks, T.cases
    this_month = (select(c.c.region, c.c.algorithm, t.c.body_id, func.count())
                  .select_from(t.join(c, c.c.id == t.c.case_id))
                  .where(t.c.status == "open", t.c.due >= as_utc(start), t.c.due < as_utc(now))
                  .group_by(c.c.region, c.c.algorithm, t.c.body_id))
    return [tuple(r) for r in conn.execute(before) if r[3]] + [tuple(r) for r in conn.execute(this_month)]

