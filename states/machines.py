"""One pytransitions machine per algorithm version (never one per case).

A case is not a long-lived model object: for each trigger a light `CaseModel` holding the current
state is passed to the machine's event. The transitions are the definition's edges, in order; each
edge's condition evaluates its declarative guard, and the edge that fires is remembered on the model.
"""
from __future__ import annotations

import json
import re
from typing import Any

from transitions import Machine, MachineError

from algorithms.definition import SAME, Definition, Edge

from .guards import GuardContext, holds


class CaseModel:
    __slots__ = ("state", "edge")

    def __init__(self, state: str):
        self.state = state
        self.edge: Edge | None = None


def _condition(edge: Edge):
    def check(event) -> bool:
        ctx: GuardContext = event.kwargs["ctx"]
        if edge.returns_to is not None:  # `return`: only back to where the case came from
            if ctx.history is None or ctx.history.entered_from() != edge.returns_to:
                return False
        return holds(edge.spec.when, ctx)
    return check


def _remember(edge: Edge):
    def before(event) -> None:
        event.model.edge = edge
    return before


_MACHINES: dict[tuple[str, int, str], Machine] = {}


def _build_machine(definition: Definition) -> Machine:
    transitions: list[dict[str, Any]] = []
    for edges in definition.edges.values():
        for edge in edges:
            transitions.append({
                "trigger": edge.trigger, "source": edge.source,
                "dest": None if edge.dest == SAME else edge.dest,
                "conditions": [_condition(edge)], "before": [_remember(edge)],
            })
    return Machine(model=None, states=list(definition.spec.states), transitions=transitions,
                   initial=definition.spec.launch.initial or next(iter(definition.spec.states)),
                   auto_transitions=False, send_event=True, ignore_invalid_triggers=False)


def machine_for(definition: Definition) -> Machine:
    key = (definition.id, definition.version, definition.content_hash)
    machine = _MACHINES.get(key)
    if machine is None:
        machine = _MACHINES[key] = _build_machine(definition)
    return machine


def choose_edge(definition: Definition, state: str, trigger: str, ctx: GuardContext) -> Edge | None:
    """Run `trigger` from `state` through the machine; the edge taken, or None if every guard failed.
    Raises MachineError when the trigger is not allowed from `state`."""
    model = CaseModel(state)
    machine = machine_for(definition)
    event = machine.events.get(trigger)
    if event is None:
        raise MachineError(f"Can't trigger event {trigger} from state {state}!")
    return model.edge if event.trigger(model, ctx=ctx) else None


def mermaid(definition: Definition, lang: str = "en", current: str | None = None) -> str:
    """A Mermaid state diagram of the definition (drawn by transitions' mermaid graph engine)."""
    from transitions.extensions import GraphMachine

    titles = {n: s.title.model_dump()[lang] for n, s in definition.spec.states.items()}
    transitions = []
    seen = set()
    for name, edges in definition.edges.items():
        if name in definition.common_triggers:
            continue  # transfer/withdraw/link apply to every state; the docs list them once
        for e in edges:
            key = (name, e.source, e.dest)
            if e.dest == SAME or key in seen:
                continue
            seen.add(key)
            transitions.append({"trigger": name, "source": e.source, "dest": e.dest})
    initial = definition.spec.launch.initial or definition.spec.launch.routes[0].to
    graph = GraphMachine(model=None, states=[{"name": n} for n in definition.spec.states], transitions=transitions,
                         initial=initial, auto_transitions=False, graph_engine="mermaid",
                         title=f"{definition.spec.title.model_dump()[lang]} (v{definition.version})")

    class _M:
        pass

    m = _M()
    graph.add_model(m, initial=current or initial)
    text = m.get_graph().draw(None)
    for name, title in titles.items():
        text = text.replace(f'state "{name}" as {name}', f'state "{title}" as {name}')
    # transitions writes the bare title as front matter; Mermaid wants a `title:` mapping.
    text = re.sub(r"\A---\n(.*?)\n---\n", lambda m: f"---\ntitle: {json.dumps(m.group(1).strip(), ensure_ascii=False)}\n---\n",
                  text, count=1, flags=re.S)
    for route in definition.spec.launch.routes[1:]:  # every launch route is a start
        if f"[*] --> {route.to}" not in text:
            text = text.rstrip("\n") + f"\n  [*] --> {route.to}\n"
    if current is None:  # nothing is "current" in a definition's own diagram
        text = re.sub(r"^(\s*Class \S+) s_active$", r"\1 s_default", text, flags=re.M)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())
