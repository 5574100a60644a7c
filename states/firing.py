"""One trigger on one case: the case as its definition's machine's model for the duration of a fire.

The machine (states/machines.py) checks that the trigger is allowed in the case's state, calls
`prepare` for the fire's own checks, takes the first edge whose guard holds and calls the
callbacks its configuration names; each name is a method here, doing its work in the fire's one
`CaseChange`. Nothing here commits or writes the event: the engine does, once the machine is done.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import Connection, insert, select

from algorithms.definition import Definition
from algorithms.registry import UnknownAlgorithm
from algorithms.schema import OpensEach, TriggerSpec

from . import tables as T
from .cross_cutting import link, transfer
from .errors import RuleViolation
from .guards import GuardContext, holds
from .payloads import validate_payload
from .reporting import missing_reports
from .unit_of_work import CaseChange, CaseRecord

if TYPE_CHECKING:  # the engine builds a FiringCase and hands itself in; only the type is needed here
    from .engine import Engine


class Fields:
    """Lets `{data.action_id}` in a definition's text read one field of the data, nothing else."""

    def __init__(self, values: dict[str, Any]):
        self._values = values

    def __getattr__(self, name: str) -> Any:
        return self._values.get(name, "")


class FiringCase:
    """The machine's model while one trigger is fired on one case."""

    def __init__(self, engine: "Engine", conn: Connection, definition: Definition, case: CaseRecord,
                 trigger: str, spec: TriggerSpec, actor: str, data: dict[str, Any] | None, now: datetime,
                 extra_effects: dict | None = None, check: Callable[[CaseRecord], None] | None = None,
                 person: str | None = None):
        self.engine, self.conn, self.d, self.case = engine, conn, definition, case
        self.person = person  # who acted for the body (None: a service token, the operator, the system)
        self.trigger_name, self.spec, self.actor, self.data, self.now = trigger, spec, actor, data, now
        self.extra_effects, self.check = extra_effects, check
        self.from_state = case.state
        self.change: CaseChange | None = None
        self.ctx: GuardContext | None = None  # what the edges' guards read (and their failures)
        self.payload: dict[str, Any] = {}
        self.others: dict[str, CaseRecord] = {}
        self.spawned: list[str] = []

    # The machine reads and sets the model's `state`: it is the case's.
    @property
    def state(self) -> str:
        return self.case.state

    @state.setter
    def state(self, value: str) -> None:
        self.case.state = value

    # ------------------------------------------------------------------ before any edge
    def prepare(self, event) -> None:
        """The checks after the machine found the trigger allowed in this state, before any edge's
        guard, in the spec's order: forbidden, invalid_data, guard_failed (the trigger's guard)."""
        engine, d, trig, name = self.engine, self.d, self.spec, self.trigger_name
        engine._authorize(d, trig, self.case, self.actor, name)
        payload = self.payload = validate_payload((d.id, d.version, d.content_hash), name, trig.data, self.data)
        self.others = engine._check_references(self.conn, trig.data, payload, self.case, self.actor, self.check,
                                               now=self.now)
        change = self.change = CaseChange(self.conn, engine.svc, d, self.case, self.now)
        change.person = self.person
        change.trigger_data = payload
        ctx = self.ctx = change.guard_context(payload)
        if not holds(trig.guard, ctx):
            raise RuleViolation("guard_failed", f"{name!r} requires {'; '.join(ctx.failures)}")
        if trig.assignee_of:
            engine._authorize_assignee(change, trig.assignee_of.format(data=Fields(payload)), self.actor, name)
        if self.extra_effects:
            change.effects.update(self.extra_effects)

    # ------------------------------------------------------------------ states (on_exit / on_enter)
    def leave_state(self, event) -> None:
        """Cancel the state's own tasks (not the persistent ones) and its timers."""
        self.change.leave_state(event.state.name)

    def enter_state(self, event) -> None:
        """Open the state's tasks and timers, close the case in a final state, notify."""
        self.change.enter_state(event.state.name, self.trigger_name, event.transition.edge.spec.outcome)

    # ------------------------------------------------------------------ the trigger's effects (before / after)
    def record_data(self, event) -> None:
        case, payload = self.case, self.payload
        for name, target in self.spec.recorded().items():
            if name in payload:
                case.data = {**case.data, target: payload[name]}
        for counter in self.spec.count:
            case.data = {**case.data, counter: int(case.data.get(counter, 0)) + 1}

    def complete_tasks(self, event) -> None:
        kinds = self.spec.completes
        self.change.complete(kinds if kinds == "all" else [k.format(data=Fields(self.payload)) for k in kinds])

    def cancel_tasks(self, event) -> None:
        if self.spec.cancels == "all":
            self.change.cancel_all()
        else:
            self.change.cancel_kinds(self.spec.cancels)

    def reopen_tasks(self, event) -> None:
        """An internal transition opens again the tasks it names (e.g. a new round of a review)."""
        for kind in self.spec.reopens:
            task_spec = self.d.task_spec(kind)
            if task_spec is not None:
                self.change.open_from_spec(task_spec, self.case.state)

    def restart_timers(self, event) -> None:
        self.change.restart_timers(self.spec.restarts_timers)

    def transfer(self, event) -> None:
        transfer(self.change, self.payload)

    def link(self, event) -> None:
        link(self.engine, self.change, self.others[self.payload["case"]], self.actor)

    def missing_reports(self, event) -> None:
        missing = missing_reports(self.conn, self.case, self.engine.svc.catalogue, self.engine.svc.directory)
        if missing or "-H" in self.case.data.get("period", ""):
            self.change.effects["missing_reports"] = missing

    def open_tasks(self, event) -> None:
        for task_spec in self.spec.opens:
            self.change.open_from_spec(task_spec, None)
        if self.spec.opens_each:
            self._open_each(self.spec.opens_each)

    def notify(self, event) -> None:
        for n in self.spec.notify:
            if n.when is None or holds(n.when, self.change.guard_context(self.payload)):
                self.change.notify(n.template, n.to)

    def spawn(self, event) -> None:
        """Launch the cases the trigger spawns, linked both ways to this one."""
        change, case, payload, now = self.change, self.case, self.payload, self.now
        for sp in self.spec.spawn:
            if sp.when is not None and not holds(sp.when, change.guard_context(payload)):
                continue
            data = dict(sp.data)
            target = self._spawn_target(sp.algorithm, self.d.version)
            if "school" in target.spec.launch.data and "school" in case.bindings:
                data.setdefault("school", case.bindings["school"])  # the same child's school
            for field, source in sp.copy_.items():
                scope, _, name = source.partition(".")
                if source == "event.at":
                    data[field] = now.isoformat()
                    continue
                value = (case.data if scope == "case" else payload).get(name)
                if value is not None:
                    data[field] = value
            child = self.engine._launch(self.conn, sp.algorithm, case.region, self.actor, data, now, target.version,
                                        spawned_from=case, subject_id=case.subject_id, person=self.person)
            child_id = self.conn.execute(select(T.cases.c.id).where(T.cases.c.ref == child.ref)).scalar_one()
            self.conn.execute(insert(T.case_links), [
                {"case_id": case.id, "other_case_id": child_id, "relation": "spawned", "created_at": now},
                {"case_id": child_id, "other_case_id": case.id, "relation": "spawned_from", "created_at": now}])
            change._effect("spawned").append({"ref": child.ref, "algorithm": sp.algorithm})
            self.spawned.append(child.ref)

    # ------------------------------------------------------------------ helpers
    def _spawn_target(self, algorithm: str, version: int) -> Definition:
        """A spawned case runs the version of its algorithm that goes with the spawning one's (the
        versions are published together), or the latest where there is no such version."""
        registry = self.engine.registry
        try:
            return registry.get(algorithm, version)
        except UnknownAlgorithm:
            return registry.latest(algorithm)

    def _open_each(self, spec: OpensEach) -> None:
        """One task per item of a data list (e.g. the actions of an individual plan)."""
        change, seen = self.change, set()
        for i, item in enumerate(self.payload.get(spec.items) or []):
            kind = spec.kind.format(**item)
            role = item[spec.body]
            where = f"{spec.items}.{i}"
            if kind in seen or kind in change.open_kinds():
                raise RuleViolation("invalid_data", f"field '{where}.id': {kind!r} is listed twice or already open",
                                    field=f"{where}.id")
            if role not in change.case.bindings:
                raise RuleViolation("invalid_data", f"field '{where}.{spec.body}': {role!r} is not a body type bound "
                                                    f"to this case ({', '.join(change.case.bindings)})",
                                    field=f"{where}.{spec.body}")
            seen.add(kind)
            change.add_task(kind, role, change.case.bindings[role], {"days": int(item[spec.deadline_days])},
                            spec.ladder, spec.persistent, None)
