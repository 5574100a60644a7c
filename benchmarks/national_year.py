"""National-year benchmark (not a test): a synthetic year of the whole country walked through the real
engine and the real sweep on a virtual clock, then the figures a deployment lives with at that size.
Prints a table (and, with several sizes, how each figure grows) and, last, one JSON document.

Run: .venv/bin/python benchmarks/national_year.py [--cases 120000] [--sizes 10000,40000,120000]
     [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]   (a fresh schema, dropped after)
     [--seed 748] [--fast-writes] [--keep DIR | --reuse DIR]

The year (2025, Kazakhstan time): per 120,000 cases, 80,000 violence reports, 8,000 suicide responses
and 30,000 social patronages, each launched on a random day in a random region and taken through the
story of one of the version-2 scenario files (tests/scenarios/v2: their forms, outcomes, transfers,
spawns; steps that expect a refusal left out), its times moved to that day and its bodies to that
region. 70 % of the cases answer on the scenario's times, 20 % answer late from some step on (2 to 20
days), 10 % stop answering at some step (their tasks are never done). Plan reporting follows the
decree's cycle: at each quarter's start the cycle launches the ended periods' reports
(`states.reporting.cycle_periods`), which most executors submit and the recipient accepts. Every launch
and trigger is a command through `states.handling.Handler`; before each, `states.sweep.sweep` takes
every step that has fallen due (as the production sweep would on its next run). A refused trigger
ends that case's story and is counted by its code.

Then: `verify --all` (after an anchor), and the p95 of the read models behind the pages, uncached: the
inbox (states.queries.inbox) of the busiest bodies, the case page (case_detail) of random cases, each
map indicator (states.indicators.region_figures) for the whole year, and the national compliance
report (states.compliance.compliance_summary) of the year.
"""
from __future__ import annotations

import argparse
import gc
import heapq
import json
import os
import platform
import random
import re
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from sqlalchemy import String, func, select, text  # noqa: E402

from states import tables as T  # noqa: E402
from states.access import SYSTEM  # noqa: E402
from states.anchor import make_anchor  # noqa: E402
from states.calendar import KZ_TZ  # noqa: E402
from states.commands import Fire, Launch  # noqa: E402
from states.compliance import compliance_summary  # noqa: E402
from states import tally_reads  # noqa: E402
from states.db import make_engine  # noqa: E402
from states.errors import RuleViolation  # noqa: E402
from states.handling import Handler  # noqa: E402
from states.indicators import INDICATORS, WINDOW_INDICATORS, overdue_tasks_scan, region_figures  # noqa: E402
from states.personal_data import MasterKey  # noqa: E402
from states.queries import case_detail, inbox  # noqa: E402
from states.reporting import CONSOLIDATING_BODY, codes_of, cycle_periods, plan_for, reporting_executors  # noqa: E402
from states.simulation import _as_operator, _launch_actor, _resolve_actor, parse_scenario  # noqa: E402
from states.sweep import next_due, sweep  # noqa: E402
from states.verify import verify_all  # noqa: E402

from engine import progress, services  # noqa: E402
from stores import drop_schema, engine_on, open_store  # noqa: E402
from web import p95  # noqa: E402

YEAR_START = datetime(2025, 1, 1, tzinfo=KZ_TZ)
YEAR_END = datetime(2026, 1, 1, tzinfo=KZ_TZ)
STORIES_DIR = ROOT / "tests" / "scenarios" / "v2"
SHARES = {"violence-report": 80_000 / 120_000, "suicide-response": 8_000 / 120_000,
          "social-patronage": 30_000 / 120_000}
FATES = (("on time", 0.70), ("late", 0.20), ("never", 0.10))
GOALS = {"year_s": 15 * 60, "verify_events_per_s": 50_000, "p95_ms": 150}
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


# ------------------------------------------------------------------------------ the stories

@dataclass(frozen=True)
class Story:
    """One scenario file as a story: the launch and the accepted fires, each at its offset from the start."""
    file: str
    algorithm: str
    region: str
    actor: str
    data: dict
    start: datetime
    steps: tuple  # (offset, actor, trigger, data)


def load_stories() -> dict[str, list[Story]]:
    """The version-2 scenario files of each algorithm (plan reporting runs on the cycle instead)."""
    found: dict[str, list[Story]] = {a: [] for a in SHARES}
    for path in sorted(STORIES_DIR.glob("*.yaml")):
        scenario, times, _ = parse_scenario(path)
        if scenario.algorithm not in found:
            continue
        steps = tuple((when - scenario.start, s.actor, s.fire, s.data or {})
                      for s, when in zip(scenario.steps, times)
                      if s.fire and not (s.expect and s.expect.error))
        found[scenario.algorithm].append(Story(path.name, scenario.algorithm, scenario.region, scenario.actor,
                                               scenario.data, scenario.start, steps))
    return found


def _moved(value, region_from: str, region_to: str, shift: timedelta):
    """Launch or trigger data moved to another region (codes and body ids) and day (ISO times)."""
    if isinstance(value, dict):
        return {k: _moved(v, region_from, region_to, shift) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, region_from, region_to, shift) for v in value]
    if isinstance(value, datetime):  # YAML reads an unquoted time as a datetime
        return (value + shift).isoformat()
    if isinstance(value, str):
        if ISO_RE.match(value):
            try:
                return (datetime.fromisoformat(value) + shift).isoformat()
            except ValueError:
                return value
        if value == region_from:
            return region_to
        prefix = region_from.lower() + "."
        if value.startswith(prefix):
            return region_to.lower() + "." + value[len(prefix):]
    return value


@dataclass
class Case:
    story: Story
    region: str
    shift: timedelta
    times: list  # when each step is fired (after lateness); shorter when the case stops answering
    fate: str
    ref: str | None = None


def plan_cases(stories: dict[str, list[Story]], cases: int, regions: list[str], rng: random.Random) -> list[Case]:
    out = []
    for algorithm, share in SHARES.items():
        for _ in range(round(cases * share)):
            story = rng.choice(stories[algorithm])
            day = rng.randrange((YEAR_END - YEAR_START).days)
            local_start = story.start.astimezone(KZ_TZ)
            start = datetime.combine(YEAR_START.date() + timedelta(days=day), local_start.timetz())
            shift = start - story.start
            fate = rng.choices([f for f, _ in FATES], [w for _, w in FATES])[0]
            times = [start + offset for offset, *_ in story.steps]
            if fate == "late" and times:
                k, delay = rng.randrange(len(times)), timedelta(days=rng.randint(2, 20))
                times = times[:k] + [t + delay for t in times[k:]]
            elif fate == "never":
                times = times[:rng.randrange(len(times))] if times else []
            out.append(Case(story, rng.choice(regions), shift, times, fate))
    return out


# ------------------------------------------------------------------------------ the walk

@dataclass
class Walk:
    actions: int = 0
    fires: int = 0
    launches: int = 0
    sweeps: int = 0
    steps_taken: int = 0
    refused: Counter = field(default_factory=Counter)


def walk_year(engine, cases: list[Case], rng: random.Random) -> Walk:
    """Every launch and fire in time order, the sweep taking what fell due before each."""
    handler, directory, walk = Handler(engine), engine.svc.directory, Walk()
    queue: list = []
    seq = 0

    def push(when: datetime, *action) -> None:
        nonlocal seq
        if when < YEAR_END:
            heapq.heappush(queue, (when, seq, action))
            seq += 1

    for i, case in enumerate(cases):
        push(case.shift + case.story.start, "launch", i)
    for month in (1, 4, 7, 10):  # the reporting cycle's scheduled runs
        push(datetime(2025, month, 1, 0, 5, tzinfo=KZ_TZ), "cycle")
    total = len(queue)
    while queue:
        when, _, action = heapq.heappop(queue)
        due = next_due(engine)
        if due is not None and due <= when:
            walk.sweeps += 1
            walk.steps_taken += sweep(engine, now=when).processed
        walk.actions += 1
        try:
            if action[0] == "launch":
                case = cases[action[1]]
                s = case.story
                moved = _moved(s.data, s.region, case.region, case.shift)
                actor = _launch_actor(directory, _AsLaunched(s.algorithm, case.region,
                                                             _moved(s.actor, s.region, case.region, case.shift), moved))
                case.ref = handler.handle(Launch(s.algorithm, case.region, moved, 2),
                                          _as_operator(directory, actor), now=when).ref
                walk.launches += 1
                if case.times:
                    push(case.times[0], "fire", action[1], 0)
            elif action[0] == "fire":
                case, k = cases[action[1]], action[2]
                _, who, trigger, data = case.story.steps[k]
                body = _resolve_actor(engine, case.ref, _moved(who, case.story.region, case.region, case.shift))
                handler.handle(Fire(case.ref, trigger, _moved(data, case.story.region, case.region, case.shift)),
                               _as_operator(directory, body), now=when)
                walk.fires += 1
                if k + 1 < len(case.times):
                    push(case.times[k + 1], "fire", action[1], k + 1)
            elif action[0] == "cycle":
                for ref, period, executor in launch_cycle(engine, handler, when):
                    walk.launches += 1
                    if rng.random() < 0.9:  # a tenth never report
                        submit = when + timedelta(days=rng.randint(2, 14), hours=rng.randint(1, 8))
                        push(submit, "report", ref, period, executor, rng.randint(1, 8))
                        total += 1
            elif action[0] == "report":
                _, ref, period, executor, review_days = action
                handler.handle(Fire(ref, "report_submitted", {"items": report_items(engine, period, executor)}),
                               _as_operator(directory, executor), now=when)
                walk.fires += 1
                push(when + timedelta(days=review_days), "accept", ref)
                total += 1
            elif action[0] == "accept":
                recipient = engine.case(action[1]).bindings["recipient"]
                handler.handle(Fire(action[1], "report_accepted", {}), _as_operator(directory, recipient), now=when)
                walk.fires += 1
        except RuleViolation as exc:  # the story ends here; counted
            walk.refused[f"{action[0]} {exc.code}"] += 1
        if walk.actions % 200 == 0:
            progress("year", walk.actions, max(total, walk.actions))
    walk.steps_taken += sweep(engine, now=YEAR_END).processed
    walk.sweeps += 1
    progress("year", walk.actions, walk.actions)
    return walk


@dataclass
class _AsLaunched:
    """What `_launch_actor` reads of a scenario."""
    algorithm: str
    region: str
    actor: str
    data: dict


def launch_cycle(engine, handler, when: datetime):
    """The plan-reporting cycle's run on `when`: one case per executor of each ended period, as flows/reporting.py."""
    catalogue, directory = engine.svc.catalogue, engine.svc.directory
    for period in cycle_periods(when.astimezone(KZ_TZ).date(), catalogue):
        for body in reporting_executors(period, catalogue, directory):
            try:
                out = handler.handle(Launch("plan-reporting", body.region or "KZ-71",
                                            {"period": period, "executor": body.id}), SYSTEM, now=when)
            except RuleViolation as exc:
                if exc.code != "conflict":
                    raise
                continue  # launched by the cycle's previous run (a half-year stays the latest for two quarters)
            yield out.ref, period, body.id


def report_items(engine, period: str, executor: str) -> list[dict]:
    """Two measures of the plan this executor executes (МП: any), reported done and in progress."""
    catalogue, directory = engine.svc.catalogue, engine.svc.directory
    plan = plan_for(period, catalogue)
    body = directory.get(executor)
    if executor == CONSOLIDATING_BODY:
        measures = plan.measures[:2]
    else:
        measures = [m for code in sorted(codes_of(body, directory)) for m in plan.by_executor(code)][:2]
    return [{"item": m.number, "status": status} for m, status in zip(measures, ("done", "in_progress"))]


# ------------------------------------------------------------------------------ the figures at that size

def store_counts(engine) -> dict:
    t, s = T.tasks, T.steps
    with engine.reader() as conn:
        count = lambda table, *where: conn.execute(  # noqa: E731
            select(func.count()).select_from(table).where(*where)).scalar_one()
        done = t.c.status == "done"
        return {
            "cases": count(T.cases), "events": count(T.events), "tasks": count(T.tasks),
            "tasks_on_time": count(t, done, t.c.closed_at <= t.c.due),
            "tasks_late": count(t, done, t.c.closed_at > t.c.due),
            "tasks_never": count(t, t.c.status == "open"),
            "tasks_cancelled": count(t, t.c.status == "cancelled"),
            "escalations": count(s, s.c.status == "done", s.c.kind.in_(("escalation", "critical"))),
            "steps_taken": count(s, s.c.status == "done"),
            "transfers": count(T.events, T.events.c.trigger == "transfer"),
            "spawns": count(T.case_links, T.case_links.c.relation == "spawned"),
            "notifications": count(T.outbox),
            "sweep_runs": count(T.sweep_runs),
        }


def tally_counts(url: str, schema: str | None) -> dict:
    """The tallies' rows, and the bytes of their part of cases.tallied (what they cost the store)."""
    engine = make_engine(url, schema=schema)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(T.tallies)).scalar_one()
            share = conn.execute(select(func.sum(func.length(T.cases.c.tallied.cast(String))))).scalar() or 0
    finally:
        engine.dispose()
    return {"rows": rows, "case_share_mib": round(share / 2**20, 1)}


def table_mib(engine) -> dict[str, float]:
    """SQLite: MiB per table and index, the largest first (what archiving would take away)."""
    if engine.db.dialect.name != "sqlite":
        return {}
    with engine.db.connect() as conn:
        rows = conn.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 10")).all()
    return {name: round(size / 2**20, 1) for name, size in rows}


def store_bytes(engine, schema: str | None) -> int:
    if engine.db.dialect.name == "sqlite":
        path = Path(engine.db.url.database)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with engine.db.connect() as conn:
        return int(conn.execute(text(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind = 'r'"),
            {"s": schema}).scalar())


def timed(call, n: int) -> list[float]:
    out = []
    for i in range(n):
        started = time.perf_counter()
        call(i)
        out.append((time.perf_counter() - started) * 1000)
    return out


# The critical cases' query as it was before its partial index (`critical IS 1` is not the index's term).
CRITICAL_BEFORE = text("SELECT region, algorithm, state, count(*) FROM cases WHERE critical IS true "
                       "GROUP BY region, algorithm, state")


def measure_pages(engine, rng: random.Random, n: int, scans: int = 5) -> dict[str, list[float]]:
    """Each read model behind a page, on its own connection per call as a request would, nothing cached."""
    registry, directory = engine.registry, engine.svc.directory
    with engine.reader() as conn:
        busiest = list(conn.execute(select(T.tasks.c.body_id).where(T.tasks.c.status == "open")
                                    .group_by(T.tasks.c.body_id).order_by(func.count().desc()).limit(5)).scalars())
        last_id = conn.execute(select(func.max(T.cases.c.id))).scalar()
        refs = list(conn.execute(select(T.cases.c.ref).where(
            T.cases.c.id.in_([rng.randint(1, last_id) for _ in range(n)]))).scalars())

    # The harness holds the planned year (a story per case) and what the walk left; a server process
    # holds none of it. Frozen, Python's collector does not walk those objects in a full collection
    # during the reads (one such collection in a report's call added about 70 ms at 40,000 cases).
    gc.collect()
    gc.freeze()

    def read(fn):
        def call(i):
            with engine.reader() as conn:
                fn(conn, i)
        return call

    figures = {
        "inbox": timed(read(lambda c, i: inbox(c, busiest[i % len(busiest)], registry, directory, now=YEAR_END)), n),
        "case page": timed(read(lambda c, i: case_detail(c, refs[i % len(refs)], registry, directory, now=YEAR_END,
                                                         catalogue=engine.svc.catalogue)), n),
    }
    few = max(20, n // 5)
    for indicator in INDICATORS:
        figures[f"map {indicator}"] = timed(read(lambda c, i, ind=indicator: region_figures(
            c, registry, directory, ind, now=YEAR_END, start=YEAR_START, end=YEAR_END, body_type="school")), few)
    figures["compliance report"] = timed(read(lambda c, i: compliance_summary(
        c, directory, region=None, start=YEAR_START, end=YEAR_END, now=YEAR_END)), few)
    # The same reads the way they were made before the month tallies (scans of tasks, events and
    # cases): the before-and-after of docs/performance.md, on the same store in the same run.
    with mock.patch.object(tally_reads, "months_for", return_value=None):
        for indicator in WINDOW_INDICATORS:
            figures[f"scan: map {indicator}"] = timed(read(lambda c, i, ind=indicator: region_figures(
                c, registry, directory, ind, now=YEAR_END, start=YEAR_START, end=YEAR_END, body_type="school")),
                scans)
        figures["scan: compliance report"] = timed(read(lambda c, i: compliance_summary(
            c, directory, region=None, start=YEAR_START, end=YEAR_END, now=YEAR_END)), scans)
    figures["scan: map overdue_tasks"] = timed(read(lambda c, i: overdue_tasks_scan(c, directory, now=YEAR_END)),
                                               scans)
    figures["scan: map critical_cases"] = timed(read(lambda c, i: c.execute(CRITICAL_BEFORE).all()), scans)
    figures["_busiest_inbox"] = busiest[:1]
    return {k: v for k, v in figures.items() if v}  # --scan-calls 0: the scans are not measured


def peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def run_size(size: int, args, svc, stories) -> dict:
    """One size: the walk (or, with --reuse, a year kept by an earlier --keep run), then the figures."""
    rng = random.Random(args.seed)
    kept = Path(args.keep or args.reuse) if (args.keep or args.reuse) else None
    with tempfile.TemporaryDirectory(prefix="qorgau-year-", dir=os.environ.get("QORGAU_BENCH_DIR")) as tmp:
        if kept is not None:  # an SQLite file beside a JSON of the walk's figures and the store's key
            kept.mkdir(parents=True, exist_ok=True)
            url, schema = f"sqlite:///{kept / f'national_year-{size}.sqlite'}", None
        else:
            url, schema = open_store(args.database_url, Path(tmp), "national_year")
        saved = kept / f"national_year-{size}.json" if kept is not None else None
        reuse = bool(args.reuse) and saved.exists()
        try:
            key = MasterKey.from_bytes(bytes.fromhex(json.loads(saved.read_text())["key"])) if reuse \
                else MasterKey.generate()
            started = time.perf_counter()
            engine = engine_on(url, schema, svc, fast_writes=args.fast_writes, run_migrations=True, master_key=key)
            open_s = time.perf_counter() - started  # a kept store of an older schema is migrated here
            cases = plan_cases(stories, size, sorted(svc[1].regions), rng)
            if reuse:
                walked = json.loads(saved.read_text())["walk"]
            else:
                started = time.perf_counter()
                walk = walk_year(engine, cases, rng)
                year_s = time.perf_counter() - started
                walked = {"year_s": round(year_s, 1), "actions_per_s": round(walk.actions / year_s, 1),
                          "launches": walk.launches, "fires": walk.fires, "sweeps": walk.sweeps,
                          "refused": dict(walk.refused.most_common()), "walked_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
                if saved is not None:
                    saved.write_text(json.dumps({"key": key.key.hex(), "walk": walked}))
            counts = store_counts(engine)
            size_bytes = store_bytes(engine, schema)
            tables = table_mib(engine)
            report, verify_s = None, None
            if not args.skip_verify:
                make_anchor(engine, now=YEAR_END)
                started = time.perf_counter()
                with engine.reader() as conn:
                    report = verify_all(conn, engine.registry, workers=os.cpu_count() or 1)
                verify_s = time.perf_counter() - started
            pages = measure_pages(engine, rng, args.requests, args.scan_calls)
            engine.db.dispose()
            tallies = tally_counts(url, schema)
        finally:
            if kept is None:
                drop_schema(url, schema)
    busiest = pages.pop("_busiest_inbox")
    return {
        "size": size, "backend": "postgresql" if args.database_url and kept is None else "sqlite",
        "reused_walk": reuse, "open_s": round(open_s, 1), **walked, "fates": dict(Counter(c.fate for c in cases)),
        **counts, "store_mib": round(size_bytes / 2**20, 1), "largest_mib": tables,
        **({"verify_s": None, "verify_events_per_s": None, "verify_failures": 0, "verify_problems": []} if report is None else {
            "verify_s": round(verify_s, 2), "verify_events_per_s": round(report.events / verify_s),
            "verify_failures": len(report.failures) + len(report.anchor_problems),
            "verify_problems": [str(f)[:300] for f in report.failures[:3]]}),
        "busiest_inbox": busiest[0] if busiest else None,
        "p50_ms": {k: round(statistics.median(v), 1) for k, v in pages.items()},
        "p95_ms": {k: round(p95(v), 1) for k, v in pages.items()},
        "tallies": tallies,
        "peak_rss_mib": peak_rss_mib(),
    }


# ------------------------------------------------------------------------------ printing

ROWS = (("cases in the store", "cases"), ("events", "events"), ("tasks", "tasks"),
        ("  done on time", "tasks_on_time"), ("  done late", "tasks_late"), ("  never done (open)", "tasks_never"),
        ("  cancelled", "tasks_cancelled"), ("escalations (escalation, critical)", "escalations"),
        ("sweep steps taken", "steps_taken"), ("transfers", "transfers"), ("spawns", "spawns"),
        ("notifications", "notifications"), ("store MiB", "store_mib"), ("year simulated, s", "year_s"),
        ("launches + fires a second", "actions_per_s"), ("verify --all, s", "verify_s"),
        ("verify events/s", "verify_events_per_s"), ("verify failures", "verify_failures"),
        ("peak memory MiB", "peak_rss_mib"))


def _value(run: dict, key: str):
    return run["p95_ms"][key[4:]] if key.startswith("p95 ") else run[key]


def print_table(runs: list[dict]) -> None:
    keys = list(ROWS) + [(f"p95 ms {k}", f"p95 {k}") for k in runs[0]["p95_ms"]]
    head = f"{'figure':<40}" + "".join(f"{r['size']:>14,}" for r in runs)
    growth = len(runs) > 1
    print(head + (f"{'x growth':>10}" if growth else ""))
    for label, key in keys:
        values = [_value(r, key) for r in runs]
        line = f"{label:<40}" + "".join(f"{'-':>14}" if v is None else f"{v:>14,}" if isinstance(v, int) else f"{v:>14,.1f}"
                                        for v in values)
        if growth and values[0] and values[-1] is not None:
            line += f"{values[-1] / values[0]:>10.1f}"
        print(line)
    if growth:
        print(f"(x growth: the last size's figure over the first's; the cases grew "
              f"{runs[-1]['cases'] / runs[0]['cases']:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=120_000)
    parser.add_argument("--sizes", help="comma-separated sizes for the growth table, e.g. 10000,40000,120000")
    parser.add_argument("--database-url", help="a PostgreSQL URL (a fresh schema is made and dropped)")
    parser.add_argument("--seed", type=int, default=748)
    parser.add_argument("--requests", type=int, default=100, help="calls per page (map and report: a fifth, >= 20)")
    parser.add_argument("--fast-writes", action="store_true", help="SQLite without fsync (the default is durable)")
    parser.add_argument("--scan-calls", type=int, default=5, help="calls of each read the way it was made before "
                                                                    "the tallies (a scan: seconds at a national year)")
    parser.add_argument("--skip-verify", action="store_true", help="measure the pages only (with --reuse: the "
                                                                   "store was verified when it was walked)")
    parser.add_argument("--keep", metavar="DIR", help="keep each size's SQLite store (and its walk's figures) in DIR")
    parser.add_argument("--reuse", metavar="DIR", help="measure the stores an earlier --keep left in DIR without "
                                                      "walking the year again (a size not there is walked and kept)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.cases]
    svc, stories = services(), load_stories()
    runs = []
    for size in sizes:
        runs.append(run_size(size, args, svc, stories))
        print(json.dumps(runs[-1]), file=sys.stderr)  # each size's figures as soon as they are known
    machine = (f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"load average {os.getloadavg()[0]:.1f}")
    last = runs[-1]
    met = {"year_within_15_min": last["year_s"] <= GOALS["year_s"],
           "verify_at_least_50000_events_per_s": (last["verify_events_per_s"] or 0) >= GOALS["verify_events_per_s"],
           "every_p95_within_150_ms": all(v <= GOALS["p95_ms"] for v in last["p95_ms"].values())}
    print(f"machine: {machine}; store: {last['backend']}"
          + (" (synchronous=OFF)" if args.fast_writes and not args.database_url else ""))
    print_table(runs)
    print("goals at", f"{last['size']:,}", "cases:", ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in met.items()))
    print(json.dumps({"machine": machine, "sizes": sizes, "goals_met": met, "runs": runs}))
    if any(r["verify_failures"] for r in runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
