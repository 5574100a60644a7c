"""One way to the store for the web process (the API and the pages): a `Store`, one per app.

    store = request.app.state.store            # or, in a handler, `store: StoreDep`
    await store.read(read_case, engine, ref)   # fn does its reads, opening engine.reader() itself
    await store.write(commands.handle, Fire(ref, trigger, data, version), principal)  # one transaction
    await store.statements(find_active_on, secret)  # fn(conn, ...): reads of one statement each
    with store.writing(): ...                  # a writer already in a worker thread

Handlers never choose where their store work runs; `store_for(engine)` chose once, by the store:

- `SQLiteStore` (a local file, one writer at a time). Writes run in the event loop, one at a time
  behind a `WriteGate` (in the process and, for `qorgau api --workers N`, across processes); a write
  that finds SQLite's lock taken by a writer outside the API (the deadline sweep, flows, the CLI)
  gives up before touching anything (`writes_fail_fast`) and waits for it in a worker thread, still
  holding the gate, so the loop never sleeps in SQLite's busy handler. Single-statement reads run in
  the loop on a connection kept open for them.
- `PostgresStore` (a server over the network): everything in the thread pool, no gate (row locks
  serialise writers to one case); the loop never waits for the store.

`read` runs in the thread pool on both: a read may be long (a compliance report, verifying every
case, the map), and no benchmark shows a short one gains from running in the loop.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext, suppress
from typing import Annotated, Any, Callable

from fastapi import Depends, Request
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


class Store:
    """Where the web process's store work runs. `fn` is always a plain (synchronous) function."""

    def __init__(self, engine):
        self.engine = engine

    async def read(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """`fn(*args, **kwargs)`, reads only (fn opens `engine.reader()` itself), in the thread pool."""
        return await run_in_threadpool(fn, *args, **kwargs)

    async def write(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """`fn(*args, **kwargs)`, one write transaction (and its reads), e.g. `commands.handle`."""
        raise NotImplementedError

    async def statements(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """`fn(conn, *args, **kwargs)`, reads that each stand alone in one statement
        (`states.db.single_statements`): the token lookup, the inbox. `fn` must only read, and may be
        run twice (once more on a fresh connection after a store error)."""
        raise NotImplementedError

    def writing(self) -> AbstractContextManager:
        """`with store.writing():` around a write made in a worker thread (the write gate, if any)."""
        return nullcontext()

    def close(self) -> None:
        """Give back what the store holds open (at the app's shutdown); it reopens when used again."""


class SQLiteStore(Store):
    """Store work on SQLite: writes and single-statement reads in the event loop, writes behind the gate."""

    def __init__(self, engine):
        super().__init__(engine)
        self.gate = WriteGate(engine)
        self.kept_connection = None  # for `statements`, opened at the first one

    async def write(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        # In the loop, not in a worker thread: a thread that writes while the loop is busy waits for
        # the GIL again after every SQLite call, holding the write lock meanwhile; fires queued behind
        # each other for tens of milliseconds. Protects benchmarks/api.py's fire p99 (docs/performance.md,
        # "HTTP API": 33.5 - 35.8 ms with one worker; 62 - 68 ms for the code of 2026-11-25).
        async with self.gate.held():
            try:
                with writes_fail_fast():
                    return fn(*args, **kwargs)
            except WriteLockBusy:  # a writer outside the API: nothing was written; wait for it off the loop
                pass
            return await run_in_threadpool(fn, *args, **kwargs)

    async def statements(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        # In the loop, on a connection kept open: no connection to check out, no transaction to begin
        # and end, which through SQLAlchemy cost more than the query. Protects benchmarks/api.py's
        # inbox p99 and requests/s (docs/performance.md, "Cheaper reads": token lookup 100 -> 35 us,
        # inbox request 1.13 -> 0.65 ms in process).
        for attempt in (1, 2):
            conn = self.kept_connection
            if conn is None:
                conn = self.kept_connection = single_statements(self.engine.db)
            try:
                return fn(conn, *args, **kwargs)
            except SQLAlchemyError:  # the connection may be unusable: reads are safe to try once more, on another
                self.kept_connection = None
                with suppress(Exception):
                    conn.close()
                if attempt == 2:
                    raise

    def writing(self) -> "WriteGate":
        return self.gate

    def close(self) -> None:
        conn, self.kept_connection = self.kept_connection, None
        if conn is not None:
            conn.close()
        self.gate.close()


class PostgresStore(Store):
    """Store work on PostgreSQL: all of it in the thread pool, never in the loop; no gate."""

    async def write(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        return await run_in_threadpool(fn, *args, **kwargs)

    async def statements(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        return await run_in_threadpool(_on_fresh_connection, self.engine.db, fn, args, kwargs)


def _on_fresh_connection(db, fn, args, kwargs):
    with single_statements(db) as conn:
        return fn(conn, *args, **kwargs)


def store_for(engine) -> Store:
    """The store's way for `engine`: `SQLiteStore` on SQLite, `PostgresStore` otherwise."""
    return SQLiteStore(engine) if engine.db.dialect.name == "sqlite" else PostgresStore(engine)


async def get_store(request: Request) -> Store:
    """The app's store (`app.state.store`, installed by `app.api.create_app`). Async: FastAPI would
    run a plain function dependency in the thread pool, a thread hop on every request."""
    return request.app.state.store


StoreDep = Annotated[Store, Depends(get_store)]


# -- the write gate (SQLite)

def lock_path(engine) -> str | None:
    """The file beside an SQLite store that the API's worker processes lock to write; None for an
    in-memory store (one process), another backend, or a system without flock (Windows)."""
    url = engine.db.url
    if fcntl is None or url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return os.path.abspath(url.database) + LOCK_SUFFIX


class WriteGate:
    """Serialises the web process's writes on SQLite, first come first served: an asyncio lock for the
    loop's writers, a thread lock under it for writers in threads, and across the processes serving
    the API (`qorgau api --workers N`) a file lock beside the SQLite file.
    `with gate:` for a writer in a thread; `async with gate.held():` for a writer in the event loop."""

    def __init__(self, engine):
        self._threads = threading.Lock()
        self._path = lock_path(engine)
        # Opened at the first write: the lock file, and the one that processes waiting for it hold
        # shared (while anyone waits, nobody barges in).
        self._fd: int | None = None
        self._queue_fd: int | None = None
        self._loop_lock_of: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._waiter: ThreadPoolExecutor | None = None

    # -- in a thread
    def __enter__(self) -> "WriteGate":
        self._acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._release()

    # -- in the event loop
    @asynccontextmanager
    async def held(self):
        """Hold the gate without blocking the loop: writers of this process in arrival order."""
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

    def close(self) -> None:
        """Close the lock files and the waiting thread (they reopen at the next write)."""
        if self._waiter is not None:
            self._waiter.shutdown(wait=False)
            self._waiter = None
        if not self._threads.acquire(blocking=False):  # a writer holds them: __del__ closes them
            return
        try:
            fds, self._fd, self._queue_fd = (self._fd, self._queue_fd), None, None
        finally:
            self._threads.release()
        for fd in fds:
            if fd is not None:
                with suppress(OSError):
                    os.close(fd)

    def __del__(self) -> None:  # an app (tests create many) gives its lock files back
        for fd in (self._fd, self._queue_fd):
            if fd is not None:
                with suppress(OSError):
                    os.close(fd)

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
        False (and nothing held) if not.

        Handing the gate over this way takes a fraction of a millisecond; waking a busy event loop
        from a helper thread takes a loop iteration or more. Protects the `--workers 2` row of
        benchmarks/api.py (docs/performance.md: a fire that finds the other process writing waits
        about 1.3 ms on average, in a third of fires)."""
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
