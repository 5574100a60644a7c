"""Load algorithm definitions from YAML and reject bad ones with `file:line: rule`.

Structure is checked by the pydantic schema; this module adds the rules that need the whole
definition: every named state, trigger, task kind, body type, template and ladder exists, every
state is reachable, every non-final state has a way out, and guards only read declared fields.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from pydantic import ValidationError

from .definition import ANY, NON_FINAL, RETURN, SAME, Definition
from .schema import BODY_TYPES, TEMPLATES, AlgorithmSpec, Guard, NotifySpec, TaskSpec
from .yaml_lines import LocatedYaml, YamlSyntaxError, load_located

ALGORITHMS_DIR = Path(__file__).parent
COMMON_FILE = ALGORITHMS_DIR / "common.yaml"
CASE_BUILTINS = {"state", "outcome", "region", "critical"}
SPECIAL_ACTORS = {"system", "any_bound"}
SPECIAL_RECIPIENTS = {"all_bound", "assignee", "assignee.parent"}
LADDER_RECIPIENTS = {"assignee", "assignee.parent", "assignee.top", "assignee.line_ministry"}


class DefinitionError(ValueError):
    """A definition broke one or more rules; each problem reads `file:line: rule`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def content_hash(raw: dict[str, Any]) -> str:
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


COMMON_SECTIONS = ("ladders", "task_kinds", "triggers")
COMMON_SETTINGS = ("subordination",)  # top-level settings a common file gives every definition using it


def load_common(path: Path = COMMON_FILE) -> LocatedYaml:
    """A common file; one that `extends` another is that file with its own entries laid over it
    (an entry of the same name replaces the base's whole)."""
    doc = load_located(path)
    base_name = doc.data.get("extends") if isinstance(doc.data, dict) else None
    if not base_name:
        return doc
    base = load_common(Path(path).parent / base_name)
    data = {k: copy.deepcopy(v) for k, v in base.data.items()}
    for key, value in doc.data.items():
        if key == "extends":
            continue
        if key in COMMON_SECTIONS:
            data[key] = {**(data.get(key) or {}), **copy.deepcopy(value or {})}
        else:
            data[key] = copy.deepcopy(value)
    return _Layered(doc, base, data)


class _Layered(LocatedYaml):
    """A common file laid over the one it extends: each path is located in the file it comes from."""

    def __init__(self, top: LocatedYaml, base: LocatedYaml, data: dict[str, Any]):
        super().__init__(top.file, data, {**base.lines, **top.lines})
        self.top, self.base = top, base

    def where(self, path) -> str:
        path = tuple(path)
        for prefix in (path[:i] for i in range(len(path), 0, -1)):
            if prefix in self.top.lines:
                return self.top.where(path)
            if prefix in self.base.lines:
                return self.base.where(path)
        return self.top.where(path)


def _common_for(doc: LocatedYaml, default: LocatedYaml | None, problems: list[str]) -> LocatedYaml:
    """The common file a definition names (`common: {file: ...}`), else the shipped one."""
    use = doc.data.get("common") if isinstance(doc.data.get("common"), dict) else {}
    name = use.get("file")
    if not name:
        return default or load_common()
    path = Path(doc.file).parent / str(name)
    if not path.exists():
        path = ALGORITHMS_DIR / str(name)
    try:
        return load_common(path)
    except (OSError, YamlSyntaxError) as exc:
        problems.append(f"{doc.where(('common', 'file'))}: cannot read common file {name!r}: {exc}")
        return default or load_common()


def _merge_common(doc: LocatedYaml, common: LocatedYaml, problems: list[str]) -> dict[str, Any]:
    data = copy.deepcopy(doc.data)
    use = data.get("common") if isinstance(data.get("common"), dict) else {}
    omit = set(use.get("omit") or [])
    amend = use.get("amend") or {}
    common_triggers = common.data.get("triggers") or {}
    for i, name in enumerate(use.get("omit") or []):
        if name not in common_triggers:
            problems.append(f"{doc.where(('common', 'omit', i))}: omits {name!r}, which {common.file} does not define")
    for name in amend:
        if name not in common_triggers or name in omit:
            problems.append(f"{doc.where(('common', 'amend', name))}: amends {name!r}, which is not a trigger "
                            f"taken from {common.file}")
    for section in COMMON_SECTIONS:
        mine = data.setdefault(section, {}) or {}
        for name, value in (common.data.get(section) or {}).items():
            if section == "triggers" and name in omit:
                continue
            if name in mine:
                problems.append(f"{doc.where((section, name))}: {section[:-1]} {name!r} is defined in "
                                f"{common.file} and may not be redefined")
                continue
            value = copy.deepcopy(value)
            if section == "triggers" and isinstance(amend.get(name), dict):
                value.update({k: copy.deepcopy(v) for k, v in amend[name].items() if v is not None})
            mine[name] = value
        data[section] = mine
    for key in COMMON_SETTINGS:
        if key in common.data and key not in data:
            data[key] = copy.deepcopy(common.data[key])
    return data


def load_definition(path: str | Path, common: LocatedYaml | None = None,
                    overrides: dict[str, dict[str, int]] | None = None) -> Definition:
    """Load and check one definition file. `overrides` maps `task_kind -> deadline rule` for this
    algorithm (deployment settings); they become part of the pinned content hash."""
    try:
        doc = load_located(path)
    except YamlSyntaxError as exc:
        raise DefinitionError([str(exc)]) from None
    if not isinstance(doc.data, dict):
        raise DefinitionError([f"{doc.file}:1: a definition must be a mapping"])
    problems: list[str] = []
    try:
        common = _common_for(doc, common, problems)
    except YamlSyntaxError as exc:
        raise DefinitionError([str(exc)]) from None
    data = _merge_common(doc, common, problems)
    common_triggers = frozenset((common.data.get("triggers") or {}).keys()) & frozenset(data["triggers"])
    base_hash = content_hash(data)
    if overrides:
        _apply_overrides(data, overrides, doc, problems)
    try:
        spec = AlgorithmSpec.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "Deadline", "Guard", "list[", "str", "literal"))))
            problems.append(f"{_where(doc, common, loc, common_triggers)}: {'.'.join(map(str, loc))}: {err['msg']}")
        raise DefinitionError(problems) from None
    definition = Definition(spec=spec, content_hash=content_hash(data), file=doc.file,
                            common_triggers=common_triggers, raw=data, base_hash=base_hash,
                            overrides={k: dict(v) for k, v in (overrides or {}).items()})
    problems.extend(_check(definition, doc, common))
    if problems:
        raise DefinitionError(problems)
    return definition


def _where(doc: LocatedYaml, common: LocatedYaml, path: tuple, common_triggers: frozenset[str]) -> str:
    """The line of `path`: in the definition, or in its common file for what that file defines."""
    if len(path) >= 2 and path[:2] not in doc.lines:
        if path[0] == "triggers" and path[1] in common_triggers:
            return common.where(path)
        if path[0] in ("ladders", "task_kinds") and path[1] in (common.data.get(path[0]) or {}):
            return common.where(path)
    return doc.where(path)


def _apply_overrides(data: dict, overrides: dict[str, dict[str, int]], doc: LocatedYaml, problems: list[str]) -> None:
    found = set()

    def visit(tasks: list[dict]) -> None:
        for task in tasks or []:
            if task.get("kind") in overrides:
                rule = overrides[task["kind"]]
                if not isinstance(rule, dict) or len(rule) != 1:
                    problems.append(f"{doc.file}:1: deadline override for {task['kind']!r} must be one rule, "
                                    "e.g. {working_days: 5}")
                    continue
                task["deadline"] = dict(rule)
                task["source"] = f"deployment override (was: {task.get('source', 'suggested default')})"
                found.add(task["kind"])

    for state in (data.get("states") or {}).values():
        visit(state.get("tasks"))
        visit([t["open_task"] for t in state.get("timers") or [] if t.get("open_task")])
    for trig in (data.get("triggers") or {}).values():
        visit(trig.get("opens"))
    late = (data.get("launch") or {}).get("late")
    if isinstance(late, dict) and late.get("record") in overrides:
        late["after"] = dict(overrides[late["record"]])
        late["source"] = f"deployment override (was: {late.get('source', 'suggested default')})"
        found.add(late["record"])
    for kind in set(overrides) - found:
        problems.append(f"{doc.file}:1: deadline override for unknown task kind {kind!r}")


# ---------------------------------------------------------------- whole-definition rules

def _check(d: Definition, doc: LocatedYaml, common: LocatedYaml) -> list[str]:
    problems: list[str] = []
    spec = d.spec
    states = set(spec.states)
    roles = set(spec.roles)
    body_like = set(BODY_TYPES) | roles
    kinds = set(spec.task_kinds)
    ladders = set(spec.ladders)
    launch_fields = {k for k, f in spec.launch.data.items() if f.type != "child"}
    recorded = {target for t in spec.triggers.values() for target in t.recorded().values()}
    counters = {c for t in spec.triggers.values() for c in t.count}
    late = spec.launch.late
    case_fields = launch_fields | recorded | counters | CASE_BUILTINS | ({late.record} if late else set())
    timer_names = set(d.timers_by_name)

    def at(path: tuple) -> str:
        return _where(doc, common, path, d.common_triggers)

    def check_kind(kind: str, path: tuple) -> None:
        if kind not in kinds and not (":" in kind and kind.split(":", 1)[0] + ":*" in kinds):
            problems.append(f"{at(path)}: unknown task kind {kind!r} (declare it under task_kinds)")

    def check_state(name: str, path: tuple, allow: Iterable[str] = ()) -> None:
        if name not in states and name not in allow:
            problems.append(f"{at(path)}: unknown state {name!r}")

    def check_guard(guard: Guard | None, path: tuple, data_fields: set[str]) -> None:
        if guard is None:
            return
        if guard.field:
            scope, _, name = guard.field.partition(".")
            known = case_fields if scope == "case" else data_fields
            if name not in known:
                problems.append(f"{at(path)}: guard on undeclared field {guard.field!r}")
        for i, sub in enumerate(guard.all or []):
            check_guard(sub, path + ("all", i), data_fields)
        for i, sub in enumerate(guard.any or []):
            check_guard(sub, path + ("any", i), data_fields)
        check_guard(guard.not_, path + ("not",), data_fields)
        for trig in guard.entered_by or []:
            if trig != "launch" and trig not in spec.triggers:
                problems.append(f"{at(path)}: entered_by names unknown trigger {trig!r}")
        named = []
        if guard.event is not None:
            named = [("event", "trigger", t) for t in guard.event.trigger] + \
                    [("event", "since", t) for t in guard.event.since]
        if guard.elapsed_since_event is not None:
            named += [("elapsed_since_event", "trigger", t) for t in guard.elapsed_since_event.trigger]
        for form, key, trig in named:
            if trig != "launch" and trig not in spec.triggers:
                problems.append(f"{at(path + (form, key))}: {form} names unknown trigger {trig!r}")

    def check_body(body: str, path: tuple) -> None:
        if body not in body_like:
            problems.append(f"{at(path)}: unknown body type {body!r}")

    def check_task(task: TaskSpec, path: tuple, data_fields: set[str]) -> None:
        check_kind(task.kind, path + ("kind",))
        if "{" not in task.body:
            check_body(task.body, path + ("body",))
        if task.ladder not in ladders and task.ladder != "none":
            problems.append(f"{at(path + ('ladder',))}: unknown ladder {task.ladder!r}")
        check_guard(task.when, path + ("when",), data_fields)
        for i, dl in enumerate(task.deadlines()):
            check_guard(dl.when, path + ("deadline", i, "when"), data_fields)

    def check_notify(items: list[NotifySpec], path: tuple, data_fields: set[str]) -> None:
        for i, n in enumerate(items):
            if n.template not in TEMPLATES:
                problems.append(f"{at(path + (i, 'template'))}: unknown template {n.template!r}")
            for j, to in enumerate(n.to):
                base = to[:-len(".parent")] if to.endswith(".parent") else to
                if to not in SPECIAL_RECIPIENTS and base not in body_like:
                    problems.append(f"{at(path + (i, 'to', j))}: unknown body type {to!r}")
            check_guard(n.when, path + (i, "when"), data_fields)

    def check_fields(fields: dict, path: tuple) -> None:
        for fname, fspec in fields.items():
            check_guard(fspec.required_when, path + (fname, "required_when"), set(fields))
            if fspec.required_when is not None and fspec.required_when.field is None and not (
                    fspec.required_when.all or fspec.required_when.any or fspec.required_when.not_):
                problems.append(f"{at(path + (fname, 'required_when'))}: required_when reads the data's fields only")

    # ladders
    for lname, ladder in spec.ladders.items():
        for i, step in enumerate(ladder.steps):
            for j, token in enumerate(step.to or []):
                if token not in LADDER_RECIPIENTS and token not in body_like:
                    problems.append(f"{at(('ladders', lname, 'steps', i, 'to', j))}: unknown recipient {token!r} "
                                    f"(use {', '.join(sorted(LADDER_RECIPIENTS))} or a body type)")

    # roles
    for name, role in spec.roles.items():
        if name in BODY_TYPES:
            problems.append(f"{at(('roles', name))}: role {name!r} shadows a body type")
        if role.from_field and role.from_field not in launch_fields:
            problems.append(f"{at(('roles', name, 'from_field'))}: role bound from undeclared launch field {role.from_field!r}")
        for i, choice in enumerate(role.choose):
            if choice.body_type not in BODY_TYPES:
                problems.append(f"{at(('roles', name, 'choose', i, 'body_type'))}: unknown body type {choice.body_type!r}")
            check_guard(choice.when, ("roles", name, "choose", i, "when"), launch_fields)

    # launch
    for i, actor in enumerate(spec.launch.actors):
        if actor not in body_like | {"system"}:
            problems.append(f"{at(('launch', 'actors', i))}: unknown body type {actor!r}")
    if spec.launch.initial:
        check_state(spec.launch.initial, ("launch", "initial"))
    for i, route in enumerate(spec.launch.routes):
        check_state(route.to, ("launch", "routes", i, "to"))
        check_guard(route.when, ("launch", "routes", i, "when"), launch_fields)
    check_notify(spec.launch.notify, ("launch", "notify"), launch_fields)
    check_fields(spec.launch.data, ("launch", "data"))
    if late is not None:
        source = spec.launch.data.get(late.from_)
        if source is None or source.type != "datetime":
            problems.append(f"{at(('launch', 'late', 'from'))}: late counts from a datetime launch field; "
                            f"{late.from_!r} is not one")
        if late.record in launch_fields | recorded:
            problems.append(f"{at(('launch', 'late', 'record'))}: late records into {late.record!r}, "
                            "which is already a field")
    for i, name in enumerate(spec.launch.unique):
        if name not in launch_fields:
            problems.append(f"{at(('launch', 'unique', i))}: unique names undeclared field {name!r}")

    # states
    for name, st in spec.states.items():
        for i, task in enumerate(st.tasks):
            check_task(task, ("states", name, "tasks", i), set())
        for i, timer in enumerate(st.timers):
            path = ("states", name, "timers", i)
            for j, trig in enumerate(timer.anchor):
                if trig not in spec.triggers:
                    problems.append(f"{at(path + ('anchor', j))}: timer anchored to unknown trigger {trig!r}")
            if timer.fire:
                trig = spec.triggers.get(timer.fire)
                if trig is None:
                    problems.append(f"{at(path + ('fire',))}: unknown trigger {timer.fire!r}")
                elif "system" not in trig.actors:
                    problems.append(f"{at(path + ('fire',))}: trigger {timer.fire!r} fired by a timer must list actor 'system'")
            if timer.open_task:
                check_task(timer.open_task, path + ("open_task",), set())
        check_notify(st.notify, ("states", name, "notify"), set())
        for i, counter in enumerate(st.resets):
            if counter not in counters:
                problems.append(f"{at(('states', name, 'resets', i))}: resets unknown counter {counter!r} "
                                "(a trigger must `count` it)")

    # triggers
    for name, trig in spec.triggers.items():
        path = ("triggers", name)
        fields = set(trig.data)
        for i, actor in enumerate(trig.actors):
            if actor not in body_like | SPECIAL_ACTORS:
                problems.append(f"{at(path + ('actors', i))}: unknown body type {actor!r}")
            elif trig.decision and actor in SPECIAL_ACTORS:
                problems.append(f"{at(path + ('actors', i))}: a decision is taken by a named body type, "
                                f"not by {actor!r}")
        check_fields(trig.data, path + ("data",))
        for i, tr in enumerate(trig.transitions):
            for src in tr.sources():
                check_state(src, path + ("transitions", i, "from"), allow=(NON_FINAL, ANY))
            for ex in tr.except_:
                check_state(ex, path + ("transitions", i, "except"))
            check_state(tr.to, path + ("transitions", i, "to"), allow=(SAME, RETURN))
            if tr.to == RETURN:
                for src in d.expand_sources(tr):
                    if not any(e.source == src and e.returns_to for e in d.edges[name]):
                        problems.append(f"{at(path + ('transitions', i, 'to'))}: `return` from {src!r}, "
                                        "but no transition leads into that state")
            check_guard(tr.when, path + ("transitions", i, "when"), fields)
            if tr.outcome is not None and tr.outcome not in spec.outcomes:
                problems.append(f"{at(path + ('transitions', i, 'outcome'))}: unknown outcome {tr.outcome!r} (declare it under outcomes)")
            if tr.to in d.final_states and tr.outcome is None:
                problems.append(f"{at(path + ('transitions', i, 'to'))}: a transition into final state {tr.to!r} needs an outcome")
        check_guard(trig.guard, path + ("guard",), fields)
        if trig.completes != "all":
            for i, kind in enumerate(trig.completes):
                check_kind(kind, path + ("completes", i))
        for key in ("cancels", "reopens"):
            kinds_listed = getattr(trig, key)
            for i, kind in enumerate([] if kinds_listed == "all" else kinds_listed):
                check_kind(kind, path + (key, i))
        for i, timer in enumerate(trig.restarts_timers):
            if timer not in timer_names:
                problems.append(f"{at(path + ('restarts_timers', i))}: unknown timer {timer!r}")
        for i, task in enumerate(trig.opens):
            check_task(task, path + ("opens", i), fields)
        check_notify(trig.notify, path + ("notify",), fields)
        for i, sp in enumerate(trig.spawn):
            check_guard(sp.when, path + ("spawn", i, "when"), fields)
            for j, (target, src) in enumerate(sp.copy_.items()):
                scope, _, fname = src.partition(".")
                if src == "event.at":
                    continue  # the spawning event's time
                if (scope == "case" and fname not in case_fields) or (scope == "data" and fname not in fields) or scope not in ("case", "data"):
                    problems.append(f"{at(path + ('spawn', i, 'copy', target))}: copy from undeclared field {src!r}")
        for i, fname in enumerate(trig.recorded()):
            if fname not in fields:
                problems.append(f"{at(path + ('record', i))}: record names undeclared field {fname!r}")

    problems.extend(_check_graph(d, at))
    return problems


def _check_graph(d: Definition, at) -> list[str]:
    """Every state reachable from launch; every non-final state has an own way out."""
    problems: list[str] = []
    spec = d.spec
    start = {spec.launch.initial} if spec.launch.initial else {r.to for r in spec.launch.routes}
    start.discard(None)
    reachable, frontier = set(start), list(start)
    while frontier:
        state = frontier.pop()
        for edges in d.edges.values():
            for e in edges:
                if e.source == state and e.dest != SAME and e.dest not in reachable:
                    reachable.add(e.dest)
                    frontier.append(e.dest)
    for name in spec.states:
        if name not in reachable:
            problems.append(f"{at(('states', name))}: unreachable state {name!r} (no launch route or transition leads to it)")
    for name in d.non_final_states:
        own_exit = any(e.source == name and e.dest not in (SAME, name)
                       for trig, edges in d.edges.items() if trig not in d.common_triggers for e in edges)
        if not own_exit:
            problems.append(f"{at(('states', name))}: non-final state {name!r} has no way out")
    return problems
