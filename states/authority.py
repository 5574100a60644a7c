"""Who may fire a trigger on a case: the one rule, used by the engine and by the read models."""
from __future__ import annotations

from algorithms.schema import TriggerSpec

from .recipients import bound_body
from .subordination import subordination


def bound_actors(directory, trig: TriggerSpec, bindings: dict[str, str]) -> list[str]:
    """The bodies bound to the case in one of the trigger's actor roles."""
    roles = list(bindings) if "any_bound" in trig.actors else trig.actors
    out: list[str] = []
    for role in roles:
        if role == "system":
            continue
        bound = bound_body(role, bindings, directory)
        if bound is not None and bound not in out:
            out.append(bound)
    return out


def may_fire(directory, trig: TriggerSpec, bindings: dict[str, str], actor: str,
             scheme: str = "directory") -> bool:
    """Whether body `actor` may fire `trig` on a case bound as `bindings`: the body bound in one of
    the trigger's actor roles, or a supervisor of it (any level up the algorithm's chain of
    subordination) — except for a decision (rule C2), which only the bound body itself takes."""
    bound = bound_actors(directory, trig, bindings)
    if actor in bound:
        return True
    if trig.decision:
        return False
    chain = subordination(directory, scheme)
    return any(chain.is_supervisor(actor, body_id) for body_id in bound)
