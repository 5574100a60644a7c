"""A loaded, checked algorithm definition: the spec from YAML plus the lookups the engine needs."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .schema import AlgorithmSpec, StateSpec, TaskSpec, TransitionSpec, TriggerSpec

SAME = "same"
RETURN = "return"  # back to the state from which the case entered its current one
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
    returns_to: str | None = None  # a `return` edge: taken only if the case came from `dest`

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
        """Trigger name -> its concrete edges, in the order they are tried. A `return` transition
        becomes one edge per state that leads into its source, each taken only by a case that came
        from there."""
        plain = {(e.source, e.dest) for trig_edges in self._plain_edges().values() for e in trig_edges}
        result: dict[str, list[Edge]] = {}
        for name, trig in self.spec.triggers.items():
            edges: list[Edge] = []
            for i, tr in enumerate(trig.transitions):
                for src in self.expand_sources(tr):
                    if tr.to != RETURN:
                        edges.append(Edge(name, src, tr.to, tr, i))
                        continue
                    for origin in self.spec.states:
                        if origin != src and (origin, src) in plain:
                            edges.append(Edge(name, src, origin, tr, i, returns_to=origin))
            result[name] = edges
        return result

    def _plain_edges(self) -> dict[str, list[Edge]]:
        return {name: [Edge(name, src, tr.to, tr, i)
                       for i, tr in enumerate(trig.transitions) if tr.to not in (RETURN, SAME)
                       for src in self.expand_sources(tr)]
                for name, trig in self.spec.triggers.items()}

    def return_origins(self, state: str) -> list[str]:
        """The states a `return` out of `state` may lead back to."""
        return [e.dest for edges in self.edges.values() for e in edges if e.source == state and e.returns_to]

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
