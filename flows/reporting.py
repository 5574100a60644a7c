"""plan-reporting-cycle: after each quarter and half-year of the plan, launch the plan's reporting cases.

Decree No. 748 §2.2: every executor of the plan reports to the Ministry of Education every quarter;
§3: the Ministry sends a consolidated report to the Government Office every half-year. For the
latest ended quarter the flow launches one `plan-reporting` case per executor of the plan, and
for the latest ended half-year the Ministry's consolidated one (actor `system`) — each only while a
plan covers the period (its span), so the cycle stops after the plan's last quarter and half-year; an
executor reorganised before the quarter began is replaced by its successors (`states.reporting`:
`cycle_periods`, `reporting_executors`). A case exists once per (period, executor) — the engine refuses
a second with `conflict` — so a run after an outage, a rerun or two workers at once launch nothing
twice. It runs daily; on most days it finds every case already there.

Region of a case: the executor's region (an akimat's), or Astana (KZ-71) for a republic-level body.
"""
from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from sqlalchemy import select

from states import tables as T
from states.access import SYSTEM
from states.calendar import local_date
from states.clock import utcnow
from states.commands import Launch
from states.errors import RuleViolation
from states.handling import Handler
from states.reporting import cycle_periods, reporting_executors

from . import runtime
from .delivery import drain_outbox

ALGORITHM = "plan-reporting"
CAPITAL = "KZ-71"


@task(name="launch-period-reports", retries=2, retry_delay_seconds=[5, 30], cache_policy=NONE)
def launch_period_reports(period: str) -> dict:
    """One case per executor of `period` (quarter) or МП's consolidated case (half-year); those
    already launched are left alone, and a period outside every plan launches nothing."""
    engine = runtime.engine()
    executors = reporting_executors(period, engine.svc.catalogue, engine.svc.directory)
    with engine.reader() as conn:
        existing = set(conn.execute(select(T.cases.c.unique_key).where(
            T.cases.c.unique_key.like(f"{ALGORITHM}|period={period}|%"))).scalars())
    launched, present = [], 0
    for body in executors:
        if f"{ALGORITHM}|period={period}|executor={body.id}" in existing:
            present += 1
            continue
        try:
            out = Handler(engine).handle(Launch(ALGORITHM, body.region or CAPITAL,
                                                {"period": period, "executor": body.id}), SYSTEM)
        except RuleViolation as exc:
            if exc.code != "conflict":
                raise
            present += 1  # launched meanwhile by another run
            continue
        launched.append(out.ref)
    return {"period": period, "launched": launched, "already": present}


@flow(name="plan-reporting-cycle", retries=2, retry_delay_seconds=60)
async def plan_reporting_cycle(today: date | None = None) -> dict:
    """Launch the reporting cases of the latest ended quarter and half-year of the plan that do not exist yet."""
    logger = get_run_logger()
    results = {}
    for period in cycle_periods(today or local_date(utcnow()), runtime.engine().svc.catalogue):
        result = launch_period_reports(period)
        logger.info("%s: launched %d reporting cases, %d already there", period, len(result["launched"]),
                    result["already"])
        results[period] = result
    if any(r["launched"] for r in results.values()):
        drain_outbox()
    return results
