"""One writer at a time per process on SQLite.

SQLite takes its write lock at `BEGIN IMMEDIATE`; a second writer that finds it taken sleeps in
SQLite's busy handler with growing pauses (up to 100 ms each), so under concurrent fires a few
requests wait far longer than the write itself takes. Queueing the API's writers on a lock in the
process first hands the lock over as soon as it is free. PostgreSQL needs no gate (row locks)."""
from __future__ import annotations

import threading
from contextlib import nullcontext


class WriteGate:
    """A context manager serialising writes when the store is SQLite; a no-op otherwise."""

    def __init__(self, engine):
        self._lock = threading.Lock() if engine.db.dialect.name == "sqlite" else None

    def __enter__(self):
        if self._lock is not None:
            self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            self._lock.release()


def gate(request):
    """The app's write gate (a no-op context when none is installed)."""
    return getattr(request.app.state, "write_gate", None) or nullcontext()
