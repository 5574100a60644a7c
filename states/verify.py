"""Verify histories: re-execute each case from its first event and check that

(a) the hash chain holds (no event edited, deleted, reordered or rewritten),
(b) every transition was legal for the pinned version, state and trigger,
(c) the stored case (state, outcome, critical flag, region, bindings, tasks with dues and status)
    equals the replay, and
(d) every escalation step and timer that fell due was taken on time, relative to when the
    sweeper ran (a step is late if a sweep that should have taken it ran before it was taken).

`verify_all` streams every event of the store once, so it checks tens of thousands of events per
second; `verify_case` checks one case.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import multiprocessing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

from sqlalchemy import Connection, select

from . import tables as T
from .anchor import anchored_keys, check_anchors
from .clock import iso
from .db import make_engine, reading
from .history import GENESIS, MIGRATED, canonical_from_parts, definition_pins, event_hash
from .replay import LADDER_STEPS, SYSTEM_TRIGGERS, ReplayedCase, apply_event
from .verify_migration import check_migration


@dataclass
class Verification:
    ref: str
    ok: bool
    problems: list[str]
    first_bad_seq: int | None = None
    events: int = 0

    @property
    def first_divergence(self) -> str | None:
        return self.problems[0] if self.problems else None


@dataclass
class VerifyReport:
    cases: int = 0
    events: int = 0
    failures: list[Verification] = field(default_factory=list)
    anchor_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.anchor_problems


# ------------------------------------------------------------------------------ the checks

class _Checker:
    def __init__(self, ref: str, algorithm: str, definition_hash: str, definition, sweep_nows: list[str],
                 registry=None):
        self.ref, self.algorithm, self.definition_hash = ref, algorithm, definition_hash
        self.d = definition
        self.registry = registry
        self.earlier: list[tuple[str, str, str | None, str]] = []  # (trigger, at, from, to) so far
        self.sweep_nows = sweep_nows  # canonical ISO strings, ascending
        self.problems: list[str] = []
        self.first_bad: int | None = None
        self.expected: dict[tuple[str, str, str], str] = {}  # (kind, task|timer, due) -> description

    def bad(self, seq: int | None, text: str) -> None:
        self.problems.append(f"event {seq}: {text}" if seq is not None else text)
        if seq is not None and (self.first_bad is None or seq < self.first_bad):
            self.first_bad = seq

    def run(self, events: Iterable[tuple[dict[str, Any], str, str]]) -> ReplayedCase:
        """`events`: (hashed document, stored prev_hash, stored hash) in stored order."""
        prev = GENESIS
        replayed = ReplayedCase()
        for n, (doc, prev_hash, digest) in enumerate(events, start=1):
            seq = doc["seq"]
            if seq != n:
                self.bad(seq, f"out of sequence: expected event {n} (an event was deleted or reordered)")
            if prev_hash != prev:
                self.bad(seq, "prev_hash is not the previous event's hash (the chain is broken here)")
            text = doc.pop("_canonical", None)
            computed = (hashlib.sha256((prev + text).encode("utf-8")).hexdigest() if text is not None
                        else event_hash(prev, doc))
            if computed != digest:
                self.bad(seq, "hash does not match the event's content (the event was edited)")
            if replayed.state is not None and doc["from"] != replayed.state:
                self.bad(seq, f"starts from {doc['from']!r} but the case was in {replayed.state!r}")
            if replayed.at is not None and doc["at"] < replayed.at:
                self.bad(seq, "is earlier than the event before it (reordered)")
            d = self._definition_of(doc)
            if doc["trigger"] == MIGRATED:
                for problem in check_migration(doc, replayed, self.earlier, self.registry, self.algorithm, d):
                    self.bad(seq, problem)
            elif d is not None:
                legal = self._legal(doc, d)
                if legal:
                    self.bad(seq, legal)
            self.earlier.append((doc["trigger"], doc["at"], doc["from"], doc["to"]))
            self._track_steps(doc)
            prev = digest
            apply_event(replayed, doc)
        replayed.head_hash = prev
        self._missed_steps()
        return replayed

    def _definition_of(self, doc: dict[str, Any]):
        """The definition an event was written under: the case's own, or for the events before a
        migration, the version (and definition) the case moved from."""
        if self.d is None or doc["version"] == self.d.version or self.registry is None:
            return self.d
        try:
            return self.registry.get(self.algorithm, doc["version"])
        except KeyError:
            self.bad(doc["seq"], f"{self.algorithm} v{doc['version']} is not loaded")
            return None

    def _legal(self, doc: dict[str, Any], d) -> str | None:
        trigger = doc["trigger"]
        if trigger in SYSTEM_TRIGGERS and trigger not in d.spec.triggers:
            if trigger != "launch" and doc["from"] != doc["to"]:
                return f"system step {trigger!r} changed the state"
            if trigger == "launch" and doc["to"] not in d.spec.states:
                return f"launched into unknown state {doc['to']!r}"
            return None
        if trigger not in d.spec.triggers:
            return f"trigger {trigger!r} does not exist in {d.id} v{d.version}"
        edges = d.edges_from(trigger, doc["from"])
        if not edges:
            return f"trigger {trigger!r} is not allowed from {doc['from']!r} in {d.id} v{d.version}"
        if not any((e.internal and doc["to"] == doc["from"]) or e.dest == doc["to"] for e in edges):
            return f"trigger {trigger!r} cannot lead from {doc['from']!r} to {doc['to']!r}"
        actor = doc["actor"]
        if actor == "system" and "system" not in d.spec.triggers[trigger].actors:
            return f"trigger {trigger!r} was fired by the system, which may not fire it"
        return None

    # (d): steps and timers
    def _track_steps(self, doc: dict[str, Any]) -> None:
        fx = doc["effects"] or {}
        trigger, data = doc["trigger"], doc.get("data") or {}
        if doc["actor"] == "system" and trigger in LADDER_STEPS:
            self._taken((trigger, data.get("task"), data.get("due")), doc)
        timer = fx.get("timer")
        if timer:
            self._taken(("timer", timer.get("timer"), timer.get("due")), doc)
        for t in fx.get("tasks_opened", []):
            for step in t.get("steps", []):
                self.expected[(step["step"], t["key"], step["at"])] = f"{step['step']} of task {t['key']} ({t['kind']})"
        for t in fx.get("tasks_closed", []):
            self._forget(lambda k: k[0] != "timer" and k[1] == t["key"])
        moved = fx.get("transferred") or (fx if trigger == MIGRATED else None)
        if moved:
            for t in moved.get("tasks_moved", []):
                self._forget(lambda k: k[0] != "timer" and k[1] == t["key"])
                for step in t.get("steps", []):
                    self.expected[(step["step"], t["key"], step["at"])] = f"{step['step']} of task {t['key']}"
        cancelled = fx.get("timers_cancelled")
        if cancelled:
            self._forget(lambda k: k[0] == "timer" and ("*" in cancelled or k[1] in cancelled))
        for timer_started in fx.get("timers_started", []):
            self.expected[("timer", timer_started["name"], timer_started["at"])] = f"timer {timer_started['name']}"

    def _forget(self, match: Callable[[tuple], bool]) -> None:
        for key in [k for k in self.expected if match(k)]:
            del self.expected[key]

    def _taken(self, key: tuple, doc: dict[str, Any]) -> None:
        if key not in self.expected:
            self.bad(doc["seq"], f"{key[0]} for {key[1]} due {key[2]} was taken but never scheduled")
            return
        del self.expected[key]
        first = self._first_sweep_at_or_after(key[2])
        if first is not None and doc["at"] > first:
            self.bad(doc["seq"], f"{key[0]} for {key[1]} due {key[2]} was taken at {doc['at']}, "
                                 f"but the sweep of {first} should have taken it")

    def _missed_steps(self) -> None:
        if not self.sweep_nows:
            return
        last = self.sweep_nows[-1]
        for (kind, owner, due), what in sorted(self.expected.items(), key=lambda kv: kv[0][2]):
            if due <= last:
                self.bad(None, f"{what} due {due} was never taken, though the sweep ran up to {last}")

    def _first_sweep_at_or_after(self, due: str) -> str | None:
        i = bisect.bisect_left(self.sweep_nows, due)
        return self.sweep_nows[i] if i < len(self.sweep_nows) else None

    # (c): the store against the replay
    def compare(self, stored: dict[str, Any], tasks: list[tuple], replayed: ReplayedCase, events: int) -> None:
        for name in ("state", "outcome", "critical", "region"):
            if stored[name] != getattr(replayed, name):
                self.bad(None, f"stored {name} is {stored[name]!r} but the history gives {getattr(replayed, name)!r}")
        if stored["bindings"] != replayed.bindings:
            self.bad(None, "stored bindings differ from the history")
        if stored["head_hash"] != replayed.head_hash:
            self.bad(None, "the case's head hash is not its last event's hash")
        if stored["version"] != events:
            self.bad(None, f"the case is at version {stored['version']} but has {events} events")
        seen = set()
        for key, kind, body, due, status in tasks:
            seen.add(key)
            r = replayed.tasks.get(key)
            if r is None:
                self.bad(None, f"task {key} ({kind}) is in the store but not in the history")
                continue
            for label, a, b in (("kind", kind, r["kind"]), ("body", body, r["body"]), ("due", due, r["due"]),
                                ("status", status, r["status"])):
                if a != b:
                    self.bad(None, f"task {key} {label}: stored {a!r}, history {b!r}")
        for key in replayed.tasks.keys() - seen:
            self.bad(None, f"task {key} is in the history but missing from the store")

    def result(self, events: int) -> Verification:
        return Verification(self.ref, not self.problems, self.problems, self.first_bad, events)


def _definition(registry, algorithm: str, version: int, overrides, definition_hash: str, checker_bad) -> Any:
    try:
        d = registry.variant(algorithm, version, overrides)
    except KeyError:
        checker_bad(None, f"algorithm {algorithm} v{version} is not loaded")
        return None
    if d.content_hash != definition_hash:
        checker_bad(None, "the loaded definition differs from the one the case is pinned to")
    return d


def sweep_moments(conn: Connection) -> list[str]:
    """The `now` of every finished sweep, as canonical ISO strings, in order."""
    return sorted(iso(t) for t in conn.execute(
        select(T.sweep_runs.c.now).where(T.sweep_runs.c.finished_at.is_not(None))).scalars())


# ------------------------------------------------------------------------------ one case

def verify_case(conn: Connection, ref: str, registry, sweep_nows: list[str] | None = None) -> Verification:
    row = conn.execute(select(T.cases).where(T.cases.c.ref == ref)).first()
    if row is None:
        return Verification(ref, False, [f"no case {ref}"])
    c = row._mapping
    if sweep_nows is None:
        sweep_nows = sweep_moments(conn)
    checker = _Checker(ref, c["algorithm"], c["definition_hash"], None, sweep_nows, registry)
    checker.d = _definition(registry, c["algorithm"], c["algorithm_version"], c["overrides"], c["definition_hash"],
                            checker.bad)
    rows = conn.execute(select(T.events).where(T.events.c.case_id == c["id"]).order_by(T.events.c.id)).all()
    pin = definition_pins([(r.seq, r.trigger, r.effects) for r in rows], c["definition_hash"])
    docs = [(_doc(r._mapping, ref, c["algorithm"], pin(r.seq), iso(r.at)), r.prev_hash, r.hash) for r in rows]
    replayed = checker.run(docs)
    tasks = [(t.key, t.kind, t.body_id, iso(t.due), t.status)
             for t in conn.execute(select(T.tasks).where(T.tasks.c.case_id == c["id"]))]
    checker.compare(dict(c), tasks, replayed, len(rows))
    hashes = {r.seq: r.hash for r in rows}
    for problem in check_anchors(conn, lambda _ref, seq: hashes.get(seq), refs={ref}):
        checker.bad(None, problem)
    return checker.result(len(rows))


def _doc(m, ref: str, algorithm: str, definition_hash: str, at: str) -> dict[str, Any]:
    data, effects = m["data"], m["effects"]
    doc = {"case": ref, "seq": m["seq"], "at": at, "actor": m["actor"], "trigger": m["trigger"],
           "data": json.loads(data) if isinstance(data, str) else data, "from": m["from_state"],
           "to": m["to_state"], "effects": json.loads(effects) if isinstance(effects, str) else effects,
           "algorithm": algorithm, "version": m["algorithm_version"], "definition": definition_hash}
    if m.get("person") is not None:
        doc["person"] = m["person"]
    return doc


# ------------------------------------------------------------------------------ every case

# What the check compares, not the case's data nor its tallies' share (`cases.tallied`, about 1.3 KB
# of JSON a case): decoding every case row whole was a fifth of a worker's time on a national year.
_CASE_COLUMNS = [T.cases.c[name] for name in ("id", "ref", "algorithm", "algorithm_version", "definition_hash",
                                              "overrides", "state", "outcome", "critical", "region", "bindings",
                                              "head_hash", "version")]
_EVENTS_SQL = ("SELECT case_id, seq, at, actor, trigger, data, from_state, to_state, effects, algorithm_version, "
               "prev_hash, hash, person FROM events WHERE case_id BETWEEN {lo} AND {hi} ORDER BY case_id, id")
PARALLEL_FROM_CASES = 2000  # below this, starting worker processes costs more than it saves


def verify_all(conn: Connection, registry, refs: list[str] | None = None,
               progress: Callable[[int, int], None] | None = None, workers: int = 1) -> VerifyReport:
    """Check every case (or the listed ones), streaming the events table once. With `workers` > 1
    and many cases, ranges of cases are checked in parallel processes (each with its own connection)."""
    sweeps = sweep_moments(conn)
    if refs is not None:
        report = VerifyReport()
        for i, ref in enumerate(refs, start=1):
            result = verify_case(conn, ref, registry, sweeps)
            report.cases += 1
            report.events += result.events
            if not result.ok:
                report.failures.append(result)
            if progress:
                progress(i, len(refs))
        return report
    ids = list(conn.execute(select(T.cases.c.id).order_by(T.cases.c.id)).scalars())
    leaf_keys = anchored_keys(conn)
    if not ids:
        report = VerifyReport()
    elif workers > 1 and len(ids) >= PARALLEL_FROM_CASES and _can_fork():
        report = _verify_parallel(conn, registry, ids, sweeps, leaf_keys, workers, progress)
    else:
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            if progress:
                progress(done[0], len(ids))

        report, hashes = _verify_range(conn, registry, sweeps, ids[0], ids[-1], leaf_keys, step)
        report.anchor_problems = check_anchors(conn, lambda ref, seq: hashes.get((ref, seq)))
    if progress:
        progress(len(ids), len(ids))
    return report


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _verify_parallel(conn, registry, ids, sweeps, leaf_keys, workers, progress) -> VerifyReport:
    chunks = max(workers * 4, 1)
    size = -(-len(ids) // chunks)
    ranges = [(ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)]
    url = conn.engine.url.render_as_string(hide_password=False)
    schema = conn.engine.dialect.name == "postgresql" and conn.exec_driver_sql("SELECT current_schema()").scalar()
    ctx = multiprocessing.get_context("fork")
    report = VerifyReport()
    hashes: dict[tuple[str, int], str] = {}
    done = 0
    with ctx.Pool(workers, initializer=_worker_init, initargs=(url, schema or None, registry, sweeps, leaf_keys)) as pool:
        for (part, part_hashes), (lo, hi) in zip(pool.imap(_worker_range, ranges), ranges):
            report.cases += part.cases
            report.events += part.events
            report.failures.extend(part.failures)
            hashes.update(part_hashes)
            done += part.cases
            if progress:
                progress(done, len(ids))
    report.anchor_problems = check_anchors(conn, lambda ref, seq: hashes.get((ref, seq)))
    return report


_WORKER: dict[str, Any] = {}


def _worker_init(url, schema, registry, sweeps, leaf_keys) -> None:
    _WORKER.update(db=make_engine(url, schema=schema), registry=registry, sweeps=sweeps, leaf_keys=leaf_keys,
                   reading=reading)


def _worker_range(bounds: tuple[int, int]):
    with _WORKER["reading"](_WORKER["db"]) as conn:
        return _verify_range(conn, _WORKER["registry"], _WORKER["sweeps"], bounds[0], bounds[1],
                             _WORKER["leaf_keys"], None)


def _verify_range(conn: Connection, registry, sweeps, lo: int, hi: int, leaf_keys: set,
                  step: Callable[[int], None] | None) -> tuple[VerifyReport, dict]:
    """Verify the cases with ids in [lo, hi]; also return today's hashes of the anchored events."""
    cases = {r.id: dict(r._mapping) for r in conn.execute(select(*_CASE_COLUMNS).where(T.cases.c.id.between(lo, hi)))}
    tasks: dict[int, list[tuple]] = {}
    for t in conn.execute(select(T.tasks.c.case_id, T.tasks.c.key, T.tasks.c.kind, T.tasks.c.body_id,
                                 T.tasks.c.due, T.tasks.c.status).where(T.tasks.c.case_id.between(lo, hi))):
        tasks.setdefault(t.case_id, []).append((t.key, t.kind, t.body_id, iso(t.due), t.status))
    sqlite = conn.dialect.name == "sqlite"
    report = VerifyReport()
    hashes: dict[tuple[str, int], str] = {}
    pending = 0

    def finish(case_id: int, rows: list) -> None:
        nonlocal pending
        c = cases.pop(case_id, None)
        if c is None:
            report.failures.append(Verification(f"case id {case_id}", False, ["events of a case that does not exist"]))
            return
        result = _verify_rows(c, rows, tasks.get(case_id, []), registry, sweeps, sqlite)
        if leaf_keys:
            ref = c["ref"]
            for r in rows:
                if (ref, r[1]) in leaf_keys:
                    hashes[(ref, r[1])] = r[11]
        report.cases += 1
        report.events += len(rows)
        if not result.ok:
            report.failures.append(result)
        pending += 1
        if step and pending >= 200:
            step(pending)
            pending = 0

    current_id, batch = None, []
    for row in conn.exec_driver_sql(_EVENTS_SQL.format(lo=int(lo), hi=int(hi))):
        if row[0] != current_id:
            if current_id is not None:
                finish(current_id, batch)
            current_id, batch = row[0], []
        batch.append(row)
    if current_id is not None:
        finish(current_id, batch)
    for case_id in list(cases):  # cases without any event
        finish(case_id, [])
    if step and pending:
        step(pending)
    return report, hashes


def _verify_rows(c: dict, rows: list, tasks: list[tuple], registry, sweeps, sqlite: bool) -> Verification:
    checker = _Checker(c["ref"], c["algorithm"], c["definition_hash"], None, sweeps, registry)
    checker.d = _definition(registry, c["algorithm"], c["algorithm_version"], c["overrides"], c["definition_hash"],
                            checker.bad)
    ref, algorithm = c["ref"], c["algorithm"]
    pin = definition_pins([(r[1], r[4], r[8]) for r in rows if r[4] == MIGRATED], c["definition_hash"])
    docs = []
    for r in rows:
        dhash = pin(r[1])
        at = _sqlite_iso(r[2]) if sqlite else iso(r[2])
        data, effects = r[5], r[8]
        doc = {"case": ref, "seq": r[1], "at": at, "actor": r[3], "trigger": r[4], "data": data, "from": r[6],
               "to": r[7], "effects": effects, "algorithm": algorithm, "version": r[9], "definition": dhash}
        if r[12] is not None:
            doc["person"] = r[12]
        if isinstance(data, str) and isinstance(effects, str):
            # The store keeps data and effects as canonical JSON text: hash that text as it is.
            doc["_canonical"] = canonical_from_parts(doc, data, effects)
            doc["effects"] = json.loads(effects)
            doc["data"] = json.loads(data) if (r[3] == "system" or r[4] in ("launch", MIGRATED)) else _Unparsed(data)
        docs.append((doc, r[10], r[11]))
    replayed = checker.run(docs)
    checker.compare(c, tasks, replayed, len(rows))
    return checker.result(len(rows))


class _Unparsed(str):
    """Event data not needed for checking beyond its hash (parsed only if someone asks)."""

    def get(self, key, default=None):
        return json.loads(self).get(key, default)


def _sqlite_iso(text: str) -> str:
    """SQLite keeps UTC instants as 'YYYY-MM-DD HH:MM:SS.ffffff'; give the canonical ISO form."""
    if len(text) == 26 and text[10] == " ":
        micro = text[20:]
        return f"{text[:10]}T{text[11:19]}{'' if micro == '000000' else '.' + micro}Z"
    return iso(datetime.fromisoformat(text).replace(tzinfo=__import__("datetime").timezone.utc))
