"""Pre-aggregated figures for the compliance report and the risk map, kept in each change's own
transaction.

Why: the report and the map's window indicators used to scan every task, event and case of their
window; at a national year (120,000 cases, about 900,000 tasks) that is seconds per request
(docs/performance.md, "A national year"). Here every case keeps, in `cases.tallied`, what it adds to
a small table of counts per month (`tallies`); each history event (`CaseChange.write_event`, the one
way every launch, trigger, ladder step, transfer and migration is written) recomputes the case's
share from its rows and adds the difference. So the counts are exact by construction whatever the
change was, in the same transaction as the change (a rolled-back trigger leaves no count behind).

A case's share, `contribution(...)`, is a pure function of the case row, its task rows and a few
facts the rows do not hold (`Extras`: ladder steps per task, who closed each done task, the launch's
actor, repeat attempts per month), which come from the events and are kept beside the share. The
months are Kazakhstan's (UTC+5). The figures (`figure` column; after the colon, what `n1`, `n2`, ... count):

- `tasks`  month opened; region, algorithm, version of the case; body and kind of the task:
  opened, done on time, done late, cancelled, cancelled past due, ladder steps 1/2/3 taken on it.
- `delay`  month opened, as `tasks`, `detail` = a late task's delay in hundredths of an hour: count.
- `reaction` month closed, the body, `detail` = a done task's hours from opening in tenths: count.
- `person` month opened; region, body; `detail` = JSON [acting body, person] of the closing event:
  done, done on time.
- `launch` month launched; region, algorithm, version; `body_id` = the launch's actor: launched,
  recording `reported_late`, reported late, suicide attempts at launch.
- `repeat` month of a `repeat_attempt` event; region, algorithm: count.
- `open`   month a still open task falls due; region and algorithm of the case, the task's body:
  count (the map's overdue tasks: every month before the present one, plus the present month's
  open tasks already past due, read on the open tasks' due index).
- `spread` month in which the case had a task opened; region, algorithm, version; `detail` = the
  case's previous month with a task opened ('' if none): count (so the cases with a task in months
  [a, b) are those rows of [a, b) whose `detail` is before a: a distinct count made additive).

`rebuild(conn)` recomputes every case's share from the rows and the events (the migration that
created the table ran it) and is what the tests compare the running counts with.
"""
from __future__ import annotations

import json
import weakref
from functools import lru_cache
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, delete, event, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from . import tables as T
from .calendar import KZ_TZ

TASKS, DELAY, REACTION, PERSON, LAUNCH, REPEAT, SPREAD, OPEN = ("tasks", "delay", "reaction", "person", "launch", "repeat",
                                                                "spread", "open")
WIDTH = 8  # n1 .. n8
KEY_COLUMNS = ("figure", "month", "region", "algorithm", "version", "body_id", "kind", "detail")
N_COLUMNS = tuple(f"n{i}" for i in range(1, WIDTH + 1))
COLUMNS = KEY_COLUMNS + N_COLUMNS
LEVELS = {"overdue": 0, "escalation": 1, "critical": 2}  # ladder step -> index in the task's steps
SUICIDE = "suicide-response"
LATE_RECORD = "reported_late"


@lru_cache(maxsize=65536)
def month_of(at: datetime) -> str:
    """The Kazakhstan month of an instant. Remembered: a case's share is worked out again at each of
    its events from the same few instants (strftime and astimezone were a tenth of the upkeep)."""
    local = at.astimezone(KZ_TZ)
    return f"{local.year:04d}-{local.month:02d}"


def hours(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600


def delay_bin(due: datetime, closed: datetime) -> int:
    """A late task's delay in hundredths of an hour: the report's precision (its medians are of these)."""
    return round(hours(closed, due) * 100)


def reaction_bin(opened: datetime, closed: datetime) -> int:
    """Hours from opening to done in tenths: the map's precision (its medians are of these)."""
    return round(hours(closed, opened) * 10)


@dataclass
class Extras:
    """What a case's share needs beyond its rows, taken from its events."""
    steps: dict[str, list[int]] = field(default_factory=dict)            # task key -> ladder steps [1, 2, 3]
    closer: dict[str, list[str | None]] = field(default_factory=dict)    # done task key -> [actor, person]
    launch_actor: str = ""
    repeats: dict[str, int] = field(default_factory=dict)               # month -> repeat attempts

    def to_json(self) -> dict:
        return {"s": self.steps, "c": self.closer, "a": self.launch_actor, "r": self.repeats}

    @classmethod
    def from_json(cls, doc: dict | None) -> "Extras":
        doc = doc or {}
        return cls(dict(doc.get("s", {})), dict(doc.get("c", {})), doc.get("a", ""), dict(doc.get("r", {})))


Key = tuple  # (figure, month, region, algorithm, version, body_id, kind, detail)


def contribution(case, tasks: Iterable, extras: Extras) -> dict[Key, list[int]]:
    """What one case adds to the tallies: `case` has region, algorithm, algorithm_version, created_at
    and data; `tasks` its task rows (key, kind, body_id, opened_at, due, status, closed_at)."""
    out: dict[Key, list[int]] = {}
    add = _adder(out)
    months = {_task_part(add, t, case, extras) for t in tasks}
    _case_part(add, case, extras)
    _spread_part(add, months, case)
    return out


def _adder(out: dict[Key, list[int]], sign: int = 1):
    def add(key: Key, values: Iterable[int]) -> None:
        row = out.setdefault(key, [0] * WIDTH)
        for i, v in enumerate(values):
            row[i] += sign * int(v)
    return add


def _task_part(add, t, case, extras: Extras) -> str:
    """One task's part; returns the month it was opened."""
    region, alg, ver = case.region, case.algorithm, case.algorithm_version
    month = month_of(t.opened_at)
    done, cancelled = t.status == "done", t.status == "cancelled"
    past_due = t.closed_at is not None and t.closed_at > t.due
    add((TASKS, month, region, alg, ver, t.body_id, t.kind, ""),
        (1, done and not past_due, done and past_due, cancelled, cancelled and past_due,
         *extras.steps.get(t.key, (0, 0, 0))))
    if t.status == "open":
        add((OPEN, month_of(t.due), region, alg, 0, t.body_id, "", ""), (1,))
    if done:
        if past_due:
            add((DELAY, month, region, alg, ver, t.body_id, t.kind, str(delay_bin(t.due, t.closed_at))), (1,))
        add((REACTION, month_of(t.closed_at), "", "", 0, t.body_id, "", str(reaction_bin(t.opened_at, t.closed_at))),
            (1,))
        add((PERSON, month, region, "", 0, t.body_id, "", _who(*extras.closer.get(t.key, (None, None)))),
            (1, not past_due))
    return month


def _case_part(add, case, extras: Extras) -> None:
    """The launch (its month, actor and what the case's data records) and the repeat attempts."""
    region, alg, ver = case.region, case.algorithm, case.algorithm_version
    data = case.data or {}
    flag = data.get(LATE_RECORD)
    add((LAUNCH, month_of(case.created_at), region, alg, ver, extras.launch_actor, "", ""),
        (1, flag is not None, flag is True, alg == SUICIDE and data.get("kind") == "attempt"))
    for month, n in extras.repeats.items():
        add((REPEAT, month, region, case.algorithm, 0, "", "", ""), (n,))


def _spread_part(add, months: Iterable[str], case) -> None:
    previous = ""
    for month in sorted(months):
        add((SPREAD, month, case.region, case.algorithm, case.algorithm_version, "", "", previous), (1,))
        previous = month


@lru_cache(maxsize=4096)
def _who(actor: str | None, person: str | None) -> str:
    return json.dumps([actor, person])


def encode(share: dict[Key, list[int]], extras: Extras) -> dict:
    """`cases.tallied`: the extras and the share last added (as lists: JSON has no tuples)."""
    return {"x": extras.to_json(), "k": [[*k, v] for k, v in share.items()]}


def decode(doc: dict | None) -> tuple[dict[Key, list[int]], Extras]:
    if not doc:
        return {}, Extras()
    return {tuple(item[:-1]): item[-1] for item in doc.get("k", [])}, Extras.from_json(doc.get("x"))


# ---------------------------------------------------------------------------------------------- on write

_TASK_ROWS = select(T.tasks.c.key, T.tasks.c.kind, T.tasks.c.body_id, T.tasks.c.opened_at, T.tasks.c.due,
                    T.tasks.c.status, T.tasks.c.closed_at).where(T.tasks.c.case_id == bindparam("c_id"))


@dataclass(frozen=True)
class _TaskState:
    key: str
    kind: str
    body_id: str
    opened_at: datetime
    due: datetime
    status: str
    closed_at: datetime | None


def retally(conn: Connection, case, *, actor: str, trigger: str, data: dict, person: str | None, now: datetime,
            effects: dict, touched=None) -> dict:
    """After a change's rows are written (inside its transaction): the case's new share, the
    difference added to the tallies; returns the new `cases.tallied`.

    `touched` (from `CaseChange`: the tasks it opened, the tasks it closed, its open tasks) lets the
    difference be worked out from those tasks alone, without reading the case's rows: the upkeep
    added 60 % to a fire's CPU time when every event read all of them, 20 % now (docs/performance.md,
    "Engine"). A change to the case itself (a transfer, a migration, what its data records) takes
    the whole way."""
    before, extras = decode(case.tallied)
    if touched is not None and trigger != "migrated" and "transferred" not in effects and (before or trigger == "launch"):
        found = _touched_difference(case, before, extras, touched, actor=actor, trigger=trigger, data=data,
                                    person=person, now=now, effects=effects)
        if found is not None:
            after = {key: list(row) for key, row in before.items()}  # the stored document stays as it was
            _merge(after, found)
            add_at_commit(conn, found)
            return encode({key: row for key, row in after.items() if any(row)}, extras)
    tasks = conn.execute(_TASK_ROWS, {"c_id": case.id}).all()
    _note_event(extras, {t.key for t in tasks}, tasks, actor=actor, trigger=trigger, data=data, person=person,
                now=now, effects=effects, algorithm=case.algorithm)
    after = contribution(case, tasks, extras)
    add_at_commit(conn, difference(before, after))
    return encode(after, extras)


def _touched_difference(case, before: dict[Key, list[int]], new: Extras, touched, *, actor, trigger, data, person,
                        now, effects) -> dict[Key, list[int]] | None:
    """The deltas from the tasks this change touched, `new` (the extras as stored) brought up to
    this event; or None, `new` untouched, when the case itself changed."""
    opened, closed, open_now = touched
    old = Extras.from_json((case.tallied or {}).get("x"))  # its own: `_note_event` replaces what it changes in `new`
    old_case: dict[Key, list[int]] = {}
    _case_part(_adder(old_case), case, old)
    launch = next(k for k in old_case if k[0] == LAUNCH)
    if before and before.get(launch) != old_case[launch]:
        return None  # what the case records changed (or its region, version): the whole way
    was = {t.key: _TaskState(t.key, t.kind, t.body_id, t.opened_at, t.due, "open", None) for t in closed}
    now_ = {t.key: _TaskState(t.key, t.kind, t.body_id, t.opened_at, t.due, t.status,
                              None if t.status == "open" else now) for t in [*opened, *closed]}
    step_task = (data or {}).get("task") if actor == "system" and trigger in LEVELS else None
    if step_task in open_now and step_task not in now_:
        t = open_now[step_task]
        was[t.key] = now_[t.key] = _TaskState(t.key, t.kind, t.body_id, t.opened_at, t.due, "open", None)
    _note_event(new, set(open_now) | set(now_), now_.values(), actor=actor, trigger=trigger, data=data, person=person,
                now=now, effects=effects, algorithm=case.algorithm)
    out: dict[Key, list[int]] = {}
    minus, plus = _adder(out, -1), _adder(out, 1)
    if before:
        _case_part(minus, case, old)
    _case_part(plus, case, new)
    for t in was.values():
        _task_part(minus, t, case, old)
    months = {k[1] for k in before if k[0] == SPREAD}
    for t in now_.values():
        _task_part(plus, t, case, new)
    grown = months | {month_of(t.opened_at) for t in now_.values()}
    if grown != months:
        _spread_part(minus, months, case)
        _spread_part(plus, grown, case)
    return {k: v for k, v in out.items() if any(v)}


def _note_event(extras: Extras, keys: set[str], tasks, *, actor, trigger, data, person, now, effects, algorithm) -> None:
    """What this event tells that the rows do not (the same reading `rebuild` makes of the history).
    Replaces what it changes (never changes a list in place: another reading of the same document
    may share it)."""
    if trigger == "launch" and not extras.launch_actor:
        extras.launch_actor = actor
    if actor == "system" and trigger in LEVELS and (data or {}).get("task") in keys:
        steps = list(extras.steps.get(data["task"], (0, 0, 0)))
        steps[LEVELS[trigger]] += 1
        extras.steps[data["task"]] = steps
    if trigger == "repeat_attempt" and algorithm == SUICIDE:
        month = month_of(now)
        extras.repeats[month] = extras.repeats.get(month, 0) + 1
    for closed in effects.get("tasks_closed") or []:
        if closed.get("status") == "done":
            extras.closer[closed["key"]] = [actor, person]
    for t in tasks:  # done without being named as closed here (opened done): this event closed it
        if t.status == "done" and t.key not in extras.closer and t.closed_at == now:
            extras.closer[t.key] = [actor, person]


def difference(before: dict[Key, list[int]], after: dict[Key, list[int]]) -> dict[Key, list[int]]:
    out = {}
    for key in before.keys() | after.keys():
        b, a = before.get(key, [0] * WIDTH), after.get(key, [0] * WIDTH)
        delta = [y - x for x, y in zip(b, a)]
        if any(delta):
            out[key] = delta
    return out


# ---- the deltas of a transaction, added once at its commit
# A sweep batch writes hundreds of events in one transaction, a trigger with a spawn two. Adding each
# event's deltas as it is written would hold the tally rows' locks from the first event to the
# commit, in the order the events came: two sweepers (or a sweeper and an API worker) on PostgreSQL
# then waited on each other's rows and deadlocked (tests/test_store.py, two sweepers). So the deltas
# wait on the connection and are added in one statement, in key order, as the transaction commits;
# a savepoint rolled back takes its deltas with it, a rollback all of them.

_INSTALLED: "weakref.WeakSet[Engine]" = weakref.WeakSet()
_PENDING = "qorgau_tally_pending"  # Connection.info: a stack of {key: delta}, one per open savepoint


def install(db: Engine) -> None:
    """Add the deltas of each transaction of `db` at its commit (idempotent)."""
    if db in _INSTALLED:
        return
    event.listen(db, "commit", _flush)
    event.listen(db, "rollback", _discard)
    event.listen(db, "savepoint", lambda conn, name: _stack(conn).append({}))
    event.listen(db, "release_savepoint", _release)
    event.listen(db, "rollback_savepoint", lambda conn, name, context: _stack(conn).pop() if len(_stack(conn)) > 1 else None)
    _INSTALLED.add(db)


def add_at_commit(conn: Connection, deltas: dict[Key, list[int]]) -> None:
    if not deltas:
        return
    if conn.engine not in _INSTALLED:  # a bare engine: add them now
        apply(conn, deltas)
        return
    _merge(_stack(conn)[-1], deltas)


def _stack(conn: Connection) -> list[dict]:
    return conn.info.setdefault(_PENDING, [{}])


def _merge(into: dict, deltas: dict) -> None:
    for key, delta in deltas.items():
        row = into.setdefault(key, [0] * WIDTH)
        for i, v in enumerate(delta):
            row[i] += v


def _release(conn: Connection, name, context) -> None:
    stack = _stack(conn)
    if len(stack) > 1:
        _merge(stack[-2], stack.pop())


def _flush(conn: Connection) -> None:
    stack = conn.info.pop(_PENDING, None)
    if not stack:
        return
    total: dict = {}
    for layer in stack:
        _merge(total, layer)
    apply(conn, {k: v for k, v in total.items() if any(v)})


def _discard(conn: Connection) -> None:
    conn.info.pop(_PENDING, None)


def apply(conn: Connection, deltas: dict[Key, list[int]]) -> None:
    """Add the deltas, in key order (two transactions adding to the same rows lock them in the same
    order: no deadlock on PostgreSQL)."""
    if not deltas:
        return
    sql, positional = _upsert_text(conn.dialect)
    rows = [(*key, *deltas[key]) for key in sorted(deltas)]
    conn.exec_driver_sql(sql, rows if positional else [dict(zip(COLUMNS, row)) for row in rows])


def _upsert(dialect: str):
    """INSERT .. ON CONFLICT (the key) DO UPDATE SET n = n + excluded.n."""
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(T.tallies)
    return stmt.on_conflict_do_update(index_elements=list(KEY_COLUMNS),
                                      set_={c: T.tallies.c[c] + stmt.excluded[c] for c in N_COLUMNS})


_UPSERT_TEXTS: dict[str, tuple[str, bool]] = {}


def _upsert_text(dialect) -> tuple[str, bool]:
    """`_upsert` compiled once per dialect, run as the driver's own statement: every change's commit
    runs it, and SQLAlchemy's handling of the construct and its parameters cost 45 - 55 µs of each
    (5 rows, SQLite; about 3 % of a fire's 1.5 ms), where the tallies' upkeep had taken the engine
    benchmark's fire / floor ratio to its 0.33 target or under it (docs/performance.md, "Engine").
    tests/test_tallies.py notices when it stops saving. Returns (SQL, whether its parameters are
    positional)."""
    if dialect.name not in _UPSERT_TEXTS:
        compiled = _upsert(dialect.name).compile(dialect=dialect)
        positional = compiled.positiontup is not None
        assert not positional or list(compiled.positiontup) == list(COLUMNS)
        _UPSERT_TEXTS[dialect.name] = (str(compiled), positional)
    return _UPSERT_TEXTS[dialect.name]


# ---------------------------------------------------------------------------------------------- rebuild

def rebuild(conn: Connection, *, batch: int = 2000, progress=None) -> int:
    """Every case's share again from its rows and its history; the tallies replaced. Returns the
    number of cases. Used by the migration that introduced the tallies, and by the tests."""
    conn.execute(delete(T.tallies))
    c, t, e = T.cases, T.tasks, T.events
    total: dict[Key, list[int]] = {}
    ids = list(conn.execute(select(c.c.id).order_by(c.c.id)).scalars())
    for i in range(0, len(ids), batch):
        chunk = ids[i:i + batch]
        cases = conn.execute(select(c.c.id, c.c.region, c.c.algorithm, c.c.algorithm_version, c.c.created_at,
                                    c.c.data).where(c.c.id.in_(chunk))).all()
        tasks: dict[int, list] = {}
        for row in conn.execute(select(t.c.case_id, t.c.key, t.c.kind, t.c.body_id, t.c.opened_at, t.c.due,
                                       t.c.status, t.c.closed_at).where(t.c.case_id.in_(chunk))):
            tasks.setdefault(row.case_id, []).append(row)
        events: dict[int, list] = {}
        for row in conn.execute(select(e.c.id.label("event_id"), e.c.case_id, e.c.seq, e.c.at, e.c.actor,
                                       e.c.trigger, e.c.data, e.c.person, e.c.effects)
                                .where(e.c.case_id.in_(chunk)).order_by(e.c.case_id, e.c.seq)):
            events.setdefault(row.case_id, []).append(row)
        docs = []
        for case in cases:
            extras = extras_from_history(case, tasks.get(case.id, []), events.get(case.id, []))
            share = contribution(case, tasks.get(case.id, []), extras)
            _merge(total, share)
            docs.append({"c_id": case.id, "doc": encode(share, extras)})
        if docs:
            conn.execute(update(c).where(c.c.id == bindparam("c_id")).values(tallied=bindparam("doc")), docs)
        if progress:
            progress(min(i + batch, len(ids)), len(ids))
    rows = [dict(zip(COLUMNS, (*k, *v))) for k, v in sorted(total.items()) if any(v)]
    for i in range(0, len(rows), 5000):
        conn.execute(insert(T.tallies), rows[i:i + 5000])
    return len(ids)


class _Row:
    """A task row as the closing-event choice reads it (key) beside the event's columns."""
    def __init__(self, key, event):
        self.key, self.event_id, self.actor, self.person = key, event.event_id, event.actor, event.person


def extras_from_history(case, tasks: list, events: list) -> Extras:
    """The extras read from a case's history, as the scans of the report read it."""
    extras = Extras()
    keys = {t.key for t in tasks}
    for ev in events:
        if ev.seq == 1 and ev.trigger == "launch":
            extras.launch_actor = ev.actor
        if ev.actor == "system" and ev.trigger in LEVELS and (ev.data or {}).get("task") in keys:
            extras.steps.setdefault(ev.data["task"], [0, 0, 0])[LEVELS[ev.trigger]] += 1
        if ev.trigger == "repeat_attempt" and case.algorithm == SUICIDE:
            month = month_of(ev.at)
            extras.repeats[month] = extras.repeats.get(month, 0) + 1
    effects = {ev.event_id: ev.effects for ev in events}
    for task in tasks:
        if task.status != "done":
            continue
        at_close = [_Row(task.key, ev) for ev in events if ev.at == task.closed_at]
        if at_close:
            chosen = at_close[0] if len(at_close) == 1 else closing_event(at_close, effects)
            extras.closer[task.key] = [chosen.actor, chosen.person]
    return extras


def closing_event(rows: Sequence, effects: dict[int, dict]):
    """Of the events at the task's closing instant, the one whose effects close it as done (the
    latest when the effects cannot tell)."""
    for r in sorted(rows, key=lambda r: r.event_id, reverse=True):
        closed = (effects.get(r.event_id) or {}).get("tasks_closed") or []
        if {"key": r.key, "status": "done"} in closed:
            return r
    return max(rows, key=lambda r: r.event_id)

