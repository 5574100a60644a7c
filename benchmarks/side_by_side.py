"""SQLite and PostgreSQL side by side (not a test): in one run, on a fresh store of each, the engine's
fires with 1, 4 and 16 concurrent writer processes, the sweep with one and two worker processes,
`qorgau api` with one and two workers at 20 and 100 clients, and delivery with one and two workers;
then what the second process buys on each store. Every writer or worker is an OS process of its
own with its own engine and connection pool, as in production; they are started, made ready
(launched cases, a warm delivery flow run) and released together, and timed from the release to
the last one's finish. Each result is checked: no fire refused, every due step taken once, no API
error, every message delivered once (the run fails when one is not). Last line: one JSON object.

Run: .venv/bin/python benchmarks/side_by_side.py [--database-url URL] [--sqlite-only | --postgres-only]
     [--quick]   (estimated 15 minutes on 2 cores; --quick, a smoke run: 4 minutes on a loaded 2-core machine)
"""
from __future__ import annotations

import argparse
import base64
import functools
import json
import multiprocessing
import os
import platform
import queue
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from sqlalchemy import func, insert, select  # noqa: E402

import api as api_bench  # noqa: E402
import runtime as runtime_bench  # noqa: E402
from deployments.local_server import LocalPrefectServer  # noqa: E402
from deployments.ports import free_port  # noqa: E402
from engine import REPORT, STORY, SWEEP_NOW, launch_cases, seed_due, services, story_fires  # noqa: E402
from states import outbox  # noqa: E402
from states import tables as T  # noqa: E402
from states.sweep import sweep  # noqa: E402
from stores import drop_schema, engine_on, open_store  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SPAWN = multiprocessing.get_context("spawn")
WAIT_S = 900  # the longest a barrier or a result is waited for

FULL = {"cases": 320, "open_tasks": 30_000, "due": 10_000, "requests": 3000, "messages": 5000}
QUICK = {"cases": 48, "open_tasks": 3000, "due": 1000, "requests": 400, "messages": 1500}
WRITERS, SWEEPERS, API_WORKERS, API_CLIENTS, DELIVERERS = (1, 4, 16), (1, 2), (1, 2), (20, 100), (1, 2)

_started = time.monotonic()


def status(line: str) -> None:
    """The progress line on stderr: time since start and what runs now."""
    print(f"[{time.monotonic() - _started:6.0f} s] {line}", file=sys.stderr, flush=True)


def schema_url(url: str, schema: str | None) -> str:
    """The store as one URL (for `qorgau api`, configured by URL alone): the schema as search_path."""
    return url if schema is None else f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def fresh_store(base_url: str | None, work: Path, name: str, svc):
    """A fresh, migrated store: (url, schema, engine) with the engine for seeding (fsync off on SQLite)."""
    url, schema = open_store(base_url, work, name)
    remove_sqlite(url)
    return url, schema, engine_on(url, schema, svc, fast_writes=True, run_migrations=True)


def remove_sqlite(url: str) -> None:
    """An SQLite store's files gone (a fresh store, or one done with); a no-op for PostgreSQL."""
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(url.split("///", 1)[1] + suffix).unlink(missing_ok=True)


def worker(body):
    """A worker process's body, called as body(barrier, results, ...): should it fail, the barrier
    breaks, so that no one waits for it."""
    @functools.wraps(body)
    def run(barrier, results, *args) -> None:
        try:
            body(barrier, results, *args)
        except BaseException:
            barrier.abort()
            raise
    return run


def collect(procs, results, n: int) -> list[dict]:
    """The `n` results of `procs`; an error as soon as one of them died without giving its own."""
    out, deadline = [], time.monotonic() + WAIT_S
    while len(out) < n:
        try:
            out.append(results.get(timeout=1))
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in procs) or time.monotonic() > deadline:
                raise RuntimeError(f"a worker failed (exit codes {[p.exitcode for p in procs]})") from None
    return out


def gather(procs, barrier, results, n: int) -> tuple[float, list[dict]]:
    """Start `procs`, release them together once all are ready, and collect their `n` results.
    Returns the seconds from the release to the last one's finish, and the results."""
    for p in procs:
        p.start()
    try:
        barrier.wait(WAIT_S)
        released = time.monotonic()
        out = collect(procs, results, n)
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    for r in out:
        r["seconds"] = round(r["end"] - released, 2)
    return max(r["end"] for r in out) - released, out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p * len(values)))], 1) if values else 0.0


# --------------------------------------------------------------------------- engine fires

@worker
def _writer(barrier, results, url, schema, cases) -> None:
    engine = engine_on(url, schema, services())
    launched = launch_cases(engine, cases)
    fires, errors, ms = 0, Counter(), []
    barrier.wait(WAIT_S)
    for ref, bindings in launched:
        for trigger, body, data, now in story_fires(bindings):
            t0 = time.perf_counter()
            try:
                engine.fire(ref, trigger, body, data, now=now)
            except Exception as exc:  # recorded, not hidden: the rest of this case's story is skipped
                errors[f"{type(exc).__name__}: {getattr(exc, 'code', '') or str(exc)[:160]}"] += 1
                break
            ms.append(1000 * (time.perf_counter() - t0))
            fires += 1
    results.put({"fires": fires, "errors": dict(errors), "ms": ms, "end": time.monotonic()})


def bench_writers(base_url, work: Path, svc, writers: int, cases: int) -> dict:
    """`writers` processes, each firing the STORY over its own `cases // writers` cases."""
    url, schema, engine = fresh_store(base_url, work, f"fire-{writers}", svc)
    engine.db.dispose()
    try:
        barrier, results = SPAWN.Barrier(writers + 1), SPAWN.Queue()
        procs = [SPAWN.Process(target=_writer, args=(barrier, results, url, schema, cases // writers))
                 for _ in range(writers)]
        seconds, out = gather(procs, barrier, results, writers)
    finally:
        drop_schema(url, schema)
        remove_sqlite(url)
    fires = sum(r["fires"] for r in out)
    errors = sum((Counter(r["errors"]) for r in out), Counter())
    ms = [x for r in out for x in r["ms"]]
    return {"writers": writers, "fires": fires, "expected": writers * (cases // writers) * len(STORY),
            "seconds": round(seconds, 2), "fires_per_s": round(fires / seconds, 1),
            "fire_p50_ms": pct(ms, 0.5), "fire_p99_ms": pct(ms, 0.99), "errors": sum(errors.values()),
            "error_kinds": dict(errors)}


# --------------------------------------------------------------------------- the sweep

@worker
def _sweeper(barrier, results, url, schema) -> None:
    engine = engine_on(url, schema, services())
    processed, failed, rounds = 0, [], 0
    barrier.wait(WAIT_S)
    while True:  # until nothing is due (or all that is left is locked by the other sweeper)
        report = sweep(engine, now=SWEEP_NOW)
        rounds += 1
        processed += report.processed
        failed += report.failed
        if report.processed == 0:
            break
    results.put({"processed": processed, "failed": failed, "rounds": rounds, "end": time.monotonic()})


def sweep_check(engine, due: int, processed: int) -> dict:
    """Was every due step taken exactly once? Steps done, due steps left, `overdue` events in all
    and per (case, task) more than one."""
    ev = T.events.c
    task = ev.data["task"].as_string()
    with engine.reader() as conn:
        done = conn.execute(select(func.count()).where(T.steps.c.status == "done")).scalar_one()
        left = conn.execute(select(func.count()).where(T.steps.c.status == "pending",
                                                       T.steps.c.due_at <= SWEEP_NOW)).scalar_one()
        events = conn.execute(select(func.count()).where(ev.trigger == "overdue")).scalar_one()
        twice = conn.execute(select(func.count()).select_from(
            select(ev.case_id).where(ev.trigger == "overdue").group_by(ev.case_id, task)
            .having(func.count() > 1).subquery())).scalar_one()
    ok = done == due == events == processed and left == 0 and twice == 0
    return {"ok": ok, "due": due, "steps_done": done, "due_left": left, "overdue_events": events,
            "taken_twice": twice, "reported_by_sweepers": processed}


def bench_sweep(base_url, work: Path, svc, sweepers: int, open_tasks: int, due: int) -> dict:
    url, schema, engine = fresh_store(base_url, work, f"sweep-{sweepers}", svc)
    try:
        status(f"  seeding {due:,} due steps among {open_tasks:,} open tasks")
        seed_due(engine, open_tasks, due)
        barrier, results = SPAWN.Barrier(sweepers + 1), SPAWN.Queue()
        procs = [SPAWN.Process(target=_sweeper, args=(barrier, results, url, schema)) for _ in range(sweepers)]
        seconds, out = gather(procs, barrier, results, sweepers)
        processed = sum(r["processed"] for r in out)
        check = sweep_check(engine, due, processed)
    finally:
        engine.db.dispose()
        drop_schema(url, schema)
        remove_sqlite(url)
    return {"sweepers": sweepers, "steps": processed, "seconds": round(seconds, 2),
            "steps_per_s": round(processed / seconds, 1), "per_sweeper": [r["processed"] for r in out],
            "per_sweeper_seconds": [r["seconds"] for r in out],
            "failed": sum(len(r["failed"]) for r in out), "check": check}


# --------------------------------------------------------------------------- the API

def bench_api(base_url, work: Path, requests: int, master_key: str, fire_share: float = 0.25) -> dict:
    """One store, seeded once; `qorgau api` with 1 then 2 workers, each at 20 then 100 clients (each
    run fires on cases of its own)."""
    url, schema = open_store(base_url, work, "api")
    remove_sqlite(url)
    surl = schema_url(url, schema)
    per_run = int(requests * fire_share * 1.2) + 10
    out = {}
    try:
        status(f"  seeding {per_run * len(API_WORKERS) * len(API_CLIENTS):,} cases")
        refs, tokens = api_bench.seed(surl, per_run * len(API_WORKERS) * len(API_CLIENTS))
        for workers in API_WORKERS:
            port = free_port()
            server = api_bench.start_server(surl, port, master_key, workers)
            try:
                api_bench.run(port, [], tokens, 20, 200, 0.0)  # warm-up: reads only
                for clients in API_CLIENTS:
                    status(f"  {clients} clients, {workers} worker(s)")
                    mine, refs = refs[:per_run], refs[per_run:]
                    r = api_bench.run(port, mine, tokens, clients, requests, fire_share)
                    out[f"c{clients}_w{workers}"] = {k: r[k] for k in (
                        "clients", "requests", "seconds", "requests_per_s", "p50_ms", "p95_ms", "p99_ms",
                        "errors", "error_statuses")} | {"workers": workers, "fires": r["fire"]["n"]}
            finally:
                server.terminate()
                server.wait(timeout=30)
    finally:
        drop_schema(url, schema)
        remove_sqlite(url)
    return out


# --------------------------------------------------------------------------- delivery

def fill_outbox(engine, n: int, prefix: str = "") -> int:
    """At least `n` pending messages: those of a few launched cases, then copies of them under new
    idempotency keys (cheaper than launching a case per few messages). Returns how many are pending."""
    school = engine.svc.directory.schools("KZ-75")[0].id
    for _ in range(min(20, max(1, n // 20))):
        detected = datetime.now(timezone.utc) - timedelta(hours=1)
        engine.launch("violence-report", "KZ-75", school, {**REPORT, "detected_at": detected.isoformat()})
    with engine.db.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(T.outbox).where(T.outbox.c.status == "pending"))]
        copies = [{**{k: v for k, v in row.items() if k != "id"},
                   "idempotency_key": f"{prefix}{row['idempotency_key']}/{i}"[:200]}
                  for i in range(max(0, -(-n // len(rows)) - 1)) for row in rows][:max(0, n - len(rows))]
        for row in rows if prefix else []:  # the originals, too, under a key no other store has
            conn.execute(T.outbox.update().where(T.outbox.c.id == row["id"])
                         .values(idempotency_key=f"{prefix}{row['idempotency_key']}"[:200]))
        if copies:
            conn.execute(insert(T.outbox), copies)
    return outbox.counts(engine.db)["pending"]


@worker
def _deliverer(barrier, results, url, schema, warm_path) -> None:
    """One delivery worker: in one flow run, the outbox drained as `dispatch-notifications` drains it
    (claim, send and record tasks), first a small store of its own (the one-time costs: apprise's
    plugins, templates, Prefect's client), then, released with the others, the measured store.
    The flow run is started before the release: its start-up is not delivery."""
    from prefect import flow

    from flows import runtime as flow_runtime
    from flows.delivery import drain_outbox
    svc = services()

    @flow(name="side-by-side-delivery")
    def deliver() -> dict:
        warm = engine_on(f"sqlite:///{warm_path}", None, svc, run_migrations=True)
        fill_outbox(warm, 50, prefix=f"warm-{os.getpid()}-")
        with flow_runtime.use_engine(warm):
            warm_sent = drain_outbox()["sent"]
        engine = engine_on(url, schema, svc)
        barrier.wait(WAIT_S)
        with flow_runtime.use_engine(engine):
            totals = drain_outbox()
        return {**totals, "warm_sent": warm_sent, "end": time.monotonic()}

    results.put(deliver())


def bench_delivery(base_url, work: Path, svc, workers: int, messages: int, prefect: dict) -> dict:
    """`workers` processes draining one outbox of `messages` into the webhook sink; `prefect`: the
    environment naming the Prefect server their flow runs report to."""
    url, schema, engine = fresh_store(base_url, work, f"delivery-{workers}", svc)
    try:
        pending = fill_outbox(engine, messages)
        with runtime_bench.Sink() as sink, mock.patch.dict(os.environ, {"QORGAU_DEFAULT_CHANNELS": sink.url, **prefect}):
            warm = [work / f"warm-{i}.sqlite" for i in range(workers)]
            barrier, results = SPAWN.Barrier(workers + 1), SPAWN.Queue()
            procs = [SPAWN.Process(target=_deliverer, args=(barrier, results, url, schema, w)) for w in warm]
            seconds, out = gather(procs, barrier, results, workers)
            received = sink.count.value - sum(r["warm_sent"] for r in out)
            duplicates = sink.duplicates.value
            for path in warm:
                remove_sqlite(f"sqlite:///{path}")
        counts = outbox.counts(engine.db)
    finally:
        engine.db.dispose()
        drop_schema(url, schema)
        remove_sqlite(url)
    sent = sum(r["sent"] for r in out)
    ok = sent == pending == received == counts["sent"] and duplicates == 0 and counts["pending"] == 0
    return {"workers": workers, "messages": pending, "seconds": round(seconds, 2),
            "messages_per_s": round(sent / seconds, 1), "per_worker": [r["sent"] for r in out],
            "per_worker_seconds": [r["seconds"] for r in out],
            "check": {"ok": ok, "pending_before": pending, "recorded_sent": sent, "sink_received": received,
                      "sink_duplicates": duplicates, "outbox_after": counts,
                      "retried": sum(r["retried"] for r in out), "dead": sum(r["dead"] for r in out)}}


# --------------------------------------------------------------------------- the report

def ratio(a, b) -> float | None:
    return round(a / b, 2) if a and b else None


def rows(res: dict) -> list[tuple[str, object]]:
    """(label, value) per row of the table, for one store's results."""
    out = [(f"engine fire/s, {w} writer{'s' * (w > 1)}", res["fire"][str(w)]["fires_per_s"]) for w in WRITERS]
    out += [(f"sweep steps/s, {w} worker{'s' * (w > 1)}", res["sweep"][str(w)]["steps_per_s"]) for w in SWEEPERS]
    for c in API_CLIENTS:
        for w in API_WORKERS:
            r = res["api"][f"c{c}_w{w}"]
            out.append((f"API req/s, {c} clients, {w} worker{'s' * (w > 1)}", r["requests_per_s"]))
            out.append((f"API p95 / p99 ms, {c} clients, {w} worker{'s' * (w > 1)}", f"{r['p95_ms']} / {r['p99_ms']}"))
    out += [(f"delivery messages/s, {w} worker{'s' * (w > 1)}", res["delivery"][str(w)]["messages_per_s"])
            for w in DELIVERERS]
    return out


def second_process(res: dict) -> dict:
    """What the second (and further) process buys: throughput with more processes over one."""
    f, s, d = res["fire"], res["sweep"], res["delivery"]
    out = {"fire_4_over_1": ratio(f["4"]["fires_per_s"], f["1"]["fires_per_s"]),
           "fire_16_over_1": ratio(f["16"]["fires_per_s"], f["1"]["fires_per_s"]),
           "sweep_2_over_1": ratio(s["2"]["steps_per_s"], s["1"]["steps_per_s"]),
           "delivery_2_over_1": ratio(d["2"]["messages_per_s"], d["1"]["messages_per_s"])}
    for c in API_CLIENTS:
        one, two = res["api"][f"c{c}_w1"], res["api"][f"c{c}_w2"]
        out[f"api_c{c}_2_over_1"] = ratio(two["requests_per_s"], one["requests_per_s"])
        out[f"api_c{c}_p99_2_over_1"] = ratio(two["p99_ms"], one["p99_ms"])
    return out


def print_table(results: dict, ratios: dict) -> None:
    stores = list(results)
    cells = {s: dict(rows(results[s])) for s in stores}
    labels = [label for label, _ in rows(results[stores[0]])]
    head = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    both = len(stores) == 2
    print(f"{'':44}" + "".join(f"{head[s]:>14}" for s in stores) + (f"{'SQLite / PG':>14}" if both else ""))
    for label in labels:
        vals = [cells[s][label] for s in stores]
        line = f"{label:44}" + "".join(f"{v:>14,}" if isinstance(v, float) else f"{v:>14}" for v in vals)
        if both and isinstance(vals[0], float):
            line += f"{ratio(vals[0], vals[1]) or '-':>13}x"
        print(line)
    print("\nwhat the 2nd process buys (more processes / one; for p99, below 1 is better)")
    for key in ratios[stores[0]]:
        print(f"  {key:42}" + "".join(f"{ratios[s][key] or '-':>13}x" for s in stores))


def checks_of(results: dict) -> list[tuple[str, bool, object]]:
    out = []
    for store, res in results.items():
        for w, r in res["fire"].items():
            ok = r["errors"] == 0 and r["fires"] == r["expected"]
            out.append((f"{store} fire x{w}: all fires done, no errors", ok,
                        r["error_kinds"] or f"{r['fires']}/{r['expected']}"))
        for w, r in res["sweep"].items():
            out.append((f"{store} sweep x{w}: every due step taken exactly once", r["check"]["ok"], r["check"]))
        for key, r in res["api"].items():
            out.append((f"{store} API {key}: no errors", r["errors"] == 0, r["error_statuses"]))
        for w, r in res["delivery"].items():
            out.append((f"{store} delivery x{w}: each message delivered once", r["check"]["ok"], r["check"]))
    return out


def measure(stores: dict, work: Path, svc, size: dict, master_key: str) -> dict:
    """The four measurements on each store (`stores`: kind -> PostgreSQL URL, None for SQLite), the
    stores taking turns at each setting so that both meet the same load on the machine."""
    res = {kind: {"fire": {}, "sweep": {}, "api": {}, "delivery": {}} for kind in stores}
    for w in WRITERS:
        for kind, url in stores.items():
            status(f"{kind}: engine fires, {w} writer process(es)")
            res[kind]["fire"][str(w)] = bench_writers(url, work, svc, w, size["cases"])
    for w in SWEEPERS:
        for kind, url in stores.items():
            status(f"{kind}: sweep, {w} process(es)")
            res[kind]["sweep"][str(w)] = bench_sweep(url, work, svc, w, size["open_tasks"], size["due"])
    for kind, url in stores.items():
        status(f"{kind}: API")
        res[kind]["api"] = bench_api(url, work, size["requests"], master_key)
    # Prefect runs only now: its server's own work would weigh on the other measurements
    status("starting a local Prefect server (the delivery workers' flow runs report to it)")
    server = LocalPrefectServer(work / "prefect", port=free_port(), ui=False)
    server.start().wait(120)
    prefect = {"PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(server.home),
               "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING")}
    try:
        for w in DELIVERERS:
            for kind, url in stores.items():
                status(f"{kind}: delivery, {w} worker process(es)")
                res[kind]["delivery"][str(w)] = bench_delivery(url, work, svc, w, size["messages"], prefect)
    finally:
        server.stop()
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL,
                        help="the PostgreSQL server (a fresh schema, dropped after)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--sqlite-only", action="store_true")
    only.add_argument("--postgres-only", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few minutes")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    stores = [s for s, skip in (("sqlite", args.postgres_only), ("postgresql", args.sqlite_only)) if not skip]
    load_start = os.getloadavg()
    master_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    os.environ["QORGAU_MASTER_KEY"] = master_key
    svc = services()
    with tempfile.TemporaryDirectory(prefix="qorgau-side-", dir=os.environ.get("QORGAU_BENCH_DIR")) as tmp:
        results = measure({kind: None if kind == "sqlite" else args.database_url for kind in stores}, Path(tmp),
                          svc, size, master_key)
    load_end = os.getloadavg()
    ratios = {s: second_process(r) for s, r in results.items()}
    checks = checks_of(results)
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average at start {', '.join(f'{x:.2f}' for x in load_start)}, "
          f"at end {', '.join(f'{x:.2f}' for x in load_end)}")
    print(f"sizes: {size['cases']} cases x {len(STORY)} fires split over the writers; {size['due']:,} due steps among "
          f"{size['open_tasks']:,} open tasks; {size['requests']:,} API requests a run (a quarter fires); "
          f"{size['messages']:,} messages a delivery run\n")
    print_table(results, ratios)
    print("\nchecks:")
    for name, ok, detail in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"))
    print(json.dumps({"machine": platform.node(), "cores": os.cpu_count(), "load_start": load_start,
                      "load_end": load_end, "quick": args.quick, "sizes": size, "results": results,
                      "second_process": ratios, "checks_ok": all(ok for _, ok, _ in checks),
                      "seconds": round(time.monotonic() - _started, 1)}))
    if not all(ok for _, ok, _ in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
