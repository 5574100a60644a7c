"""What every flow of this process shares: the case store's engine, the courier that sends
messages, this worker's name and the runtime settings. Opened once per process (a served flow run
is a process of its own); tests put their own engine in with `use_engine`.
"""
from __future__ import annotations

import os
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from states.outbox import RetryPolicy

WORKER_ENV = "QORGAU_WORKER_NAME"


@dataclass(frozen=True)
class Settings:
    """Runtime settings (environment variables, with defaults)."""
    sweep_interval: float = 30.0          # QORGAU_SWEEP_INTERVAL: seconds between scheduled sweeps
    dispatch_interval: float = 60.0       # QORGAU_DISPATCH_INTERVAL: the delivery safety net
    batch_size: int = 500                 # QORGAU_DELIVERY_BATCH: messages claimed at once
    lease_seconds: float = 300.0          # QORGAU_DELIVERY_LEASE: a claim's lease
    max_attempts: int = 8                 # QORGAU_DELIVERY_MAX_ATTEMPTS: then dead-lettered
    backoff_seconds: float = 30.0         # QORGAU_DELIVERY_BACKOFF: first retry delay, doubling
    backoff_cap_seconds: float = 3600.0   # QORGAU_DELIVERY_BACKOFF_CAP
    dispatch_max_seconds: float = 300.0   # QORGAU_DISPATCH_MAX_SECONDS: one run drains at most this long
    sweep_concurrency: int = 2            # QORGAU_SWEEP_CONCURRENCY: sweeps at once, all workers together
    dispatch_concurrency: int = 4         # QORGAU_DISPATCH_CONCURRENCY: deliveries at once, all workers
    runner_limit: int = 4                 # QORGAU_RUNNER_LIMIT: flow runs at once in one served process

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ.get

        def num(name: str, default: float) -> float:
            raw = env(name)
            return float(raw) if raw not in (None, "") else default

        d = cls()
        return cls(
            sweep_interval=num("QORGAU_SWEEP_INTERVAL", d.sweep_interval),
            dispatch_interval=num("QORGAU_DISPATCH_INTERVAL", d.dispatch_interval),
            batch_size=int(num("QORGAU_DELIVERY_BATCH", d.batch_size)),
            lease_seconds=num("QORGAU_DELIVERY_LEASE", d.lease_seconds),
            max_attempts=int(num("QORGAU_DELIVERY_MAX_ATTEMPTS", d.max_attempts)),
            backoff_seconds=num("QORGAU_DELIVERY_BACKOFF", d.backoff_seconds),
            backoff_cap_seconds=num("QORGAU_DELIVERY_BACKOFF_CAP", d.backoff_cap_seconds),
            dispatch_max_seconds=num("QORGAU_DISPATCH_MAX_SECONDS", d.dispatch_max_seconds),
            sweep_concurrency=int(num("QORGAU_SWEEP_CONCURRENCY", d.sweep_concurrency)),
            dispatch_concurrency=int(num("QORGAU_DISPATCH_CONCURRENCY", d.dispatch_concurrency)),
            runner_limit=int(num("QORGAU_RUNNER_LIMIT", d.runner_limit)),
        )

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_attempts, base=timedelta(seconds=self.backoff_seconds),
                           cap=timedelta(seconds=self.backoff_cap_seconds))

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)


_lock = threading.RLock()
_engine = None
_courier = None


def engine():
    """The engine on the configured case store (QORGAU_DATABASE_URL), opened once per process, with
    the after-commit hook that starts delivery right away."""
    global _engine
    with _lock:
        if _engine is None:
            from states.store import open_engine

            from .kick import install
            _engine = open_engine()
            install(_engine)
        return _engine


def courier():
    global _courier
    with _lock:
        if _courier is None:
            from notifications.delivery import Courier
            eng = engine()
            _courier = Courier(eng.registry, eng.svc.directory)
        return _courier


@contextmanager
def use_engine(eng):
    """Run flows of this process on `eng` (tests, benchmarks, `qorgau serve`'s own process)."""
    global _engine, _courier
    with _lock:
        saved = _engine, _courier
        _engine, _courier = eng, None
    try:
        yield eng
    finally:
        with _lock:
            if _courier is not None:
                _courier.close()
            _engine, _courier = saved


def transient_store_error(task, task_run, state) -> bool:
    """A task's retry condition: retry only when the case store could not be reached (nothing was
    written), never on a rule the engine refused or a finding such as a broken history."""
    from sqlalchemy.exc import DBAPIError, OperationalError
    try:
        state.result()
    except OperationalError:
        return True
    except DBAPIError as exc:
        return bool(exc.connection_invalidated)
    except Exception:
        return False
    return False


def settings() -> Settings:
    return Settings.from_env()


def worker_name() -> str:
    """Who holds a delivery lease: QORGAU_WORKER_NAME, else host:pid."""
    return os.environ.get(WORKER_ENV) or f"{socket.gethostname()}:{os.getpid()}"
