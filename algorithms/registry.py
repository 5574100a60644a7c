"""All algorithm definitions known to a deployment, by id and version."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import yaml

from .definition import Definition
from .loader import ALGORITHMS_DIR, DefinitionError, load_common, load_definition
from .migration import Migration, MigrationFileError, load_migrations

DEFINITION_GLOB = "*.v*.yaml"


class UnknownAlgorithm(KeyError):
    pass


class Registry:
    """Definitions by (id, version), with this deployment's deadline overrides applied. A case pins
    the overrides it was launched under, and `variant` rebuilds exactly that definition later."""

    def __init__(self, definitions: Iterable[Definition], migration_dirs: Iterable[str | Path] = ()):
        self._by_key: dict[tuple[str, int], Definition] = {}
        self._variants: dict[tuple[str, int, str], Definition] = {}
        for d in definitions:
            if d.key in self._by_key:
                raise DefinitionError([f"{d.file}:1: {d.id} version {d.version} is also defined in {self._by_key[d.key].file}"])
            self._by_key[d.key] = d
        self._check_spawns()
        try:
            self.migrations: dict[tuple[str, int, int], Migration] = load_migrations(
                [Path(d) for d in migration_dirs], self._by_key)
        except MigrationFileError as exc:
            raise DefinitionError(exc.problems) from None

    @classmethod
    def load(cls, dirs: Iterable[str | Path] = (), include_shipped: bool = True,
             overrides_file: str | Path | None = None) -> "Registry":
        """Load the shipped definitions plus any in `dirs`. Deadline overrides come from
        `overrides_file` or the QORGAU_DEADLINE_OVERRIDES setting (YAML: `algorithm: {task: rule}`)."""
        overrides = _load_overrides(overrides_file or os.environ.get("QORGAU_DEADLINE_OVERRIDES"))
        common = load_common()
        paths: list[Path] = []
        dirs = [Path(d) for d in dirs]
        if include_shipped:
            paths.extend(sorted(ALGORITHMS_DIR.glob(DEFINITION_GLOB)))
        for d in dirs:
            paths.extend(sorted(d.glob(DEFINITION_GLOB)))
        problems: list[str] = []
        defs: list[Definition] = []
        for p in paths:
            try:
                algorithm_id = p.name.split(".v", 1)[0]
                defs.append(load_definition(p, common, overrides.get(algorithm_id)))
            except DefinitionError as exc:
                problems.extend(exc.problems)
        if problems:
            raise DefinitionError(problems)
        return cls(defs, ([ALGORITHMS_DIR] if include_shipped else []) + dirs)

    def _check_spawns(self) -> None:
        problems = []
        for d in self._by_key.values():
            for name, trig in d.spec.triggers.items():
                for sp in trig.spawn:
                    if not any(k[0] == sp.algorithm for k in self._by_key):
                        problems.append(f"{d.file}:1: trigger {name!r} spawns unknown algorithm {sp.algorithm!r}")
        if problems:
            raise DefinitionError(problems)

    def get(self, algorithm: str, version: int | None = None) -> Definition:
        if version is None:
            return self.latest(algorithm)
        try:
            return self._by_key[(algorithm, int(version))]
        except KeyError:
            raise UnknownAlgorithm(f"unknown algorithm {algorithm!r} version {version}") from None

    def variant(self, algorithm: str, version: int, overrides: dict[str, dict[str, int]] | None) -> Definition:
        """The definition as it was with `overrides` (those a case was launched under)."""
        current = self.get(algorithm, version)
        overrides = overrides or {}
        if overrides == current.overrides:
            return current
        key = (algorithm, int(version), json.dumps(overrides, sort_keys=True))
        found = self._variants.get(key)
        if found is None:
            found = self._variants[key] = load_definition(current.file, load_common(), overrides)
        return found

    def latest(self, algorithm: str) -> Definition:
        versions = [k[1] for k in self._by_key if k[0] == algorithm]
        if not versions:
            raise UnknownAlgorithm(f"unknown algorithm {algorithm!r}; known: {', '.join(self.ids())}")
        return self._by_key[(algorithm, max(versions))]

    def migration(self, algorithm: str, from_version: int, to_version: int) -> Migration | None:
        """The migration file joining two versions of `algorithm`, if one is published."""
        return self.migrations.get((algorithm, int(from_version), int(to_version)))

    def ids(self) -> list[str]:
        return sorted({k[0] for k in self._by_key})

    def __iter__(self):
        return iter(self._by_key.values())


def _load_overrides(path: str | Path | None) -> dict[str, dict[str, dict[str, int]]]:
    if not path:
        return {}
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise DefinitionError([f"{path}:1: deadline overrides must map algorithm -> task kind -> rule"])
    merged: dict[str, dict[str, dict[str, int]]] = {}
    for key, value in data.items():
        # Either nested (`violence-report: {kdn_decision: {working_days: 10}}`) or flat
        # (`violence-report.kdn_decision: {working_days: 10}`).
        if "." in str(key):
            algorithm, task = str(key).split(".", 1)
            merged.setdefault(algorithm, {})[task] = value
        elif isinstance(value, dict):
            merged.setdefault(str(key), {}).update(value)
        else:
            raise DefinitionError([f"{path}:1: override {key!r} must be `algorithm.task: rule` or `algorithm: {{task: rule}}`"])
    return merged
