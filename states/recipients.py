"""Who a notification goes to: names in a definition (`school`, `education_department.parent`,
`all_bound`, `assignee`, `ministry_education`) resolved to body ids."""
from __future__ import annotations

from typing import Iterable

from algorithms.schema import REPUBLIC_TYPES


def resolve(tokens: Iterable[str], bindings: dict[str, str], directory, assignee: str | None = None) -> list[str]:
    out: list[str] = []

    def add(body_id: str | None) -> None:
        if body_id and body_id not in out:
            out.append(body_id)

    for token in tokens:
        if token == "all_bound":
            for body_id in bindings.values():
                add(body_id)
            continue
        parent = token.endswith(".parent")
        base = token[: -len(".parent")] if parent else token
        body_id = assignee if base == "assignee" else bound_body(base, bindings, directory)
        if body_id and parent:
            p = directory.parent(body_id)
            body_id = p.id if p else None
        add(body_id)
    return out


def bound_body(role: str, bindings: dict[str, str], directory) -> str | None:
    """The body acting as `role` on a case: its binding, or the republic body of that type."""
    if role in bindings:
        return bindings[role]
    if role in REPUBLIC_TYPES:
        return directory.republic(role).id
    return None
