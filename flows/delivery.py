"""dispatch-notifications: drain the outbox.

Claim a batch (leased to this worker), render and send each message over its body's channels,
record what happened: sent, retry later with backoff, or dead-lettered with a notice to the
region's education department. Repeat until nothing is deliverable.
"""
from __future__ import annotations

import time

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.utilities.annotations import quote

from states import outbox

from . import runtime


@task(name="claim-messages", retries=2, retry_delay_seconds=[1, 5], cache_policy=NONE)
def claim_messages(batch_size: int) -> list[outbox.Message]:
    """Lease up to `batch_size` deliverable messages to this worker."""
    s = runtime.settings()
    return outbox.claim(runtime.engine().db, runtime.worker_name(), limit=batch_size, lease=s.lease)


@task(name="send-messages", cache_policy=NONE)
def send_messages(messages: list[outbox.Message]):
    """Render and send each message; every one ends up sent or failed (never raises for one)."""
    return runtime.courier().deliver(messages, max_attempts=runtime.settings().max_attempts)


@task(name="record-outcome", retries=3, retry_delay_seconds=[1, 5, 15], cache_policy=NONE)
def record_outcome(outcome) -> dict[str, int]:
    """Mark sent messages sent; schedule failed ones for a retry or dead-letter them."""
    db = runtime.engine().db
    recorded = outbox.fail(db, runtime.worker_name(), outcome.failures, policy=runtime.settings().retry,
                           notice_to=coordinator_of_region)
    recorded.sent = outbox.mark_sent(db, outcome.sent)
    logger = get_run_logger()
    for failure in outcome.failures:
        logger.warning("message %s not delivered: %s", failure.id, failure.error)
    for key in recorded.dead_keys:
        logger.error("dead-lettered %s; the region's education department is told", key)
    return recorded.as_dict()


def coordinator_of_region(message: outbox.Message) -> str | None:
    """Who hears of a message given up on: the education department of the case's region."""
    try:
        return runtime.engine().svc.directory.region_body(message.region, "education_department").id
    except Exception:
        return None


def drain_outbox(batch_size: int | None = None, max_seconds: float | None = None) -> dict[str, int]:
    """Claim, send and record batches until nothing is deliverable (or `max_seconds` passed).
    Called by this flow and, inline, by the flows whose transitions owe messages.

    Pipelined: while one batch is being sent, the outcome of the one before is recorded and the
    next one is claimed (each batch is leased before it is sent and recorded after, as always; a
    claimed batch is always sent, the time limit only stops further claims)."""
    s = runtime.settings()
    batch_size = batch_size or s.batch_size
    deadline = time.monotonic() + (max_seconds or s.dispatch_max_seconds)
    totals = {"sent": 0, "retried": 0, "dead": 0, "notices": 0, "stale": 0}

    def record(outcome) -> None:
        for name, n in record_outcome(quote(outcome)).items():
            totals[name] += n

    outcome, batch = None, claim_messages(batch_size)
    while batch or outcome is not None:
        # quote(): Prefect passes the batch as is instead of walking every message for futures.
        sending = send_messages.submit(quote(batch)) if batch else None
        if outcome is not None:
            record(outcome)  # may queue dead-letter notices: the next claim takes them
        batch = claim_messages(batch_size) if time.monotonic() < deadline else []
        outcome = sending.result() if sending is not None else None
    get_run_logger().info("delivered %(sent)d, retry later %(retried)d, dead-lettered %(dead)d", totals)
    return totals


@flow(name="dispatch-notifications", retries=1, retry_delay_seconds=5)
async def dispatch_notifications(batch_size: int | None = None, max_seconds: float | None = None) -> dict[str, int]:
    """Drain the outbox: deliver every deliverable message, in batches, until none is left."""
    return drain_outbox(batch_size, max_seconds)
