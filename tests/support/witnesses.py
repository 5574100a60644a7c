"""Delivering the anchors' witness documents in tests, as the dispatch flow does."""
from __future__ import annotations

from sqlalchemy import update

from notifications.delivery import Courier
from states import outbox, tables as T
from states.witness import WITNESS_TEMPLATE


def deliver_witnesses(engine) -> int:
    """The witnesses' rows of the outbox drained through the real courier and channel (the cases'
    own messages are not these tests' subject: set aside as sent). Returns how many were sent."""
    with engine.db.begin() as conn:
        conn.execute(update(T.outbox).where(T.outbox.c.template != WITNESS_TEMPLATE, T.outbox.c.status == "pending")
                     .values(status="sent"))
    courier, sent = Courier(engine.registry, engine.svc.directory, threads=1), 0
    while True:
        batch = outbox.claim(engine.db, "test", limit=100)
        if not batch:
            return sent
        result = courier.deliver(batch)
        assert not result.failures, result.failures
        sent += outbox.mark_sent(engine.db, result.sent)
