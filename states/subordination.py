"""Who answers to whom when a task escalates, and who may act for a body as its supervisor.

A definition names its `subordination`: `directory` follows the directory's own parents (the line
of subordination, version 2 rule C1); `spec_2023` follows the parent types version 1 was written for
(spec README, "Bodies"), so cases pinned to version 1 escalate as they always did.
"""
from __future__ import annotations

from functools import lru_cache

from .directory import LINE_MINISTRY, PARENT_TYPE_V1, REPUBLIC_TYPES, Body


class Subordination:
    def __init__(self, directory, scheme: str = "directory"):
        self.directory, self.scheme = directory, scheme

    def parent(self, body_id: str) -> Body | None:
        """The body's supervisor under this scheme, or None at the republic level."""
        directory = self.directory
        body = directory.get(body_id)
        if self.scheme == "directory":
            return directory.parent(body)
        parent_type = PARENT_TYPE_V1.get(body.type)
        if parent_type is None:
            return None
        own = directory.parent(body)
        if own is not None and own.type == parent_type:
            return own  # the directory already says so: keep the deployment's own body
        if parent_type in REPUBLIC_TYPES:
            return directory.republic(parent_type)
        return directory.region_body(body.region, parent_type)

    def chain(self, body_id: str) -> list[Body]:
        out: list[Body] = []
        current = self.parent(body_id)
        while current is not None and current not in out:
            out.append(current)
            current = self.parent(current.id)
        return out

    def top(self, body_id: str) -> Body:
        chain = self.chain(body_id)
        return chain[-1] if chain else self.directory.get(body_id)

    def is_supervisor(self, supervisor_id: str, body_id: str) -> bool:
        return any(b.id == supervisor_id for b in self.chain(body_id))

    def line_ministry(self, body_id: str) -> Body | None:
        """The ministry (or the Government Office) that a body's type answers to (rule C1)."""
        ministry = LINE_MINISTRY.get(self.directory.get(body_id).type)
        return self.directory.republic(ministry) if ministry else None


@lru_cache(maxsize=16)
def subordination(directory, scheme: str) -> Subordination:
    """One per directory and scheme (directories are loaded once per process)."""
    return Subordination(directory, scheme)
