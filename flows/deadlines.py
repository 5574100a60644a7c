"""sweep-deadlines: take every escalation step and state timer due by now, then deliver what they
owe. Scheduled every 30 s; a run that starts late (after an outage) takes every step it missed,
each recorded with the time it was due and the time it was taken. Safe on many workers at once:
the engine takes each step once (row locks on PostgreSQL, the writer lock on SQLite).
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from states.sweep import sweep

from . import runtime
from .delivery import drain_outbox


@task(name="take-due-steps", retries=2, retry_delay_seconds=[1, 5], cache_policy=NONE)
def take_due_steps(batch_size: int) -> dict:
    """Take each pending step due by now, once, in time order."""
    report = sweep(runtime.engine(), batch_size=batch_size)
    if report.failed:
        get_run_logger().error("steps %s failed and stay pending (the next sweep tries again)", report.failed)
    return {"processed": report.processed, "by_kind": report.by_kind, "failed": len(report.failed)}


@flow(name="sweep-deadlines", retries=2, retry_delay_seconds=10)
async def sweep_deadlines(batch_size: int = 500) -> dict:
    """Take every step due by now; if any was taken, deliver its messages straight away."""
    taken = take_due_steps(batch_size)
    get_run_logger().info("took %d due steps %s", taken["processed"], taken["by_kind"])
    if taken["processed"]:
        taken["delivery"] = drain_outbox()
    return taken
