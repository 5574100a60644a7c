"""anchor-heads: every QORGAU_ANCHOR_INTERVAL seconds (default 60), an anchor over every case's chain
head if anything was written since the last one, its signed document queued for the witnesses, the
RFC 3161 tokens still owed asked for (a TSA that is down delays them, never the anchor), and the
witnesses' copies delivered at once."""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from states.anchoring import anchor_now
from states.clock import iso

from . import runtime
from .delivery import drain_outbox


@task(name="take-anchor", retries=2, retry_delay_seconds=[5, 30],
      retry_condition_fn=runtime.transient_store_error, cache_policy=NONE)
def take_anchor() -> dict:
    out = anchor_now(runtime.engine())
    a = out.anchor
    return {"anchor": None if a is None else {"id": a.id, "at": iso(a.at), "root": a.root, "cases": a.cases,
                                              "changed": a.changed},
            "stamped": out.stamped, "unstamped": out.unstamped, "tsa_error": out.tsa_error}


@flow(name="anchor-heads", retries=1, retry_delay_seconds=10)
async def anchor_heads() -> dict:
    """An anchor if anything changed, its witnesses' copies, the TSA tokens still owed."""
    logger = get_run_logger()
    result = take_anchor()
    if result["anchor"] is not None:
        logger.info("anchor %(id)s: %(cases)s cases, %(changed)s changed, root %(root)s", result["anchor"])
    if result["tsa_error"]:
        logger.warning("%d anchors wait for a time-stamp: %s", result["unstamped"], result["tsa_error"])
    if result["anchor"] is not None or result["stamped"]:
        drain_outbox()
    return result
