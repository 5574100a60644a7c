"""`qorgau verify --anchors PATH`: the witnesses' copies of the anchors against the store.

For every witnessed anchor: its signature (the deployment's anchor key), its place in the chain of
documents (`prev`), its root against the heads all the copies up to it give, the store's own anchor
of that number (an anchors table rewritten to match a rewritten history is caught here), its RFC
3161 token (signed by the trusted TSA, for this document's hash); then every head any copy
witnessed must still be in the store with that hash. The cases whose heads no longer match are
named: an event that is gone (its case's tail cut off and the case row rolled back) or changed.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from sqlalchemy import Connection, select

from . import tables as T
from .anchor import root_of_heads
from .clock import iso
from .witness import Copies, canonical, doc_hash, signature_problem

CHUNK = 500
TSA_SKEW = timedelta(minutes=5)  # a token's time may not precede its anchor by more than this


@dataclass
class WitnessReport:
    anchors: int = 0
    timestamps: int = 0
    heads: int = 0
    timestamped: int = 0
    problems: list[str] = field(default_factory=list)
    cases: dict[str, str] = field(default_factory=dict)  # case named -> the first reason

    @property
    def ok(self) -> bool:
        return not self.problems


def check_copies(conn: Connection, copies: Copies, *, trusted_keys: set[str] | None = None,
                 verify_token: Callable[[bytes, bytes], object] | None = None) -> WitnessReport:
    """`verify_token(token, message) -> time` raises on a token it refuses (None: tokens unchecked);
    `message` is the witnessed anchor document, as the TSA was asked to time-stamp it."""
    report = WitnessReport(anchors=len(copies.anchors), timestamps=len(copies.timestamps))
    problems = report.problems
    problems.extend(copies.problems)
    stored = {r.id: r for r in conn.execute(select(T.anchors.c.id, T.anchors.c.root, T.anchors.c.doc_hash,
                                                   T.anchors.c.at))}
    heads: dict[str, tuple[int, str]] = {}
    witnessed: dict[tuple[str, int], tuple[str, int, str]] = {}  # (ref, seq) -> (hash, anchor, at)
    complete, previous, prev_hash = True, None, None
    hashes: dict[int, str] = {}
    for number in sorted(copies.anchors):
        sealed = copies.anchors[number]
        doc = sealed["document"]
        where = f"anchor {number} ({doc.get('at')})"
        bad = signature_problem(sealed, trusted_keys)
        if bad:
            problems.append(f"{where}: {bad}")
            continue
        if doc.get("full"):  # every head: the roots can be checked from here on
            heads, complete = {}, True
            if previous is not None and number == previous + 1 and doc.get("prev") != prev_hash:
                problems.append(f"{where}: it does not follow anchor {previous}")
        elif previous is None or number != previous + 1:
            first = "the first full one" if previous is None else f"{previous + 1}"
            problems.append(f"{where}: the witness copies lack anchors from {first} to {number - 1}; its root "
                            f"cannot be recomputed (its heads are still checked)")
            complete = False
        elif doc.get("prev") != prev_hash:
            problems.append(f"{where}: it does not follow anchor {previous} (prev {str(doc.get('prev'))[:12]})")
        for ref, seq, digest in doc.get("leaves", []):
            heads[ref] = (seq, digest)
            witnessed[(ref, seq)] = (digest, number, doc.get("at"))
        if complete and (len(heads) != doc.get("cases") or root_of_heads(heads) != doc.get("root")):
            problems.append(f"{where}: its heads do not give its root (the copy is damaged or incomplete)")
        hashes[number] = prev_hash = doc_hash(canonical(doc))
        previous = number
        row = stored.get(number)
        if row is None:
            problems.append(f"{where}: the store has no anchor {number} (it was deleted)")
        elif row.root != doc.get("root") or (row.doc_hash is not None and row.doc_hash != prev_hash):
            problems.append(f"{where}: the store's anchor {number} differs from the witnesses' copy "
                            f"(the anchors table was rewritten)")
    report.heads = len(witnessed)
    _check_timestamps(copies, hashes, trusted_keys, verify_token, problems)
    report.timestamped = sum(1 for n in copies.timestamps if n in copies.anchors)
    _check_heads(conn, witnessed, report)
    return report


def _check_timestamps(copies: Copies, hashes: dict[int, str], trusted_keys, verify_token, problems: list[str]) -> None:
    for number in sorted(copies.timestamps):
        sealed = copies.timestamps[number]
        doc = sealed["document"]
        bad = signature_problem(sealed, trusted_keys)
        if bad:
            problems.append(f"time-stamp of anchor {number}: {bad}")
            continue
        if number in hashes and doc.get("doc_hash") != hashes[number]:
            problems.append(f"time-stamp of anchor {number}: it is for another document than the witnessed one")
            continue
        if verify_token is None or number not in copies.anchors:
            continue
        message = canonical(copies.anchors[number]["document"]).encode("utf-8")
        try:
            when = verify_token(base64.b64decode(doc["token"]), message)
        except Exception as exc:  # the verifier's own error names what is wrong with the token
            problems.append(f"time-stamp of anchor {number}: the TSA token is refused ({exc})")
            continue
        anchored = copies.anchors[number]["document"].get("at")
        if anchored and iso(when + TSA_SKEW) < anchored:
            problems.append(f"time-stamp of anchor {number}: the TSA saw it at {iso(when)}, before the anchor's "
                            f"own time {anchored}")


def _check_heads(conn: Connection, witnessed: dict[tuple[str, int], tuple], report: WitnessReport) -> None:
    refs = sorted({ref for ref, _ in witnessed})
    present: dict[tuple[str, int], str] = {}
    for i in range(0, len(refs), CHUNK):
        rows = conn.execute(select(T.cases.c.ref, T.events.c.seq, T.events.c.hash)
                            .join(T.events, T.events.c.case_id == T.cases.c.id)
                            .where(T.cases.c.ref.in_(refs[i:i + CHUNK])))
        present.update({(r.ref, r.seq): r.hash for r in rows})
    for (ref, seq), (digest, number, at) in sorted(witnessed.items()):
        now = present.get((ref, seq))
        if now == digest:
            continue
        what = "is gone" if now is None else f"now has hash {now[:12]}"
        reason = (f"{ref}: event {seq} {what}, but anchor {number} of {at} witnessed it with hash {digest[:12]} "
                  f"(the history was cut off or rewritten)")
        report.problems.append(reason)
        report.cases.setdefault(ref, reason)

