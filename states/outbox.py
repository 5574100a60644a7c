"""The outbox: messages a committed transition owes, and their delivery bookkeeping.

The engine writes one `pending` row per (event, template, body, task) in the transaction of the
event itself. Delivery workers, on any number of machines, then:

1. `claim` a batch: each row is leased to one worker (`lease_owner`, `lease_until`) and its
   `attempts` counted, in one short transaction. On PostgreSQL the candidate rows are locked with
   `FOR UPDATE SKIP LOCKED`, so two workers never claim the same row; on SQLite the writer lock
   taken at `BEGIN IMMEDIATE` serialises claimers. A row leased to a worker that died becomes
   claimable again when its lease runs out.
2. send it, always with its `idempotency_key` (Message-ID of a mail, header of a webhook);
3. `record` the outcome: `mark_sent`, or `fail` (retry later with exponential backoff, or, after
   `max_attempts` or on a permanent error, `dead` with a notice to a coordinator).

So a message recorded as `sent` is never claimed again, and a crash between sending and recording
sends it again with the same key: at least once, deduplicable by the receiver.

Plain SQLAlchemy Core: no Prefect here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import Engine as DbEngine, func, insert, or_, select, update

from . import tables as T
from .clock import as_utc, iso, utcnow
from .db import reading

OUTBOX = T.outbox

# The template of the notice a coordinator gets when a message was given up on. It is not one of
# the spec's case templates; notifications/dead_letter.py renders it.
DEAD_LETTER_TEMPLATE = "delivery_failed"
ERROR_TEXT_LIMIT = 2000


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed message again: `base` × 2^(attempt-1), at most `cap`; after
    `max_attempts` attempts the message is dead-lettered."""
    max_attempts: int = 8
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)

    def delay(self, attempt: int) -> timedelta:
        return min(self.cap, self.base * (2 ** max(0, attempt - 1)))


@dataclass(frozen=True)
class Message:
    """One claimed outbox row, with the reference and region of its case (None for an anchor's
    witness document, which belongs to no case)."""
    id: int
    case_id: int | None
    case_ref: str | None
    region: str | None
    event_seq: int | None
    template: str
    body_id: str
    task_key: str | None
    context: dict[str, Any]
    idempotency_key: str
    attempts: int  # including the attempt this claim is for
    created_at: datetime
    lease_owner: str
    lease_until: datetime


@dataclass(frozen=True)
class Failure:
    """A message that could not be delivered. `permanent`: trying again cannot help (the message
    cannot be rendered, its body is unknown, a channel URL is malformed)."""
    id: int
    error: str
    permanent: bool = False


@dataclass
class Recorded:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    notices: int = 0
    stale: int = 0  # outcomes for rows no longer leased to this worker (another worker took over)
    dead_keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "retried": self.retried, "dead": self.dead, "notices": self.notices,
                "stale": self.stale}


def _claimable(now: datetime):
    c = OUTBOX.c
    return (c.status == "pending",
            or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now),
            or_(c.lease_until.is_(None), c.lease_until < now))


def claim(db: DbEngine, owner: str, *, limit: int = 100, lease: timedelta = timedelta(minutes=5),
          now: datetime | None = None) -> list[Message]:
    """Lease up to `limit` deliverable messages to `owner`, oldest first, counting the attempt."""
    now = as_utc(now or utcnow())
    until = now + lease
    c = OUTBOX.c
    with db.begin() as conn:
        q = select(c.id).where(*_claimable(now)).order_by(c.created_at, c.id).limit(limit)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        ids = list(conn.execute(q).scalars())
        if not ids:
            return []
        conn.execute(update(OUTBOX).where(c.id.in_(ids), c.status == "pending")
                     .values(lease_owner=owner, lease_until=until, attempts=c.attempts + 1))
        rows = conn.execute(
            select(OUTBOX, T.cases.c.ref.label("case_ref"), T.cases.c.region.label("case_region"))
            .outerjoin(T.cases, T.cases.c.id == c.case_id).where(c.id.in_(ids)).order_by(c.created_at, c.id)).all()
    return [_message(r) for r in rows]


def _message(r) -> Message:
    m = r._mapping
    return Message(id=m["id"], case_id=m["case_id"], case_ref=m["case_ref"], region=m["case_region"],
                   event_seq=m["event_seq"], template=m["template"], body_id=m["body_id"], task_key=m["task_key"],
                   context=dict(m["context"] or {}), idempotency_key=m["idempotency_key"], attempts=m["attempts"],
                   created_at=m["created_at"], lease_owner=m["lease_owner"], lease_until=m["lease_until"])


def mark_sent(db: DbEngine, ids: Iterable[int], *, now: datetime | None = None) -> int:
    """Record messages as sent (whoever holds the lease now: it was sent). Never sent again."""
    ids = list(ids)
    if not ids:
        return 0
    now = as_utc(now or utcnow())
    c = OUTBOX.c
    with db.begin() as conn:
        return conn.execute(update(OUTBOX).where(c.id.in_(ids), c.status == "pending").values(
            status="sent", sent_at=now, lease_owner=None, lease_until=None, last_error=None)).rowcount


def fail(db: DbEngine, owner: str, failures: Sequence[Failure], *, policy: RetryPolicy = RetryPolicy(),
         notice_to: Callable[[Message], str | None] | None = None, now: datetime | None = None) -> Recorded:
    """Record failed deliveries: retry later with backoff, or dead-letter (after the last attempt or
    on a permanent error) and queue a notice to the body `notice_to(message)` names."""
    out = Recorded()
    if not failures:
        return out
    now = as_utc(now or utcnow())
    c = OUTBOX.c
    by_id = {f.id: f for f in failures}
    with db.begin() as conn:
        q = (select(OUTBOX, T.cases.c.ref.label("case_ref"), T.cases.c.region.label("case_region"))
             .outerjoin(T.cases, T.cases.c.id == c.case_id).where(c.id.in_(list(by_id))))
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(of=OUTBOX)
        for row in conn.execute(q).all():
            msg = _message(row)
            failure = by_id[msg.id]
            if row.status != "pending" or row.lease_owner != owner:
                out.stale += 1  # sent meanwhile, or re-leased to another worker after our lease ran out
                continue
            error = failure.error[:ERROR_TEXT_LIMIT]
            if failure.permanent or msg.attempts >= policy.max_attempts:
                _dead_letter(conn, msg, error, notice_to, now, out)
            else:
                conn.execute(update(OUTBOX).where(c.id == msg.id).values(
                    next_attempt_at=now + policy.delay(msg.attempts), last_error=error,
                    lease_owner=None, lease_until=None))
                out.retried += 1
    return out


def _dead_letter(conn, msg: Message, error: str, notice_to, now: datetime, out: Recorded) -> None:
    c = OUTBOX.c
    conn.execute(update(OUTBOX).where(c.id == msg.id).values(
        status="dead", last_error=error, lease_owner=None, lease_until=None, next_attempt_at=None))
    out.dead += 1
    out.dead_keys.append(msg.idempotency_key)
    if msg.template == DEAD_LETTER_TEMPLATE or notice_to is None:
        return  # a notice about a notice would only fail the same way
    recipient = notice_to(msg)
    if recipient is None:
        return
    key = f"dead/{msg.idempotency_key}"[:200]
    if conn.execute(select(c.id).where(c.idempotency_key == key)).first() is not None:
        return
    conn.execute(insert(OUTBOX).values(
        case_id=msg.case_id, event_seq=msg.event_seq, template=DEAD_LETTER_TEMPLATE, body_id=recipient,
        task_key=msg.task_key, idempotency_key=key, status="pending", attempts=0, created_at=now,
        context={**_safe_context(msg.context), "failed": {
            "key": msg.idempotency_key, "template": msg.template, "to": msg.body_id, "attempts": msg.attempts,
            "error": error[:500], "at": iso(now)}}))
    out.notices += 1


def _safe_context(context: dict[str, Any]) -> dict[str, Any]:
    """The original message's stored context (references only, as the engine wrote it)."""
    return {k: context[k] for k in ("case", "algorithm", "version", "state", "region", "task", "trigger",
                                    "outcome", "period", "from_region", "to_region") if k in context}


def counts(db: DbEngine) -> dict[str, int]:
    """How many messages are pending, sent and dead."""
    with reading(db) as conn:
        rows = conn.execute(select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status)).all()
    return {"pending": 0, "sent": 0, "dead": 0, **{status: n for status, n in rows}}


def deliverable(db: DbEngine, now: datetime | None = None) -> int:
    """Messages that a claim at `now` could take."""
    now = as_utc(now or utcnow())
    with reading(db) as conn:
        return conn.execute(select(func.count()).select_from(OUTBOX).where(*_claimable(now))).scalar_one()
