"""The outbox's delivery bookkeeping (states/outbox.py, no Prefect): leases, sent-once, retries
with backoff, dead letters with a notice to the region's education department."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select, update

from states import outbox
from states import tables as T
from states.outbox import Failure, RetryPolicy

from conftest import kz
from factories import violence_report_data

T0 = kz(2026, 4, 6, 10)


def launch(engine, n: int = 1) -> list[str]:
    school = engine.svc.directory.schools("KZ-75")[0]
    return [engine.launch("violence-report", "KZ-75", school.id,
                          violence_report_data(now=T0, summary="synthetic"), now=T0).ref
            for _ in range(n)]


def rows(engine):
    with engine.reader() as conn:
        return {r.id: r for r in conn.execute(select(T.outbox))}


def to_education_department(engine):
    return lambda m: engine.svc.directory.region_body(m.region, "education_department").id


def test_a_claim_leases_messages_to_one_worker_and_counts_the_attempt(engine):
    launch(engine)
    pending = rows(engine)
    first = outbox.claim(engine.db, "w1", limit=3, now=T0)
    assert len(first) == 3 and all(m.attempts == 1 and m.lease_owner == "w1" for m in first)
    assert first[0].case_ref.startswith("VR-75-") and first[0].region == "KZ-75"
    rest = outbox.claim(engine.db, "w2", limit=100, now=T0)
    assert {m.id for m in first}.isdisjoint({m.id for m in rest})
    assert {m.id for m in first} | {m.id for m in rest} == set(pending)
    assert outbox.claim(engine.db, "w3", now=T0) == []  # all leased


def test_a_message_recorded_as_sent_is_never_claimed_again(engine):
    launch(engine)
    claimed = outbox.claim(engine.db, "w1", now=T0)
    assert outbox.mark_sent(engine.db, [m.id for m in claimed], now=T0) == len(claimed)
    later = T0 + timedelta(days=30)  # long after every lease ran out
    assert outbox.claim(engine.db, "w2", now=later) == []
    assert outbox.mark_sent(engine.db, [m.id for m in claimed], now=later) == 0
    assert outbox.counts(engine.db) == {"pending": 0, "sent": len(claimed), "dead": 0}


def test_a_lease_that_runs_out_gives_the_message_back_with_the_same_key(engine):
    """A worker that crashed between sending and recording: the message goes out again, same key."""
    launch(engine)
    crashed = outbox.claim(engine.db, "crashed", limit=1, lease=timedelta(minutes=5), now=T0)[0]
    assert outbox.claim(engine.db, "w2", limit=100, now=T0 + timedelta(minutes=4)) != []  # others, not it
    again = [m for m in outbox.claim(engine.db, "w2", limit=100, now=T0 + timedelta(minutes=6)) if m.id == crashed.id]
    assert again and again[0].idempotency_key == crashed.idempotency_key and again[0].attempts == 2


def test_failures_retry_with_exponential_backoff_then_dead_letter_with_a_notice(engine):
    launch(engine)
    policy = RetryPolicy(max_attempts=3, base=timedelta(seconds=30), cap=timedelta(hours=1))
    msg = next(m for m in outbox.claim(engine.db, "w1", limit=100, now=T0) if m.body_id == "kz-75.police")
    others = [m.id for m in outbox.claim(engine.db, "w1", now=T0)]
    now, delays = T0, []
    for attempt in (1, 2):
        out = outbox.fail(engine.db, "w1", [Failure(msg.id, f"503 from the webhook ({attempt})")], policy=policy,
                          notice_to=to_education_department(engine), now=now)
        assert out.retried == 1
        row = rows(engine)[msg.id]
        delays.append((row.next_attempt_at - now).total_seconds())
        assert row.status == "pending" and row.lease_owner is None and "503" in row.last_error
        assert outbox.claim(engine.db, "w1", now=row.next_attempt_at - timedelta(seconds=1)) == []  # not yet
        now = row.next_attempt_at
        msg = outbox.claim(engine.db, "w1", now=now)[0]
        assert msg.attempts == attempt + 1
    assert delays == [30.0, 60.0]
    out = outbox.fail(engine.db, "w1", [Failure(msg.id, "503 again")], policy=policy,
                      notice_to=to_education_department(engine), now=now)
    assert (out.dead, out.notices, out.dead_keys) == (1, 1, [msg.idempotency_key])
    dead = rows(engine)[msg.id]
    assert dead.status == "dead" and dead.attempts == 3
    notice = [r for r in rows(engine).values() if r.template == outbox.DEAD_LETTER_TEMPLATE]
    assert len(notice) == 1 and notice[0].body_id == "kz-75.education_department"
    assert notice[0].idempotency_key == f"dead/{msg.idempotency_key}" and notice[0].status == "pending"
    failed = notice[0].context["failed"]
    assert failed["to"] == "kz-75.police" and failed["attempts"] == 3 and "503 again" in failed["error"]
    assert notice[0].context["case"] == msg.case_ref and "summary" not in notice[0].context
    assert not set(others) & {notice[0].id}


def test_a_permanent_error_dead_letters_at_once_and_a_failed_notice_raises_no_other(engine):
    launch(engine)
    msg = outbox.claim(engine.db, "w1", limit=1, now=T0)[0]
    out = outbox.fail(engine.db, "w1", [Failure(msg.id, "cannot render", permanent=True)],
                      notice_to=to_education_department(engine), now=T0)
    assert (out.dead, out.notices) == (1, 1)
    notice = next(m for m in outbox.claim(engine.db, "w1", limit=100, now=T0) if m.template == outbox.DEAD_LETTER_TEMPLATE)
    out = outbox.fail(engine.db, "w1", [Failure(notice.id, "the department's mail is down", permanent=True)],
                      notice_to=to_education_department(engine), now=T0)
    assert (out.dead, out.notices) == (1, 0)


def test_an_outcome_from_a_worker_whose_lease_was_taken_over_is_ignored(engine):
    launch(engine)
    msg = outbox.claim(engine.db, "slow", limit=1, lease=timedelta(seconds=10), now=T0)[0]
    later = T0 + timedelta(seconds=11)
    taken = [m for m in outbox.claim(engine.db, "fast", limit=100, now=later) if m.id == msg.id]
    assert taken
    out = outbox.fail(engine.db, "slow", [Failure(msg.id, "timeout")], now=later)
    assert out.stale == 1 and rows(engine)[msg.id].lease_owner == "fast"
    assert outbox.mark_sent(engine.db, [msg.id], now=later) == 1  # but a send is a send, whoever recorded it


def test_backoff_is_capped():
    policy = RetryPolicy(max_attempts=20, base=timedelta(seconds=30), cap=timedelta(hours=1))
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3, 8, 12)] == [30, 60, 120, 3600, 3600]


def test_concurrent_claimers_never_share_a_message(engine):
    """Eight workers claim at once, in small batches, until nothing is left: each message once."""
    launch(engine, 20)
    total = len(rows(engine))
    got: dict[str, list[int]] = {}
    errors = []

    def worker(name: str) -> None:
        mine = got.setdefault(name, [])
        try:
            while True:
                batch = outbox.claim(engine.db, name, limit=7, now=T0)
                if not batch:
                    return
                mine.extend(m.id for m in batch)
                outbox.mark_sent(engine.db, [m.id for m in batch], now=T0)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    claimed = [i for ids in got.values() for i in ids]
    assert len(claimed) == len(set(claimed)) == total
    assert outbox.counts(engine.db)["sent"] == total


def test_deliverable_counts_what_a_claim_could_take(engine):
    launch(engine)
    n = outbox.deliverable(engine.db, T0)
    outbox.claim(engine.db, "w1", limit=2, now=T0)
    assert outbox.deliverable(engine.db, T0) == n - 2
    with engine.db.begin() as conn:
        conn.execute(update(T.outbox).values(next_attempt_at=T0 + timedelta(hours=1)))
    assert outbox.deliverable(engine.db, T0) == 0


def test_claim_is_oldest_first(engine):
    launch(engine, 2)
    claimed = outbox.claim(engine.db, "w1", limit=100, now=T0)
    assert [m.id for m in claimed] == sorted(m.id for m in claimed)
