"""Migration files: how running cases of one algorithm move from version N to version M
(../shared/spec/migration.md). One file per pair, beside the definitions: `<algorithm>.<N>-<M>.yaml`.
It names only what cannot be inferred; every state and task kind it does not name keeps its name.

- `states`: `from_state: to_state` for a state renamed or removed; `from_state: null` says the state
  has no counterpart (every case in it is not migratable).
- `tasks`: `from_kind: to_kind` for a renamed task kind, or `from_kind: cancel`.
- `data`: defaults for launch fields version M requires and a case may lack; `launch` as the value of
  a date-time field means the case's launch time.
- `note`: free text (or kk/ru/en) shown to the coordinator and kept in the history.

A file is checked when it is loaded, against both definitions, and reported as `file:line: rule`.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .definition import Definition
from .yaml_lines import LocatedYaml, YamlSyntaxError, load_located

MIGRATION_GLOB = "*.*-*.yaml"
_NAME = re.compile(r"^(?P<algorithm>[a-z0-9-]+)\.(?P<from>\d+)-(?P<to>\d+)\.yaml$")
CANCEL = "cancel"
LAUNCH_TIME = "launch"  # a date-time default: the case's launch time
KEYS = {"states", "tasks", "data", "note"}
# Launch fields the engine keeps apart from the case data (the child in the personal-data store,
# the school in the bindings): a migration never needs a default for them.
KEPT_APART = frozenset({"child", "school"})


class MigrationFileError(ValueError):
    """A migration file broke one or more rules; each problem reads `file:line: rule`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Migration:
    algorithm: str
    from_version: int
    to_version: int
    states: dict[str, str | None]
    tasks: dict[str, str]
    data: dict[str, Any]
    note: Any
    file: str
    content_hash: str
    required_without_default: tuple[str, ...] = field(default=())  # cases lacking these are not migratable

    def state_after(self, state: str) -> str | None:
        """The state a case in `state` moves to; None when it has no counterpart."""
        return self.states[state] if state in self.states else state

    def kind_after(self, kind: str) -> str:
        """The task kind a task of `kind` becomes (`cancel` when version M no longer owes it)."""
        if kind in self.tasks:
            return self.tasks[kind]
        base = kind.split(":", 1)[0] + ":*" if ":" in kind else None
        if base is not None and base in self.tasks:
            target = self.tasks[base]
            return target if target == CANCEL else target[:-1] + kind.split(":", 1)[1]
        return kind

    @property
    def note_text(self) -> str:
        """The note as one line (kk / ru when given per language)."""
        if isinstance(self.note, dict):
            return " / ".join(str(self.note[k]) for k in ("kk", "ru") if k in self.note)
        return str(self.note or "")


def migration_name(path: str | Path) -> tuple[str, int, int] | None:
    m = _NAME.match(Path(path).name)
    return (m["algorithm"], int(m["from"]), int(m["to"])) if m else None


def load_migration(path: str | Path, source: Definition, target: Definition) -> Migration:
    """Load one migration file and check it against the two definitions it joins."""
    try:
        doc = load_located(path)
    except YamlSyntaxError as exc:
        raise MigrationFileError([str(exc)]) from None
    data = doc.data if doc.data is not None else {}
    problems: list[str] = []
    if not isinstance(data, dict):
        raise MigrationFileError([f"{doc.file}:1: a migration file must be a mapping"])
    for key in data:
        if key not in KEYS:
            problems.append(f"{doc.where((key,))}: unknown key {key!r}; allowed: {', '.join(sorted(KEYS))}")
    states = _mapping(doc, data, "states", problems)
    tasks = _mapping(doc, data, "tasks", problems)
    defaults = _mapping(doc, data, "data", problems)
    note = data.get("note")
    if note is not None and not isinstance(note, (str, dict)):
        problems.append(f"{doc.where(('note',))}: `note` is text or kk/ru/en texts")
    _check_states(doc, states, source, target, problems)
    _check_tasks(doc, tasks, source, target, problems)
    _check_data(doc, defaults, target, problems)
    if problems:
        raise MigrationFileError(problems)
    required = tuple(name for name, spec in target.spec.launch.data.items()
                     if spec.required and name not in KEPT_APART and name not in defaults)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return Migration(algorithm=target.id, from_version=source.version, to_version=target.version,
                     states=dict(states), tasks=dict(tasks), data=dict(defaults), note=note, file=doc.file,
                     content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                     required_without_default=required)


def _mapping(doc: LocatedYaml, data: dict, key: str, problems: list[str]) -> dict:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        problems.append(f"{doc.where((key,))}: `{key}` must be a mapping")
        return {}
    return value


def _check_states(doc, states: dict, source: Definition, target: Definition, problems: list[str]) -> None:
    for old, new in states.items():
        if old not in source.spec.states:
            problems.append(f"{doc.where(('states', old))}: state {old!r} does not exist in "
                            f"{source.id} v{source.version}")
        if new is not None and new not in target.spec.states:
            problems.append(f"{doc.where(('states', old))}: state {new!r} does not exist in "
                            f"{target.id} v{target.version}")
    for name in source.spec.states:
        if name not in states and name not in target.spec.states and not source.state(name).final:
            problems.append(f"{doc.file}:1: state {name!r} of v{source.version} is not in v{target.version}; "
                            f"map it under `states` (or to null: its cases are then not migratable)")


def _check_tasks(doc, tasks: dict, source: Definition, target: Definition, problems: list[str]) -> None:
    for old, new in tasks.items():
        if old not in source.spec.task_kinds:
            problems.append(f"{doc.where(('tasks', old))}: task kind {old!r} does not exist in "
                            f"{source.id} v{source.version}")
        if new != CANCEL and new not in target.spec.task_kinds:
            problems.append(f"{doc.where(('tasks', old))}: task kind {new!r} does not exist in "
                            f"{target.id} v{target.version} (or write `cancel`)")


def _check_data(doc, defaults: dict, target: Definition, problems: list[str]) -> None:
    fields = target.spec.launch.data
    for name, value in defaults.items():
        spec = fields.get(name)
        where = doc.where(("data", name))
        if spec is None:
            problems.append(f"{where}: {target.id} v{target.version} has no launch field {name!r}")
        elif spec.type == "enum" and value not in (spec.values or []):
            problems.append(f"{where}: {value!r} is not one of {', '.join(spec.values or [])}")
        elif spec.type == "datetime" and value != LAUNCH_TIME:
            problems.append(f"{where}: a date-time default is `{LAUNCH_TIME}` (the case's launch time)")
        elif spec.type == "bool" and not isinstance(value, bool):
            problems.append(f"{where}: {name!r} takes true or false")


def load_migrations(dirs: list[Path], definitions: dict[tuple[str, int], Definition]) -> dict[tuple[str, int, int], Migration]:
    """Every migration file in `dirs`, checked; problems of all files are reported together."""
    found: dict[tuple[str, int, int], Migration] = {}
    problems: list[str] = []
    for directory in dirs:
        for path in sorted(Path(directory).glob(MIGRATION_GLOB)):
            key = migration_name(path)
            if key is None:
                continue
            algorithm, old, new = key
            source, target = definitions.get((algorithm, old)), definitions.get((algorithm, new))
            if source is None or target is None:
                missing = old if source is None else new
                problems.append(f"{path}:1: {algorithm} version {missing} is not loaded")
                continue
            if new <= old:
                problems.append(f"{path}:1: a migration goes to a later version ({old} → {new})")
                continue
            try:
                found[key] = load_migration(path, source, target)
            except MigrationFileError as exc:
                problems.extend(exc.problems)
    if problems:
        raise MigrationFileError(problems)
    return found
