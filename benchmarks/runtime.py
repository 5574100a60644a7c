"""Runtime benchmark (not a test): delivery throughput to a local webhook sink, the lag between due
time and escalation for 1,000 tasks due in the same minute under `qorgau serve`, and, as the
anchor, the same 1,000 deadlines done the naive way (one scheduled Prefect flow run per deadline).
Last line: one JSON object with the figures.

Run: .venv/bin/python benchmarks/runtime.py [--messages N] [--deadlines N] [--naive N] [--naive-budget MIN]
(about 25 minutes on a 2-core machine, nearly all of it the naive anchor: its 1,000 flow runs are
observed for 15 minutes after the first falls due; the deadlines not done by then are reported as
such, with their lag as a lower bound; --naive-budget 120 waits for all of them). Not part of
`make bench` for that reason.

Everything runs on this machine: a local Prefect server (SQLite), case stores on SQLite files (the
embedded setup), and a webhook sink in a process of its own that answers 200 to every POST.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QORGAU_MASTER_KEY", "cW9yZ2F1LXRlc3QtbWFzdGVyLWtleS0zMi1ieXRlcyE=")  # synthetic data only

from sqlalchemy import select, update  # noqa: E402

from deployments.local_server import LocalPrefectServer  # noqa: E402
from deployments.ports import free_port  # noqa: E402
from states import outbox  # noqa: E402
from states import tables as T  # noqa: E402
from states.store import open_engine  # noqa: E402
from states.sweep import sweep  # noqa: E402

SERVE = ("import sys, typer; sys.path.insert(0, {root!r}); from app.serve_cli import register; "
         "app = typer.Typer(); register(app); app.command('version')(lambda: None); app()")
NAIVE = ("import sys; sys.path.insert(0, {root!r}); sys.path.insert(0, {root!r} + '/benchmarks'); "
         "from deployments.serve import serve_all; "
         "from naive_flow import naive_deadline; serve_all([naive_deadline.to_deployment('bench')])")


# --------------------------------------------------------------------------- the webhook sink

def _sink(port: int, counter, duplicates) -> None:
    seen: set[str] = set()  # idempotency keys: a key seen twice is a message delivered twice

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            key = self.headers.get("Idempotency-Key")
            with counter.get_lock():
                counter.value += 1
                if key is not None:
                    if key in seen:
                        duplicates.value += 1
                    seen.add(key)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024

    Server(("127.0.0.1", port), Handler).serve_forever()


class Sink:
    """A webhook in a process of its own: `count` POSTs received, `duplicates` of them carrying an
    idempotency key it had seen before."""

    def __init__(self):
        self.port = free_port()
        self.count = multiprocessing.Value("l", 0)
        self.duplicates = multiprocessing.Value("l", 0)
        self.process = multiprocessing.Process(target=_sink, args=(self.port, self.count, self.duplicates),
                                               daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def __enter__(self):
        self.process.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.process.terminate()


# --------------------------------------------------------------------------- seeding

def seed_minute(engine, n: int, start: datetime) -> list:
    """n violence-report cases whose police check (24 h) falls due at `start` + i·60/n s, so n tasks
    are due within one minute. Every earlier step is taken and its messages marked sent first, so
    the due minute holds just these n steps."""
    school = engine.svc.directory.schools("KZ-75")[0].id
    for i in range(n):
        at = start + timedelta(seconds=60 * i / n) - timedelta(hours=24)
        engine.launch("violence-report", "KZ-75", school, {"form": "neglect", "channel": "school",
                      "summary": "benchmark (synthetic)", "detected_at": (at - timedelta(hours=1)).isoformat(),
                      "reporter": "teacher"}, now=at)
    sweep(engine, now=start - timedelta(microseconds=1))
    with engine.db.begin() as conn:
        conn.execute(update(T.outbox).where(T.outbox.c.status == "pending").values(
            status="sent", sent_at=start - timedelta(microseconds=1)))
    with engine.reader() as conn:
        return conn.execute(select(T.steps).where(T.steps.c.status == "pending", T.steps.c.due_at >= start,
                                                  T.steps.c.due_at < start + timedelta(minutes=1))).all()


def step_lags(engine, steps) -> list[float | None]:
    """Per step: seconds from its due time to its last message recorded as sent (None: not yet)."""
    out: list[float | None] = []
    with engine.reader() as conn:
        for s in steps:
            seq = conn.execute(select(T.events.c.seq).where(
                T.events.c.case_id == s.case_id, T.events.c.trigger == s.kind,
                T.events.c.data["task"].as_string() == s.task_key)).scalar()
            sent = [] if seq is None else conn.execute(select(T.outbox.c.sent_at).where(
                T.outbox.c.case_id == s.case_id, T.outbox.c.event_seq == seq)).scalars().all()
            if not sent or any(t is None for t in sent):
                out.append(None)
            else:
                out.append((max(sent) - s.due_at).total_seconds())
    return out


def lags(engine, steps) -> list[float]:
    """Per step: from its due time to its last message recorded as sent ([] unless all are)."""
    found = step_lags(engine, steps)
    return [] if any(x is None for x in found) else found


def all_done(engine, steps) -> bool:
    with engine.reader() as conn:
        pending = conn.execute(select(T.steps.c.id).where(
            T.steps.c.id.in_([s.id for s in steps]), T.steps.c.status == "pending")).first()
    return pending is None and outbox.counts(engine.db)["pending"] == 0


def wait(predicate, timeout: float, what: str, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise TimeoutError(f"{what}: not done after {timeout:.0f} s")


def next_minute(after: datetime) -> datetime:
    return after.replace(second=0, microsecond=0) + timedelta(minutes=1)


def stop(proc: subprocess.Popen, sig=signal.SIGINT) -> None:
    proc.send_signal(sig)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


# --------------------------------------------------------------------------- the measurements

def bench_delivery(work: Path, sink: Sink, messages: int, runs: int = 3,
                   warmup: int = 300) -> tuple[list[float], int, float]:
    """The dispatch-notifications flow draining `messages` pending messages to the sink, `runs`
    times, in a process that has delivered before (a first run of `warmup` messages pays the
    one-time costs: apprise's plugin modules, template compilation, Prefect's client); returns each
    run's rate, the messages drained per run and the first run's rate."""
    from flows import runtime
    from flows.delivery import dispatch_notifications
    engine = open_engine(f"sqlite:///{work / 'delivery.sqlite'}")
    school = engine.svc.directory.schools("KZ-75")[0].id

    def drain(n: int) -> tuple[float, int]:
        while outbox.counts(engine.db)["pending"] < n:
            detected = datetime.now(timezone.utc) - timedelta(hours=1)
            engine.launch("violence-report", "KZ-75", school,
                          {"form": "bullying", "channel": "school", "summary": "benchmark (synthetic)",
                           "detected_at": detected.isoformat(), "reporter": "teacher"})
        pending = outbox.counts(engine.db)["pending"]
        before = sink.count.value
        with runtime.use_engine(engine):
            t0 = time.perf_counter()
            totals = asyncio.run(dispatch_notifications())
            seconds = time.perf_counter() - t0
        assert totals["sent"] == pending == sink.count.value - before, (totals, pending)
        return totals["sent"] / seconds, pending

    first_per_s, _ = drain(warmup)
    rates = []
    for _ in range(runs):
        per_s, pending = drain(messages)
        rates.append(per_s)
    return rates, pending, first_per_s


def bench_burst(work: Path, deadlines: int) -> tuple[float, int, int]:
    """Our capacity: `deadlines` tasks all due, one sweep-deadlines run (steps + their messages)."""
    from flows import runtime
    from flows.deadlines import sweep_deadlines
    engine = open_engine(f"sqlite:///{work / 'burst.sqlite'}")
    steps = seed_minute(engine, deadlines, datetime.now(timezone.utc) - timedelta(minutes=2))
    with runtime.use_engine(engine):
        t0 = time.perf_counter()
        result = asyncio.run(sweep_deadlines())
        seconds = time.perf_counter() - t0
    assert all_done(engine, steps)
    return result["processed"] / seconds, result["processed"], result["delivery"]["sent"]


def bench_lag_under_serve(work: Path, server: LocalPrefectServer, sink: Sink, deadlines: int) -> list[float]:
    """`qorgau serve` running, `deadlines` tasks due within one minute: due -> escalation delivered."""
    url = f"sqlite:///{work / 'serve.sqlite'}"
    engine = open_engine(url)
    start = next_minute(datetime.now(timezone.utc) + timedelta(seconds=45))
    steps = seed_minute(engine, deadlines, start)
    env = _env(server, QORGAU_DATABASE_URL=url, QORGAU_DEFAULT_CHANNELS=sink.url)
    log = open(work / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", SERVE.format(root=str(ROOT)), "serve", "--no-demo"],
                            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        print(f"  {len(steps)} tasks due {start:%H:%M:%S}-{start + timedelta(minutes=1):%H:%M:%S} UTC; "
              f"qorgau serve started", flush=True)
        wait(lambda: all_done(engine, steps) and datetime.now(timezone.utc) > start + timedelta(minutes=1),
             600, "escalations under qorgau serve", every=2)
    finally:
        stop(proc)
        log.close()
    return lags(engine, steps)


@dataclass
class NaiveResult:
    lags: list[float]        # due -> delivered, for the deadlines done within the budget
    per_s: float             # deadlines done per second, from the first due time
    scheduled: int
    left: int                # not done when the budget ran out
    lag_max_s: float         # the largest lag; a lower bound when some were left
    observed_s: float        # from the first due time to the last delivery (or to the end of the budget)


def bench_naive(work: Path, server: LocalPrefectServer, sink: Sink, deadlines: int, budget_s: float) -> NaiveResult:
    """The same deadlines, one scheduled flow run each (served with the same runner settings),
    observed until all are done or `budget_s` after the first one fell due."""
    url = f"sqlite:///{work / 'naive.sqlite'}"
    engine = open_engine(url)
    start = next_minute(datetime.now(timezone.utc) + timedelta(seconds=30 + deadlines * 0.05))
    steps = seed_minute(engine, deadlines, start)
    env = _env(server, QORGAU_DATABASE_URL=url, QORGAU_DEFAULT_CHANNELS=sink.url)
    log = open(work / "naive.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", NAIVE.format(root=str(ROOT))], cwd=work, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        asyncio.run(_schedule_naive_runs(steps))
        print(f"  {len(steps)} flow runs scheduled at their tasks' due times, "
              f"{start:%H:%M:%S}-{start + timedelta(minutes=1):%H:%M:%S} UTC; observed for at most "
              f"{budget_s / 60:g} min", flush=True)
        last_report = [time.monotonic()]

        def done() -> bool:
            if time.monotonic() - last_report[0] > 60:
                with engine.reader() as conn:
                    left = conn.execute(select(T.steps.c.id).where(
                        T.steps.c.id.in_([s.id for s in steps]), T.steps.c.status == "pending")).all()
                print(f"  ... {len(steps) - len(left)}/{len(steps)} done", flush=True)
                last_report[0] = time.monotonic()
            return all_done(engine, steps)
        seconds_left = (start - datetime.now(timezone.utc)).total_seconds() + budget_s
        try:
            wait(done, max(1.0, seconds_left), "the naive runs", every=5)
        except TimeoutError:
            pass
        finished = datetime.now(timezone.utc)
    finally:
        stop(proc)
        log.close()
    found = step_lags(engine, steps)
    done_lags = [x for x in found if x is not None]
    left_due = [s.due_at for s, x in zip(steps, found) if x is None]
    if left_due:
        observed = (finished - start).total_seconds()
        # the oldest one left is at least this late (and so is the largest lag)
        lag_max = max([(finished - min(left_due)).total_seconds(), *done_lags])
    else:
        with engine.reader() as conn:
            last_sent = conn.execute(select(T.outbox.c.sent_at).order_by(T.outbox.c.sent_at.desc()).limit(1)).scalar()
        observed = ((last_sent or finished) - start).total_seconds()
        lag_max = max(done_lags)
    return NaiveResult(lags=done_lags, per_s=len(done_lags) / observed, scheduled=len(steps), left=len(left_due),
                       lag_max_s=lag_max, observed_s=observed)


async def _schedule_naive_runs(steps) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled
    async with get_client() as client:
        for _ in range(120):
            try:
                deployment = await client.read_deployment_by_name("naive-deadline/bench")
                break
            except Exception:
                await asyncio.sleep(1)
        sem = asyncio.Semaphore(16)

        async def one(step):
            async with sem:
                await client.create_flow_run_from_deployment(
                    deployment.id, parameters={"step_id": step.id}, state=Scheduled(scheduled_time=step.due_at))
        await asyncio.gather(*(one(s) for s in steps))


def _env(server: LocalPrefectServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(server.home),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}, **extra)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000, help="messages each delivery run drains")
    parser.add_argument("--delivery-runs", type=int, default=3, help="delivery runs (the median is reported)")
    parser.add_argument("--deadlines", type=int, default=1000, help="tasks due within one minute")
    parser.add_argument("--naive", type=int, default=1000, help="deadlines done the naive way (0: skip)")
    parser.add_argument("--naive-budget", type=float, default=15.0,
                        help="minutes the naive anchor is observed after its first deadline (it needs about "
                             "an hour for all 1,000 on 2 cores)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qorgau-runtime-bench-", dir=os.environ.get("QORGAU_BENCH_DIR")) as tmp:
        work = Path(tmp)
        server = LocalPrefectServer(work / "prefect", port=free_port(), ui=False)
        print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, Python "
              f"{platform.python_version()}; starting a local Prefect server ...", flush=True)
        server.start().wait(120)
        os.environ.update({"PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(server.home)})
        try:
            with Sink() as sink:
                os.environ["QORGAU_DEFAULT_CHANNELS"] = sink.url
                rates, drained, first_per_s = bench_delivery(work, sink, args.messages, args.delivery_runs)
                deliver_per_s = statistics.median(rates)
                print(f"delivery: {drained:,} messages through dispatch-notifications to a local webhook sink, "
                      f"{len(rates)} runs: median {deliver_per_s:,.0f} messages/s (runs: "
                      f"{', '.join(f'{r:,.0f}' for r in rates)}; target >= 500; the first run in a fresh process, "
                      f"startup included: {first_per_s:,.0f}/s)", flush=True)
                ours_per_s, burst_steps, burst_msgs = bench_burst(work, args.deadlines)
                print(f"ours, capacity: {burst_steps:,} due tasks (+{burst_msgs:,} messages) in one sweep-deadlines "
                      f"run: {ours_per_s:,.0f} deadlines/s", flush=True)
                print("lag under qorgau serve:", flush=True)
                lag = bench_lag_under_serve(work, server, sink, args.deadlines)
                print(f"  due -> escalation delivered: max {max(lag):.1f} s, median {statistics.median(lag):.1f} s "
                      f"over {len(lag):,} tasks (target: all within 60 s)", flush=True)
                naive = None
                if args.naive:
                    print("naive anchor (one scheduled flow run per deadline):", flush=True)
                    naive = bench_naive(work, server, sink, args.naive, args.naive_budget * 60)
                    bound = "at least " if naive.left else ""
                    print(f"  {len(naive.lags):,} of {naive.scheduled:,} deadlines done in {naive.observed_s:,.0f} s"
                          + (f" ({naive.left:,} still waiting when the {args.naive_budget:g}-minute budget ran out)"
                             if naive.left else "")
                          + f": {naive.per_s:.2f} deadlines/s; due -> delivered: max {bound}{naive.lag_max_s:,.0f} s, "
                          f"median of those done {statistics.median(naive.lags):,.0f} s", flush=True)
                    print(f"ours / naive throughput: {ours_per_s / naive.per_s:,.0f}x (target >= 100x)", flush=True)
        finally:
            from deployments.serve import flush_prefect_services
            flush_prefect_services()
            server.stop()
    figures = {
        "deliver_per_s": round(deliver_per_s, 1), "deliver_runs_per_s": [round(r, 1) for r in rates],
        "deliver_first_run_per_s": round(first_per_s, 1),
        "lag_max_s": round(max(lag), 1), "lag_p50_s": round(statistics.median(lag), 1),
        "naive_per_s": round(naive.per_s, 3) if naive else None,
        "naive_lag_max_s": round(naive.lag_max_s, 1) if naive else None,
        "naive_lag_max_is_lower_bound": bool(naive and naive.left),
        "naive_lag_p50_done_s": round(statistics.median(naive.lags), 1) if naive and naive.lags else None,
        "naive_done": len(naive.lags) if naive else None,
        "ours_per_s": round(ours_per_s, 1),
        "speedup": round(ours_per_s / naive.per_s, 1) if naive else None,
        "deadlines": args.deadlines, "naive_deadlines": args.naive,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
