"""Where the API's handlers do their store work, and one writer at a time on SQLite.

On SQLite (a local file) the busy handlers -- inbox, case lists and reads, launch, fire -- do their
store work in the event loop (`run_read`, `run_write`). A read takes a fraction of a millisecond, less
than handing it to a worker thread costs. And a worker thread that writes while the loop is busy
waits for the GIL again after every statement (SQLite's calls release it) while it holds the write
lock, so under load fires queued behind each other for tens of milliseconds; in the loop a fire
holds the lock only as long as its own work takes.

Writes are serialised by a `WriteGate`, first come first served: in the process, an asyncio lock
for the loop's writers and a thread lock under it for writers in threads (`with gate(request):`),
and across the processes serving the API (`qorgau api --workers N`) a file lock beside the SQLite
file. A loop writer that finds the gate held by another process waits for it in a helper thread,
not in the loop. Writers outside the API (the deadline sweep, flows, the CLI) take SQLite's own lock
directly: a loop write that finds it taken gives up before touching anything (`writes_fail_fast`)
and waits for it in a worker thread instead, so the loop never sleeps in SQLite's busy handler.

On PostgreSQL, which answers over the network, store work runs in the thread pool and the gate is a
no-op (row locks serialise writers to one case)."""
from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, nullcontext, suppress
from typing import Any, Callable

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from states.db import WriteLockBusy, single_statements, writes_fail_fast

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process serves, the thread lock is the gate
    fcntl = None

LOCK_SUFFIX = "-qorgau-write.lock"
SPIN_SECONDS = 0.02  # how long a loop writer waits in the loop for the gate before waiting off it
SPIN_PAUSE = 0.0001


def lock_path(engine) -> str | None:
    """The file beside an SQLite store that the API's worker processes lock to write; None for an
    in-memory store (one process), another backend, or a system without flock (Windows)."""
    url = engine.db.url
    if fcntl is None or url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return os.path.abspath(url.database) + LOCK_SUFFIX


class WriteGate:
    """Serialises the API's writes when the store is SQLite (`inline` is then True); a no-op otherwise.
    `with gate:` for a writer in a thread; `async with gate.held():` for a writer in the event loop."""

    def __init__(self, engine):
        self.inline = engine.db.dialect.name == "sqlite"
        self._threads = threading.Lock()
        self._path = lock_path(engine) if self.inline else None
        # Opened at the first write: the lock file, and the one that processes waiting for it hold
        # shared (while anyone waits, nobody barges in).
        self._fd: int | None = None
        self._queue_fd: int | None = None
        self._loop_lock_of: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._waiter: ThreadPoolExecutor | None = None

    # -- in a thread
    def __enter__(self) -> "WriteGate":
        if self.inline:
            self._acquire()
        return self

    def __exit__(self, *exc) -> None:
        if self.inline:
            self._release()

    # -- in the event loop
    @asynccontextmanager
    async def held(self):
        """Hold the gate without blocking the loop: writers of this process in arrival order."""
        if not self.inline:
            yield self
            return
        async with self._loop_lock():
            if not self._try_acquire() and not self._acquire_soon():
                await self._acquire_off_loop()
            try:
                yield self
            finally:
                self._release()

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._loop_lock_of is None or self._loop_lock_of[0] is not loop:  # an asyncio.Lock belongs to one loop
            self._loop_lock_of = (loop, asyncio.Lock())
        return self._loop_lock_of[1]

    async def _acquire_off_loop(self) -> None:
        if self._waiter is None:
            self._waiter = ThreadPoolExecutor(1, thread_name_prefix="qorgau-write-gate")
        future = asyncio.get_running_loop().run_in_executor(self._waiter, self._acquire)
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:  # the gate is still taken for us: hand it back when it is
            future.add_done_callback(lambda f: f.cancelled() or f.exception() or self._release())
            raise

    # -- the locks
    def _files(self) -> bool:
        """Whether writers of other processes are gated too (opening the lock files the first time).
        Called only by the thread holding `_threads`."""
        if self._path is None:
            return False
        if self._fd is None:
            self._queue_fd = os.open(self._path + ".queue", os.O_RDWR | os.O_CREAT, 0o600)
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return True

    def __del__(self) -> None:  # an app (tests create many) gives its lock files back
        for fd in (self._fd, self._queue_fd):
            if fd is not None:
                with suppress(OSError):
                    os.close(fd)

    # Only the thread holding `_threads` touches the two lock files, so their flock() calls never
    # convert each other's locks (flock locks belong to the open file, not the thread).
    def _acquire(self) -> None:
        self._threads.acquire()
        try:
            if self._files():
                fcntl.flock(self._queue_fd, fcntl.LOCK_SH)
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX)
                finally:
                    fcntl.flock(self._queue_fd, fcntl.LOCK_UN)
        except BaseException:
            self._threads.release()
            raise

    def _try_acquire(self) -> bool:
        """The gate if it is free and no other process is waiting for it (those go first)."""
        if not self._threads.acquire(blocking=False):
            return False
        try:
            if self._files():
                fcntl.flock(self._queue_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(self._queue_fd, fcntl.LOCK_UN)
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            self._threads.release()
            return False
        except BaseException:
            self._threads.release()
            raise

    def _acquire_soon(self, within: float = SPIN_SECONDS) -> bool:
        """The gate if it comes free within `within` seconds, waiting in the calling thread (the loop)
        and checking every `SPIN_PAUSE` seconds, marked as waiting so that no other process barges in;
        False (and nothing held) if not. Handing the gate over this way takes a fraction of a
        millisecond; waking a busy event loop from a helper thread takes a loop iteration or more."""
        if not self._threads.acquire(timeout=within):
            return False
        deadline = time.monotonic() + within
        try:
            if not self._files():
                return True
            fcntl.flock(self._queue_fd, fcntl.LOCK_SH)
            try:
                while True:
                    try:
                        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        return True
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            break
                        time.sleep(SPIN_PAUSE)
            finally:
                fcntl.flock(self._queue_fd, fcntl.LOCK_UN)
        except BaseException:
            self._threads.release()
            raise
        self._threads.release()
        return False

    def _release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


def gate(request):
    """The app's write gate for a writer in a thread (a no-op context when none is installed)."""
    return getattr(request.app.state, "write_gate", None) or nullcontext()


def _inline(request) -> bool:
    found = getattr(request.app.state, "write_gate", None)
    return bool(found and found.inline)


async def run_read(request, fn: Callable[..., Any], *args, **kwargs) -> Any:
    """`fn(*args, **kwargs)`, store reads only: in the event loop on SQLite, in the thread pool otherwise."""
    if _inline(request):
        return fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)


async def run_statements(request, fn: Callable[..., Any], *args, **kwargs) -> Any:
    """`fn(conn, *args, **kwargs)`, reads that each stand alone in one statement
    (`states.db.single_statements`): on SQLite in the event loop, on a connection the app keeps open
    for them (no connection to check out, no transaction to begin and end: on the busiest paths,
    the token lookup and the inbox, those cost more than the query); in the thread pool otherwise.
    A store error drops the kept connection; the reads are tried once more on a fresh one.
    `fn` must only read."""
    if not _inline(request):
        return await run_in_threadpool(_on_fresh_connection, request.app.state.engine.db, fn, args, kwargs)
    state = request.app.state
    for attempt in (1, 2):
        conn = getattr(state, "statement_connection", None)
        if conn is None:
            conn = state.statement_connection = single_statements(state.engine.db)
        try:
            return fn(conn, *args, **kwargs)
        except SQLAlchemyError:  # the connection may be unusable: reads are safe to try once more, on another
            state.statement_connection = None
            with suppress(Exception):
                conn.close()
            if attempt == 2:
                raise


def _on_fresh_connection(db, fn, args, kwargs):
    with single_statements(db) as conn:
        return fn(conn, *args, **kwargs)


def close_statement_connection(app) -> None:
    """Close the connection `run_statements` kept open (at shutdown)."""
    conn = getattr(app.state, "statement_connection", None)
    app.state.statement_connection = None
    if conn is not None:
        conn.close()


async def run_write(request, fn: Callable[..., Any], *args, **kwargs) -> Any:
    """`fn(*args, **kwargs)`, one write transaction (and reads), behind the write gate: in the event
    loop on SQLite unless a writer outside the API holds SQLite's lock (then in a worker thread,
    still holding the gate), in the thread pool on PostgreSQL."""
    if not _inline(request):
        return await run_in_threadpool(fn, *args, **kwargs)
    async with request.app.state.write_gate.held():
        try:
            with writes_fail_fast():
                return fn(*args, **kwargs)
        except WriteLockBusy:
            pass
        return await run_in_threadpool(fn, *args, **kwargs)
