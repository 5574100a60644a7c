"""Replay a case from its history: fold the effects its events recorded (dues, bindings) into the
case as it stood at any moment. Replay never recomputes them from today's calendar or directory,
so a later change of either does not rewrite the past. Checking a history is `verify.py`'s job.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from .clock import iso
from .history import GENESIS

SYSTEM_TRIGGERS = {"launch", "reminder", "overdue", "escalation", "critical", "timer", "linked"}
MIGRATED = "migrated"  # the case moved to another version of its algorithm (states/migration.py)
LADDER_STEPS = ("reminder", "overdue", "escalation", "critical")
ESCALATION_LEVEL = {"overdue": 1, "escalation": 2, "critical": 3}


@dataclass
class ReplayedCase:
    state: str | None = None
    outcome: str | None = None
    critical: bool = False
    region: str | None = None
    bindings: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = 0
    head_hash: str = GENESIS
    at: str | None = None  # the last event's time, canonical ISO (UTC)
    algorithm_version: int | None = None  # the version of the algorithm the case was on at that moment
    launched_at: str | None = None
    state_entered_at: str | None = None  # the last event that changed the state
    timers: dict[str, str] = field(default_factory=dict)  # pending timers: name -> due

    def open_tasks(self) -> list[dict[str, Any]]:
        return [t for t in self.tasks.values() if t["status"] == "open"]


def apply_event(case: ReplayedCase, ev: dict[str, Any]) -> None:
    """Fold one event (as its hashed document) into the replayed case."""
    fx = ev["effects"] or {}
    case.version = ev["seq"]
    case.at = ev["at"]
    case.algorithm_version = ev.get("version")
    if ev["trigger"] == "launch" or ev["from"] != ev["to"]:
        case.state_entered_at = ev["at"]
    case.state = ev["to"]
    if ev["trigger"] == "launch":
        case.region = ev["data"].get("region")
        case.launched_at = ev["at"]
    if "bindings" in fx:
        case.bindings = dict(fx["bindings"])
    if ev["trigger"] == MIGRATED:
        for t in fx.get("tasks_kept", []) + fx.get("tasks_moved", []):
            if t["key"] in case.tasks:
                task = case.tasks[t["key"]]
                task.update(kind=t["kind"], body=t["body"])
                for name in ("role", "persistent", "steps"):
                    if t.get(name) is not None:
                        task[name] = t[name]
    for t in fx.get("tasks_opened", []):
        case.tasks[t["key"]] = {"key": t["key"], "kind": t["kind"], "body": t["body"], "due": t["due"],
                                "status": "open", "overdue": False, "opened_at": ev["at"], "level": 0,
                                "serves": t.get("serves"), "steps": t.get("steps", []), "role": t.get("role"),
                                "state": t.get("state"), "persistent": t.get("persistent", False)}
    for t in fx.get("tasks_closed", []):
        if t["key"] in case.tasks:
            case.tasks[t["key"]]["status"] = t["status"]
    for key in fx.get("overdue", []):
        if key in case.tasks:
            case.tasks[key]["overdue"] = True
    level = ESCALATION_LEVEL.get(ev["trigger"])
    if level and ev["actor"] == "system":
        key = (ev.get("data") or {}).get("task")
        if key in case.tasks:
            case.tasks[key]["level"] = max(case.tasks[key].get("level", 0), level)
    moved = fx.get("transferred")
    if moved:
        case.region = moved["region"]
        case.bindings = dict(moved["bindings"])
        for t in moved["tasks_moved"]:
            if t["key"] in case.tasks:
                case.tasks[t["key"]].update(body=t["body"], due=t["due"], overdue=False, steps=t.get("steps", []))
    _timers(case, fx)
    if "outcome" in fx:
        case.outcome = fx["outcome"]
    if fx.get("reopened"):
        case.outcome = None
    if fx.get("critical"):
        case.critical = True


def _timers(case: ReplayedCase, fx: dict[str, Any]) -> None:
    fired = fx.get("timer")
    if fired:
        case.timers.pop(fired.get("timer"), None)
    cancelled = fx.get("timers_cancelled")
    if cancelled:
        if "*" in cancelled:
            case.timers.clear()
        for name in cancelled:
            case.timers.pop(name, None)
    for t in fx.get("timers_started", []):
        case.timers[t["name"]] = t["at"]


def replay(events: Iterable[dict[str, Any]], at: datetime | None = None) -> ReplayedCase:
    """The case as its events make it, optionally only up to the moment `at`."""
    case = ReplayedCase()
    limit = iso(at) if at is not None else None
    for ev in events:
        if limit is not None and ev["at"] > limit:  # canonical ISO strings order as instants do
            break
        apply_event(case, ev)
    return case
