"""The web process never waits for the store in its event loop: while one request's reads take
seconds (PostgreSQL's `pg_sleep`, in the store), a concurrent inbox request on the same app is
answered at once, from the API and from the pages alike (app/store.py, issue 15 item 3)."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import event

from app.api import create_app
from app.api.server import ServerThread
from app.web import create_site
from states.tokens import create_token

from test_api_fixtures import bullying
from test_web import csrf_of

SLOW_SECONDS = 2.5
QUICK_SECONDS = 1.25  # an inbox takes milliseconds; half the slow read is "at once", with room for a loaded CI machine


@pytest.fixture
def pg_engine(engine):
    if engine.db.dialect.name != "postgresql":
        pytest.skip("PostgreSQL: set QORGAU_TEST_DATABASE_URL (on SQLite the loop runs writes by design)")
    return engine


@contextmanager
def slow_reads_of(engine, ref: str):
    """Every statement about case `ref` first waits `SLOW_SECONDS` in PostgreSQL (`pg_sleep`), on
    the statement's own connection: whoever runs it waits as for a slow query. `started` is set at
    the first such wait."""
    started = threading.Event()

    def before(conn, cursor, statement, parameters, context, executemany):
        if ref in str(parameters):
            started.set()
            cursor.execute(f"SELECT pg_sleep({SLOW_SECONDS})")

    event.listen(engine.db, "before_cursor_execute", before)
    try:
        yield started
    finally:
        event.remove(engine.db, "before_cursor_execute", before)


def _in_background(client: httpx.Client, path: str) -> tuple[threading.Thread, dict]:
    answer: dict = {}
    thread = threading.Thread(target=lambda: answer.setdefault("response", client.get(path)))
    thread.start()
    return thread, answer


def assert_quick_beside_slow(engine, slow: httpx.Client, slow_path: str, quick: httpx.Client, quick_path: str):
    """Start `slow_path` (a case in another region, whose reads sleep), then `quick_path` must be
    answered at once, while the slow one is still in the store."""
    elsewhere = _school(engine, "KZ-71")  # not in the inbox's body: only the slow request reads it
    other_case = engine.launch("violence-report", "KZ-71", elsewhere, bullying(elsewhere)).ref
    slow_path = slow_path.format(ref=other_case)
    assert quick.get(quick_path).status_code == 200  # warm: sessions, tokens' last use recorded
    with slow_reads_of(engine, other_case) as started:
        thread, answer = _in_background(slow, slow_path)
        assert started.wait(10), "the slow request never reached the store"
        began = time.monotonic()
        r = quick.get(quick_path)
        took = time.monotonic() - began
        assert r.status_code == 200, r.text
        assert took < QUICK_SECONDS, f"{quick_path} waited {took:.2f} s behind a slow read"
        assert "response" not in answer  # the slow request was still in the store meanwhile
        thread.join(timeout=30)
    assert answer["response"].status_code == 200, answer["response"].text


def _school(engine, region: str) -> str:
    return engine.svc.directory.schools(region)[0].id


def test_a_slow_case_read_does_not_delay_a_concurrent_inbox_in_the_api(pg_engine):
    engine = pg_engine
    school = _school(engine, "KZ-75")
    engine.launch("violence-report", "KZ-75", school, bullying(school))
    auditor = _auditor_token(engine)
    agency = create_token(engine.db, school, "agency")[0]
    with ServerThread(create_app(engine)) as server, \
            httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {auditor}"}) as slow, \
            httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {agency}"}) as quick:
        assert_quick_beside_slow(engine, slow, "/api/v1/cases/{ref}", quick, "/api/v1/inbox")


def test_a_slow_case_page_does_not_delay_a_concurrent_inbox_page(pg_engine):
    engine = pg_engine
    school = _school(engine, "KZ-75")
    engine.launch("violence-report", "KZ-75", school, bullying(school))
    with ServerThread(create_site(engine)) as server, \
            _signed_in(server.url, _auditor_token(engine)) as slow, \
            _signed_in(server.url, create_token(engine.db, school, "agency")[0]) as quick:
        assert_quick_beside_slow(engine, slow, "/cases/{ref}", quick, "/inbox")


def _auditor_token(engine) -> str:
    """An auditor reads every case, the slow one in another region too."""
    return create_token(engine.db, "kz-75.akimat", "auditor")[0]


@contextmanager
def _signed_in(url: str, secret: str):
    with httpx.Client(base_url=url, timeout=30, follow_redirects=False) as client:
        r = client.post("/login", data={"csrf": csrf_of(client.get("/login").text), "token": secret, "next": "/"})
        assert r.status_code == 303, r.text
        yield client
