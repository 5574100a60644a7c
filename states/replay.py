"""Replay a case from its history and check it: the hash chain holds, every transition was legal
for the pinned version, and the stored case equals what the events say.

Replay folds the effects the events recorded (dues, bindings); it never recomputes them from
today's calendar or directory, so a later change of either does not rewrite the past.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import Connection, select

from . import tables as T
from .clock import iso, parse_iso
from .history import GENESIS, event_document, event_hash

SYSTEM_TRIGGERS = {"launch", "reminder", "overdue", "escalation", "critical", "timer", "linked"}


@dataclass
class ReplayedCase:
    state: str | None = None
    outcome: str | None = None
    critical: bool = False
    region: str | None = None
    bindings: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = 0
    head_hash: str = GENESIS
    at: datetime | None = None

    def open_tasks(self) -> list[dict[str, Any]]:
        return [t for t in self.tasks.values() if t["status"] == "open"]


def apply_event(case: ReplayedCase, ev: dict[str, Any]) -> None:
    """Fold one event (as its hashed document) into the replayed case."""
    fx = ev["effects"] or {}
    case.version = ev["seq"]
    case.at = parse_iso(ev["at"])
    case.state = ev["to"]
    if ev["trigger"] == "launch":
        case.region = ev["data"].get("region")
    if "bindings" in fx:
        case.bindings = dict(fx["bindings"])
    for t in fx.get("tasks_opened", []):
        case.tasks[t["key"]] = {"key": t["key"], "kind": t["kind"], "body": t["body"], "due": t["due"],
                                "status": "open", "overdue": False, "opened_at": ev["at"],
                                "steps": t.get("steps", [])}
    for t in fx.get("tasks_closed", []):
        if t["key"] in case.tasks:
            case.tasks[t["key"]]["status"] = t["status"]
    for key in fx.get("overdue", []):
        if key in case.tasks:
            case.tasks[key]["overdue"] = True
    moved = fx.get("transferred")
    if moved:
        case.region = moved["region"]
        case.bindings = dict(moved["bindings"])
        for t in moved["tasks_moved"]:
            if t["key"] in case.tasks:
                case.tasks[t["key"]].update(body=t["body"], due=t["due"], overdue=False, steps=t.get("steps", []))
    if "outcome" in fx:
        case.outcome = fx["outcome"]
    if fx.get("reopened"):
        case.outcome = None
    if fx.get("critical"):
        case.critical = True


def replay(events: Iterable[dict[str, Any]], at: datetime | None = None) -> ReplayedCase:
    """The case as its events make it, optionally only up to the moment `at`."""
    case = ReplayedCase()
    for ev in events:
        if at is not None and parse_iso(ev["at"]) > at:
            break
        apply_event(case, ev)
    return case


@dataclass
class Verification:
    ref: str
    ok: bool
    problems: list[str]
    first_bad_seq: int | None = None


def load_documents(conn: Connection, case_row) -> list[tuple[dict[str, Any], Any]]:
    rows = conn.execute(select(T.events).where(T.events.c.case_id == case_row.id).order_by(T.events.c.seq)).all()
    return [(event_document(r, case_row.ref, case_row.algorithm, case_row.definition_hash), r) for r in rows]


def verify_case(conn: Connection, ref: str, registry) -> Verification:
    case_row = conn.execute(select(T.cases).where(T.cases.c.ref == ref)).first()
    if case_row is None:
        return Verification(ref, False, [f"no case {ref}"])
    problems: list[str] = []
    first_bad: int | None = None

    def bad(seq: int | None, text: str) -> None:
        nonlocal first_bad
        problems.append(f"event {seq}: {text}" if seq is not None else text)
        if first_bad is None and seq is not None:
            first_bad = seq

    try:
        definition = registry.variant(case_row.algorithm, case_row.algorithm_version, case_row.overrides)
    except KeyError:
        definition = None
        bad(None, f"algorithm {case_row.algorithm} v{case_row.algorithm_version} is not loaded")
    if definition is not None and definition.content_hash != case_row.definition_hash:
        bad(None, "the loaded definition differs from the one the case is pinned to")

    docs = load_documents(conn, case_row)
    prev = GENESIS
    replayed = ReplayedCase()
    for expected_seq, (doc, row) in enumerate(docs, start=1):
        seq = doc["seq"]
        if seq != expected_seq:
            bad(seq, f"sequence gap or reorder: expected event {expected_seq}")
        if row.prev_hash != prev:
            bad(seq, "prev_hash does not match the previous event's hash (chain broken)")
        digest = event_hash(prev, doc)
        if digest != row.hash:
            bad(seq, "hash does not match the event's content (edited)")
        if replayed.state is not None and doc["from"] != replayed.state:
            bad(seq, f"from-state {doc['from']!r} but the case was in {replayed.state!r}")
        if replayed.at is not None and parse_iso(doc["at"]) < replayed.at:
            bad(seq, "event is earlier than the one before it (reordered)")
        if definition is not None:
            legal = _legal(definition, doc)
            if legal:
                bad(seq, legal)
        prev = row.hash
        apply_event(replayed, doc)

    if case_row.head_hash != prev:
        bad(None, "the case's head hash is not the last event's hash")
    if case_row.version != len(docs):
        bad(None, f"the case is at version {case_row.version} but has {len(docs)} events")
    _compare_store(conn, case_row, replayed, bad)
    return Verification(ref, not problems, problems, first_bad)


def _legal(definition, doc: dict[str, Any]) -> str | None:
    trigger = doc["trigger"]
    if trigger in SYSTEM_TRIGGERS and trigger not in definition.spec.triggers:
        if trigger != "launch" and doc["from"] != doc["to"]:
            return f"system step {trigger!r} changed the state"
        return None
    edges = definition.edges_from(trigger, doc["from"])
    if not edges:
        return f"trigger {trigger!r} is not allowed from {doc['from']!r} in {definition.id} v{definition.version}"
    if not any((e.internal and doc["to"] == doc["from"]) or e.dest == doc["to"] for e in edges):
        return f"trigger {trigger!r} cannot lead from {doc['from']!r} to {doc['to']!r}"
    return None


def _compare_store(conn: Connection, case_row, replayed: ReplayedCase, bad) -> None:
    for name in ("state", "outcome", "critical", "region"):
        stored, derived = getattr(case_row, name), getattr(replayed, name)
        if stored != derived:
            bad(None, f"stored {name} is {stored!r} but the history gives {derived!r}")
    if case_row.bindings != replayed.bindings:
        bad(None, "stored bindings differ from the history")
    stored_tasks = {r.key: r for r in conn.execute(select(T.tasks).where(T.tasks.c.case_id == case_row.id))}
    for key in sorted(set(stored_tasks) | set(replayed.tasks), key=lambda k: int(k[1:])):
        s, r = stored_tasks.get(key), replayed.tasks.get(key)
        if s is None or r is None:
            bad(None, f"task {key} is {'missing from the store' if s is None else 'not in the history'}")
            continue
        for label, a, b in (("kind", s.kind, r["kind"]), ("body", s.body_id, r["body"]),
                            ("due", iso(s.due), r["due"]), ("status", s.status, r["status"])):
            if a != b:
                bad(None, f"task {key} {label}: stored {a!r}, history {b!r}")
