"""Engine benchmark (not a test): prints fire throughput against the durability floor, and the
sweep's speed over many open tasks. Last line: one JSON object with the figures.

Run: make bench   (or .venv/bin/python benchmarks/engine.py [--cases N] [--idle-tasks N])
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Column, Integer, JSON, MetaData, String, Table, insert, select  # noqa: E402

from algorithms.registry import Registry  # noqa: E402
from states import tables as T  # noqa: E402
from states.calendar import Calendar  # noqa: E402
from states.db import make_engine  # noqa: E402
from states.directory import Directory  # noqa: E402
from states.store import open_engine  # noqa: E402
from states.sweep import sweep  # noqa: E402

KZ = timezone(timedelta(hours=5))
T0 = datetime(2026, 4, 6, 10, tzinfo=KZ)
# violence-report version 2 launch data: the duty-to-report fields (detected an hour before T0).
REPORT = {"form": "bullying", "channel": "school", "summary": "synthetic benchmark case",
          "detected_at": (T0 - timedelta(hours=1)).isoformat(), "reporter": "teacher"}
# The sweep benchmarks' clock: the seeded steps fall due at DUE_AT and are swept at SWEEP_NOW.
DUE_AT = T0 + timedelta(days=1)
SWEEP_NOW = DUE_AT + timedelta(hours=1)

# A realistic day of one bullying case: assessment, police and health replies, the school's decision
# (version 2), the plan, two monitoring reviews; every fire goes through guards, tasks and the outbox.
STORY = [
    ("assess", "school", {"immediate_danger": False, "perpetrator": "peer"}),
    ("police_check_done", "police", {"outcome": "no_offence"}),
    ("examined", "health", {"injuries_recorded": False}),
    ("bullying_recognised", "school", {"rehabilitation_consent": True, "mediation": True}),
    ("plan_approved", "school", {"measures": ["weekly talks with the psychologist"], "intra_school_registration": True}),
    ("review", "school", {"progress": "improving"}),
    ("review", "psych_center", {"progress": "no_change"}),
]


def progress(label: str, done: int, total: int) -> None:
    """A progress bar on stderr when it is a terminal: `label [#####.....] done/total`."""
    if sys.stderr.isatty():
        filled = 30 * done // max(total, 1)
        print(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,}", end="" if done < total else "\n",
              file=sys.stderr, flush=True)


def services():
    return Registry.load(), Directory.load(), Calendar.load()


def launch_cases(engine, cases: int) -> list[tuple[str, dict]]:
    """`cases` fresh violence-report cases at T0, each with its bindings (who plays which role)."""
    school = engine.svc.directory.schools("KZ-75")[0].id
    refs = [engine.launch("violence-report", "KZ-75", school, REPORT, now=T0).ref for _ in range(cases)]
    return [(ref, engine.case(ref).bindings) for ref in refs]


def story_fires(bindings: dict):
    """The STORY's fires on one case as (trigger, body, data, now), five minutes apart."""
    now = T0 + timedelta(minutes=30)
    for trigger, role, data in STORY:
        now += timedelta(minutes=5)
        yield trigger, bindings[role], data, now


def fire_story(engine, ref: str, bindings: dict) -> None:
    for trigger, body, data, now in story_fires(bindings):
        engine.fire(ref, trigger, body, data, now=now)


def bench_fire(workdir: Path, cases: int, svc) -> float:
    registry, directory, calendar = svc
    engine = open_engine(f"sqlite:///{workdir / 'fire.sqlite'}", registry=registry, directory=directory,
                         calendar=calendar)
    launched = launch_cases(engine, cases)
    started = time.perf_counter()
    for i, (ref, bindings) in enumerate(launched):
        fire_story(engine, ref, bindings)
        progress("fire", i + 1, len(launched))
    elapsed = time.perf_counter() - started
    engine.db.dispose()
    return len(launched) * len(STORY) / elapsed


def bench_floor(workdir: Path, rows: int) -> float:
    """The durability floor: one row like an event, inserted and committed, same SQLite settings."""
    db = make_engine(f"sqlite:///{workdir / 'floor.sqlite'}")
    md = MetaData()
    table = Table("events_like", md, Column("id", Integer, primary_key=True), Column("case_id", Integer),
                  Column("seq", Integer), Column("trigger", String(60)), Column("data", JSON),
                  Column("effects", JSON), Column("hash", String(64)))
    md.create_all(db)
    row = {"case_id": 1, "trigger": "assess", "data": {"immediate_danger": False, "perpetrator": "peer"},
           "effects": {"tasks_closed": [{"key": "t1", "status": "done"}]}, "hash": "0" * 64}
    started = time.perf_counter()
    for i in range(rows):
        with db.begin() as conn:
            conn.execute(insert(table).values(seq=i, **row))
    elapsed = time.perf_counter() - started
    db.dispose()
    return rows / elapsed


def _clone_cases(engine, template_ref: str, copies: int, due_count: int, far: datetime, due_at: datetime) -> None:
    """Bulk-copy one launched case `copies` times. The first `due_count` copies keep one step due at
    `due_at`; every other step is pushed to `far`. Histories stay consistent per case."""
    with engine.reader() as conn:
        case = conn.execute(select(T.cases).where(T.cases.c.ref == template_ref)).first()._mapping
        events = [dict(r._mapping) for r in conn.execute(select(T.events).where(T.events.c.case_id == case["id"]))]
        tasks = [dict(r._mapping) for r in conn.execute(select(T.tasks).where(T.tasks.c.case_id == case["id"]))]
        steps = [dict(r._mapping) for r in conn.execute(select(T.steps).where(T.steps.c.case_id == case["id"]))]
    chunk = 5000
    next_id = case["id"] + 1
    for start in range(0, copies, chunk):
        n = min(chunk, copies - start)
        ids = list(range(next_id, next_id + n))
        next_id += n
        with engine.db.begin() as conn:
            conn.execute(insert(T.cases), [{**{k: v for k, v in case.items()}, "id": cid, "ref": f"BENCH-{cid:08d}"}
                                           for cid in ids])
            conn.execute(insert(T.events), [{**{k: v for k, v in e.items() if k != "id"}, "case_id": cid}
                                            for cid in ids for e in events])
            conn.execute(insert(T.tasks), [{**{k: v for k, v in t.items() if k != "id"}, "case_id": cid}
                                           for cid in ids for t in tasks])
            rows = []
            for j, cid in enumerate(ids):
                due_here = start + j < due_count
                for s in steps:
                    rows.append({**{k: v for k, v in s.items() if k != "id"}, "case_id": cid,
                                 "due_at": due_at if (due_here and s["kind"] == "overdue" and s["task_key"] == "t2") else far})
            conn.execute(insert(T.steps), rows)
        progress("seed", start + n, copies)


def seed_due(engine, open_tasks: int, due: int) -> None:
    """Fill a fresh store with `open_tasks` open tasks (two per case), `due` of them with a step due
    at DUE_AT (one per case; every other step far later)."""
    school = engine.svc.directory.schools("KZ-75")[0].id
    ref = engine.launch("violence-report", "KZ-75", school, {**REPORT, "summary": "synthetic"}, now=T0).ref
    with engine.db.begin() as conn:  # the template's own steps must not be due
        conn.execute(T.steps.update().values(due_at=T0 + timedelta(days=90)))
    _clone_cases(engine, ref, open_tasks // 2 - 1, due, T0 + timedelta(days=90), DUE_AT)


def _seeded_engine(path: Path, open_tasks: int, due: int, svc):
    """An SQLite store with `open_tasks` open tasks, `due` of them due at DUE_AT."""
    registry, directory, calendar = svc
    engine = open_engine(f"sqlite:///{path}", registry=registry, directory=directory, calendar=calendar)
    seed_due(engine, open_tasks, due)
    return engine


def bench_sweep(workdir: Path, open_tasks: int, due: int, svc) -> tuple[float, int]:
    engine = _seeded_engine(workdir / "sweep.sqlite", open_tasks, due, svc)
    started = time.perf_counter()
    report = sweep(engine, now=SWEEP_NOW)
    elapsed = time.perf_counter() - started
    engine.db.dispose()
    return report.processed / elapsed, report.processed


def bench_idle_sweep(workdir: Path, open_tasks: int, svc) -> float:
    engine = _seeded_engine(workdir / "idle.sqlite", open_tasks, 0, svc)
    sweep(engine, now=DUE_AT)  # warm the connection and caches
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        report = sweep(engine, now=DUE_AT)
        timings.append((time.perf_counter() - started) * 1000)
        assert report.processed == 0
    engine.db.dispose()
    timings.sort()
    return timings[len(timings) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300, help="cases whose story is fired (7 fires each)")
    parser.add_argument("--floor-rows", type=int, default=3000)
    parser.add_argument("--open-tasks", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--idle-tasks", type=int, default=1_000_000)
    args = parser.parse_args()
    svc = services()
    with tempfile.TemporaryDirectory(prefix="qorgau-bench-", dir=os.environ.get("QORGAU_BENCH_DIR")) as tmp:
        work = Path(tmp)
        floor = bench_floor(work, args.floor_rows)
        fire = bench_fire(work, args.cases, svc)
        sweep_rate, processed = bench_sweep(work, args.open_tasks, args.due, svc)
        idle_ms = bench_idle_sweep(work, args.idle_tasks, svc)
    figures = {"fire_per_s": round(fire, 1), "floor_per_s": round(floor, 1), "ratio": round(fire / floor, 3),
               "sweep_steps_per_s": round(sweep_rate, 1), "idle_sweep_ms": round(idle_ms, 2)}
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"durability floor (insert+commit, SQLite WAL, synchronous=FULL): {floor:,.0f}/s")
    print(f"fire, realistic mix of {len(STORY)} triggers x {args.cases} cases: {fire:,.0f}/s "
          f"(ratio {fire / floor:.2f}; target >= 0.33)")
    print(f"sweep: {processed:,} due steps among {args.open_tasks:,} open tasks: {sweep_rate:,.0f} steps/s (target >= 1,000)")
    print(f"idle sweep over {args.idle_tasks:,} open tasks: {idle_ms:.2f} ms median of 20 (target <= 50 ms)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
