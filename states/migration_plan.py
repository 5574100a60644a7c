"""What a migration does to one case (../shared/spec/migration.md, "What a migration does to one case"),
as a pure function of the case as it stands: `plan_case` returns the effects the `migrated` event
records, or why the case cannot move. The command (states/migration.py) writes them; verification
(states/verify.py) calls the same function on the replayed case and compares.

The rules, in the order they apply:
1. the state maps through the file's `states` (a state mapped to null: not migratable); the case's
   bindings gain the body types version M binds and it lacked (bindings it had are kept);
2. each open task maps through `tasks`: a kind version M no longer owes here is cancelled; one it
   owes stays open with its due, re-assigned (ladder restarted from the move) when version M owes it
   from another body; a task of the state that version M owes and the case lacks (and did not already
   do during this stay in the state) opens with a due from the move;
3. the state's timers are recomputed from the events that anchor them (or the entry into the state);
   a timer whose due does not change is left alone;
4. `task_assigned` goes to every body that receives a moved or opened task.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from algorithms.definition import Definition
from algorithms.migration import CANCEL, KEPT_APART, LAUNCH_TIME, Migration

from .clock import iso
from .errors import RuleViolation
from .guards import CaseHistory, GuardContext, holds
from .ladder import ladder_steps
from .periods import period_end
from .recipients import bound_body
from .reporting import check_period_in_plan

TRIGGER = "migrated"


@dataclass
class OpenTask:
    """An open task as a migration reads it (from the store, or from a replayed history)."""
    key: str
    kind: str
    role: str
    body: str
    due: datetime
    state: str | None
    persistent: bool
    serves: str | None


@dataclass
class CaseView:
    """Everything the migration of one case depends on."""
    ref: str
    state: str
    region: str
    data: dict[str, Any]
    bindings: dict[str, str]
    created_at: datetime
    state_entered_at: datetime          # the last event that changed the state (or the launch)
    task_seq: int
    open_tasks: list[OpenTask]
    stay_kinds: frozenset[str]          # kinds opened in this state since the case entered it
    timers: dict[str, datetime]         # pending timers: name -> due
    history: CaseHistory
    outcome: str | None = None
    critical: bool = False


@dataclass
class CasePlan:
    ref: str
    state_from: str
    state_to: str | None
    effects: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)         # the case data after the move
    bindings: dict[str, str] = field(default_factory=dict)
    task_seq: int = 0
    reason: str | None = None                                  # set: not migratable

    @property
    def migratable(self) -> bool:
        return self.reason is None


def not_migratable(ref: str, state: str, reason: str) -> CasePlan:
    return CasePlan(ref, state, None, reason=reason)


def plan_case(view: CaseView, migration: Migration, source: Definition, target: Definition, svc,
              now: datetime, new_bindings: dict[str, str]) -> CasePlan:
    """The effects of moving the case in `view` from `source` to `target` at `now`. `new_bindings`
    are the bindings version M binds for the case's region and school (see `bindings_after`)."""
    state = migration.state_after(view.state)
    if state is None:
        return not_migratable(view.ref, view.state, f"state {view.state!r} has no counterpart in version "
                                                    f"{target.version} (the migration file maps it to none)")
    data, defaults, missing = _data_after(view, migration, target, svc)
    if missing:
        return not_migratable(view.ref, view.state, missing)
    plan = CasePlan(view.ref, view.state, state, data=data, bindings=new_bindings, task_seq=view.task_seq)
    fx = plan.effects
    fx["migrated_from"] = {"version": source.version, "definition": source.content_hash,
                           "overrides": source.overrides or None}
    if new_bindings != view.bindings:
        fx["bindings"] = new_bindings
    if defaults:
        fx["data_defaults"] = defaults
    fx["case_data"] = data
    ctx = GuardContext(case={**data, "state": state, "outcome": view.outcome, "region": view.region,
                             "critical": view.critical},
                       data={}, now=now, state_entered_at=view.state_entered_at,
                       open_kinds=frozenset(migration.kind_after(t.kind) for t in view.open_tasks),
                       working_days_due=lambda n, t: svc.calendar.due("working_days", n, t), history=view.history)
    try:
        _tasks(plan, view, migration, target, svc, now, state, ctx)
    except _Unmovable as exc:
        return not_migratable(view.ref, view.state, str(exc))
    _timers(plan, view, target, svc, now, state)
    return plan


class _Unmovable(Exception):
    pass


def bindings_after(view_bindings: dict[str, str], region_bindings: dict[str, str]) -> dict[str, str]:
    """The case's bindings under the target version: every binding it had, plus the body types of its
    region it lacked (e.g. `health_department`, new in version 2)."""
    return {**region_bindings, **view_bindings}


def _data_after(view: CaseView, migration: Migration, target: Definition, svc) -> tuple[dict, dict, str | None]:
    data = dict(view.data)
    defaults: dict[str, Any] = {}
    for name, spec in target.spec.launch.data.items():
        if name in KEPT_APART or data.get(name) is not None:
            continue
        if name in migration.data:
            value = migration.data[name]
            defaults[name] = iso(view.created_at) if (spec.type == "datetime" and value == LAUNCH_TIME) else value
        elif spec.required:
            return data, defaults, (f"launch field {name!r}, required by version {target.version}, has no value "
                                    f"and the migration file gives no default")
    data.update(defaults)
    for name, spec in target.spec.launch.data.items():
        if spec.within_plan and data.get(name) is not None:
            try:
                check_period_in_plan(data[name], svc.catalogue)
            except RuleViolation as exc:
                return data, defaults, f"version {target.version} refuses its {name}: {exc.message}"
    return data, defaults, None


@dataclass(frozen=True)
class _Declared:
    """How version M declares a task kind: the role that owes it (None: chosen per item, as a plan
    action's body), whether it outlives its state, its ladder, and whether a state lists it."""
    role: str | None
    persistent: bool
    ladder: str
    in_states: bool


def _declared(target: Definition, kind: str) -> _Declared | None:
    named = _named_kinds(target)
    if kind in named:
        return named[kind]
    for trig in target.spec.triggers.values():  # one task per item, e.g. `plan_action:{id}`
        each = trig.opens_each
        if each is not None and kind.startswith(each.kind.split("{", 1)[0]):
            return _Declared(None, each.persistent, each.ladder, False)
    return None


# Speed (plan cases/s, docs/performance.md "Migration"): each definition's named kinds are worked out
# once, by its content hash. Finding one walked every state, timer and trigger, and planning a case
# asks for each of its open tasks (with the region's bindings kept across a plan, plan_one took
# 85 instead of 130 µs; tests/test_migration_speed.py says when this stops mattering).
_NAMED: dict[str, dict[str, _Declared]] = {}


def _named_kinds(target: Definition) -> dict[str, _Declared]:
    """Every task kind the definition declares by name (a state's task, a timer's, a trigger's
    `opens`), as `_declared` answers for it."""
    named = _NAMED.get(target.content_hash)
    if named is None:
        states = target.spec.states.values()
        kinds = ({t.kind for s in states for t in s.tasks}
                 | {tm.open_task.kind for s in states for tm in s.timers if tm.open_task}
                 | {t.kind for trig in target.spec.triggers.values() for t in trig.opens})
        named = _NAMED[target.content_hash] = {kind: _by_name(target, kind) for kind in kinds}
    return named


def _by_name(target: Definition, kind: str) -> _Declared:
    spec = target.task_spec(kind)
    in_states = any(t.kind == kind for s in target.spec.states.values() for t in s.tasks)
    persistent = spec.persistent or any(t.kind == kind and t.persistent for s in target.spec.states.values()
                                        for t in s.tasks)
    return _Declared(spec.body, persistent, spec.ladder, in_states)


def _tasks(plan: CasePlan, view: CaseView, migration: Migration, target: Definition, svc, now: datetime,
           state: str, ctx: GuardContext) -> None:
    fx = plan.effects
    in_state = {t.kind: t for t in target.state(state).tasks}
    kept, moved, closed, opened, notes = [], [], [], [], []
    fate: dict[str, str] = {}
    open_after: set[str] = set()
    for task in sorted(view.open_tasks, key=lambda t: _key_order(t.key)):
        if task.serves is not None:
            continue  # an ensure_completion task follows the task it serves (below)
        kind = migration.kind_after(task.kind)
        declared = None if kind == CANCEL else _declared(target, kind)
        if declared is None:
            owed = False
        elif declared.persistent:
            owed = True   # owed until done, whatever the state (its `when` decided only its opening)
        elif declared.in_states and task.state is not None:
            owed = kind in in_state and (in_state[kind].when is None or holds(in_state[kind].when, ctx))
        else:
            owed = True   # opened by a trigger of this stay; leaving the state cancels it as before
        if not owed:
            closed.append({"key": task.key, "status": "cancelled"})
            fate[task.key] = "cancelled"
            continue
        body = task.body if declared.role is None else bound_body(declared.role, plan.bindings, svc.directory)
        if body is None:
            raise _Unmovable(f"no body is bound as {declared.role!r} for task {kind!r} in version {target.version}")
        item = {"key": task.key, "kind": kind, "body": body, "due": iso(task.due)}
        if kind != task.kind:
            item["from_kind"] = task.kind
        if declared.persistent != task.persistent:
            item["persistent"] = declared.persistent
        open_after.add(kind)
        if body == task.body:
            kept.append(item)
            fate[task.key] = "kept"
            continue
        # The new body's ladder: the steps still ahead of the move (an overdue task reaches it
        # as overdue through `task_assigned`, not as a burst of past escalations).
        steps = [(s, t) for s, t in ladder_steps(target.spec.ladders.get(declared.ladder), now, task.due,
                                                 svc.calendar) if t > now]
        moved.append({**item, "role": declared.role, "from_body": task.body, "ladder": declared.ladder,
                      "steps": [{"step": s, "at": iso(t)} for s, t in steps]})
        notes.append({"template": "task_assigned", "to": body, "task": task.key})
        fate[task.key] = "moved"
    for task in view.open_tasks:  # a supervisor's chase ends with the task, or restarts with its new owner
        if task.serves is not None and fate.get(task.serves) in ("cancelled", "moved"):
            closed.append({"key": task.key, "status": "cancelled"})
    seq = view.task_seq
    done_here = {migration.kind_after(k) for k in view.stay_kinds}
    for spec in target.state(state).tasks:
        if spec.kind in open_after or spec.kind in done_here:
            continue
        if spec.when is not None and not holds(spec.when, ctx):
            continue
        body = bound_body(spec.body, plan.bindings, svc.directory)
        if body is None:
            raise _Unmovable(f"no body is bound as {spec.body!r} for task {spec.kind!r} in version {target.version}")
        rule = _deadline(spec, ctx)
        (unit, amount), = rule.items()
        due = svc.calendar.due(unit, amount, now, period_end=_period_end(plan.data))
        seq += 1
        key = f"t{seq}"
        steps = ladder_steps(target.spec.ladders.get(spec.ladder), now, due, svc.calendar)
        opened.append({"key": key, "kind": spec.kind, "role": spec.body, "body": body, "due": iso(due),
                       "deadline": rule, "ladder": spec.ladder, "persistent": spec.persistent, "state": state,
                       "serves": None, "steps": [{"step": s, "at": iso(t)} for s, t in steps]})
        notes.append({"template": "task_assigned", "to": body, "task": key})
        open_after.add(spec.kind)
    plan.task_seq = seq
    for name, items in (("tasks_kept", kept), ("tasks_moved", moved), ("tasks_closed", closed),
                        ("tasks_opened", opened), ("notifications", notes)):
        if items:
            fx[name] = items


def _deadline(spec, ctx: GuardContext) -> dict[str, int]:
    for dl in spec.deadlines():
        if dl.when is None or holds(dl.when, ctx):
            return dl.rule()
    return spec.deadlines()[-1].rule()


def _period_end(data: dict[str, Any]) -> date | None:
    return period_end(data.get("period"))


def _key_order(key: str) -> tuple[int, str]:
    return (int(key[1:]), key) if key[1:].isdigit() else (0, key)


def _timers(plan: CasePlan, view: CaseView, target: Definition, svc, now: datetime, state: str) -> None:
    """The state's timers as version M defines them, from their anchors; unchanged ones stay."""
    fx = plan.effects
    wanted: dict[str, datetime] = {}
    for timer in target.state(state).timers:
        start = view.state_entered_at
        if timer.anchor:
            restarts = [n for n, t in target.spec.triggers.items() if timer.name in t.restarts_timers]
            start = view.history.last_at(list(timer.anchor) + restarts) or view.state_entered_at
        (unit, amount), = timer.after.rule().items()
        wanted[timer.name] = max(svc.calendar.due(unit, amount, start, period_end=_period_end(plan.data)), now)
    cancelled = [name for name, due in sorted(view.timers.items()) if wanted.get(name) != due]
    started = [{"name": name, "at": iso(due)} for name, due in wanted.items() if view.timers.get(name) != due]
    if cancelled:
        fx["timers_cancelled"] = cancelled
    if started:
        fx["timers_started"] = started
