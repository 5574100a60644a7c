"""The Prefect runtime: flows that make what transitions decide happen on time.

| flow | does | schedule (deployments/) |
|---|---|---|
| `launch-case` | a coordinator launches a case; returns its reference | on demand |
| `sweep-deadlines` | takes every escalation step and timer due by now, then delivers | every 30 s |
| `dispatch-notifications` | drains the outbox over each body's channels, retries, dead-letters | after each commit; every 60 s |
| `plan-reporting-cycle` | launches the plan's reporting cases after each quarter and half-year | daily 01:00 Astana |
| `anchor-heads` | an anchor over every chain head if anything was written, to the witnesses, time-stamped | every 60 s (QORGAU_ANCHOR_INTERVAL) |
| `verify-histories` | verify --all, then a new anchor | nightly 03:00 Astana |

The engine (states/) knows nothing of Prefect; these flows call it. Each task does one idempotent
thing, and every flow re-checks the store before acting, so late or repeated runs are harmless.
"""
from .anchoring import anchor_heads
from .cases import launch_case
from .deadlines import sweep_deadlines
from .delivery import dispatch_notifications
from .reporting import plan_reporting_cycle
from .verification import verify_histories

__all__ = ["anchor_heads", "launch_case", "sweep_deadlines", "dispatch_notifications", "plan_reporting_cycle", "verify_histories"]
