"""`qorgau proof REF SEQ`: that event SEQ of case REF is in a witnessed anchor, in a form anyone
can check with a few lines of standard-library Python (docs/audit.md, `check_proof` below).

The proof holds: the event's canonical text and the hash before it (so its own hash is recomputed),
the canonical texts of the case's events after it up to the head the first later anchor recorded
(so that head is recomputed from the event), the anchor's Merkle path from that head's leaf to its
root, and the anchor (number, time, root, document hash, TSA time). Compare the root with a
witness's copy of that anchor.
"""
from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Connection, select

from . import tables as T
from .anchor import heads_at, leaf, merkle_path
from .clock import iso
from .errors import RuleViolation
from .history import canonical, event_documents
from .queries import load_case_row

FORMAT = "qorgau-proof/1"


def inclusion_proof(conn: Connection, ref: str, seq: int) -> dict[str, Any]:
    row = load_case_row(conn, ref)
    events = conn.execute(select(T.events).where(T.events.c.case_id == row.id).order_by(T.events.c.seq)).all()
    if not 1 <= seq <= len(events):
        raise RuleViolation("invalid_data", f"{ref} has events 1 to {len(events)}, not {seq}", field="seq")
    al = T.anchor_leaves.c
    first = conn.execute(select(al.anchor_id, al.seq, al.hash).where(al.ref == ref, al.seq >= seq)
                         .order_by(al.anchor_id).limit(1)).first()
    if first is None:
        raise RuleViolation("invalid_data", f"event {seq} of {ref} is not in an anchor yet; the next anchor "
                                            "(within QORGAU_ANCHOR_INTERVAL) will hold it", field="seq")
    anchor = conn.execute(select(T.anchors).where(T.anchors.c.id == first.anchor_id)).one()
    docs = event_documents(events, row.ref, row.algorithm, row.definition_hash)
    texts = [canonical(d) for d in docs]
    heads = heads_at(conn, anchor.id)
    ordered = sorted(heads.items())
    index = next(i for i, (r, _) in enumerate(ordered) if r == ref)
    path = merkle_path([leaf(r, s, h) for r, (s, h) in ordered], index)
    return {
        "format": FORMAT, "case": ref,
        "event": {"seq": seq, "prev_hash": events[seq - 1].prev_hash, "text": texts[seq - 1],
                  "hash": events[seq - 1].hash},
        "chain": texts[seq:first.seq],
        "head": {"seq": first.seq, "hash": first.hash},
        "path": [[side, sibling] for side, sibling in path],
        "anchor": {"id": anchor.id, "at": iso(anchor.at), "root": anchor.root, "cases": anchor.cases,
                   "doc_hash": anchor.doc_hash, "tsa_time": iso(anchor.tsa_time) if anchor.tsa_time else None},
    }


def check_proof(proof: dict[str, Any], witnessed_root: str) -> bool:
    """The check docs/audit.md prints (standard library only): event → head → root."""
    event = proof["event"]
    h = hashlib.sha256((event["prev_hash"] + event["text"]).encode("utf-8")).hexdigest()
    if h != event["hash"]:
        return False
    for text in proof["chain"]:
        h = hashlib.sha256((h + text).encode("utf-8")).hexdigest()
    if h != proof["head"]["hash"]:
        return False
    node = hashlib.sha256(f'{proof["case"]}|{proof["head"]["seq"]}|{h}'.encode("utf-8")).digest()
    for side, sibling in proof["path"]:
        other = bytes.fromhex(sibling)
        node = hashlib.sha256(other + node if side == "L" else node + other).digest()
    return node.hex() == witnessed_root
