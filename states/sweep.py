"""The sweep: take every escalation step and state timer due by `now`, in time order, in batches.

Each step is one history event (actor `system`) recording both when it was due and when it was
taken. Safe to run twice at once: on PostgreSQL a step row is claimed with FOR UPDATE SKIP LOCKED,
on SQLite writers queue on the database lock; either way a step already `done` is never redone.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, bindparam, case as sql_case, func, insert, select, update

from . import tables as T
from .clock import as_utc, iso, utcnow
from .errors import RuleViolation
from .recipients import resolve
from .unit_of_work import CaseChange

log = logging.getLogger("qorgau.sweep")


@dataclass
class SweepReport:
    processed: int = 0
    failed: list[int] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)


def next_due(engine, after: datetime | None = None) -> datetime | None:
    """When the earliest pending step falls due (the simulator's clock jumps there)."""
    with engine.reader() as conn:
        return conn.execute(select(func.min(T.steps.c.due_at)).where(T.steps.c.status == "pending")).scalar()


def sweep(engine, now: datetime | None = None, batch_size: int = 500) -> SweepReport:
    """Process every pending step with `due_at <= now`, oldest first."""
    now = as_utc(now or utcnow())
    report = SweepReport()
    skip: set[int] = set()
    run_id = _record_run_start(engine, now)
    while True:
        try:
            with engine.db.begin() as conn:
                rows = _claim(conn, now, batch_size, skip)
                if not rows:
                    break
                touched: set[int] = set()
                for row in rows:
                    _take(engine, conn, row, now, report, touched)
        except Exception:
            # Isolate the bad step: redo this batch one step per transaction.
            log.warning("sweep batch failed; retrying its steps one by one", exc_info=True)
            if not _one_by_one(engine, now, batch_size, skip, report):
                break
    with engine.db.begin() as conn:
        conn.execute(update(T.sweep_runs).where(T.sweep_runs.c.id == run_id)
                     .values(finished_at=utcnow(), processed=report.processed))
    return report


def _record_run_start(engine, now: datetime) -> int:
    """Each sweep is recorded, so an auditor can tell whether a due step was taken on time."""
    with engine.db.begin() as conn:
        return conn.execute(insert(T.sweep_runs).values(started_at=utcnow(), now=now, processed=0)
                            ).inserted_primary_key[0]


def _claim(conn: Connection, now: datetime, limit: int, skip: set[int]):
    # At one moment, timers go first: a timer that moves the case on cancels the tasks (and their
    # escalations) of the state it leaves, as the spec's timer is the planned path.
    q = (select(T.steps).where(T.steps.c.status == "pending", T.steps.c.due_at <= now)
         .order_by(T.steps.c.due_at, sql_case((T.steps.c.kind == "timer", 0), else_=1), T.steps.c.id).limit(limit))
    if skip:
        q = q.where(T.steps.c.id.not_in(skip))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return conn.execute(q).all()


def _one_by_one(engine, now, batch_size, skip, report) -> bool:
    with engine.reader() as conn:
        ids = [r.id for r in _claim(conn, now, batch_size, skip)]
    progressed = False
    for step_id in ids:
        try:
            take_step(engine, step_id, now, report)
            progressed = True
        except Exception:
            log.exception("step %s failed; it stays pending and is skipped in this sweep", step_id)
            skip.add(step_id)
            report.failed.append(step_id)
    return progressed or bool(ids)


_STATUS = select(T.steps.c.status).where(T.steps.c.id == bindparam("id"))


def take_step(engine, step_id: int, now: datetime, report: SweepReport) -> None:
    """Take one step in a transaction of its own, if it is still pending (and, on PostgreSQL, not
    locked by another sweeper); the report counts it."""
    with engine.db.begin() as conn:
        q = select(T.steps).where(T.steps.c.id == step_id, T.steps.c.status == "pending")
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        row = conn.execute(q).first()
        if row is not None:
            _take(engine, conn, row, now, report, set())


def _take(engine, conn: Connection, step, now: datetime, report: SweepReport, touched: set[int]) -> None:
    if step.case_id in touched and conn.execute(_STATUS, {"id": step.id}).scalar() != "pending":
        return  # an earlier step of this batch cancelled it (e.g. a timer left the state)
    touched.add(step.case_id)
    case = engine.load_case(conn, _case_ref(conn, step.case_id), lock=True)
    d = engine.definition_for(case)
    if step.kind == "timer":
        _timer(engine, conn, d, case, step, now)
    else:
        _ladder_step(engine, conn, d, case, step, now)
    conn.execute(update(T.steps).where(T.steps.c.id == step.id).values(status="done", taken_at=now))
    report.processed += 1
    report.by_kind[step.kind] = report.by_kind.get(step.kind, 0) + 1


def _case_ref(conn: Connection, case_id: int) -> str:
    return conn.execute(select(T.cases.c.ref).where(T.cases.c.id == case_id)).scalar_one()


def _timer(engine, conn, d, case, step, now) -> None:
    state, timer = d.timers_by_name[step.name]
    info = {"timer": step.name, "due": iso(step.due_at)}
    if timer.fire:
        try:
            with conn.begin_nested():
                engine.apply_trigger(conn, case, timer.fire, "system", {}, now, extra_effects={"timer": info})
        except RuleViolation as exc:
            # The case moved on (e.g. already left the state): the timer lapses, and history says why.
            change = CaseChange(conn, engine.svc, d, case, now)
            change.effects["timer"] = {**info, "lapsed": exc.code}
            change.write_event("system", "timer", info, case.state)
        return
    change = CaseChange(conn, engine.svc, d, case, now)
    change.effects["timer"] = info
    change.open_from_spec(timer.open_task, case.state)
    change.write_event("system", "timer", info, case.state)


# Who each step reaches when a ladder does not say (`to`): version 1's rules (spec README).
DEFAULT_RECIPIENTS = {
    "reminder": ["assignee"],
    "overdue": ["assignee", "assignee.parent"],
    "escalation": ["assignee.parent"],
    "critical": ["akimat", "assignee.top"],
}


def _ladder_step(engine, conn, d, case, step, now) -> None:
    change = CaseChange(conn, engine.svc, d, case, now)
    task = change.open_tasks().get(step.task_key)
    if task is None:  # closed in the meantime; nothing is owed
        return
    data = {"task": task.key, "kind": task.kind, "due": iso(step.due_at)}
    kind = step.kind
    ladder = d.spec.ladders[task.ladder]
    spec = next(s for s in ladder.steps if s.step == kind)
    to = resolve(spec.to or DEFAULT_RECIPIENTS[kind], case.bindings, engine.svc.directory, task.body_id,
                 change.chain)
    if kind == "overdue":
        task.overdue = True
        conn.execute(update(T.tasks).where(T.tasks.c.case_id == case.id, T.tasks.c.key == task.key)
                     .values(overdue=True))
        change.effects["overdue"] = [task.key]
    elif kind == "escalation":
        for body_id in to:
            change.add_task("ensure_completion", f"{task.role}.parent", body_id, spec.ensure_completion.rule(),
                            "none", True, None, serves=task.key)
    elif kind == "critical":
        case.critical = True
        change.effects["critical"] = True
    change.notify_bodies(kind if kind != "critical" else "escalation_critical", to, task)
    change.write_event("system", kind, data, case.state)
