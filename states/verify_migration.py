"""Verifying a `migrated` event: the migration file, applied to the case as its history makes it just
before the move, must give exactly the effects the event records (../shared/spec/migration.md,
"Replay and verification"). The same planner the command used (states/migration_plan.py) runs on the
replayed case; nothing here reads the store.
"""
from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from .guards import CaseHistory
from .migration_plan import CaseView, OpenTask, plan_case
from .replay import ReplayedCase


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


class DocsHistory(CaseHistory):
    """The events before the migration, as the planner's timer anchors ask for them."""

    def __init__(self, earlier: list[tuple[str, str, str | None, str]]):
        self.earlier = earlier  # (trigger, at, from, to), in order

    def last_at(self, triggers: list[str]) -> datetime | None:
        found = [at for trigger, at, _, _ in self.earlier if trigger in triggers]
        return _instant(max(found)) if found else None

    def occurred_since(self, triggers: list[str], since: list[str]) -> bool:
        seen = False
        for trigger, _, _, _ in self.earlier:
            if trigger in since:
                seen = False
            if trigger in triggers:
                seen = True
        return seen

    def entered_from(self) -> str | None:
        if not self.earlier:
            return None
        state = self.earlier[-1][3]
        for _, _, source, dest in reversed(self.earlier):
            if dest == state and source != dest:
                return source
        return None


@lru_cache(maxsize=1)
def default_services(registry):
    """The shipped directory and calendar, as the engine's services (verification has no engine)."""
    from .calendar import Calendar
    from .directory import Directory
    from .unit_of_work import Services
    return Services(registry, Directory.load(), Calendar.load())


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def check_migration(doc: dict[str, Any], replayed: ReplayedCase, earlier: list[tuple[str, str, str | None, str]],
                    registry, algorithm: str, target) -> list[str]:
    """Problems with one `migrated` event (none when the file gives exactly what it records)."""
    data, fx = doc["data"], doc["effects"] or {}
    if not isinstance(data, dict):
        data = json.loads(data)
    source_info = fx.get("migrated_from") or {}
    migration = registry.migration(algorithm, data.get("from_version"), data.get("to_version"))
    if migration is None:
        return [f"migration {algorithm} {data.get('from_version')} → {data.get('to_version')} is not published"]
    if migration.content_hash != data.get("migration_hash"):
        return [f"the migration file {migration.file} differs from the one this event applied"]
    if target is None or target.version != data.get("to_version"):
        return [f"the event moves the case to version {data.get('to_version')}, not to the version it is on"]
    try:
        source = registry.variant(algorithm, data["from_version"], source_info.get("overrides"))
    except KeyError:
        return [f"{algorithm} v{data['from_version']} is not loaded"]
    if source.content_hash != source_info.get("definition"):
        return ["the definition the case moved from differs from the loaded one"]
    bindings = fx.get("bindings", replayed.bindings)
    if any(bindings.get(role) != body for role, body in replayed.bindings.items()):
        return ["the migration changed a binding the case had (it may only add new ones)"]
    defaults = fx.get("data_defaults") or {}
    before = {k: v for k, v in (fx.get("case_data") or {}).items() if k not in defaults}
    tasks = [t for t in replayed.tasks.values() if t["status"] == "open"]
    entered = replayed.state_entered_at or replayed.launched_at
    view = CaseView(
        ref=doc["case"], state=replayed.state, region=replayed.region, data=before, bindings=dict(replayed.bindings),
        created_at=_instant(replayed.launched_at), state_entered_at=_instant(entered),
        task_seq=max((int(k[1:]) for k in replayed.tasks if k[1:].isdigit()), default=0),
        open_tasks=[OpenTask(t["key"], t["kind"], t.get("role") or "", t["body"], _instant(t["due"]), t.get("state"),
                             bool(t.get("persistent")), t.get("serves")) for t in tasks],
        stay_kinds=frozenset(t["kind"] for t in replayed.tasks.values()
                             if t.get("state") == replayed.state and t["opened_at"] >= entered),
        timers={name: _instant(at) for name, at in replayed.timers.items()},
        history=DocsHistory(earlier), outcome=replayed.outcome, critical=replayed.critical)
    plan = plan_case(view, migration, source, target, default_services(registry), _instant(doc["at"]), dict(bindings))
    if not plan.migratable:
        return [f"the migration file would not move this case: {plan.reason}"]
    problems = []
    if plan.state_to != doc["to"]:
        problems.append(f"the migration file moves the case to {plan.state_to!r}, the event says {doc['to']!r}")
    expected, recorded = _normal(plan.effects), _normal(fx)
    for key in sorted(set(expected) | set(recorded)):
        if expected.get(key) != recorded.get(key):
            problems.append(f"its effects `{key}` are not what the migration file gives "
                            f"(recorded {json.dumps(recorded.get(key), ensure_ascii=False)[:200]}, "
                            f"expected {json.dumps(expected.get(key), ensure_ascii=False)[:200]})")
    return problems
