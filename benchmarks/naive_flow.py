"""The naive way, kept only as the anchor of benchmarks/runtime.py: one scheduled Prefect flow run
per deadline, at its due time. Not served by Qorgau.

Each run takes its own step, at the time it runs (as the sweep takes each step: same code, same
history event), then delivers what that owes — the work `sweep-deadlines` does for a whole minute
of deadlines in one run.
"""
from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NONE

from flows import runtime
from flows.delivery import drain_outbox
from states.clock import utcnow
from states.sweep import SweepReport, take_step  # the sweep's own take-one-step


@task(name="take-my-step", cache_policy=NONE)
def take_my_step(step_id: int) -> int:
    report = SweepReport()
    take_step(runtime.engine(), step_id, utcnow(), report)
    return report.processed


@flow(name="naive-deadline")
async def naive_deadline(step_id: int) -> int:
    """Take one deadline's step, then deliver its messages."""
    taken = take_my_step(step_id)
    if taken:
        drain_outbox()
    return taken
