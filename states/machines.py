"""One pytransitions machine per definition version (never one per case).

The machine is the definition as configuration: its states, each left and entered through the
callbacks named `leave_state` and `enter_state`; its edges, in order, as transitions whose condition
is the edge's declarative guard and whose `before` and `after` name the trigger's effects. For one
fire the case (a `FiringCase`, states/firing.py) is the machine's model: the event checks the case's
state, `prepare` runs the fire's own checks, the first edge whose guard holds moves the case, and
every name resolves to a method of the model.
"""
from __future__ import annotations

import json
import re
from typing import Any

from transitions import Machine, MachineError, Transition
from transitions.extensions import GraphMachine

from algorithms.definition import SAME, Definition, Edge
from algorithms.schema import TriggerSpec

from .errors import RuleViolation
from .guards import holds


class EdgeTransition(Transition):
    """A transition that knows the definition's edge it stands for (the outcome it records)."""

    def __init__(self, *args, edge: Edge | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.edge = edge


class DefinitionMachine(Machine):
    transition_cls = EdgeTransition


def _condition(edge: Edge):
    def check(event) -> bool:
        ctx = event.model.ctx
        if edge.returns_to is not None:  # `return`: only back to where the case came from
            if ctx.history is None or ctx.history.entered_from() != edge.returns_to:
                return False
        return holds(edge.spec.when, ctx)
    return check


# A trigger's effects as the transition's named callbacks, in the order they run, each named only
# where the definition asks for it: `before` the change of state, and `after` it (or in its place,
# for an internal edge, which leaves and enters nothing).
_BEFORE = {
    "record_data": lambda trig, edge: trig.recorded() or trig.count,
    "complete_tasks": lambda trig, edge: trig.completes,
    "cancel_tasks": lambda trig, edge: trig.cancels,
}
_AFTER = {
    "reopen_tasks": lambda trig, edge: edge.internal and trig.reopens,
    "restart_timers": lambda trig, edge: edge.internal and trig.restarts_timers,
    "transfer": lambda trig, edge: trig.effect == "transfer",
    "link": lambda trig, edge: trig.effect == "link",
    "missing_reports": lambda trig, edge: trig.effect == "missing_reports",
    "open_tasks": lambda trig, edge: trig.opens or trig.opens_each,
    "notify": lambda trig, edge: trig.notify,
    "spawn": lambda trig, edge: trig.spawn,
}


def _named(callbacks: dict[str, Any], trig: TriggerSpec, edge: Edge) -> list[str]:
    return [name for name, wanted in callbacks.items() if wanted(trig, edge)]


_MACHINES: dict[tuple[str, int, str], Machine] = {}


def _build_machine(definition: Definition) -> Machine:
    transitions: list[dict[str, Any]] = []
    for name, edges in definition.edges.items():
        trig = definition.spec.triggers[name]
        for edge in edges:
            transitions.append({
                "trigger": name, "source": edge.source, "dest": None if edge.internal else edge.dest,
                "conditions": [_condition(edge)], "before": _named(_BEFORE, trig, edge),
                "after": _named(_AFTER, trig, edge), "edge": edge})
    states = [{"name": n, "on_exit": ["leave_state"], "on_enter": ["enter_state"]} for n in definition.spec.states]
    return DefinitionMachine(model=None, states=states, transitions=transitions,
                             initial=definition.spec.launch.initial or next(iter(definition.spec.states)),
                             auto_transitions=False, send_event=True, ignore_invalid_triggers=False,
                             prepare_event="prepare")


def machine_for(definition: Definition) -> Machine:
    key = (definition.id, definition.version, definition.content_hash)
    machine = _MACHINES.get(key)
    if machine is None:
        machine = _MACHINES[key] = _build_machine(definition)
    return machine


def run(definition: Definition, model: Any, trigger: str) -> bool:
    """Fire `trigger` on `model` (the case) through its definition's machine: True when an edge
    moved it, False when no edge's guard held. A trigger not allowed in the model's state is an
    invalid_transition; whatever a callback raises passes through."""
    event = machine_for(definition).events.get(trigger)
    try:
        if event is None:
            raise MachineError(f"Can't trigger event {trigger} from state {model.state}!")
        return event.trigger(model)
    except MachineError:
        sources = sorted({e.source for e in definition.edges.get(trigger, [])})
        raise RuleViolation("invalid_transition", f"{trigger!r} is not allowed in state {model.state!r} "
                                                  f"(allowed in: {', '.join(sources)})") from None


def mermaid(definition: Definition, lang: str = "en", current: str | None = None) -> str:
    """A Mermaid state diagram of the definition (drawn by transitions' mermaid graph engine)."""
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
