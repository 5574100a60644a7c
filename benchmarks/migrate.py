"""Migration benchmark (not a test): plan and apply the move of many running version-1 cases to
version 2, while another process fires ordinary triggers on the same store. Last line: one JSON
object with the figures. Exits 1 if a fire fails with anything but `conflict`, if a case fails to
move, or if `verify --all` finds a problem afterwards.

Run: .venv/bin/python benchmarks/migrate.py [--cases 100000] [--fire-rate 50]
     [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]   (a fresh schema, dropped after)

The store: a mix of violence-report (most in `bullying_review`, whose decision moves from the
education department to the school), suicide-response and social-patronage cases, each launched on
version 1 and taken through its story. One case per story and region goes through the engine; the
rest are copies of it (the bulk copy of benchmarks/engine.py, with each copy's hash chain computed
for its own reference so that verification holds).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, func, insert, select, text  # noqa: E402

from states import tables as T  # noqa: E402
from states.access import OPERATOR, Principal  # noqa: E402
from states.commands import Fire  # noqa: E402
from states.errors import RuleViolation  # noqa: E402
from states.handling import Handler  # noqa: E402
from states.history import event_documents, event_hash  # noqa: E402
from states.migration import Selection, plan_selection  # noqa: E402
from states.migration_runs import run_migration  # noqa: E402
from states.verify import verify_all  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import bench_fire, bench_floor, progress, services  # noqa: E402
from stores import drop_schema, engine_on, open_store  # noqa: E402

NOW = datetime.now(timezone.utc)
ALGORITHMS = ("violence-report", "suicide-response", "social-patronage")
SUMMARY = "synthetic benchmark case"
NOT_BULLY = {"immediate_danger": False, "perpetrator": "peer"}
MEASURES = {"measures": ["weekly talks with the psychologist"], "intra_school_registration": True}
SP_LAUNCH = {"reasons": ["both parents unemployed"], "children_count": 2, "category_hint": "D", "summary": SUMMARY}
SP_ACTIONS = {"actions": [{"id": "med1", "body_type": "health", "action": "paediatric check-up", "days": 10},
                          {"id": "edu1", "body_type": "school", "action": "after-school club", "days": 14}]}


@dataclass(frozen=True)
class Story:
    """Running cases launched on version 1 and fired to where they stand: (trigger, role, data) each."""
    name: str
    algorithm: str
    share: float
    launch: dict
    fires: tuple = ()


def _vr(form: str) -> dict:
    return {"form": form, "channel": "school", "summary": SUMMARY}


_POLICE = ("police_check_done", "police", {"outcome": "no_offence"})
_DECIDE_V1 = ("bullying_recognised", "education_department", {"rehabilitation_consent": True, "mediation": False})
STORIES = (
    Story("vr bullying_review", "violence-report", 0.25, _vr("bullying"), (("assess", "school", NOT_BULLY),)),
    Story("vr bullying_review, police done", "violence-report", 0.10, _vr("cyberbullying"),
          (("assess", "school", NOT_BULLY), _POLICE)),
    Story("vr reported", "violence-report", 0.08, _vr("psychological")),
    Story("vr reported, physical", "violence-report", 0.03, _vr("physical")),
    Story("vr investigation", "violence-report", 0.04, _vr("neglect"),
          (("assess", "school", {"immediate_danger": False, "perpetrator": "family"}),)),
    Story("vr support_plan", "violence-report", 0.08, _vr("bullying"),
          (("assess", "school", NOT_BULLY), _POLICE, _DECIDE_V1)),
    Story("vr monitoring", "violence-report", 0.12, _vr("bullying"),
          (("assess", "school", NOT_BULLY), _POLICE, _DECIDE_V1, ("plan_approved", "school", MEASURES))),
    Story("sr screening", "suicide-response", 0.03, {"kind": "signs", "channel": "school", "summary": SUMMARY}),
    Story("sr follow_up", "suicide-response", 0.08, {"kind": "signs", "channel": "school", "summary": SUMMARY},
          (("screened", "school", {"risk": "low"}),)),
    Story("sr support_plan", "suicide-response", 0.04, {"kind": "signs", "channel": "school", "summary": SUMMARY},
          (("screened", "school", {"risk": "medium"}), ("consent_given", "school", {}))),
    Story("sp referred", "social-patronage", 0.04, SP_LAUNCH),
    Story("sp plan_drafting", "social-patronage", 0.04, SP_LAUNCH,
          (("assessed", "social_services", {"category": "D", "child_at_risk": False}),
           ("consent_given", "social_services", {}))),
    Story("sp active_patronage", "social-patronage", 0.07, SP_LAUNCH,
          (("assessed", "social_services", {"category": "D", "child_at_risk": False}),
           ("consent_given", "social_services", {}), ("plan_approved", "social_services", SP_ACTIONS))),
)

# What the other process fires on a case, by its algorithm and state: triggers every version takes
# from the same body with the same data (the one that differs, the bullying decision, is below).
_REVIEW = ("review", "school", {"progress": "improving"})
ORDINARY = {
    ("violence-report", "reported"): (("assess", "school", NOT_BULLY), _POLICE),
    ("violence-report", "bullying_review"): (_POLICE,),
    ("violence-report", "investigation"): (("assessment_done", "school", {"refer_to_patronage": False}), _POLICE),
    ("violence-report", "support_plan"): (("plan_approved", "school", MEASURES), _POLICE),
    ("violence-report", "monitoring"): (_REVIEW, _POLICE),
    ("suicide-response", "screening"): (("screened", "school", {"risk": "low"}),),
    ("suicide-response", "follow_up"): (("contact_made", "school", {"risk": "low"}),),
    ("suicide-response", "support_plan"): (("parents_guided", "school", {}),),
    ("social-patronage", "referred"): (("assessed", "social_services", {"category": "D", "child_at_risk": False}),),
    ("social-patronage", "consent_pending"): (("consent_given", "social_services", {}),),
    ("social-patronage", "plan_drafting"): (("plan_approved", "social_services", SP_ACTIONS),),
    ("social-patronage", "active_patronage"): (("visit_done", "social_services", {"observations": "all well"}),),
}
# The decision on bullying: the education department's under version 1, the school's under version 2.
DECIDE = {1: _DECIDE_V1, 2: ("bullying_recognised", "school", _DECIDE_V1[2])}


def ordinary_triggers(algorithm: str, version: int, state: str) -> tuple:
    found = ORDINARY.get((algorithm, state), ())
    if (algorithm, state) == ("violence-report", "bullying_review"):
        found += (DECIDE[version],)
    return found


# ------------------------------------------------------------------------------ the store

def build(engine, cases: int) -> Counter:
    """`cases` running version-1 cases: each story's share, spread over the regions; one case per
    story and region through the engine, the rest copies of it."""
    directory = engine.svc.directory
    regions = sorted(directory.regions)
    rng = random.Random(16)
    plan: list[tuple[Story, str, int]] = []
    counts = [round(s.share * cases) for s in STORIES]
    counts[0] += cases - sum(counts)
    for story, count in zip(STORIES, counts):
        for i, region in enumerate(regions):
            n = count // len(regions) + (i < count % len(regions))
            if n:
                plan.append((story, region, n))
    templates = []
    for k, (story, region, n) in enumerate(plan):
        schools = directory.schools(region)
        school = schools[k % len(schools)].id
        at = NOW - timedelta(days=rng.randrange(7, 60), minutes=rng.randrange(600))  # stories end in the past
        data = {**story.launch, "school": school} if story.algorithm != "social-patronage" else dict(story.launch)
        ref = engine.launch(story.algorithm, region, school, data, now=at, version=1).ref
        bindings = engine.case(ref).bindings
        for trigger, role, fired in story.fires:
            at += timedelta(hours=rng.randrange(1, 30))
            engine.fire(ref, trigger, bindings[role], fired, now=at)
        templates.append((ref, n - 1))
        progress("templates", k + 1, len(plan))
    clone(engine, templates, cases)
    mix: Counter = Counter()
    for story, _, n in plan:
        mix[story.name] += n
    return mix


CHUNK = 2000  # copies per transaction


def clone(engine, templates: list[tuple[str, int]], total: int) -> None:
    """Copy each template case the given number of times (case, events, tasks, steps; no outbox):
    engine.py's bulk copy, but every copy gets its own reference and the hash chain over it."""
    with engine.reader() as conn:
        next_id = conn.execute(select(func.max(T.cases.c.id))).scalar() + 1
    done = len(templates)
    pending: list[tuple[dict, list, list, list, int]] = []
    for ref, copies in templates:
        with engine.reader() as conn:
            case = dict(conn.execute(select(T.cases).where(T.cases.c.ref == ref)).one()._mapping)
            cid = case["id"]
            events = [dict(r._mapping) for r in conn.execute(
                select(T.events).where(T.events.c.case_id == cid).order_by(T.events.c.seq))]
            tasks = [dict(r._mapping) for r in conn.execute(select(T.tasks).where(T.tasks.c.case_id == cid))]
            steps = [dict(r._mapping) for r in conn.execute(select(T.steps).where(T.steps.c.case_id == cid))]
        for row in events + tasks + steps:
            del row["id"]
        pending.append((case, events, tasks, steps, copies))
    batch: dict[str, list] = {"cases": [], "events": [], "tasks": [], "steps": []}
    for case, events, tasks, steps, n in pending:
        prefix = case["ref"].rsplit("-", 1)[0]
        for _ in range(n):
            cid, next_id = next_id, next_id + 1
            ref = f"{prefix}-{cid:07d}"
            prev, rows = "0" * 64, []
            for e, doc in zip(events, event_documents(events, ref, case["algorithm"], case["definition_hash"])):
                digest = event_hash(prev, doc)
                rows.append({**e, "case_id": cid, "prev_hash": prev, "hash": digest})
                prev = digest
            batch["cases"].append({**case, "id": cid, "ref": ref, "head_hash": prev})
            batch["events"] += rows
            batch["tasks"] += [{**t, "case_id": cid} for t in tasks]
            batch["steps"] += [{**s, "case_id": cid} for s in steps]
            done += 1
            if len(batch["cases"]) >= CHUNK:
                _insert(engine, batch)
                progress("generate", done, total)
    _insert(engine, batch)
    if engine.db.dialect.name == "postgresql":  # the copies' ids were given: move the sequence past them
        with engine.db.begin() as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))"))
    progress("generate", total, total)


def _insert(engine, batch: dict[str, list]) -> None:
    if not batch["cases"]:
        return
    with engine.db.begin() as conn:
        for name in ("cases", "events", "tasks", "steps"):
            if batch[name]:
                conn.execute(insert(getattr(T, name)), batch[name])
            batch[name] = []


# ------------------------------------------------------------------------------ fires beside the move

_CASE_ROW = select(T.cases.c.ref, T.cases.c.algorithm, T.cases.c.algorithm_version, T.cases.c.state,
                   T.cases.c.version, T.cases.c.bindings, T.cases.c.closed_at).where(T.cases.c.id == bindparam("id"))


def fire_beside(url: str, schema: str | None, rate: float, stop, ready, results) -> None:
    """In a process of its own, as the API or the deadline sweep would be: fire ordinary triggers on
    random cases, each at the case version just read (as an API client does), `rate` a second (0: as
    fast as it can), until `stop`; put the count of each outcome on `results`."""
    engine = engine_on(url, schema, services())
    handler, directory = Handler(engine), engine.svc.directory
    with engine.reader() as conn:
        last_id = conn.execute(select(func.max(T.cases.c.id))).scalar()
    rng = random.Random(748)
    outcomes: Counter = Counter()
    errors: list[str] = []
    took: list[float] = []
    ready.set()
    started = next_at = time.perf_counter()
    while not stop.is_set():
        if rate:
            next_at += 1 / rate
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        with engine.reader() as conn:
            row = conn.execute(_CASE_ROW, {"id": rng.randint(1, last_id)}).first()
        choices = ordinary_triggers(row.algorithm, row.algorithm_version, row.state) if row.closed_at is None else ()
        if not choices:
            outcomes["nothing to fire"] += 1
            continue
        trigger, role, data = rng.choice(choices)
        caller = Principal(token_id=None, prefix=None, role="agency", body=directory.find(row.bindings[role]))
        fired = time.perf_counter()
        try:
            handler.handle(Fire(row.ref, trigger, data, expected_version=row.version), caller)
            outcomes["ok"] += 1
            took.append(time.perf_counter() - fired)
        except RuleViolation as exc:
            outcomes[exc.code] += 1
            if exc.code != "conflict":
                errors.append(f"{row.ref} v{row.algorithm_version} {row.state} {trigger}: {exc.code}: {exc.message}")
        except Exception as exc:  # noqa: BLE001 - counted and reported: any of these fails the benchmark
            outcomes["exception"] += 1
            errors.append(f"{row.ref} {trigger}: {exc!r}")
    took.sort()
    results.put({"outcomes": dict(outcomes), "errors": errors[:20], "seconds": time.perf_counter() - started,
                 "p50_ms": 1000 * took[len(took) // 2] if took else None,
                 "p99_ms": 1000 * took[len(took) * 99 // 100] if took else None})
    engine.db.dispose()


# ------------------------------------------------------------------------------ the measurements

def bench_plan(engine) -> tuple[float, int, int]:
    """plan_selection over every running version-1 case: (seconds, cases, migratable)."""
    seconds, cases, movable = 0.0, 0, 0
    for algorithm in ALGORITHMS:
        started = time.perf_counter()
        plan = plan_selection(engine, Selection(algorithm, 2), datetime.now(timezone.utc))
        seconds += time.perf_counter() - started
        cases += len(plan.plans)
        movable += len(plan.movable)
    return seconds, cases, movable


def bench_apply(engine) -> dict:
    """run_migration, as `qorgau migrate apply` runs it, for each algorithm: the seconds in all and
    in the move loop alone (after its plan), and the outcome counts."""
    handler = Handler(engine)
    out = {"seconds": 0.0, "move_seconds": 0.0, "total": 0, "moved": 0, "skipped": 0, "replanned": 0,
           "not_migratable": [], "failed": []}
    for algorithm in ALGORITHMS:
        moving: list[float] = []
        started = time.perf_counter()
        result = run_migration(lambda command: handler.handle(command, OPERATOR), Selection(algorithm, 2),
                               progress=lambda i, n: progress(f"apply {algorithm}", i, n),
                               started=lambda _run: moving.append(time.perf_counter()))
        ended = time.perf_counter()
        out["seconds"] += ended - started
        out["move_seconds"] += ended - moving[0] if moving else 0.0
        for key in ("total", "moved", "skipped", "replanned"):
            out[key] += getattr(result, key)
        out["not_migratable"] += result.not_migratable
        out["failed"] += result.failed
    return out


def still_on_version_1(engine) -> int:
    with engine.reader() as conn:
        return conn.execute(select(func.count()).select_from(T.cases).where(
            T.cases.c.algorithm_version == 1, T.cases.c.closed_at.is_(None))).scalar()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="running version-1 cases to move")
    parser.add_argument("--fire-rate", type=float, default=50,
                        help="fires a second in the other process during the apply (0: as fast as it can)")
    parser.add_argument("--database-url", help="a PostgreSQL URL (a fresh schema is made and dropped); "
                                               "default: a fresh SQLite file")
    args = parser.parse_args()
    svc = services()
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="qorgau-migrate-", dir=os.environ.get("QORGAU_BENCH_DIR")) as tmp:
        url, schema = open_store(args.database_url, Path(tmp))
        try:
            started = time.perf_counter()
            builder = engine_on(url, schema, svc, fast_writes=True, run_migrations=True)
            mix = build(builder, args.cases)
            builder.db.dispose()
            built_s = time.perf_counter() - started
            engine = engine_on(url, schema, svc)
            plan_s, planned, movable = bench_plan(engine)

            stop, ready, results = spawn.Event(), spawn.Event(), spawn.Queue()
            firer = spawn.Process(target=fire_beside, args=(url, schema, args.fire_rate, stop, ready, results),
                                  daemon=True)
            firer.start()
            if not ready.wait(120):
                raise SystemExit("the firing process did not start")
            applied = bench_apply(engine)
            stop.set()
            fired = results.get(timeout=120)
            firer.join()
            left = still_on_version_1(engine)

            started = time.perf_counter()
            with engine.reader() as conn:
                report = verify_all(conn, engine.registry, workers=os.cpu_count() or 1)
            verify_s = time.perf_counter() - started
            backend = engine.db.dialect.name
            engine.db.dispose()
        finally:
            drop_schema(url, schema)
        # The VM's speed varies up to 2x between hours: engine.py's floor and fire, measured now.
        floor = bench_floor(Path(tmp), 2000)
        fire = bench_fire(Path(tmp), 100, svc)

    outcomes = fired["outcomes"]
    fires = sum(n for k, n in outcomes.items() if k != "nothing to fire")
    bad_fires = {k: n for k, n in outcomes.items() if k not in ("ok", "conflict", "nothing to fire")}
    plan_rate, apply_rate = planned / plan_s, applied["total"] / applied["seconds"]
    move_rate = applied["total"] / applied["move_seconds"]
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores (shared with the firing "
          f"process and anything else running), Python {platform.python_version()}, {backend}")
    print(f"the same hour (benchmarks/engine.py, SQLite): durability floor {floor:,.0f} commits/s, fire {fire:,.0f}/s "
          f"(2026-12-01 quiet: 1,928 and 708)")
    print(f"store: {args.cases:,} running version-1 cases built in {built_s:.0f} s: "
          + ", ".join(f"{name} {n:,}" for name, n in mix.items()))
    print()
    print("| figure | measured | target |")
    print("|---|---|---|")
    print(f"| plan (`plan_selection`), {planned:,} cases, {movable:,} migratable | {plan_s:.1f} s = "
          f"{plan_rate:,.0f} cases/s | >= 5,000 cases/s |")
    print(f"| apply (`run_migration`, its own plan included) | {applied['seconds']:.1f} s = "
          f"{apply_rate:,.0f} cases/s | >= 500 cases/s |")
    print(f"| apply, the move loop alone (one transaction per case) | {applied['move_seconds']:.1f} s = "
          f"{move_rate:,.0f} cases/s | — |")
    print(f"| moved / skipped / planned again / not migratable / failed | {applied['moved']:,} / "
          f"{applied['skipped']:,} / {applied['replanned']:,} / {len(applied['not_migratable']):,} / "
          f"{len(applied['failed']):,} | failed 0 |")
    print(f"| fires beside the apply ({args.fire_rate:g}/s asked; {fired['seconds']:.0f} s): ok / conflict / other "
          f"| {outcomes.get('ok', 0):,} / {outcomes.get('conflict', 0):,} / {sum(bad_fires.values()):,} | other 0 |")
    if fired["p50_ms"] is not None:
        print(f"| a fire beside the apply, p50 / p99 (waits for the write lock on SQLite) | {fired['p50_ms']:.1f} / "
              f"{fired['p99_ms']:.1f} ms | — |")
    print(f"| running cases left on version 1 | {left:,} | 0 |")
    print(f"| `verify --all` afterwards ({report.cases:,} cases, {report.events:,} events, {os.cpu_count()} "
          f"workers) | {verify_s:.1f} s, {len(report.failures)} failures | 0 failures |")
    for problem in fired["errors"]:
        print(f"fire failed: {problem}")
    for item in applied["failed"][:20]:
        print(f"move failed: {item['ref']}: {item['reason']}")
    for failure in report.failures[:20]:
        print(f"verify: {failure.ref}: {failure.first_divergence}")
    ok = not bad_fires and not applied["failed"] and report.ok and left == len(applied["not_migratable"])
    print(json.dumps({"backend": backend, "cases": args.cases, "plan_s": round(plan_s, 2),
                      "plan_cases_per_s": round(plan_rate), "apply_s": round(applied["seconds"], 1),
                      "apply_cases_per_s": round(apply_rate, 1), "move_cases_per_s": round(move_rate, 1),
                      "moved": applied["moved"], "replanned": applied["replanned"],
                      "not_migratable": len(applied["not_migratable"]), "failed": len(applied["failed"]),
                      "fire_rate": args.fire_rate, "fires": fires, "fires_ok": outcomes.get("ok", 0),
                      "fires_conflict": outcomes.get("conflict", 0), "fires_other": bad_fires,
                      "fire_p50_ms": fired["p50_ms"] and round(fired["p50_ms"], 1),
                      "fire_p99_ms": fired["p99_ms"] and round(fired["p99_ms"], 1),
                      "verify_s": round(verify_s, 1), "verify_failures": len(report.failures),
                      "floor_per_s": round(floor), "fire_per_s": round(fire), "ok": ok}))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
