"""The effects of the cross-cutting triggers every algorithm has: `transfer` and `link`
(`withdraw` is a plain transition to `closed`, declared in algorithms/common.yaml)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update

from . import tables as T
from .binding import bind
from .clock import iso
from .errors import RuleViolation
from .recipients import bound_body
from .unit_of_work import CaseChange


def transfer(change, payload: dict[str, Any]) -> None:
    """Re-bind the case to the new region's bodies; open tasks move with deadlines recomputed."""
    case, directory = change.case, change.svc.directory
    new_region = payload["to_region"]
    if new_region == case.region and not payload.get("to_school"):
        raise RuleViolation("invalid_data", f"field 'to_region': the case is already in {new_region}; "
                                            "name `to_school` to move it within the region", field="to_region")
    old_bodies = list(dict.fromkeys(case.bindings.values()))
    old_region = case.region
    new_bindings = bind(directory, new_region, payload.get("to_school"), field="to_school")
    case.bindings = new_bindings
    case.region = new_region
    moved = []
    for task in list(change.open_tasks().values()):
        if task.key not in change.open_tasks():
            continue
        if task.serves is not None:
            # The served task's ladder restarts from the transfer, so its escalation goes too.
            if task.key in change.open_tasks():
                change.close_task(task.key, "cancelled")
            continue
        body_id = bound_body(task.role, new_bindings, directory) or task.body_id
        task.body_id = body_id
        task.opened_at = change.now
        task.due = change.due_for(task.deadline, change.now)
        task.overdue = False
        change.conn.execute(update(T.steps).where(T.steps.c.case_id == case.id, T.steps.c.task_key == task.key,
                                                  T.steps.c.status == "pending").values(status="cancelled"))
        steps = change._schedule_ladder(task)
        change.conn.execute(update(T.tasks).where(T.tasks.c.case_id == case.id, T.tasks.c.key == task.key)
                            .values(body_id=body_id, due=task.due, overdue=False))
        moved.append({"key": task.key, "body": body_id, "due": iso(task.due),
                      "steps": [{"step": s, "at": iso(t)} for s, t in steps]})
    change.effects["from_region"] = old_region
    change.effects["transferred"] = {"region": new_region, "bindings": new_bindings, "tasks_moved": moved}
    recipients = list(dict.fromkeys(old_bodies + list(new_bindings.values())))
    change.notify_bodies("case_transferred", recipients)


def link(engine, change, other, actor: str) -> None:
    """Record a relation both ways, once per pair, never into a closed case; the other case's
    history shows it too. `other` is the case named, already checked to be within the actor's
    reach (Engine._other_case) and loaded for the write."""
    conn, case = change.conn, change.case
    if other.closed_at is not None:
        raise RuleViolation("guard_failed", f"case {other.ref} is closed: nothing is linked into a closed case")
    exists = conn.execute(select(T.case_links.c.case_id).where(
        T.case_links.c.case_id == case.id, T.case_links.c.other_case_id == other.id,
        T.case_links.c.relation == "linked")).first()
    if exists:
        raise RuleViolation("guard_failed", f"cases {case.ref} and {other.ref} are already linked")
    conn.execute(insert(T.case_links), [
        {"case_id": case.id, "other_case_id": other.id, "relation": "linked", "created_at": change.now},
        {"case_id": other.id, "other_case_id": case.id, "relation": "linked", "created_at": change.now}])
    change.effects["linked"] = other.ref
    mirror = CaseChange(conn, change.svc, engine.definition_for(other), other, change.now)
    mirror.person = change.person
    mirror.effects["linked"] = case.ref
    mirror.write_event(actor, "linked", {"case": case.ref}, other.state)
