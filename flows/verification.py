"""verify-histories: nightly, verify every case's history (hash chain, legality, store = replay,
steps taken on time, earlier anchors) and, if all holds, record a new anchor. A failed verification
fails the run and records no anchor: an anchor must never bless a tampered store."""
from __future__ import annotations

import os

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from states.anchoring import anchor_now
from states.verify import verify_all

from . import runtime


class HistoriesDoNotVerify(Exception):
    pass


@task(name="verify-all", retries=2, retry_delay_seconds=[30, 120],
      retry_condition_fn=runtime.transient_store_error, cache_policy=NONE)
def verify_every_history() -> dict:
    engine = runtime.engine()
    with engine.reader() as conn:
        # One process by default: forking a flow run's process (with Prefect's threads) is not worth
        # the risk for a nightly job; QORGAU_VERIFY_WORKERS=N checks ranges of cases in N processes.
        report = verify_all(conn, engine.registry, workers=int(os.environ.get("QORGAU_VERIFY_WORKERS") or 1))
    return {"cases": report.cases, "events": report.events, "ok": report.ok,
            "failures": [f"{f.ref}: {f.first_divergence}" for f in report.failures[:20]],
            "failed_cases": len(report.failures), "anchor_problems": report.anchor_problems[:20]}


@task(name="make-anchor", retries=2, retry_delay_seconds=[5, 30], cache_policy=NONE)
def record_anchor() -> dict:
    anchor = anchor_now(runtime.engine(), force=True).anchor  # as the witnesses' copies, like every anchor
    return {"id": anchor.id, "root": anchor.root, "cases": anchor.cases, "line": anchor.line()}


# No flow-level retries: a history that does not verify is a finding, not a glitch; the tasks
# retry when the store was unreachable.
@flow(name="verify-histories")
async def verify_histories() -> dict:
    """verify --all, then a new anchor."""
    logger = get_run_logger()
    report = verify_every_history()
    if not report["ok"]:
        for line in report["failures"] + report["anchor_problems"]:
            logger.error(line)
        raise HistoriesDoNotVerify(f"{report['failed_cases']} of {report['cases']} cases do not verify; "
                                   f"{len(report['anchor_problems'])} anchor problems; no anchor recorded")
    logger.info("%d cases, %d events verify", report["cases"], report["events"])
    anchor = record_anchor()
    logger.info(anchor["line"])
    return {**report, "anchor": anchor}
