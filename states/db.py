"""Connections to the case store: SQLite (embedded, WAL) by default, PostgreSQL in production.
The schema is created and upgraded by the Alembic migrations in `states/migrations/`."""
from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from .history import canonical

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DEFAULT_URL = "sqlite:///var/qorgau.sqlite"
BUSY_TIMEOUT_MS = 30000

_fail_fast = ContextVar("qorgau_sqlite_writes_fail_fast", default=False)


class WriteLockBusy(RuntimeError):
    """Another connection holds SQLite's write lock and the caller asked not to wait for it
    (`writes_fail_fast`); nothing was written."""


@contextmanager
def writes_fail_fast():
    """Within this block, a write transaction on SQLite that would wait for another writer raises
    `WriteLockBusy` at its start instead (before it reads or writes anything). For callers that must
    not block, such as an event loop, which then wait elsewhere and retry. No effect on PostgreSQL."""
    token = _fail_fast.set(True)
    try:
        yield
    finally:
        _fail_fast.reset(token)


def database_url() -> str:
    """The configured store: QORGAU_DATABASE_URL, or an SQLite file under ./var."""
    return os.environ.get("QORGAU_DATABASE_URL", DEFAULT_URL)


def make_engine(url: str | None = None, *, echo: bool = False, schema: str | None = None) -> Engine:
    """An engine on `url`; on PostgreSQL, `schema` puts every table in that schema (tests use one
    schema per process so parallel runs never share tables)."""
    url = url or database_url()
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo)
    connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
    return create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args,
                         json_serializer=canonical)


def _sqlite_engine(url: str, echo: bool) -> Engine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    if not memory:
        path = url.split("///", 1)[1]
        _create_private(Path(path))
    engine = create_engine(
        url, echo=echo, json_serializer=canonical,  # JSON kept in its canonical text (history.py)
        connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed event survives a power cut, which an audit history must.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        # Deleted or overwritten content (an erased child's data key and payload) is zeroed, not
        # left in free space; `scrub` then empties the WAL of the pages' older copies.
        cur.execute("PRAGMA secure_delete=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        # A writer takes the lock at BEGIN so two writers queue instead of failing on upgrade;
        # readers (see `reading`) begin deferred and never wait for writers under WAL; a
        # single-statement reader (see `single_statements`) begins nothing. The statements go to
        # the driver directly: through SQLAlchemy they would cost more than the query they guard.
        options = conn.get_execution_options()
        if options.get("qorgau_single"):
            return
        driver = conn.connection.driver_connection
        if options.get("qorgau_read"):
            driver.execute("BEGIN")
        elif _fail_fast.get():
            _begin_without_waiting(driver)
        else:
            driver.execute("BEGIN IMMEDIATE")

    return engine


def _create_private(path: Path) -> None:
    """The store file (and its folder) created readable by its owner only; SQLite gives the -wal and
    -shm files the database file's permissions. An existing file is left as its operator set it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def scrub(engine: Engine) -> bool:
    """After an erasure on SQLite: checkpoint the WAL into the database file and truncate it to zero
    bytes, so that no older copy of an overwritten page (an erased data key, a payload) stays in it.
    True when the WAL was emptied; False when a reader still held an older snapshot (run it again).
    Elsewhere a no-op (True)."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return True
    with single_statements(engine) as conn:
        busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    return busy == 0


def _begin_without_waiting(driver) -> None:
    driver.execute("PRAGMA busy_timeout=0")
    try:
        driver.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise WriteLockBusy("another connection holds the SQLite write lock") from None
        raise
    finally:
        driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def reading(engine: Engine):
    """A connection for reads only: on SQLite it does not take the write lock."""
    return engine.connect().execution_options(qorgau_read=True)


def single_statements(engine: Engine):
    """A connection for reads that each stand alone in one statement: no transaction is begun
    around them, so each statement sees the store as of its own start (on SQLite, one consistent
    snapshot per statement) and holds nothing once its rows are fetched. Cheap enough to keep open
    and run many short reads on, one caller at a time; every result must be fetched in full
    (`.first()`, `.one()`, `.all()`), or it would keep its snapshot."""
    conn = engine.connect()
    if engine.dialect.name == "sqlite":
        # The driver is in autocommit already (isolation_level=None): only our BEGIN is to skip.
        # Asking SQLAlchemy for AUTOCOMMIT here would, once the connection went back to the pool,
        # "restore" the driver's implicit transactions, which this engine never uses.
        return conn.execution_options(qorgau_single=True)
    return conn.execution_options(isolation_level="AUTOCOMMIT")


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the store's schema to the newest migration."""
    command.upgrade(alembic_config(engine), "head")
