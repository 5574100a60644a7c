"""Moving running cases to another version of their algorithm (../shared/spec/migration.md).

`plan_selection` reads the cases a selection names and returns each one's plan (or why it cannot
move), writing nothing. `migrate_case` moves one case in the caller's transaction: it reads the case
as it is now (locked), plans it again from that, and writes the one `migrated` event with the plan's
effects, so a case fired between a plan and its apply is planned again, never overwritten. The
command handler (states/handling.py) owns the transaction and the caller's authority.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterator

from sqlalchemy import Connection, bindparam, func, or_, select, update

from algorithms.definition import Definition
from algorithms.migration import Migration
from algorithms.registry import UnknownAlgorithm

from . import tables as T
from .binding import bind
from .clock import as_utc
from .errors import RuleViolation
from .migration_plan import TRIGGER, CasePlan, CaseView, OpenTask, bindings_after, not_migratable, plan_case
from .unit_of_work import CaseChange, CaseRecord, StoredHistory, TaskRow

CHUNK = 500  # cases per batch query when planning a selection


@dataclass(frozen=True)
class Selection:
    """Which running cases a migration moves: an algorithm's cases on another version, optionally of
    one region and one state."""
    algorithm: str
    to_version: int
    region: str | None = None
    state: str | None = None


@dataclass
class SelectionPlan:
    selection: Selection
    migration: Migration | None
    plans: list[tuple[CasePlan, int]] = field(default_factory=list)  # (plan, case version planned at)

    @property
    def movable(self) -> list[CasePlan]:
        return [p for p, _ in self.plans if p.migratable]

    @property
    def unmovable(self) -> list[CasePlan]:
        return [p for p, _ in self.plans if not p.migratable]

    def counts(self) -> dict[str, int]:
        """How many cases move, and how many tasks are kept, moved, cancelled and opened."""
        out = {"cases": len(self.plans), "migratable": len(self.movable), "not_migratable": len(self.unmovable),
               "tasks_kept": 0, "tasks_moved": 0, "tasks_cancelled": 0, "tasks_opened": 0, "state_changes": 0}
        for p in self.movable:
            fx = p.effects
            out["tasks_kept"] += len(fx.get("tasks_kept", []))
            out["tasks_moved"] += len(fx.get("tasks_moved", []))
            out["tasks_cancelled"] += len(fx.get("tasks_closed", []))
            out["tasks_opened"] += len(fx.get("tasks_opened", []))
            out["state_changes"] += p.state_to != p.state_from
        return out


def find_migration(registry, selection: Selection, from_version: int) -> tuple[Migration, Definition, Definition]:
    """The published migration from `from_version` to the selection's target, or `invalid_data`."""
    try:
        target = registry.get(selection.algorithm, selection.to_version)
        source = registry.get(selection.algorithm, from_version)
    except UnknownAlgorithm as exc:
        raise RuleViolation("invalid_data", str(exc.args[0]), field="to_version") from None
    migration = registry.migration(selection.algorithm, from_version, selection.to_version)
    if migration is None:
        raise RuleViolation("invalid_data", f"no migration file {selection.algorithm}.{from_version}-"
                                            f"{selection.to_version}.yaml is published", field="to_version")
    return migration, source, target


def check_selection(registry, directory, selection: Selection) -> None:
    """`invalid_data` naming the field for a selection that cannot mean anything."""
    if selection.algorithm not in registry.ids():
        raise RuleViolation("invalid_data", f"unknown algorithm {selection.algorithm!r}", field="algorithm")
    try:
        target = registry.get(selection.algorithm, selection.to_version)
    except UnknownAlgorithm:
        raise RuleViolation("invalid_data", f"{selection.algorithm} has no version {selection.to_version}",
                            field="to_version") from None
    if not any(registry.migration(selection.algorithm, d.version, target.version) for d in registry
               if d.id == selection.algorithm and d.version < target.version):
        raise RuleViolation("invalid_data", f"no migration into {selection.algorithm} version {target.version} is "
                                            "published", field="to_version")
    if selection.region is not None and selection.region not in directory.regions:
        raise RuleViolation("invalid_data", f"unknown region {selection.region!r}", field="region")
    if selection.state is not None:
        known = {s for d in registry if d.id == selection.algorithm and d.version < target.version
                 for s in d.spec.states}
        if selection.state not in known:
            raise RuleViolation("invalid_data", f"{selection.algorithm} has no state {selection.state!r} "
                                                "in a version before the target", field="state")


# ------------------------------------------------------------------------------ reading cases

def _selected(selection: Selection):
    c = T.cases.c
    q = select(T.cases).where(c.algorithm == selection.algorithm, c.algorithm_version < selection.to_version,
                              c.closed_at.is_(None))
    if selection.region is not None:
        q = q.where(c.region == selection.region)
    if selection.state is not None:
        q = q.where(c.state == selection.state)
    return q.order_by(c.id)


# Every task of the cases, open or not: the open ones (in the order they were opened) and the kinds
# opened during the current stay in the state, from one read.
_TASKS = (select(T.tasks.c.case_id, T.tasks.c.key, T.tasks.c.kind, T.tasks.c.role, T.tasks.c.body_id, T.tasks.c.due,
                 T.tasks.c.state, T.tasks.c.persistent, T.tasks.c.serves, T.tasks.c.status, T.tasks.c.opened_at)
          .where(T.tasks.c.case_id.in_(bindparam("ids", expanding=True))).order_by(T.tasks.c.case_id, T.tasks.c.id))
_TIMERS = select(T.steps.c.case_id, T.steps.c.name, T.steps.c.due_at).where(
    T.steps.c.case_id.in_(bindparam("ids", expanding=True)), T.steps.c.kind == "timer",
    T.steps.c.status == "pending")
_ENTERED = (select(T.events.c.case_id, func.max(T.events.c.at))
            .where(T.events.c.case_id.in_(bindparam("ids", expanding=True)),
                   or_(T.events.c.from_state.is_(None), T.events.c.from_state != T.events.c.to_state))
            .group_by(T.events.c.case_id))


def case_views(conn: Connection, cases: list[CaseRecord]) -> Iterator[CaseView]:
    """The migration's view of each case, read with one query per kind of row for the lot."""
    ids = [c.id for c in cases]
    timers: dict[int, dict[str, datetime]] = {}
    for case_id, name, due_at in conn.execute(_TIMERS, {"ids": ids}):
        timers.setdefault(case_id, {})[name] = due_at
    entered = {case_id: at for case_id, at in conn.execute(_ENTERED, {"ids": ids})}
    by_id = {c.id: c for c in cases}
    tasks: dict[int, list[OpenTask]] = {}
    stay: dict[int, set[str]] = {}
    for case_id, key, kind, role, body, due, state, persistent, serves, status, opened_at in conn.execute(
            _TASKS, {"ids": ids}):
        if status == "open":
            tasks.setdefault(case_id, []).append(OpenTask(key, kind, role, body, due, state, persistent, serves))
        case = by_id[case_id]
        if state == case.state and opened_at >= entered.get(case_id, case.created_at):
            stay.setdefault(case_id, set()).add(kind)
    for case in cases:
        yield CaseView(ref=case.ref, state=case.state, region=case.region, data=dict(case.data),
                       bindings=dict(case.bindings), created_at=case.created_at,
                       state_entered_at=entered.get(case.id, case.created_at), task_seq=case.task_seq,
                       open_tasks=tasks.get(case.id, []), stay_kinds=frozenset(stay.get(case.id, ())),
                       timers=timers.get(case.id, {}), history=StoredHistory(conn, case),
                       outcome=case.outcome, critical=case.critical)


def plan_one(engine, case: CaseRecord, view: CaseView, selection: Selection, now: datetime,
             regions: dict[tuple[str, str | None], dict[str, str]] | None = None) -> CasePlan:
    """The plan for one case (not migratable when its version has no published migration).
    `regions` keeps each region's (and school's) bindings for the other cases of a plan."""
    if case.closed_at is not None:
        return not_migratable(case.ref, case.state, "the case is closed")
    if case.algorithm_version >= selection.to_version:
        return not_migratable(case.ref, case.state, f"the case is already on version {case.algorithm_version}")
    try:
        migration, _, target = find_migration(engine.registry, selection, case.algorithm_version)
    except RuleViolation as exc:
        return not_migratable(case.ref, case.state, exc.message)
    source = engine.definition_for(case)
    where = (case.region, case.bindings.get("school"))
    region_bindings = regions.get(where) if regions is not None else None
    if region_bindings is None:
        region_bindings = bind(engine.svc.directory, *where)
        if regions is not None:
            regions[where] = region_bindings
    return plan_case(view, migration, source, target, engine.svc, now,
                     bindings_after(case.bindings, region_bindings))


def plan_selection(engine, selection: Selection, now: datetime, progress=None) -> SelectionPlan:
    """Every running case the selection names, with its plan; writes nothing."""
    now = as_utc(now)
    check_selection(engine.registry, engine.svc.directory, selection)
    migration = engine.registry.migration(selection.algorithm, selection.to_version - 1, selection.to_version)
    result = SelectionPlan(selection, migration)
    # Speed (plan cases/s, docs/performance.md "Migration"): a region's bindings are looked up once
    # per plan, not for each of its cases (13 directory lookups each).
    regions: dict[tuple[str, str | None], dict[str, str]] = {}
    with engine.reader() as conn:
        rows = [CaseRecord.from_row(r) for r in conn.execute(_selected(selection))]
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            for case, view in zip(chunk, case_views(conn, chunk)):
                result.plans.append((plan_one(engine, case, view, selection, now, regions), case.version))
            if progress:
                progress(min(start + CHUNK, len(rows)), len(rows))
    return result


# ------------------------------------------------------------------------------ moving one case

_TASK_ROW = {"kind": "kind", "role": "role", "body": "body_id", "persistent": "persistent"}


@lru_cache(maxsize=None)
def _update_task(columns: tuple[str, ...]):
    """The UPDATE of a task's `columns`, built once per set of columns (building a statement per
    call cost more than running it)."""
    return (update(T.tasks).where(T.tasks.c.case_id == bindparam("c_id"), T.tasks.c.key == bindparam("k"))
            .values({c: bindparam(f"v_{c}") for c in columns}))


_CANCEL_STEPS = (update(T.steps).where(T.steps.c.case_id == bindparam("c_id"), T.steps.c.task_key == bindparam("k"),
                                       T.steps.c.status == "pending").values(status="cancelled"))
_CANCEL_TIMER = (update(T.steps).where(T.steps.c.case_id == bindparam("c_id"), T.steps.c.kind == "timer",
                                       T.steps.c.name == bindparam("n"), T.steps.c.status == "pending")
                 .values(status="cancelled"))
_PIN = (update(T.cases).where(T.cases.c.id == bindparam("c_id"))
        .values(algorithm_version=bindparam("v_version"), definition_hash=bindparam("v_hash"),
                overrides=bindparam("v_overrides")))


@dataclass(frozen=True)
class Moved:
    """What moving one case did: its plan as written (or why nothing was written)."""
    ref: str
    moved: bool
    plan: CasePlan
    replanned: bool = False


def migrate_case(engine, conn: Connection, ref: str, selection: Selection, actor: str, now: datetime, *,
                 expected_version: int | None = None, check=None, person: str | None = None) -> Moved:
    """Move case `ref` in the caller's transaction. A case not migratable raises `not_migratable`;
    one already on the target version (a second apply) writes nothing and returns `moved=False`."""
    case = engine.load_case(conn, ref, lock=True)
    if check is not None:
        check(case)
    replanned = expected_version is not None and expected_version != case.version
    if case.algorithm != selection.algorithm:
        raise RuleViolation("invalid_data", f"case {ref} is a {case.algorithm} case", field="case")
    if case.algorithm_version >= selection.to_version:
        return Moved(ref, False, not_migratable(ref, case.state, f"already on version {case.algorithm_version}"))
    view = next(case_views(conn, [case]))
    plan = plan_one(engine, case, view, selection, now)
    if not plan.migratable:
        raise RuleViolation("not_migratable", f"case {ref}: {plan.reason}", field="case")
    migration, source, target = find_migration(engine.registry, selection, case.algorithm_version)
    write_migration(engine, conn, case, plan, migration, source, target, actor, now, person)
    return Moved(ref, True, plan, replanned=replanned)


def write_migration(engine, conn: Connection, case: CaseRecord, plan: CasePlan, migration: Migration,
                    source: Definition, target: Definition, actor: str, now: datetime, person: str | None) -> None:
    """Write the plan's effects: task rows, steps, timers, the `migrated` event, outbox, case row."""
    fx = plan.effects
    from_state = case.state
    change = CaseChange(conn, engine.svc, target, case, now)
    change.person = person
    for item in fx.get("tasks_kept", []) + fx.get("tasks_moved", []):
        changed = {column: item[name] for name, column in _TASK_ROW.items()
                   if name in item and ("from_kind" in item or "from_body" in item or name == "persistent")}
        if changed:
            conn.execute(_update_task(tuple(changed)), {"c_id": case.id, "k": item["key"],
                                                        **{f"v_{c}": v for c, v in changed.items()}})
    for item in fx.get("tasks_moved", []):
        conn.execute(_CANCEL_STEPS, {"c_id": case.id, "k": item["key"]})
        change.new_steps.extend({"case_id": case.id, "task_key": item["key"], "kind": s["step"], "name": None,
                                 "due_at": _instant(s["at"]), "status": "pending"} for s in item["steps"])
    seq = case.version + 1
    change.closed = [{"c_id": case.id, "k": t["key"], "st": "cancelled", "at": now, "by": seq}
                     for t in fx.get("tasks_closed", [])]
    for t in fx.get("tasks_opened", []):
        change.new_tasks.append(TaskRow(key=t["key"], kind=t["kind"], role=t["role"], body_id=t["body"],
                                        state=t["state"], opened_at=now, due=_instant(t["due"]),
                                        deadline=t["deadline"], ladder=t["ladder"], persistent=t["persistent"],
                                        serves=None))
        change.new_steps.extend({"case_id": case.id, "task_key": t["key"], "kind": s["step"], "name": None,
                                 "due_at": _instant(s["at"]), "status": "pending"} for s in t["steps"])
    for name in fx.get("timers_cancelled", []):
        conn.execute(_CANCEL_TIMER, {"c_id": case.id, "n": name})
    change.new_steps.extend({"case_id": case.id, "task_key": None, "kind": "timer", "name": t["name"],
                             "due_at": _instant(t["at"]), "status": "pending"} for t in fx.get("timers_started", []))
    case.state, case.data, case.bindings, case.task_seq = plan.state_to, plan.data, plan.bindings, plan.task_seq
    case.algorithm_version, case.definition_hash = target.version, target.content_hash
    change.effects = fx
    data = {"from_version": source.version, "to_version": target.version, "migration_hash": migration.content_hash,
            "note": migration.note}
    change.write_event(actor, TRIGGER, data, from_state)
    conn.execute(_PIN, {"c_id": case.id, "v_version": target.version, "v_hash": target.content_hash,
                        "v_overrides": target.overrides or None})


def _instant(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def describe(plan: CasePlan) -> dict[str, Any]:
    """One case's plan as the CLI's --json, the API and the page show it."""
    fx = plan.effects
    out: dict[str, Any] = {"ref": plan.ref, "state": plan.state_from, "state_after": plan.state_to}
    if not plan.migratable:
        out["not_migratable"] = plan.reason
        return out
    out.update({
        "tasks_kept": [{"key": t["key"], "kind": t["kind"], "body": t["body"], "due": t["due"]}
                       for t in fx.get("tasks_kept", [])],
        "tasks_moved": [{"key": t["key"], "kind": t["kind"], "from_body": t["from_body"], "body": t["body"],
                         "due": t["due"]} for t in fx.get("tasks_moved", [])],
        "tasks_cancelled": [t["key"] for t in fx.get("tasks_closed", [])],
        "tasks_opened": [{"key": t["key"], "kind": t["kind"], "body": t["body"], "due": t["due"]}
                         for t in fx.get("tasks_opened", [])],
        "timers": [{"name": t["name"], "at": t["at"]} for t in fx.get("timers_started", [])],
    })
    if fx.get("data_defaults"):
        out["data_defaults"] = fx["data_defaults"]
    return out

