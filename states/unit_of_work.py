"""One change to one case, inside one database transaction.

A `CaseChange` collects everything a launch, a trigger or an escalation step causes (tasks opened
and closed, ladder steps and timers scheduled, notifications owed, spawns, bindings) and writes it
with exactly one history event. Nothing here commits: the caller's transaction does, or rolls back.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from algorithms.catalogue import load_catalogue
from algorithms.definition import Definition
from algorithms.schema import Deadline, TaskSpec

from . import tables as T
from .clock import iso
from .errors import RuleViolation
from .guards import CaseHistory, GuardContext, holds
from .history import GENESIS, event_hash
from .ladder import ladder_steps
from .periods import period_end
from .personal_data import master_key_from_settings
from .recipients import bound_body, resolve
from .subordination import subordination
from .tallies import retally


# Statements are built once: building one per call costs more than the SQL it runs.
_OPEN_TASKS = select(T.tasks).where(T.tasks.c.case_id == bindparam("c_id"), T.tasks.c.status == "open")
_CLOSE_TASK = (update(T.tasks).where(T.tasks.c.case_id == bindparam("c_id"), T.tasks.c.key == bindparam("k"))
               .values(status=bindparam("st"), closed_at=bindparam("at"), cancelled_by=bindparam("by")))
_CANCEL_TASK_STEPS = (update(T.steps).where(T.steps.c.case_id == bindparam("c_id"), T.steps.c.task_key == bindparam("k"),
                                            T.steps.c.status == "pending").values(status="cancelled"))
_CANCEL_TIMERS = (update(T.steps).where(T.steps.c.case_id == bindparam("c_id"), T.steps.c.kind == "timer",
                                        T.steps.c.status == "pending").values(status="cancelled"))
_CANCEL_NAMED_TIMERS = _CANCEL_TIMERS.where(T.steps.c.name.in_(bindparam("names", expanding=True)))
_INSERT_STEPS = insert(T.steps)
_INSERT_TASKS = insert(T.tasks)
_INSERT_EVENT = insert(T.events)
_INSERT_OUTBOX = insert(T.outbox)
_SAVE_CASE = (update(T.cases).where(T.cases.c.id == bindparam("c_id"), T.cases.c.version == bindparam("v_old"))
              .values(state=bindparam("v_state"), state_entered_at=bindparam("v_entered_at"),
                      entered_by=bindparam("v_entered_by"), outcome=bindparam("v_outcome"),
                      critical=bindparam("v_critical"), version=bindparam("v_new"), task_seq=bindparam("v_task_seq"),
                      data=bindparam("v_data"), bindings=bindparam("v_bindings"), region=bindparam("v_region"),
                      updated_at=bindparam("v_now"), closed_at=bindparam("v_closed_at"), head_hash=bindparam("v_hash"),
                      tallied=bindparam("v_tallied")))


@dataclass
class CaseRecord:
    """A case row as the engine reads and writes it."""
    id: int
    ref: str
    algorithm: str
    algorithm_version: int
    definition_hash: str
    overrides: dict[str, dict[str, int]] | None
    region: str
    state: str
    state_entered_at: datetime
    entered_by: str
    outcome: str | None
    critical: bool
    version: int
    task_seq: int
    subject_id: str | None
    data: dict[str, Any]
    bindings: dict[str, str]
    unique_key: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    head_hash: str
    tallied: dict[str, Any] | None = None  # its share of the tallies (states/tallies.py)

    @classmethod
    def from_row(cls, row) -> "CaseRecord":
        m = row._mapping
        return cls(**{f.name: m[f.name] for f in fields(cls)})

    def guard_view(self) -> dict[str, Any]:
        return {**self.data, "state": self.state, "outcome": self.outcome,
                "region": self.region, "critical": self.critical}


@dataclass
class Services:
    """What the engine consults: definitions, the bodies directory, the calendar, the plan."""
    registry: Any
    directory: Any
    calendar: Any
    _catalogue: Any = None
    _master_key: Any = None

    @property
    def master_key(self):
        """The key that wraps each subject's data key (QORGAU_MASTER_KEY; see personal_data.py)."""
        if self._master_key is None:
            self._master_key = master_key_from_settings()
        return self._master_key

    @property
    def catalogue(self):
        if self._catalogue is None:
            self._catalogue = load_catalogue()
        return self._catalogue


_E = T.events
_LAST_AT = select(func.max(_E.c.at)).where(_E.c.case_id == bindparam("c_id"),
                                           _E.c.trigger.in_(bindparam("triggers", expanding=True)))
_LAST_SEQ = select(func.max(_E.c.seq)).where(_E.c.case_id == bindparam("c_id"),
                                             _E.c.trigger.in_(bindparam("triggers", expanding=True)))
_ANY_SINCE = select(_E.c.seq).where(_E.c.case_id == bindparam("c_id"), _E.c.seq > bindparam("after"),
                                    _E.c.trigger.in_(bindparam("triggers", expanding=True))).limit(1)
_ENTERED_FROM = (select(_E.c.from_state).where(_E.c.case_id == bindparam("c_id"), _E.c.to_state == bindparam("st"),
                                               _E.c.from_state != _E.c.to_state)
                 .order_by(_E.c.seq.desc()).limit(1))


class StoredHistory(CaseHistory):
    """The case's past events as guards, `return` edges and anchored timers read them: a query
    only when a definition asks."""

    def __init__(self, conn: Connection, case: "CaseRecord"):
        self.conn, self.case = conn, case

    def last_at(self, triggers: list[str]) -> datetime | None:
        if self.case.id is None:
            return None
        return self.conn.execute(_LAST_AT, {"c_id": self.case.id, "triggers": list(triggers)}).scalar()

    def occurred_since(self, triggers: list[str], since: list[str]) -> bool:
        if self.case.id is None:
            return False
        after = 0
        if since:
            after = self.conn.execute(_LAST_SEQ, {"c_id": self.case.id, "triggers": list(since)}).scalar() or 0
        return self.conn.execute(_ANY_SINCE, {"c_id": self.case.id, "after": after,
                                              "triggers": list(triggers)}).first() is not None

    def entered_from(self) -> str | None:
        if self.case.id is None:
            return None
        return self.conn.execute(_ENTERED_FROM, {"c_id": self.case.id, "st": self.case.state}).scalar()


@dataclass
class TaskRow:
    key: str
    kind: str
    role: str
    body_id: str
    state: str | None
    opened_at: datetime
    due: datetime
    deadline: dict[str, int]
    ladder: str
    persistent: bool
    serves: str | None
    status: str = "open"
    overdue: bool = False
    cancelled_by: int | None = None


class CaseChange:
    def __init__(self, conn: Connection, svc: Services, definition: Definition, case: CaseRecord,
                 now: datetime, *, loaded_version: int | None = None):
        self.conn, self.svc, self.d, self.case, self.now = conn, svc, definition, case, now
        self.loaded_version = case.version if loaded_version is None else loaded_version
        self.effects: dict[str, Any] = {}
        self._tasks: dict[str, TaskRow] | None = None
        self.new_tasks: list[TaskRow] = []
        self.new_steps: list[dict[str, Any]] = []
        self.closed: list[dict[str, Any]] = []
        # What the tallies' upkeep reads instead of the case's task rows (states/tallies.py `retally`).
        self.opened_rows: list[TaskRow] = []
        self.closed_rows: list[TaskRow] = []
        self.trigger_data: dict[str, Any] = {}
        self.chain = subordination(svc.directory, definition.spec.subordination)
        self.history = StoredHistory(conn, case)
        self.person: str | None = None  # the person acting for the body, recorded in the event

    # ------------------------------------------------------------------ reading
    def open_tasks(self) -> dict[str, TaskRow]:
        if self._tasks is None:
            self._tasks = {}
            if self.case.id is not None and self.loaded_version > 0:
                rows = self.conn.execute(_OPEN_TASKS, {"c_id": self.case.id})
                for r in rows:
                    m = r._mapping
                    self._tasks[m["key"]] = TaskRow(
                        key=m["key"], kind=m["kind"], role=m["role"], body_id=m["body_id"], state=m["state"],
                        opened_at=m["opened_at"], due=m["due"], deadline=m["deadline"], ladder=m["ladder"],
                        persistent=m["persistent"], serves=m["serves"], overdue=m["overdue"])
        return self._tasks

    def open_kinds(self) -> frozenset[str]:
        return frozenset(t.kind for t in self.open_tasks().values())

    def guard_context(self, data: dict[str, Any] | None = None) -> GuardContext:
        cal = self.svc.calendar
        return GuardContext(
            case=self.case.guard_view(), data=data if data is not None else self.trigger_data, now=self.now,
            state_entered_at=self.case.state_entered_at, closed_at=self.case.closed_at,
            open_kinds=self.open_kinds(), entered_by=self.case.entered_by,
            working_days_due=lambda n, t: cal.due("working_days", n, t), history=self.history)

    def _effect(self, name: str) -> list:
        return self.effects.setdefault(name, [])

    # ------------------------------------------------------------------ tasks
    def due_for(self, rule: dict[str, int], opened_at: datetime) -> datetime:
        (unit, amount), = rule.items()
        return self.svc.calendar.due(unit, amount, opened_at, period_end=period_end(self.case.data.get("period")))

    def choose_deadline(self, spec: TaskSpec) -> dict[str, int]:
        for dl in spec.deadlines():
            if dl.when is None or holds(dl.when, self.guard_context()):
                return dl.rule()
        return spec.deadlines()[-1].rule()

    def open_from_spec(self, spec: TaskSpec, state: str | None) -> TaskRow | None:
        if spec.when is not None and not holds(spec.when, self.guard_context()):
            return None
        if spec.persistent and spec.kind in self.open_kinds():
            return None  # still owed from an earlier stay (e.g. back from the KDN): never twice
        role = spec.body
        body_id = bound_body(role, self.case.bindings, self.svc.directory)
        if body_id is None:
            raise RuleViolation("invalid_data", f"no body is bound as {role!r} for task {spec.kind!r}", field=role)
        return self.add_task(spec.kind, role, body_id, self.choose_deadline(spec), spec.ladder,
                             spec.persistent, state)

    def add_task(self, kind: str, role: str, body_id: str, rule: dict[str, int], ladder: str,
                 persistent: bool, state: str | None, serves: str | None = None) -> TaskRow:
        self.case.task_seq += 1
        due = self.due_for(rule, self.now)
        task = TaskRow(key=f"t{self.case.task_seq}", kind=kind, role=role, body_id=body_id, state=state,
                       opened_at=self.now, due=due, deadline=rule, ladder=ladder, persistent=persistent,
                       serves=serves)
        self.open_tasks()[task.key] = task
        self.new_tasks.append(task)
        self.opened_rows.append(task)
        steps = self._schedule_ladder(task)
        self._effect("tasks_opened").append({
            "key": task.key, "kind": kind, "role": role, "body": body_id, "due": iso(due), "deadline": rule,
            "ladder": ladder, "persistent": persistent, "state": state, "serves": serves,
            "steps": [{"step": s, "at": iso(t)} for s, t in steps]})
        self.notify_bodies("task_assigned", [body_id], task)
        return task

    def _schedule_ladder(self, task: TaskRow) -> list[tuple[str, datetime]]:
        ladder = self.d.spec.ladders.get(task.ladder)
        steps = ladder_steps(ladder, task.opened_at, task.due, self.svc.calendar)
        self.new_steps.extend({"case_id": self.case.id, "task_key": task.key, "kind": s, "name": None, "due_at": t,
                               "status": "pending"} for s, t in steps)
        return steps

    def close_task(self, key: str, status: str) -> None:
        task = self.open_tasks().pop(key, None)
        if task is None:
            return
        task.status = status
        # A cancelled task names the event that cancelled it (rule C3): the one this change writes.
        by = self.loaded_version + 1 if status == "cancelled" else None
        task.cancelled_by = by
        if not any(t is task for t in self.new_tasks):
            self.closed.append({"c_id": self.case.id, "k": key, "st": status, "at": self.now, "by": by})
            self.closed_rows.append(task)
        self._effect("tasks_closed").append({"key": key, "status": status})
        # An ensure_completion task lives and dies with the task it serves.
        for other in list(self.open_tasks().values()):
            if other.serves == key:
                self.close_task(other.key, status)

    def complete(self, kinds: list[str] | str) -> None:
        for task in list(self.open_tasks().values()):
            if task.key in self.open_tasks() and task.serves is None and (kinds == "all" or task.kind in kinds):
                self.close_task(task.key, "done")

    def cancel_kinds(self, kinds: list[str]) -> None:
        prefixes = tuple(k[:-1] for k in kinds if k.endswith(":*"))
        for task in list(self.open_tasks().values()):
            matches = task.kind in kinds or (prefixes and task.kind.startswith(prefixes))
            if matches and task.key in self.open_tasks():
                self.close_task(task.key, "cancelled")

    def cancel_all(self) -> None:
        for key in list(self.open_tasks()):
            if key in self.open_tasks():
                self.close_task(key, "cancelled")

    # ------------------------------------------------------------------ states and timers
    def leave_state(self, state: str) -> None:
        for task in list(self.open_tasks().values()):
            if task.state == state and not task.persistent and task.key in self.open_tasks():
                self.close_task(task.key, "cancelled")
        if self.d.state(state).timers:  # only states carry timers
            self.cancel_timers()

    def enter_state(self, state: str, entered_by: str, outcome: str | None = None) -> None:
        self.case.state = state
        self.case.state_entered_at = self.now
        self.case.entered_by = entered_by
        spec = self.d.state(state)
        if spec.resets:
            self.case.data = {**self.case.data, **{counter: 0 for counter in spec.resets}}
        if spec.final:
            self.cancel_all()
            self.case.outcome = outcome
            self.case.closed_at = self.now
            self.effects["outcome"] = outcome
        else:
            if self.case.outcome is not None or self.case.closed_at is not None:
                self.case.outcome = None
                self.case.closed_at = None
                self.effects["reopened"] = True
            for task_spec in spec.tasks:
                self.open_from_spec(task_spec, state)
            for timer in spec.timers:
                self.start_timer(timer.name, timer.after, self._timer_anchor(timer, entered_by))
        for n in spec.notify:
            if n.when is None or holds(n.when, self.guard_context()):
                self.notify(n.template, n.to)

    def _timer_anchor(self, timer, entered_by: str) -> datetime:
        """When a timer's clock started: now, or for an anchored timer the latest of its anchor
        events and the triggers that restart it (rule V7: a round trip does not restart it)."""
        if not timer.anchor:
            return self.now
        triggers = list(timer.anchor) + [name for name, t in self.d.spec.triggers.items()
                                         if timer.name in t.restarts_timers]
        if entered_by in triggers:
            return self.now
        return self.history.last_at(triggers) or self.now

    def start_timer(self, name: str, after: Deadline, anchor: datetime | None = None) -> None:
        # A clock that ran out while the case was elsewhere fires at once on its return.
        due = max(self.due_for(after.rule(), anchor or self.now), self.now)
        self.new_steps.append({"case_id": self.case.id, "task_key": None, "kind": "timer", "name": name,
                               "due_at": due, "status": "pending"})
        self._effect("timers_started").append({"name": name, "at": iso(due)})

    def cancel_timers(self, names: list[str] | None = None) -> None:
        # Timers started by this same change are not in the store yet: drop them from the buffer.
        before = len(self.new_steps)
        self.new_steps = [s for s in self.new_steps
                          if not (s["kind"] == "timer" and (names is None or s["name"] in names))]
        dropped = before - len(self.new_steps)
        if self.loaded_version == 0:
            cancelled = 0
        elif names is None:
            cancelled = self.conn.execute(_CANCEL_TIMERS, {"c_id": self.case.id}).rowcount
        else:
            cancelled = self.conn.execute(_CANCEL_NAMED_TIMERS, {"c_id": self.case.id, "names": names}).rowcount
        if cancelled or dropped:
            self._effect("timers_cancelled").extend(names or ["*"])

    def restart_timers(self, names: list[str]) -> None:
        self.cancel_timers(names)
        for name in names:
            state, timer = self.d.timers_by_name[name]
            if state == self.case.state:
                self.start_timer(name, timer.after)

    # ------------------------------------------------------------------ notifications
    def notify(self, template: str, tokens: list[str], task: TaskRow | None = None) -> None:
        assignee = task.body_id if task else None
        self.notify_bodies(template, resolve(tokens, self.case.bindings, self.svc.directory, assignee, self.chain),
                           task)

    def notify_bodies(self, template: str, body_ids: list[str], task: TaskRow | None = None) -> None:
        recorded = self._effect("notifications")
        for body_id in body_ids:
            item = {"template": template, "to": body_id, "task": task.key if task else None}
            if item not in recorded:
                recorded.append(item)

    # ------------------------------------------------------------------ the event
    def write_event(self, actor: str, trigger: str, data: dict[str, Any], from_state: str | None) -> int:
        """Append the one history event of this change and save the case (optimistic check)."""
        case = self.case
        seq = self.loaded_version + 1
        event = {
            "case": case.ref, "seq": seq, "at": iso(self.now), "actor": actor, "trigger": trigger,
            "data": data, "from": from_state, "to": case.state, "effects": self.effects,
            "algorithm": case.algorithm, "version": case.algorithm_version, "definition": case.definition_hash,
        }
        if self.person is not None:  # only when a person acted: the events before persons hash as they did
            event["person"] = self.person
        prev = case.head_hash if self.loaded_version else GENESIS
        digest = event_hash(prev, event)
        self._flush_tasks()
        self.conn.execute(_INSERT_EVENT, {
            "case_id": case.id, "seq": seq, "at": self.now, "actor": actor, "trigger": trigger, "data": data,
            "from_state": from_state, "to_state": case.state, "effects": self.effects,
            "algorithm_version": case.algorithm_version, "prev_hash": prev, "hash": digest, "person": self.person})
        self._insert_outbox(seq, trigger)
        tallied = retally(self.conn, case, actor=actor, trigger=trigger, data=data, person=self.person,
                          now=self.now, effects=self.effects,
                          touched=(self.opened_rows, self.closed_rows, self._tasks or {}))
        result = self.conn.execute(_SAVE_CASE, {
            "c_id": case.id, "v_old": self.loaded_version, "v_state": case.state,
            "v_entered_at": case.state_entered_at, "v_entered_by": case.entered_by, "v_outcome": case.outcome,
            "v_critical": case.critical, "v_new": seq, "v_task_seq": case.task_seq, "v_data": case.data,
            "v_bindings": case.bindings, "v_region": case.region, "v_now": self.now,
            "v_closed_at": case.closed_at, "v_hash": digest, "v_tallied": tallied})
        if result.rowcount != 1:
            raise RuleViolation("conflict", f"case {case.ref} changed while this trigger was applied; read it again")
        case.version, case.head_hash, case.tallied = seq, digest, tallied
        return seq

    def _flush_tasks(self) -> None:
        """Write the buffered task changes: closings, their cancelled steps, new tasks and steps."""
        if self.closed:
            self.conn.execute(_CLOSE_TASK, self.closed)
            self.conn.execute(_CANCEL_TASK_STEPS, [{"c_id": c["c_id"], "k": c["k"]} for c in self.closed])
            self.closed = []
        closed_new = {t.key for t in self.new_tasks if t.status != "open"}
        steps = [s for s in self.new_steps if s["task_key"] not in closed_new]
        self._insert_new_tasks()
        if steps:
            self.conn.execute(_INSERT_STEPS, steps)
        self.new_steps = []

    def _insert_new_tasks(self) -> None:
        if not self.new_tasks:
            return
        self.conn.execute(_INSERT_TASKS, [{
            "case_id": self.case.id, "key": t.key, "kind": t.kind, "role": t.role, "body_id": t.body_id,
            "state": t.state, "opened_at": t.opened_at, "due": t.due, "deadline": t.deadline,
            "ladder": t.ladder, "persistent": t.persistent, "status": t.status, "overdue": False,
            "serves": t.serves, "closed_at": self.now if t.status != "open" else None,
            "cancelled_by": t.cancelled_by,
        } for t in self.new_tasks])
        self.new_tasks = []

    def _insert_outbox(self, seq: int, trigger: str) -> None:
        items = self.effects.get("notifications") or []
        if not items:
            return
        tasks = {t["key"]: t for t in self.effects.get("tasks_opened", [])}
        rows = []
        for item in items:
            task = self._task_context(item["task"], tasks)
            rows.append({
                "case_id": self.case.id, "event_seq": seq, "template": item["template"], "body_id": item["to"],
                "task_key": item["task"],
                "context": self._message_context(trigger, task),
                "idempotency_key": f"{self.case.ref}/{seq}/{item['template']}/{item['to']}/{item['task'] or '-'}",
                "status": "pending", "attempts": 0, "created_at": self.now})
        self.conn.execute(_INSERT_OUTBOX, rows)

    def _message_context(self, trigger: str, task: dict | None) -> dict[str, Any]:
        """What a message about this event may say: references and titles only, never personal data."""
        context: dict[str, Any] = {
            "case": self.case.ref, "algorithm": self.case.algorithm, "version": self.case.algorithm_version,
            "state": self.case.state, "region": self.case.region, "task": task, "trigger": trigger,
            "outcome": self.case.outcome, "period": self.case.data.get("period")}
        moved = self.effects.get("transferred")
        if moved:
            context["from_region"] = self.effects.get("from_region")
            context["to_region"] = moved["region"]
        return context

    def _task_context(self, key: str | None, opened: dict[str, dict]) -> dict | None:
        if key is None:
            return None
        if key in opened:
            return {"key": key, "kind": opened[key]["kind"], "due": opened[key]["due"], "body": opened[key]["body"]}
        task = self.open_tasks().get(key)
        if task is not None:
            return {"key": key, "kind": task.kind, "due": iso(task.due), "body": task.body_id}
        return {"key": key}
