"""launch-case: a coordinator launches a case; returns its reference. The launch commits in one
transaction; the after-commit hook then starts delivery of its messages.

Retries: only the launch task retries, and only when the store was unreachable (nothing written).
A flow-level retry could launch the same case twice, so there is none."""
from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from states.access import operator
from states.commands import Launch
from states.handling import Handler

from . import kick, runtime


@task(name="open-case", retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=runtime.transient_store_error,
      cache_policy=NONE)
def open_case(algorithm: str, region: str, actor: str, data: dict[str, Any]) -> dict:
    """Launch the case (one transaction: case, bindings, tasks, steps, first event, messages)."""
    engine = runtime.engine()
    out = Handler(engine).handle(Launch(algorithm, region, data), operator(engine.svc.directory.get(actor)))
    return {"ref": out.ref, "state": out.state, "spawned": list(out.spawned)}


@flow(name="launch-case")
async def launch_case(algorithm: str, region: str, actor: str, data: dict[str, Any] | None = None) -> str:
    """Launch a case of `algorithm` in `region` as body `actor` with launch `data`; its reference."""
    case = open_case(algorithm, region, actor, data or {})
    get_run_logger().info("launched %s (%s) in state %s", case["ref"], algorithm, case["state"])
    kick.kicker().flush(10)  # this process ends with the run: hand its delivery kick over first
    return case["ref"]
