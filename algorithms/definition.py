"""A loaded, checked algorithm definition: the spec from YAML plus the lookups the engine needs."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .schema import AlgorithmSpec, StateSpec, TaskSpec, TransitionSpec, TriggerSpec

SAME = "same"
NON_FINAL = "non_final"
ANY = "any"


@dataclass(frozen=True)
class Edge:
    """One concrete transition: trigger from one state to another (or `same` = internal)."""
    trigger: str
    source: str
    dest: str
    spec: TransitionSpec
    index: int  # order within the trigger; the first edge whose guard holds wins

    @property
    def internal(self) -> bool:
        return self.dest == SAME


@dataclass
class Definition:
    spec: AlgorithmSpec
    content_hash: str
    file: str
    common_triggers: frozenset[str] = frozenset()
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    base_hash: str = ""  # the YAML's own content; a used version may never change it
    overrides: dict[str, dict[str, int]] = field(default_factory=dict)  # deployment deadline overrides

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def version(self) -> int:
        return self.spec.version

    @property
    def key(self) -> tuple[str, int]:
        return (self.spec.id, self.spec.version)

    def state(self, name: str) -> StateSpec:
        return self.spec.states[name]

    def trigger(self, name: str) -> TriggerSpec | None:
        return self.spec.triggers.get(name)

    @cached_property
    def final_states(self) -> frozenset[str]:
        return frozenset(n for n, s in self.spec.states.items() if s.final)

    @cached_property
    def non_final_states(self) -> list[str]:
        return [n for n, s in self.spec.states.items() if not s.final]

    def expand_sources(self, transition: TransitionSpec) -> list[str]:
        out: list[str] = []
        for src in transition.sources():
            if src == NON_FINAL:
                out.extend(self.non_final_states)
            elif src == ANY:
                out.extend(self.spec.states)
            else:
                out.append(src)
        return [s for s in out if s not in transition.except_]

    @cached_property
    def edges(self) -> dict[str, list[Edge]]:
        """Trigger name -> its concrete edges, in the order they are tried."""
        result: dict[str, list[Edge]] = {}
        for name, trig in self.spec.triggers.items():
            edges: list[Edge] = []
            for i, tr in enumerate(trig.transitions):
                for src in self.expand_sources(tr):
                    edges.append(Edge(name, src, tr.to, tr, i))
            result[name] = edges
        return result

    def edges_from(self, trigger: str, state: str) -> list[Edge]:
        return [e for e in self.edges.get(trigger, []) if e.source == state]

    def task_title(self, kind: str) -> dict[str, str]:
        base = kind.split(":", 1)[0] + (":*" if ":" in kind else "")
        spec = self.spec.task_kinds.get(kind) or self.spec.task_kinds.get(base)
        return spec.title.model_dump() if spec else {"kk": kind, "ru": kind, "en": kind}

    def task_spec(self, kind: str) -> TaskSpec | None:
        """The declaration that opens tasks of `kind` (state task, timer task or trigger `opens`)."""
        for state in self.spec.states.values():
            for task in state.tasks:
                if task.kind == kind:
                    return task
            for timer in state.timers:
                if timer.open_task and timer.open_task.kind == kind:
                    return timer.open_task
        for trig in self.spec.triggers.values():
            for task in trig.opens:
                if task.kind == kind:
                    return task
        return None

    @cached_property
    def timers_by_name(self) -> dict[str, tuple[str, Any]]:
        return {t.name: (state, t) for state, s in self.spec.states.items() for t in s.timers}
