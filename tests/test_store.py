"""The case store: created by migrations that match the table definitions; the sweep takes every
due step once, in time order, even with two sweepers at once."""
from __future__ import annotations

import threading

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from states import tables as T
from states.verify import verify_case
from states.sweep import next_due, sweep

from conftest import kz
from factories import violence_report_data

BULLYING = {"form": "bullying", "channel": "school", "summary": "repeated name-calling"}


def test_migrations_match_the_table_definitions(engine):
    with engine.db.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), T.metadata)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


def _launch_many(engine, n, now):
    refs = []
    for _ in range(n):
        school = engine.svc.directory.schools("KZ-75")[0].id
        refs.append(engine.launch("violence-report", "KZ-75", school, violence_report_data(now=now, **BULLYING),
                                  now=now).ref)
    return refs


def test_sweep_takes_due_steps_in_time_order_and_records_due_and_taken_times(engine):
    ref = _launch_many(engine, 1, kz(2026, 4, 6, 10))[0]
    report = sweep(engine, now=kz(2026, 4, 8, 12))  # a late sweep catches up
    assert report.by_kind == {"reminder": 2, "overdue": 2}
    with engine.reader() as conn:
        events = conn.execute(select(T.events).where(T.events.c.seq > 1).order_by(T.events.c.seq)).all()
        assert verify_case(conn, ref, engine.registry).ok
    dues = [e.data["due"] for e in events]
    assert dues == sorted(dues)
    assert all(e.at == kz(2026, 4, 8, 12) and e.actor == "system" for e in events)
    assert next_due(engine) == kz(2026, 4, 8, 18)  # police_check escalation next


def test_a_step_of_a_task_done_in_time_is_never_taken(engine):
    ref = _launch_many(engine, 1, kz(2026, 4, 6, 10))[0]
    case = engine.case(ref)
    engine.fire(ref, "police_check_done", case.bindings["police"], {"outcome": "no_offence"}, now=kz(2026, 4, 6, 12))
    report = sweep(engine, now=kz(2026, 4, 20, 12))
    with engine.reader() as conn:
        kinds = [r.data.get("kind") for r in conn.execute(select(T.events).where(T.events.c.actor == "system"))]
    assert "police_check" not in kinds and report.processed == kinds.__len__()


def test_two_sweepers_at_once_take_each_step_exactly_once(db_factory):
    engine = db_factory()
    refs = _launch_many(engine, 30, kz(2026, 4, 6, 10))
    with engine.reader() as conn:
        due = conn.execute(select(func.count()).select_from(T.steps).where(
            T.steps.c.status == "pending", T.steps.c.due_at <= kz(2026, 4, 20, 12))).scalar()
    barrier = threading.Barrier(2)
    reports = []

    def run():
        own = db_factory()
        barrier.wait()
        reports.append(sweep(own, now=kz(2026, 4, 20, 12), batch_size=7))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.processed for r in reports) == due
    with engine.reader() as conn:
        system_events = conn.execute(select(func.count()).select_from(T.events).where(T.events.c.actor == "system")).scalar()
        ensure = conn.execute(select(func.count()).select_from(T.tasks).where(T.tasks.c.kind == "ensure_completion")).scalar()
        keys = conn.execute(select(T.outbox.c.idempotency_key)).scalars().all()
        for ref in refs:
            assert verify_case(conn, ref, engine.registry).ok
    assert system_events == due
    assert ensure == 2 * len(refs)  # police_check and collect_information escalated once each
    assert len(keys) == len(set(keys))


def test_single_statement_reads_see_each_commit_and_leave_pooled_connections_as_they_were(engine):
    """A `single_statements` connection holds no snapshot between its statements (each sees what
    other connections committed before it), and once back in the pool it leaves the connection in
    the mode the engine set (on SQLite: no implicit transactions; SQLAlchemy's AUTOCOMMIT option
    would have switched them on when it "reset" the connection)."""
    from sqlalchemy import func, select

    from states import tables as T
    from states.db import single_statements
    count = select(func.count()).select_from(T.cases)
    with single_statements(engine.db) as reads:
        before = reads.execute(count).scalar_one()
        engine.launch("violence-report", "KZ-75", "kz-75.school-1", violence_report_data(**BULLYING))
        assert reads.execute(count).scalar_one() == before + 1
    if engine.db.dialect.name == "sqlite":
        for _ in range(engine.db.pool.size()):
            with engine.db.connect() as conn:
                assert conn.connection.driver_connection.isolation_level is None
