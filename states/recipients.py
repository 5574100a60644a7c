"""Who a notification goes to: names in a definition (`school`, `education_department.parent`,
`all_bound`, `assignee`, `ministry_education`) resolved to body ids."""
from __future__ import annotations

from typing import Iterable

from algorithms.schema import REPUBLIC_TYPES


def resolve(tokens: Iterable[str], bindings: dict[str, str], directory, assignee: str | None,
            chain) -> list[str]:
    """Body ids for the tokens; `chain` (the algorithm's Subordination) answers `.parent`, `.top`
    and `.line_ministry`."""
    out: list[str] = []

    def add(body_id: str | None) -> None:
        if body_id and body_id not in out:
            out.append(body_id)

    for token in tokens:
        if token == "all_bound":
            for body_id in bindings.values():
                add(body_id)
            continue
        base, _, relation = token.partition(".")
        body_id = assignee if base == "assignee" else bound_body(base, bindings, directory)
        if body_id and relation:
            body_id = _related(body_id, relation, chain)
        add(body_id)
    return out


def bound_body(role: str, bindings: dict[str, str], directory) -> str | None:
    """The body acting as `role` on a case: its binding, or the republic body of that type."""
    if role in bindings:
        return bindings[role]
    if role in REPUBLIC_TYPES:
        return directory.republic(role).id
    return None


def _related(body_id: str, relation: str, chain) -> str | None:
    if relation == "parent":
        p = chain.parent(body_id)
    elif relation == "top":
        p = chain.top(body_id)
    elif relation == "line_ministry":
        p = chain.line_ministry(body_id)
    else:
        raise ValueError(f"unknown relation {relation!r}")
    return p.id if p else None
