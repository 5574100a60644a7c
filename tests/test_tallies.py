"""The month tallies (states/tallies.py): the counts each event keeps equal a rebuild from the rows
and histories, and the compliance report and the map read from them give exactly what the scans
give, for every window the tallies may answer; windows they may not answer are scanned."""
from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

from states import tables as T
from states import tally_reads
from states.calendar import KZ_TZ
from states.compliance import compliance_summary
from states.indicators import WINDOW_INDICATORS, overdue_tasks, overdue_tasks_scan, region_figures
from states.simulation import run_scenario
from states.tallies import COLUMNS, _upsert, add_at_commit, apply, rebuild

SCENARIOS = sorted((Path(__file__).parent / "scenarios").rglob("*.yaml"))


@pytest.fixture
def populated(db_factory):
    """Every scenario file run into one store: launches, fires, ladder steps, transfers, spawns,
    migrations to version 2, plan reports; the expectations of each file are not the point here."""
    for path in SCENARIOS:
        run_scenario(path, db_factory)
    engine = db_factory()
    with engine.reader() as conn:
        first, latest = conn.execute(select(func.min(T.events.c.at), func.max(T.events.c.at))).one()
    assert conn is not None and latest is not None
    return engine, first.astimezone(KZ_TZ), latest


def _tally_rows(conn) -> dict:
    return {tuple(r[:8]): tuple(r[8:]) for r in conn.execute(select(T.tallies)) if any(r[8:])}


def _month_starts(first: datetime, latest: datetime) -> list[datetime]:
    out, at = [], first.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while at <= latest + timedelta(days=40):
        out.append(at)
        at = (at + timedelta(days=32)).replace(day=1)
    return out


@pytest.fixture
def scan_only(monkeypatch):
    """Make every reader scan, as before the tallies."""
    def use_scans():
        monkeypatch.setattr(tally_reads, "months_for", lambda *a, **k: None)
    return use_scans


def test_the_counts_kept_by_each_event_equal_a_rebuild_from_the_histories(populated):
    engine, _, _ = populated
    with engine.db.begin() as conn:
        kept = _tally_rows(conn)
        shares = dict(conn.execute(select(T.cases.c.id, T.cases.c.tallied)).all())
        assert len(kept) > 100 and all(shares.values())
        conn.execute(update(T.cases).values(tallied=None))
        cases = rebuild(conn)
        assert cases == len(shares)
        assert _tally_rows(conn) == kept
        rebuilt = dict(conn.execute(select(T.cases.c.id, T.cases.c.tallied)).all())
    assert {k: sorted(map(str, v["k"])) for k, v in rebuilt.items()} == \
        {k: sorted(map(str, v["k"])) for k, v in shares.items()}
    figures = {k[0] for k in kept}
    assert figures == {"tasks", "delay", "reaction", "person", "launch", "repeat", "spread", "open"}, figures


def test_the_compliance_report_from_the_tallies_is_the_scans_report(populated, scan_only):
    engine, first, latest = populated
    directory = engine.svc.directory
    months = _month_starts(first, latest)
    now = latest + timedelta(hours=1)
    windows = [(months[0], months[-1])] + list(zip(months, months[1:]))[:6] + [(months[0], months[3])]
    regions = [None] + sorted(directory.regions)[:4]
    with engine.reader() as conn:
        assert all(tally_reads.months_for(conn, s, e, now) for s, e in windows)
        fast = {(s, e, r, by): compliance_summary(conn, directory, region=r, start=s, end=e, now=now, by=by)
                for s, e in windows for r in regions for by in ("body", "body_type")}
    scan_only()
    with engine.reader() as conn:
        for (s, e, r, by), summary in fast.items():
            assert summary == compliance_summary(conn, directory, region=r, start=s, end=e, now=now, by=by), (s, e, r, by)
    whole = fast[(windows[0][0], windows[0][1], None, "body")]
    assert whole.rows and whole.versions and whole.persons and whole.late
    assert any(r.done_late and r.median_delay_h for r in whole.rows)
    assert any(r.still_overdue for r in whole.rows) and any(sum(r.escalations.values()) for r in whole.rows)


def test_a_delay_no_task_holds_any_more_is_neither_a_median_nor_the_worst(populated, scan_only):
    """A transfer moves a late task's delay to its new body and leaves the old body's row at zero: the
    report reads only what is counted (it once took a zero row's value as the worst delay)."""
    engine, first, latest = populated
    directory = engine.svc.directory
    start, end, now = _month_starts(first, latest)[0], latest + timedelta(days=40), latest + timedelta(hours=1)
    with engine.db.begin() as conn:
        row = conn.execute(select(T.tallies).where(T.tallies.c.figure == "delay", T.tallies.c.n1 > 0).limit(1)).one()
        conn.execute(insert(T.tallies).values({**row._mapping, "detail": "99999999", "n1": 0}))
    with engine.reader() as conn:
        assert tally_reads.months_for(conn, start, end, now)
        fast = compliance_summary(conn, directory, region=None, start=start, end=end, now=now)
    scan_only()
    with engine.reader() as conn:
        assert fast == compliance_summary(conn, directory, region=None, start=start, end=end, now=now)
    assert any(r.worst_delay_h for r in fast.rows) and all(r.worst_delay_h != 999999.99 for r in fast.rows)


def test_the_maps_window_indicators_from_the_tallies_are_the_scans(populated, scan_only):
    engine, first, latest = populated
    months = _month_starts(first, latest)
    windows = [(months[0], months[-1]), (months[1], months[4]), (months[0], latest + timedelta(days=3))]
    body_types = sorted({b.type for b in engine.svc.directory.bodies() if b.region is not None})
    asked = [(ind, s, e, bt) for ind in WINDOW_INDICATORS for s, e in windows
             for bt in (body_types if ind == "median_reaction" else [None])]
    with engine.reader() as conn:
        assert all(tally_reads.months_for(conn, s, e) for _, s, e, _ in asked)
        fast = {a: region_figures(conn, engine.registry, engine.svc.directory, a[0], now=latest, start=a[1],
                                  end=a[2], body_type=a[3]) for a in asked}
    scan_only()
    with engine.reader() as conn:
        for a, figures in fast.items():
            assert figures == region_figures(conn, engine.registry, engine.svc.directory, a[0], now=latest,
                                             start=a[1], end=a[2], body_type=a[3]), a
    assert all(fast[(ind, months[0], months[-1], None)] for ind in ("new_cases", "suicide_attempts", "reported_late"))
    assert any(fast[("median_reaction", months[0], months[-1], bt)] for bt in body_types)


def test_overdue_tasks_from_the_tallies_are_the_scans_at_any_moment(populated):
    engine, first, latest = populated
    directory = engine.svc.directory
    moments = [first + timedelta(days=d, hours=h) for d in (3, 40, 95, 400) for h in (0, 13)] + [latest, latest + timedelta(days=60)]
    algorithms = [None] + sorted({d.id for d in engine.registry})
    with engine.reader() as conn:
        for now in moments:
            for alg in algorithms:
                assert overdue_tasks(conn, directory, now=now, algorithm=alg) == \
                    overdue_tasks_scan(conn, directory, now=now, algorithm=alg), (now, alg)
        assert overdue_tasks(conn, directory, now=latest + timedelta(days=60))


def test_windows_the_tallies_cannot_answer_are_scanned(populated):
    engine, first, latest = populated
    month = first.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    after = _month_starts(first, latest)[-1]  # a month start after the latest event
    with engine.reader() as conn:
        assert tally_reads.months_for(conn, month, after, latest) is not None
        assert tally_reads.months_for(conn, month + timedelta(days=1), after, latest) is None
        # ends inside a month before the latest event: what happened after the end would count
        assert tally_reads.months_for(conn, month, latest - timedelta(days=1, minutes=7), latest) is None
        # a past `now`: the counts are of the store as it is now
        assert tally_reads.months_for(conn, month, after, latest - timedelta(seconds=1)) is None
        # ending after the latest event: nothing was opened after it, the month's end answers
        assert tally_reads.months_for(conn, month, latest + timedelta(seconds=1), latest) is not None


def test_a_transactions_counts_are_added_at_its_commit_and_not_after_a_rollback(engine):
    def key(name):
        return ("launch", "2026-04", "KZ-75", "violence-report", 2, name, "", "")

    def counted():
        with engine.reader() as conn:
            return {r.body_id: r.n1 for r in conn.execute(select(T.tallies).where(T.tallies.c.figure == "launch"))}

    with engine.db.begin() as conn:
        add_at_commit(conn, {key("kept"): [1] + [0] * 7})
        inner = conn.begin_nested()
        add_at_commit(conn, {key("savepoint rolled back"): [1] + [0] * 7})
        inner.rollback()
        inner = conn.begin_nested()
        add_at_commit(conn, {key("kept"): [2] + [0] * 7, key("savepoint released"): [1] + [0] * 7})
        inner.commit()
        assert counted() == {}  # nothing before the commit
    assert counted() == {"kept": 3, "savepoint released": 1}
    with pytest.raises(RuntimeError):
        with engine.db.begin() as conn:
            add_at_commit(conn, {key("rolled back"): [1] + [0] * 7})
            raise RuntimeError("the change failed")
    with engine.db.begin() as conn:  # the pooled connection does not carry the rolled-back deltas on
        add_at_commit(conn, {key("kept"): [1] + [0] * 7})
    assert counted() == {"kept": 4, "savepoint released": 1}


def _python_calls(call) -> int:
    calls = [0]

    def count(frame, event, arg):
        if event in ("call", "c_call"):
            calls[0] += 1
    sys.setprofile(count)
    try:
        call()
    finally:
        sys.setprofile(None)
    return calls[0]


def test_the_tallies_upsert_run_as_the_drivers_statement_still_saves_work(engine):
    """`tallies._upsert_text`: every commit adds its deltas with the upsert compiled once and run as
    the driver's statement, because SQLAlchemy's handling of the construct cost a fire enough to take
    the engine benchmark under its target (docs/performance.md, "Engine"). Counted in Python calls (the
    same whatever the machine's load): if SQLAlchemy ever ran the construct about as cheaply, run
    the construct and remove the shortcut. Both ways add the same."""
    deltas = {("tasks", "2025-01", "KZ-10", "violence-report", 2, f"kz-10.school-{i}", "collect_information", ""):
              [1, i, 0, 0, 0, 0, 0, 0] for i in range(5)}
    with engine.db.connect() as conn:
        def construct():
            conn.execute(_upsert(conn.dialect.name), [dict(zip(COLUMNS, (*k, *v))) for k, v in sorted(deltas.items())])
        construct(), apply(conn, deltas)  # compiled and cached, both
        by_construct, by_driver = _python_calls(construct), _python_calls(lambda: apply(conn, deltas))
        rows = conn.execute(select(T.tallies.c.body_id, T.tallies.c.n1, T.tallies.c.n2)).all()
        conn.rollback()
    assert sorted(rows) == [(f"kz-10.school-{i}", 4, 4 * i) for i in range(5)]
    assert by_construct >= 3 * by_driver, (by_construct, by_driver)
