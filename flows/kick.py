"""Deliver right away: after a commit, start a dispatch-notifications run.

`install(engine)` adds a hook to `engine.after_commit`. The hook only raises a flag and returns:
it never waits on Prefect and never fails the transition. A background thread turns flags into
flow runs of the `dispatch-notifications/qorgau` deployment, coalesced: while the run it started
last is still Scheduled or Pending (it has not claimed anything yet, so it will see every message
committed before now), no new run is needed. A burst of a thousand commits thus costs one or two
runs, and a message leaves within seconds (the runner's poll interval plus the run's start-up).

If Prefect is unreachable, the kick is dropped with a warning (once per outage), and so are kicks
in the next 5 s: the outbox keeps the messages and the deployment's own schedule delivers them when
Prefect is back. A kick tries at most twice (not the Prefect client's minute of retries).
"""
from __future__ import annotations

import atexit
import logging
import threading
import time

log = logging.getLogger("qorgau.kick")

DISPATCH_DEPLOYMENT = "dispatch-notifications/qorgau"
RETRY_PAUSE = 5.0  # after a failed kick, commits within this many seconds start no delivery


def prefect_api_url() -> str | None:
    """The Prefect API this process talks to, or None (then there is nothing to kick: without a
    server, a Prefect client would start a throwaway one)."""
    try:
        from prefect.settings import get_current_settings
        return get_current_settings().api.url
    except Exception:  # pragma: no cover - broken Prefect settings never block a commit
        return None


class DispatchKicker:
    def __init__(self, deployment: str = DISPATCH_DEPLOYMENT):
        self.deployment = deployment
        self._cv = threading.Condition()
        self._requested = 0
        self._handled = 0
        self._thread: threading.Thread | None = None
        self._client = None
        self._deployment_id = None
        self._last_run_id = None
        self._failing = False
        self._paused_until = 0.0
        self.runs_started = 0

    # -------------------------------------------------------------- the hook (called after commit)
    def __call__(self, ref: str | None = None) -> None:
        with self._cv:
            self._requested += 1
            if time.monotonic() < self._paused_until:
                self._handled = self._requested  # Prefect was just unreachable: leave it to the schedule
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="qorgau-kick", daemon=True)
                self._thread.start()
            self._cv.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every kick requested so far was handled (at process exit, so a short-lived
        process's last commit still starts a delivery). False if the time ran out."""
        deadline = time.monotonic() + timeout
        with self._cv:
            target = self._requested
            while self._handled < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    # -------------------------------------------------------------- the background thread
    def _loop(self) -> None:
        while True:
            with self._cv:
                while self._handled >= self._requested:
                    self._cv.wait()
                upto = self._requested
            ok = self._kick()
            with self._cv:
                self._handled = max(self._handled, upto)
                if not ok:
                    self._paused_until = time.monotonic() + RETRY_PAUSE
                    self._handled = self._requested
                self._cv.notify_all()

    def _kick(self) -> bool:
        from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings
        try:
            # A kick is best effort: one quick retry, not the client's minute of backoff.
            with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 1}):
                self._start_run_unless_one_is_waiting()
        except Exception as exc:
            self._close_client()
            if not self._failing:
                log.warning("could not start %s (%s: %s); the outbox keeps the messages and the schedule "
                            "delivers them", self.deployment, type(exc).__name__, exc)
            self._failing = True
            return False
        if self._failing:
            log.info("Prefect reachable again; delivery kicks resumed")
        self._failing = False
        return True

    def _start_run_unless_one_is_waiting(self) -> None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.objects import StateType
        from prefect.exceptions import ObjectNotFound

        if self._client is None:
            self._client = get_client(sync_client=True)
            self._client.__enter__()
        client = self._client
        if self._last_run_id is not None:
            try:
                state = client.read_flow_run(self._last_run_id).state
            except ObjectNotFound:  # deleted meanwhile
                state = None
            if state is not None and state.type in (StateType.SCHEDULED, StateType.PENDING):
                return  # that run has not claimed yet: it will take what was just committed
        if self._deployment_id is None:
            self._deployment_id = client.read_deployment_by_name(self.deployment).id
        try:
            run = client.create_flow_run_from_deployment(self._deployment_id, tags=["kick"])
        except ObjectNotFound:  # the deployment was re-created: look its id up again
            self._deployment_id = client.read_deployment_by_name(self.deployment).id
            run = client.create_flow_run_from_deployment(self._deployment_id, tags=["kick"])
        self._last_run_id = run.id
        self.runs_started += 1

    def _close_client(self) -> None:
        client, self._client = self._client, None
        self._deployment_id = None
        if client is not None:
            try:
                client.__exit__(None, None, None)
            except Exception:  # pragma: no cover
                pass


_installed: DispatchKicker | None = None
_install_lock = threading.Lock()


def kicker() -> DispatchKicker:
    """This process's kicker (one per process, shared by its engines)."""
    global _installed
    with _install_lock:
        if _installed is None:
            _installed = DispatchKicker()
            atexit.register(_installed.flush, 5.0)
        return _installed


def install(engine) -> DispatchKicker | None:
    """Start delivery after each commit of `engine` (no-op without a Prefect API to talk to)."""
    if prefect_api_url() is None:
        log.debug("no PREFECT_API_URL: commits do not start deliveries (the schedule does)")
        return None
    k = kicker()
    if k not in engine.after_commit:
        engine.after_commit.append(k)
    return k
