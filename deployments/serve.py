"""Every deployment of Qorgau, served from one process.

`runner_deployments()` declares them (the same names and schedules as deployments/prefect.yaml,
which is for process work pools in production); `serve_all()` runs them with a Prefect runner
that polls every 2 s, so a delivery kick is picked up within seconds.

`python -m deployments.serve` is one worker of a scale-out: run it on any number of machines
against one Prefect server and one PostgreSQL case store (docs/deploy.md). Each flow run is a
process of its own; leases and row locks in the store make every step, task and message happen once.
"""
from __future__ import annotations

import argparse
import os

DEPLOYMENT = "qorgau"
TIMEZONE = "Asia/Almaty"  # Kazakhstan time, UTC+05:00 since 1 March 2024
PLAN_CYCLE_CRON = "0 1 * * *"   # daily 01:00: launches reporting cases once a quarter / half-year ends
VERIFY_CRON = "0 3 * * *"       # nightly 03:00: verify --all and a new anchor
POLL_SECONDS = 2.0


def runner_deployments(sweep_interval: float | None = None, dispatch_interval: float | None = None) -> list:
    """The deployments with their schedules (intervals default to the runtime settings)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron, Interval

    from flows import runtime
    from flows.anchoring import anchor_heads
    from flows.cases import launch_case
    from flows.deadlines import sweep_deadlines
    from flows.delivery import dispatch_notifications
    from flows.reporting import plan_reporting_cycle
    from flows.verification import verify_histories

    from states.anchoring import anchor_interval

    s = runtime.settings()
    tags = ["qorgau"]

    def at_most(n: int):
        # After an outage every Late run would start at once; one sweep (or delivery) takes all
        # that was missed, so runs beyond the limit are cancelled instead of queued.
        return ConcurrencyLimitConfig(limit=n, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)

    return [
        sweep_deadlines.to_deployment(
            DEPLOYMENT, schedule=Interval(sweep_interval or s.sweep_interval), paused=False, tags=tags,
            concurrency_limit=at_most(s.sweep_concurrency),
            description="Take every escalation step and timer due by now, then deliver their messages."),
        dispatch_notifications.to_deployment(
            DEPLOYMENT, schedule=Interval(dispatch_interval or s.dispatch_interval), paused=False, tags=tags,
            concurrency_limit=at_most(s.dispatch_concurrency),
            description="Drain the outbox (also started right after each commit; this schedule is the safety net)."),
        anchor_heads.to_deployment(
            DEPLOYMENT, schedule=Interval(anchor_interval()), paused=False, tags=tags, concurrency_limit=at_most(1),
            description="An anchor over every chain head each minute in which anything was written, sent to the "
                        "witnesses and time-stamped."),
        plan_reporting_cycle.to_deployment(
            DEPLOYMENT, schedule=Cron(PLAN_CYCLE_CRON, timezone=TIMEZONE), paused=False, tags=tags,
            description="Launch the plan's reporting cases of the latest ended quarter and half-year."),
        verify_histories.to_deployment(
            DEPLOYMENT, schedule=Cron(VERIFY_CRON, timezone=TIMEZONE), paused=False, tags=tags,
            description="Verify every history (verify --all) and record a new anchor."),
        launch_case.to_deployment(
            DEPLOYMENT, paused=False, tags=tags,
            description="Launch a case (algorithm, region, actor, data); returns its reference."),
    ]


def describe(deployments) -> list[str]:
    """One line per deployment: its full name and schedule."""
    lines = []
    for d in deployments:
        when = "on demand"
        if d.schedules:
            sched = d.schedules[0].schedule
            if getattr(sched, "interval", None) is not None:
                when = f"every {sched.interval.total_seconds():g} s"
            elif getattr(sched, "cron", None):
                when = f"cron '{sched.cron}' ({sched.timezone})"
        lines.append(f"{d.flow_name}/{d.name}: {when}")
    return lines


def serve_all(deployments, *, pause_on_shutdown: bool = True, limit: int | None = None,
              print_starting_message: bool = False) -> None:
    """Serve the deployments in this process until Ctrl-C / SIGTERM, at most `limit` flow runs
    (processes) at once (default QORGAU_RUNNER_LIMIT, 4)."""
    from prefect import serve

    from flows import runtime
    limit = limit or runtime.settings().runner_limit
    serve(*deployments, pause_on_shutdown=pause_on_shutdown, limit=limit, query_seconds=POLL_SECONDS,
          print_starting_message=print_starting_message)


def flush_prefect_services(timeout: float = 5.0) -> None:
    """Send the logs and events still queued in this process while the server is up (otherwise the
    interpreter waits for them at exit, after a local server is gone)."""
    try:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker
    except ImportError:  # pragma: no cover
        return
    for service in (APILogWorker, EventsWorker):
        try:
            service.drain_all(timeout=timeout, at_exit=False)
        except Exception:  # pragma: no cover - best effort at shutdown
            pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deployments.serve",
                                     description="Serve every Qorgau deployment (one worker of a scale-out).")
    parser.add_argument("--worker-name", help="name on delivery leases (default: host:pid)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many flow runs at once")
    parser.add_argument("--sweep-interval", type=float, default=None)
    parser.add_argument("--dispatch-interval", type=float, default=None)
    args = parser.parse_args(argv)
    if args.worker_name:
        os.environ["QORGAU_WORKER_NAME"] = args.worker_name
    from flows import runtime
    runtime.engine()  # migrate the store and mirror the directory before any run starts
    deployments = runner_deployments(args.sweep_interval, args.dispatch_interval)
    for deployment in deployments:
        deployment.apply()  # registered (and schedules active) before this worker says it serves
    print("serving: " + "; ".join(describe(deployments)), flush=True)
    # Other workers serve the same deployments: stopping this one must not pause their schedules.
    try:
        serve_all(deployments, pause_on_shutdown=False, limit=args.limit)
    finally:
        flush_prefect_services()


if __name__ == "__main__":
    main()
