"""Writes on SQLite: the web process writes in its event loop (`SQLiteStore`, app/store.py), so a
write that has to wait -- for a writer outside the API, or for another worker process of `qorgau api`
-- must wait without
stopping the loop: reads are still answered meanwhile, and the write goes through once it may.
And `qorgau api --workers 2` serves one port from two processes that write one at a time."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from app.api import create_app
from app.api.server import _FATAL_WITHIN, ServerThread
from deployments.ports import free_port
from app.store import SQLiteStore, WriteGate
from states.db import WriteLockBusy, writes_fail_fast
from states.store import open_engine
from states.tokens import create_token
from states.verify import verify_all

from test_api_fixtures import bullying

ROOT = Path(__file__).resolve().parent.parent
ASSESS = {"trigger": "assess", "version": 1, "data": {"immediate_danger": False, "perpetrator": "peer"}}
SCHOOL = "kz-75.school-1"


def _sqlite_only(engine) -> None:
    if engine.db.dialect.name != "sqlite":
        pytest.skip("SQLite's single write lock; PostgreSQL writers lock rows")


def _launch(engine, n: int = 1) -> list[str]:
    return [engine.launch("violence-report", "KZ-75", SCHOOL, bullying(SCHOOL)).ref for _ in range(n)]


def test_a_fail_fast_write_gives_up_before_writing_and_leaves_the_connection_as_it_was(engine):
    _sqlite_only(engine)
    [ref] = _launch(engine)
    outside = sqlite3.connect(engine.db.url.database, isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with writes_fail_fast(), pytest.raises(WriteLockBusy):
            engine.fire(ref, "assess", SCHOOL, ASSESS["data"], expected_version=1)
        assert time.monotonic() - started < 1.0  # no 30 s busy wait
    finally:
        outside.execute("COMMIT")
        outside.close()
    assert engine.case(ref).version == 1  # nothing written
    with engine.db.connect() as conn:  # the pooled connection waits for writers again
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    assert engine.fire(ref, "assess", SCHOOL, ASSESS["data"], expected_version=1).version == 2


def _fire_in_background(url: str, token: str, ref: str) -> tuple[threading.Thread, dict]:
    answer: dict = {}

    def fire() -> None:
        answer["response"] = httpx.post(f"{url}/api/v1/cases/{ref}/fire", json=ASSESS, timeout=60,
                                        headers={"Authorization": f"Bearer {token}"})
    thread = threading.Thread(target=fire)
    thread.start()
    return thread, answer


def _read_inbox(url: str, token: str) -> float:
    started = time.monotonic()
    r = httpx.get(f"{url}/api/v1/inbox", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert r.status_code == 200, r.text
    return time.monotonic() - started


def test_a_fire_waits_for_an_outside_writer_while_reads_are_answered(engine):
    _sqlite_only(engine)
    [ref] = _launch(engine)
    token = create_token(engine.db, SCHOOL, "agency")[0]
    outside = sqlite3.connect(engine.db.url.database, isolation_level=None)
    with ServerThread(create_app(engine)) as server:
        _read_inbox(server.url, token)  # the token's once-a-minute write is done before the lock is taken
        outside.execute("BEGIN IMMEDIATE")  # e.g. a deadline sweep in another process
        try:
            thread, answer = _fire_in_background(server.url, token, ref)
            time.sleep(0.5)
            assert "response" not in answer  # the fire waits for the lock...
            assert _read_inbox(server.url, token) < 2.0  # ...and the loop still answers reads
        finally:
            outside.execute("COMMIT")
            outside.close()
        thread.join(timeout=30)
    assert answer["response"].status_code == 200, answer["response"].text
    assert answer["response"].json()["version"] == 2


def test_a_fire_waits_for_another_worker_holding_the_gate_while_reads_are_answered(engine):
    _sqlite_only(engine)
    [ref] = _launch(engine)
    token = create_token(engine.db, SCHOOL, "agency")[0]
    other_worker = SQLiteStore(engine)  # its own lock file handles: to flock, another process's store
    with ServerThread(create_app(engine)) as server:
        _read_inbox(server.url, token)
        with other_worker.writing():
            thread, answer = _fire_in_background(server.url, token, ref)
            time.sleep(0.5)
            assert "response" not in answer
            assert _read_inbox(server.url, token) < 2.0
        thread.join(timeout=30)
    assert answer["response"].status_code == 200, answer["response"].text
    assert engine.case(ref).version == 2


def test_a_waiting_process_goes_before_one_that_would_barge_in(engine):
    _sqlite_only(engine)
    holder, waiter, newcomer = WriteGate(engine), WriteGate(engine), WriteGate(engine)
    order: list[str] = []
    holder._acquire()

    def wait() -> None:
        waiter._acquire()
        order.append("waiter")
        waiter._release()
    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.3)  # the waiter is queued on the lock
    holder._release()
    thread.join(timeout=10)
    assert order == ["waiter"]
    # while a process waits, a free-looking gate is not taken by a newcomer's quick try
    holder._acquire()
    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.3)
    assert not newcomer._try_acquire()
    holder._release()
    thread.join(timeout=10)
    assert newcomer._try_acquire()
    newcomer._release()


def test_the_kept_open_read_connection_sees_every_commit_at_once_and_survives_a_broken_connection(engine):
    """On SQLite the token lookup and the inbox read on a connection the app keeps open: what other
    connections commit (a case launched outside the API, a token revoked by the CLI) shows in the
    very next request, and a connection that breaks is replaced without failing a request."""
    from states.tokens import revoke_token
    token, stored = create_token(engine.db, SCHOOL, "agency")
    app = create_app(engine)
    with ServerThread(app) as server:
        headers = {"Authorization": f"Bearer {token}"}
        before = httpx.get(f"{server.url}/api/v1/inbox", headers=headers).json()["total"]
        _launch(engine)  # another connection commits a case with a task for this school
        assert httpx.get(f"{server.url}/api/v1/inbox", headers=headers).json()["total"] == before + 1
        kept = getattr(app.state.store, "kept_connection", None)
        if engine.db.dialect.name == "sqlite":
            assert kept is not None
            kept.connection.dbapi_connection.close()  # the kept connection breaks
        r = httpx.get(f"{server.url}/api/v1/inbox", headers=headers)
        assert r.status_code == 200 and r.json()["total"] == before + 1
        assert getattr(app.state.store, "kept_connection", None) is not kept or kept is None
        revoke_token(engine.db, stored.prefix)  # as `qorgau token revoke` does, from its own connection
        r = httpx.get(f"{server.url}/api/v1/inbox", headers=headers)
        assert (r.status_code, r.json()["code"]) == (401, "unauthenticated")


def test_the_api_loads_the_holiday_tables_at_start_not_at_the_first_fire(tmp_path):
    from states.calendar import Calendar
    calendar = Calendar.load()
    engine = open_engine(f"sqlite:///{tmp_path / 'qorgau.sqlite'}", calendar=calendar)
    assert calendar._holidays is None  # nothing has asked for a deadline yet
    with ServerThread(create_app(engine)):
        assert calendar._holidays is not None  # loaded before the first request, not during a fire
    engine.db.dispose()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _is_worker(pid: int) -> bool:
    try:
        return "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads worker processes from /proc (Linux)")
def test_two_worker_processes_serve_one_port_and_write_one_at_a_time(tmp_path):
    url = f"sqlite:///{tmp_path / 'qorgau.sqlite'}"
    engine = open_engine(url)
    refs = _launch(engine, 41)
    token = create_token(engine.db, SCHOOL, "agency")[0]
    engine.db.dispose()
    port = free_port()
    env = {**os.environ, "QORGAU_DATABASE_URL": url}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "api", "--port", str(port), "--workers", "2",
                             "--log-level", "warning"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "qorgau api did not answer"
            time.sleep(0.2)
        answering = time.monotonic()  # both workers were started before this
        workers = [pid for pid in _children(proc.pid) if _is_worker(pid)]
        assert len(workers) == 2

        jobs = refs[:40] + [refs[40], refs[40]]
        barrier = threading.Barrier(len(jobs))
        answers: list = [None] * len(jobs)

        def client(i: int, ref: str) -> None:
            with httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
                barrier.wait()
                answers[i] = http.post(f"/api/v1/cases/{ref}/fire", json=ASSESS)
        threads = [threading.Thread(target=client, args=(i, ref)) for i, ref in enumerate(jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert all(r is not None and r.status_code == 200 for r in answers[:40]), \
            [r.text for r in answers[:40] if r is None or r.status_code != 200]
        pair = sorted((r.status_code, r.json().get("code")) for r in answers[40:])
        assert pair == [(200, None), (409, "conflict")], pair

        # a worker that dies (after its first seconds) is started again; the port keeps answering
        time.sleep(max(0.0, _FATAL_WITHIN + 1 - (time.monotonic() - answering)))
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            alive = [pid for pid in _children(proc.pid) if _is_worker(pid)]
            if len(alive) == 2 and workers[0] not in alive:
                break
            assert time.monotonic() < deadline, alive
            time.sleep(0.2)
        for _ in range(10):
            assert httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not [pid for pid in alive if Path(f"/proc/{pid}").exists() and _is_worker(pid)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    engine = open_engine(url)
    with engine.reader() as conn:
        report = verify_all(conn, engine.registry)
    assert report.ok and report.cases == 41, report.failures
    engine.db.dispose()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads worker processes from /proc (Linux)")
def test_workers_stop_when_their_supervisor_is_killed_outright(tmp_path):
    port = free_port()
    env = {**os.environ, "QORGAU_DATABASE_URL": f"sqlite:///{tmp_path / 'qorgau.sqlite'}"}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "api", "--port", str(port), "--workers", "2",
                             "--log-level", "warning"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(workers := [pid for pid in _children(proc.pid) if _is_worker(pid)]) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "qorgau api did not start its workers"
            time.sleep(0.2)
    finally:
        proc.kill()  # SIGKILL: the supervisor cannot pass anything on
        proc.wait()
    deadline = time.monotonic() + 30
    while running := [pid for pid in workers if Path(f"/proc/{pid}").exists() and _is_worker(pid)]:
        if time.monotonic() > deadline:
            for pid in running:
                os.kill(pid, signal.SIGKILL)
            pytest.fail(f"workers {running} kept running without their supervisor")
        time.sleep(0.2)


def test_qorgau_api_says_clearly_when_the_port_is_taken(tmp_path):
    port = free_port()
    env = {**os.environ, "QORGAU_DATABASE_URL": f"sqlite:///{tmp_path / 'qorgau.sqlite'}"}
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run([sys.executable, "-m", "app.cli", "api", "--port", str(port)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
