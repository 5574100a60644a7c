"""Anchors: a Merkle root over every case's chain head at a moment.

A per-case hash chain catches an edited, deleted or reordered event, but not a whole chain
rewritten from some point with fresh hashes, nor its last events cut off with the case row rolled
back to match. An anchor published outside the store catches both: the head each case had then
must still be in its chain, at the same position, with the same hash.

An anchor is taken every minute in which anything was written (`QORGAU_ANCHOR_INTERVAL`, the
`anchor-heads` flow) and cheaply at any size: only the heads that changed since the last anchor are
found (one indexed comparison with `anchor_heads`) and recorded (`anchor_leaves` holds, per anchor,
the heads that changed then); the root is folded from the stored heads. Each anchor's signed witness
document (states/witness.py) lists exactly those changed heads, so the witnesses' copies alone give
every head of every anchor.

The tree: leaves `sha256("ref|seq|hash")` in the order of the references (Python's string order),
paired left to right with `sha256(left + right)`; an odd node is carried up unchanged.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, or_, select

from . import tables as T
from .clock import as_utc, iso, utcnow


@dataclass(frozen=True)
class Anchor:
    id: int
    at: datetime
    root: str
    cases: int
    changed: int = 0

    def line(self) -> str:
        return f"anchor {self.id}  {iso(self.at)}  cases {self.cases}  changed {self.changed}  root {self.root}"


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


def merkle_path(leaves: list[bytes], index: int) -> list[tuple[str, str]]:
    """The siblings from leaf `index` up to the root: ("L"|"R", hex) where the sibling sits left or
    right; a level where the node has no sibling (odd, carried up) adds nothing."""
    path: list[tuple[str, str]] = []
    level = leaves
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(("L" if sibling < index else "R", level[sibling].hex()))
        level = [hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)] \
            + ([level[-1]] if len(level) % 2 else [])
        index //= 2
    return path


def root_of_heads(heads: dict[str, tuple[int, str]]) -> str:
    return merkle_root([leaf(ref, seq, digest) for ref, (seq, digest) in sorted(heads.items())])


_H, _C, _E = T.anchor_heads.c, T.cases.c, T.events.c
_CHANGED = (select(_C.ref, _C.version, _C.head_hash)
            .select_from(T.cases.outerjoin(T.anchor_heads, _H.ref == _C.ref))
            .where(_C.version > 0, or_(_H.ref.is_(None), _H.seq != _C.version, _H.hash != _C.head_hash)))
# An event's id is taken when it is written, not when its transaction commits: on PostgreSQL a slow
# writer may commit an id below the last anchor's watermark after that anchor. Each anchor therefore
# looks this many ids back as well (and keeps only heads that really changed).
LOOK_BACK_IDS = 5000


def _changed(conn: Connection, since: int | None) -> list[tuple[str, int, str]]:
    """The heads that differ from the last anchor's. With the last anchor's event watermark only
    the cases written since are compared (an index range over events, whatever the store's size):
    this keeps a minute's anchor at 120,000 cases to the cost of what changed (docs/performance.md,
    "Anchors"); without one (the first anchor, or one older than watermarks), every case."""
    if since is None:
        return [(r.ref, r.version, r.head_hash) for r in conn.execute(_CHANGED)]
    written = select(_E.case_id).where(_E.id > since - LOOK_BACK_IDS).distinct().scalar_subquery()
    return [(r.ref, r.version, r.head_hash) for r in conn.execute(_CHANGED.where(_C.id.in_(written)))]


def stored_leaves(conn: Connection) -> list[tuple[str, bytes]]:
    """(ref, leaf) of every head as of the latest anchor, in the tree's order; read raw (no row
    objects) and never hashed again: at 120,000 cases this is most of an anchor's time."""
    cursor = conn.connection.dbapi_connection.cursor()  # the driver's tuples, without SQLAlchemy's rows
    try:
        cursor.execute("SELECT ref, leaf FROM anchor_heads")
        rows = cursor.fetchall()
    finally:
        cursor.close()
    rows.sort()
    fromhex = bytes.fromhex
    return [(ref, fromhex(digest)) for ref, digest in rows]


def stored_heads(conn: Connection) -> dict[str, tuple[int, str]]:
    """The heads as of the latest anchor."""
    return {r.ref: (r.seq, r.hash) for r in conn.execute(select(_H.ref, _H.seq, _H.hash))}


def make_anchor(engine, now: datetime | None = None, *, force: bool = False, witness=None) -> Anchor | None:
    """Record an anchor if any head changed since the last one (or always with `force`); None when
    nothing was written. `witness(conn, anchor, changed, heads)` adds the signed witness document and
    queues it for the witnesses, in the same transaction (states/witness.py); `heads` is called for
    every head only when the document must list them all."""
    now = as_utc(now or utcnow())
    with engine.db.begin() as conn:
        upto = conn.execute(select(func.max(_E.id))).scalar() or 0
        since = conn.execute(select(T.anchors.c.events_upto).order_by(T.anchors.c.id.desc()).limit(1)).scalar()
        changed = _changed(conn, since)
        if not changed and not force:
            return None
        if changed:
            refs = [ref for ref, _, _ in changed]
            for i in range(0, len(refs), 500):
                conn.execute(delete(T.anchor_heads).where(_H.ref.in_(refs[i:i + 500])))
            conn.execute(insert(T.anchor_heads), [{"ref": r, "seq": s, "hash": h, "leaf": leaf(r, s, h).hex()}
                                                  for r, s, h in changed])
        leaves = stored_leaves(conn)
        root = merkle_root([digest for _, digest in leaves])
        anchor_id = conn.execute(insert(T.anchors).values(at=now, root=root, cases=len(leaves),
                                                          events_upto=upto)).inserted_primary_key[0]
        if changed:
            conn.execute(insert(T.anchor_leaves), [{"anchor_id": anchor_id, "ref": r, "seq": s, "hash": h}
                                                   for r, s, h in changed])
        anchor = Anchor(anchor_id, now, root, len(leaves), len(changed))
        if witness is not None:
            witness(conn, anchor, sorted(changed), lambda: stored_heads(conn))
    return anchor


def anchors(conn: Connection) -> list[Anchor]:
    counts = dict(conn.execute(select(T.anchor_leaves.c.anchor_id, func.count()).group_by(T.anchor_leaves.c.anchor_id)).all())
    return [Anchor(r.id, r.at, r.root, r.cases, counts.get(r.id, 0))
            for r in conn.execute(select(T.anchors.c.id, T.anchors.c.at, T.anchors.c.root, T.anchors.c.cases)
                                  .order_by(T.anchors.c.id))]


def anchored_keys(conn: Connection) -> set[tuple[str, int]]:
    """Every (case, event number) some anchor recorded as a chain head."""
    return {(r.ref, r.seq) for r in conn.execute(select(T.anchor_leaves.c.ref, T.anchor_leaves.c.seq))}


def heads_at(conn: Connection, anchor_id: int) -> dict[str, tuple[int, str]]:
    """Every case's head as anchor `anchor_id` recorded it (its changes laid over the earlier ones)."""
    heads: dict[str, tuple[int, str]] = {}
    q = (select(T.anchor_leaves.c.ref, T.anchor_leaves.c.seq, T.anchor_leaves.c.hash)
         .where(T.anchor_leaves.c.anchor_id <= anchor_id).order_by(T.anchor_leaves.c.anchor_id))
    for r in conn.execute(q):
        heads[r.ref] = (r.seq, r.hash)
    return heads


def check_anchors(conn: Connection, event_hash_of, refs: set[str] | None = None) -> list[str]:
    """Problems found against the stored anchors. `event_hash_of(ref, seq)` gives today's hash of
    that event (None if it is gone); with `refs`, only those cases' leaves are checked (an indexed
    lookup). Without: every leaf; every anchor's witness document against its row (its hash, its
    root, its changed heads, its place in the chain); and the latest root folded again from every
    head (folding every anchor's root would cost anchors × cases)."""
    problems: list[str] = []
    a = T.anchors.c
    found = {r.id: r for r in conn.execute(select(a.id, a.at, a.root, a.cases, a.document, a.doc_hash)
                                           .order_by(a.id))}
    if not found:
        return problems
    q = select(T.anchor_leaves).order_by(T.anchor_leaves.c.anchor_id, T.anchor_leaves.c.ref)
    if refs is not None:
        q = q.where(T.anchor_leaves.c.ref.in_(sorted(refs)))
    leaves: dict[int, list] = {}
    for r in conn.execute(q):
        leaves.setdefault(r.anchor_id, []).append(r)
    heads: dict[str, tuple[int, str]] = {}
    previous_hash = None
    for anchor_id, anchor in found.items():
        rows = leaves.get(anchor_id, [])
        for r in rows:
            heads[r.ref] = (r.seq, r.hash)
        if refs is None and anchor.document is not None:
            bad = _document_problem(anchor, rows, previous_hash)
            if bad:
                problems.append(f"anchor {anchor_id} ({iso(anchor.at)}): {bad}")
        previous_hash = anchor.doc_hash
        for r in rows:
            now_hash = event_hash_of(r.ref, r.seq)
            if now_hash != r.hash:
                what = "is gone" if now_hash is None else f"now has hash {now_hash[:12]}"
                problems.append(f"{r.ref}: event {r.seq} {what}, but anchor {anchor_id} of {iso(anchor.at)} "
                                f"recorded {r.hash[:12]} (the chain was rewritten)")
    last = found[max(found)]
    if refs is None and (len(heads) != last.cases or root_of_heads(heads) != last.root):
        problems.append(f"anchor {last.id} ({iso(last.at)}): its heads no longer give its root (the anchor was altered)")
    return problems


def _document_problem(anchor, rows, previous_hash) -> str | None:
    text = anchor.document
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != anchor.doc_hash:
        return "its witness document no longer has the hash it was sent with"
    doc = json.loads(text)
    if doc.get("root") != anchor.root or doc.get("cases") != anchor.cases or doc.get("anchor") != anchor.id:
        return "its row differs from its witness document (the anchor was altered)"
    if previous_hash is not None and doc.get("prev") != previous_hash:
        return "its witness document does not follow the previous one"
    if not doc.get("full") and sorted(map(tuple, doc.get("leaves", []))) != sorted((r.ref, r.seq, r.hash) for r in rows):
        return "its recorded heads differ from its witness document (the anchor was altered)"
    return None
