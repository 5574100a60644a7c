"""Daily anchors: a Merkle root over every case's chain head at a moment.

A per-case hash chain catches an edited, deleted or reordered event, but not a whole chain
rewritten from some point with fresh hashes. An anchor published earlier (printed, sent to the
prosecutor's office, stored elsewhere) catches that: the head each case had then must still be in
its chain, at the same position, with the same hash.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

from . import tables as T
from .clock import as_utc, iso, utcnow


@dataclass(frozen=True)
class Anchor:
    id: int
    at: datetime
    root: str
    cases: int

    def line(self) -> str:
        return f"anchor {self.id}  {iso(self.at)}  cases {self.cases}  root {self.root}"


def leaf(ref: str, seq: int, digest: str) -> bytes:
    return hashlib.sha256(f"{ref}|{seq}|{digest}".encode()).digest()


def merkle_root(leaves: list[bytes]) -> str:
    """Pairwise sha256 up to one root; an odd node is carried up unchanged. Empty: sha256 of nothing."""
    if not leaves:
        return hashlib.sha256(b"").hexdigest()
    level = leaves
    while len(level) > 1:
        nxt = [hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].hex()


def current_heads(conn: Connection) -> list[list]:
    rows = conn.execute(select(T.cases.c.ref, T.cases.c.version, T.cases.c.head_hash)
                        .where(T.cases.c.version > 0).order_by(T.cases.c.ref))
    return [[r.ref, r.version, r.head_hash] for r in rows]


def make_anchor(engine, now: datetime | None = None) -> Anchor:
    """Record the Merkle root of every chain head as of now."""
    now = as_utc(now or utcnow())
    with engine.db.begin() as conn:
        heads = current_heads(conn)
        root = merkle_root([leaf(*h) for h in heads])
        anchor_id = conn.execute(insert(T.anchors).values(at=now, root=root, cases=len(heads))).inserted_primary_key[0]
        if heads:
            conn.execute(insert(T.anchor_leaves), [{"anchor_id": anchor_id, "ref": r, "seq": s, "hash": h}
                                                   for r, s, h in heads])
    return Anchor(anchor_id, now, root, len(heads))


def anchors(conn: Connection) -> list[Anchor]:
    return [Anchor(r.id, r.at, r.root, r.cases)
            for r in conn.execute(select(T.anchors.c.id, T.anchors.c.at, T.anchors.c.root, T.anchors.c.cases)
                                  .order_by(T.anchors.c.id))]


def anchored_keys(conn: Connection) -> set[tuple[str, int]]:
    """Every (case, event number) some anchor recorded as a chain head."""
    return {(r.ref, r.seq) for r in conn.execute(select(T.anchor_leaves.c.ref, T.anchor_leaves.c.seq))}


def check_anchors(conn: Connection, event_hash_of, refs: set[str] | None = None) -> list[str]:
    """Problems found against the stored anchors. `event_hash_of(ref, seq)` gives today's hash of
    that event (None if it is gone); with `refs`, only those cases' leaves are checked (an indexed
    lookup), otherwise every leaf and every anchor's root."""
    problems: list[str] = []
    found = {r.id: r for r in conn.execute(select(T.anchors).order_by(T.anchors.c.id))}
    if not found:
        return problems
    q = select(T.anchor_leaves).order_by(T.anchor_leaves.c.anchor_id, T.anchor_leaves.c.ref)
    if refs is not None:
        q = q.where(T.anchor_leaves.c.ref.in_(sorted(refs)))
    leaves: dict[int, list] = {}
    for r in conn.execute(q):
        leaves.setdefault(r.anchor_id, []).append(r)
    for anchor_id, anchor in found.items():
        rows = leaves.get(anchor_id, [])
        if refs is None and (len(rows) != anchor.cases or merkle_root([leaf(r.ref, r.seq, r.hash) for r in rows]) != anchor.root):
            problems.append(f"anchor {anchor_id} ({iso(anchor.at)}): its leaves no longer give its root (the anchor was altered)")
            continue
        for r in rows:
            now_hash = event_hash_of(r.ref, r.seq)
            if now_hash != r.hash:
                what = "is gone" if now_hash is None else f"now has hash {now_hash[:12]}"
                problems.append(f"{r.ref}: event {r.seq} {what}, but anchor {anchor_id} of {iso(anchor.at)} "
                                f"recorded {r.hash[:12]} (the chain was rewritten)")
    return problems
