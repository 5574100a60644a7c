"""Scale-out: two workers (two `python -m deployments.serve` processes) against one Prefect
server, the case store on PostgreSQL, 2,000 due steps. Each step is taken once, each task opened
once, each message delivered once — whichever worker got there first."""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from support.prefect_server import shared_server, subprocess_env, using_prefect
from notifications import channels
from support.sinks import HttpSink
from states import outbox
from states import tables as T
from states.db import make_engine
from states.store import open_engine

from conftest import PG_URL, ROOT
from factories import violence_report_data

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.skipif(not PG_URL, reason="the scale-out test needs PostgreSQL for the case store: set "
                                          "QORGAU_TEST_DATABASE_URL (CI does)"),
]

SCHEMA = f"qorgau_scaleout_{os.getpid()}"
DUE_STEPS = 2000
LADDER = ("reminder", "overdue", "escalation", "critical")


@pytest.fixture
def pg_store():
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    db = make_engine(PG_URL, schema=SCHEMA)
    url = PG_URL + ("&" if "?" in PG_URL else "?") + f"options=-csearch_path%3D{SCHEMA}"
    try:
        yield open_engine(db=db), url
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        admin.dispose()


def seed(engine) -> list[int]:
    """Cases launched ten days ago until at least DUE_STEPS ladder steps are due now."""
    school = engine.svc.directory.schools("KZ-75")[0].id
    past = datetime.now(timezone.utc) - timedelta(days=10)
    due = 0
    while due < DUE_STEPS:
        for _ in range(25):
            engine.launch("violence-report", "KZ-75", school,
                          violence_report_data(now=past, summary="synthetic"), now=past)
        with engine.reader() as conn:
            due = conn.execute(select(func.count()).select_from(T.steps).where(
                T.steps.c.status == "pending", T.steps.c.due_at <= datetime.now(timezone.utc))).scalar_one()
    with engine.reader() as conn:
        return list(conn.execute(select(T.steps.c.id).where(T.steps.c.status == "pending",
                                                            T.steps.c.due_at <= datetime.now(timezone.utc))).scalars())


def test_two_workers_take_each_of_2000_due_steps_and_deliver_each_message_once(pg_store, tmp_path):
    engine, url = pg_store
    step_ids = seed(engine)
    assert len(step_ids) >= DUE_STEPS
    server = shared_server()
    workers, logs = [], []
    with HttpSink() as sink, using_prefect(server.api_url):
        env = subprocess_env(server.api_url, QORGAU_DATABASE_URL=url, QORGAU_DELIVERY_BATCH="100",
                             QORGAU_RUNNER_LIMIT="3", QORGAU_SWEEP_CONCURRENCY="6",
                             **{channels.DEFAULT_CHANNELS_ENV: sink.url()})
        try:
            for name in ("w1", "w2"):
                log = open(tmp_path / f"{name}.log", "w")
                logs.append(log)
                workers.append(subprocess.Popen(
                    [sys.executable, "-m", "deployments.serve", "--worker-name", name, "--sweep-interval", "5",
                     "--dispatch-interval", "5"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
            wait_for(lambda: all("serving:" in (tmp_path / f"{n}.log").read_text() for n in ("w1", "w2")), 120,
                     "both workers to serve")
            _start_sweeps(6, batch_size=50)  # several sweeps at once, spread over both workers
            wait_for(lambda: _done(engine, step_ids, sink), 300, "every step taken and every message delivered")
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                try:
                    w.wait(30)
                except subprocess.TimeoutExpired:
                    w.kill()
            for log in logs:
                log.close()

    with engine.reader() as conn:
        statuses = collections.Counter(conn.execute(select(T.steps.c.status).where(T.steps.c.id.in_(step_ids))).scalars())
        events = conn.execute(select(T.events.c.case_id, T.events.c.trigger, T.events.c.data)
                              .where(T.events.c.trigger.in_(LADDER))).all()
        ensure = conn.execute(select(T.tasks.c.case_id, T.tasks.c.serves)
                              .where(T.tasks.c.kind == "ensure_completion")).all()
        rows = conn.execute(select(T.outbox.c.idempotency_key, T.outbox.c.status)).all()
        sweeps = conn.execute(select(T.sweep_runs).where(T.sweep_runs.c.processed > 0)).all()
    # each due step taken once: one history event per (case, step, task)
    assert statuses == {"done": len(step_ids)}
    per_step = collections.Counter((e.case_id, e.trigger, e.data["task"]) for e in events)
    assert len(per_step) == len(step_ids) and max(per_step.values()) == 1
    # each escalation opened one ensure_completion task
    assert max(collections.Counter(ensure).values()) == 1
    # each message sent once, to the receiver once, by whichever worker claimed it
    assert {r.status for r in rows} == {"sent"}
    delivered = collections.Counter(sink.keys())
    assert set(delivered) == {r.idempotency_key for r in rows} and max(delivered.values()) == 1
    # by the two workers and nobody else; which of them claimed more is up to the runners' polling
    # (one worker may drain the whole outbox before the other polls), so it is not asserted
    senders = collections.Counter(h.headers[channels.SENDER_HEADER.lower()] for h in sink.hits)
    assert set(senders) <= {"w1", "w2"}, senders
    # and the sweeps overlapped: the steps were shared out under contention, not taken in turn
    assert _overlapping(sweeps), [(s.started_at, s.finished_at, s.processed) for s in sweeps]


def wait_for(predicate, timeout: float, what: str, step: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _start_sweeps(n: int, batch_size: int) -> None:
    import asyncio

    from prefect.client.orchestration import get_client

    async def go():
        async with get_client() as client:
            deployment = await client.read_deployment_by_name("sweep-deadlines/qorgau")
            for _ in range(n):
                await client.create_flow_run_from_deployment(deployment.id, parameters={"batch_size": batch_size})
    asyncio.run(go())


def _done(engine, step_ids, sink) -> bool:
    with engine.reader() as conn:
        left = conn.execute(select(func.count()).select_from(T.steps).where(
            T.steps.c.id.in_(step_ids), T.steps.c.status == "pending")).scalar_one()
    if left:
        return False
    counts = outbox.counts(engine.db)
    return counts["pending"] == 0 and len(sink.hits) >= counts["sent"]


def _overlapping(runs) -> bool:
    spans = sorted((r.started_at, r.finished_at) for r in runs if r.finished_at)
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:]))
