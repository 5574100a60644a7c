"""`qorgau diff`: what changed between two versions of one algorithm, as a list of changes a
coordinator reads (states, tasks, triggers, ladders, timers, launch data, the line of subordination).

The comparison starts from the one the docs pages use (`changes.differing_elements`): the definition
cut into elements, compared without their `source:` strings. Each differing element is then read
field by field; whatever no reader below names is still reported as an "other" change, so nothing
that differs is left out. The words live in diff_words.py and diff_text.py.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

from algorithms.definition import Definition
from algorithms.schema import LadderSpec
from states.directory import BODY_TYPES, PARENT_TYPE, PARENT_TYPE_V1

from app.algorithm_docs.changes import differing_elements, elements_of
from app.algorithm_docs.words import step_recipients


GROUPS = ("states", "tasks", "triggers", "ladders", "timers", "launch", "escalation", "outcomes")
PARENTS = {"spec_2023": PARENT_TYPE_V1, "directory": PARENT_TYPE}
# Defaults of the schema, so that "not written" and "written as the default" compare equal.
_TASK_DEFAULTS = {"ladder": "standard", "persistent": False, "when": None}
_TRIGGER_DEFAULTS = {"decision": False, "completes": [], "guard": None, "notify": [], "data": {}}
# Definition settings left out: `sources` are citations and `common` names the shared file, whose
# effects are reported where they land (the triggers and ladders it changes).
_QUIET_SETTINGS = ("sources", "common", "subordination")


@dataclass(frozen=True)
class Change:
    """One difference. `subject` is the identifier of what changed (state, task kind, trigger,
    ladder, timer, launch field, body type, outcome); `state` the state a task or timer belongs to;
    `item` the part of it (a data field, a ladder step, a notification template); `old`/`new` are
    the values as written in the definitions (None where a side has none)."""
    group: str
    what: str
    subject: str
    state: str | None = None
    item: str | None = None
    old: Any = None
    new: Any = None


@dataclass(frozen=True)
class AlgorithmDiff:
    old: Definition
    new: Definition
    changes: tuple[Change, ...]

    @property
    def algorithm(self) -> str:
        return self.new.id

    def grouped(self) -> dict[str, list[Change]]:
        return {g: [c for c in self.changes if c.group == g] for g in GROUPS}

    def as_json(self) -> dict:
        return {"algorithm": self.algorithm, "from": self.old.version, "to": self.new.version,
                "changes": {g: [asdict(c) for c in cs] for g, cs in self.grouped().items()}}


def compare(old: Definition, new: Definition) -> AlgorithmDiff:
    """Every change from `old` to `new` (two versions of one algorithm), grouped as in GROUPS."""
    out: list[Change] = []
    for key, new_el, old_el in differing_elements(new, old):
        reader = _READERS.get(key[0])
        if reader is not None:
            out += reader(key, old_el.value if old_el else None, new_el.value if new_el else None)
    out += _subordination(old, new)
    return AlgorithmDiff(old, new, tuple(sorted(out, key=lambda c: GROUPS.index(c.group))))


def _added_removed(group: str, subject: str, old: Any, new: Any, **where) -> list[Change] | None:
    if old is None:
        return [Change(group, "added", subject, new=new, **where)]
    if new is None:
        return [Change(group, "removed", subject, old=old, **where)]
    return None


def _fields(group: str, subject: str, old: dict, new: dict, names: Iterable[str],
            defaults: dict | None = None, **where) -> list[Change]:
    """One change per named key whose value differs (a missing key counts as its default)."""
    defaults = defaults or {}
    out = []
    for name in names:
        a, b = old.get(name, defaults.get(name)), new.get(name, defaults.get(name))
        if a != b:
            out.append(Change(group, name, subject, old=a, new=b, **where))
    return out


def _others(group: str, subject: str, old: dict, new: dict, known: Iterable[str], **where) -> list[Change]:
    """The keys no reader names, as one "other" change (item: their names)."""
    rest = [k for k in list(new) + [k for k in old if k not in new] if k not in known and old.get(k) != new.get(k)]
    if not rest:
        return []
    return [Change(group, "other", subject, item=", ".join(rest), old={k: old.get(k) for k in rest},
                   new={k: new.get(k) for k in rest}, **where)]


def _state(key: tuple, old: Any, new: Any) -> list[Change]:
    name = key[1]
    found = _added_removed("states", name, old, new)
    if found is not None:
        return found
    out = _renamed("states", name, old.get("title"), new.get("title"))
    out += _notify("states", name, old.get("notify") or [], new.get("notify") or [])
    return out + _others("states", name, old, new, ("title", "notify"))


def _task(key: tuple, old: Any, new: Any) -> list[Change]:
    _, state, kind, _n = key
    return _part_of_state("tasks", kind, state, old, new, ("body", "deadline", "ladder", "persistent", "when"),
                          _TASK_DEFAULTS, "kind")


def _timer(key: tuple, old: Any, new: Any) -> list[Change]:
    _, state, name = key
    return _part_of_state("timers", name, state, old, new, ("after", "anchor", "open_task", "fire"),
                          {"anchor": []}, "name")


def _part_of_state(group: str, subject: str, state: str, old: Any, new: Any, names: tuple[str, ...],
                   defaults: dict, identifier: str) -> list[Change]:
    """A task or timer of a state: added, removed, or each named key that changed, then the rest."""
    found = _added_removed(group, subject, old, new, state=state)
    if found is not None:
        return found
    return (_fields(group, subject, old, new, names, defaults, state=state)
            + _others(group, subject, old, new, names + (identifier,), state=state))


def _trigger(key: tuple, old: Any, new: Any) -> list[Change]:
    name = key[1]
    found = _added_removed("triggers", name, old, new)
    if found is not None:
        return found
    out = _renamed("triggers", name, old.get("title"), new.get("title"))
    out += _fields("triggers", name, old, new, ("actors", "decision"), _TRIGGER_DEFAULTS)
    out += _data("triggers", name, old.get("data") or {}, new.get("data") or {})
    before, after = old.get("transitions") or [], new.get("transitions") or []
    out += [Change("triggers", "transition_removed", name, old=t) for t in before if t not in after]
    out += [Change("triggers", "transition_added", name, new=t) for t in after if t not in before]
    out += _fields("triggers", name, old, new, ("completes", "guard"), _TRIGGER_DEFAULTS)
    out += _notify("triggers", name, old.get("notify") or [], new.get("notify") or [])
    known = ("title", "actors", "decision", "data", "transitions", "completes", "guard", "notify")
    return out + _others("triggers", name, old, new, known)


def _data(group: str, subject: str, old: dict, new: dict) -> list[Change]:
    """Data fields (a trigger's, or the launch's): added, removed, required or not, values, the rest."""
    out = []
    for name in list(new) + [n for n in old if n not in new]:
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if a is None or b is None:
            out.append(Change(group, "field_added" if a is None else "field_removed", subject, item=name,
                              old=a, new=b))
            continue
        if _requirement(a) != _requirement(b):
            out.append(Change(group, "field_required", subject, item=name, old=_requirement(a), new=_requirement(b)))
        if a.get("values") != b.get("values"):
            out.append(Change(group, "field_values", subject, item=name, old=a.get("values"), new=b.get("values")))
        rest = [k for k in list(b) + [k for k in a if k not in b]
                if k not in ("required", "required_when", "values", "title", "help") and a.get(k) != b.get(k)]
        if rest:
            out.append(Change(group, "field_other", subject, item=name, old={k: a.get(k) for k in rest},
                              new={k: b.get(k) for k in rest}))
    return out


def _requirement(field: dict) -> dict:
    return {"required": bool(field.get("required")), "required_when": field.get("required_when")}


def _notify(group: str, subject: str, old: list, new: list) -> list[Change]:
    """Notifications matched by template and condition: who now also gets one, who no longer does."""
    def by_rule(items: list) -> dict[tuple, list[str]]:
        out: dict[tuple, list[str]] = {}
        for n in items:
            key = (n["template"], repr(n.get("when")))
            out.setdefault(key, [])
            out[key] += [t for t in n["to"] if t not in out[key]]
        return out

    before, after = by_rule(old), by_rule(new)
    when = {k: n.get("when") for n in old + new for k in [(n["template"], repr(n.get("when")))]}
    out = []
    for key in list(after) + [k for k in before if k not in after]:
        added = [t for t in after.get(key, []) if t not in before.get(key, [])]
        dropped = [t for t in before.get(key, []) if t not in after.get(key, [])]
        if added:
            out.append(Change(group, "notify_added", subject, item=key[0], new={"to": added, "when": when[key]}))
        if dropped:
            out.append(Change(group, "notify_removed", subject, item=key[0], old={"to": dropped, "when": when[key]}))
    return out


def _ladder(key: tuple, old: Any, new: Any) -> list[Change]:
    name = key[1]
    found = _added_removed("ladders", name, old, new)
    if found is not None:
        return found
    before = {s.step: s for s in LadderSpec.model_validate(old).steps}
    after = {s.step: s for s in LadderSpec.model_validate(new).steps}
    out = []
    for step in list(after) + [s for s in before if s not in after]:
        a, b = before.get(step), after.get(step)
        if a is None or b is None:
            out.append(Change("ladders", "step_added" if a is None else "step_removed", name, item=step,
                              old=a and a.model_dump(mode="json", exclude_none=True),
                              new=b and b.model_dump(mode="json", exclude_none=True)))
            continue
        if step_recipients(a) != step_recipients(b):
            out.append(Change("ladders", "step_to", name, item=step, old=step_recipients(a), new=step_recipients(b)))
        if a.at != b.at:
            out.append(Change("ladders", "step_at", name, item=step, old=a.at, new=b.at))
        if a.ensure_completion != b.ensure_completion:
            out.append(Change("ladders", "step_ensure", name, item=step,
                              old=a.ensure_completion and a.ensure_completion.rule(),
                              new=b.ensure_completion and b.ensure_completion.rule()))
    return out


def _launch(key: tuple, old: Any, new: Any) -> list[Change]:
    part = key[1]
    if part == "notify":
        return _notify("launch", "launch", old or [], new or [])
    if part in ("start", "late", "actors"):
        return [Change("launch", part, "launch", old=old, new=new)]
    return [Change("launch", "other", "launch", item=part, old=old, new=new)]


def _launch_field(key: tuple, old: Any, new: Any) -> list[Change]:
    name = key[1]
    return _data("launch", "launch", {name: old} if old is not None else {}, {name: new} if new is not None else {})


def _task_kind(key: tuple, old: Any, new: Any) -> list[Change]:
    # A new or removed kind shows where its task is opened; only a new title is said here.
    if old is None or new is None:
        return []
    return _renamed("tasks", key[1], old.get("title"), new.get("title"))


def _outcome(key: tuple, old: Any, new: Any) -> list[Change]:
    found = _added_removed("outcomes", key[1], old, new)
    return found if found is not None else _renamed("outcomes", key[1], old, new)


def _role(key: tuple, old: Any, new: Any) -> list[Change]:
    return _added_removed("launch", key[1], old, new) or [Change("launch", "role", key[1], old=old, new=new)]


def _setting(key: tuple, old: Any, new: Any) -> list[Change]:
    if key[1] in _QUIET_SETTINGS:
        return []
    if key[1] == "title":
        return _renamed("launch", "title", old, new)
    return [Change("launch", "other", "launch", item=key[1], old=old, new=new)]


def _renamed(group: str, subject: str, old: dict | None, new: dict | None) -> list[Change]:
    return [Change(group, "renamed", subject, old=old, new=new)] if old and new and old != new else []


def _subordination(old: Definition, new: Definition) -> list[Change]:
    """The line of subordination: which chain escalations climb, and for each body type that owns a
    task here, its parent where the two chains differ."""
    a, b = old.spec.subordination, new.spec.subordination
    if a == b:
        return []
    out = [Change("escalation", "subordination", "subordination", old=a, new=b)]
    for body in sorted(_task_owners(old) | _task_owners(new)):
        pa, pb = PARENTS[a].get(body), PARENTS[b].get(body)
        if pa != pb:
            out.append(Change("escalation", "parent", body, old=pa, new=pb))
    return out


def _task_owners(d: Definition) -> set[str]:
    """The body types that own a task of the definition (a state's, a timer's or a trigger's)."""
    owners = set()
    for key, el in elements_of(d).items():
        if key[0] == "task":
            owners.add(el.value["body"])
        elif key[0] == "timer" and el.value.get("open_task"):
            owners.add(el.value["open_task"]["body"])
        elif key[0] == "trigger":
            owners |= {t["body"] for t in el.value.get("opens") or []}
    return owners & BODY_TYPES


_READERS: dict[str, Callable[[tuple, Any, Any], list[Change]]] = {
    "state": _state, "task": _task, "timer": _timer, "trigger": _trigger, "ladder": _ladder,
    "launch": _launch, "launch.data": _launch_field, "task_kind": _task_kind, "outcome": _outcome,
    "role": _role, "setting": _setting,
}
