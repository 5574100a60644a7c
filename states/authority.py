"""Who may fire a trigger on a case: the one rule, used by the engine and by the read models."""
from __future__ import annotations

from algorithms.schema import TriggerSpec

from .recipients import bound_body


def may_fire(directory, trig: TriggerSpec, bindings: dict[str, str], actor: str) -> bool:
    """Whether body `actor` may fire `trig` on a case bound as `bindings`: the body bound in one of
    the trigger's actor roles, or a supervisor of it (any level up the directory's parent chain)."""
    roles = list(bindings) if "any_bound" in trig.actors else trig.actors
    for role in roles:
        if role == "system":
            continue
        bound = bound_body(role, bindings, directory)
        if bound is not None and (bound == actor or directory.is_supervisor(actor, bound)):
            return True
    return False
