"""Fresh stores for the benchmarks: an SQLite file in a work directory, or a new schema on a PostgreSQL
server (made at the start, dropped at the end), and engines on them."""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import event, text

from states.db import make_engine
from states.store import open_engine


def open_store(url: str | None, workdir: Path, name: str = "migrate"):
    """A fresh store: `workdir`/`name`.sqlite, or a new schema on the PostgreSQL at `url`.
    Returns (url, schema) for other processes."""
    if url is None:
        return f"sqlite:///{workdir / f'{name}.sqlite'}", None
    schema = f"qorgau_bench_{os.getpid()}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    return url, schema


def drop_schema(url: str, schema: str | None) -> None:
    if schema is None:
        return
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def engine_on(url: str, schema: str | None, svc, *, fast_writes: bool = False, run_migrations: bool = False,
              master_key=None):
    """An engine on the store; `fast_writes` turns SQLite's fsync off (a store built only to be measured)."""
    registry, directory, calendar = svc
    db = make_engine(url, schema=schema)
    if fast_writes and db.dialect.name == "sqlite":
        @event.listens_for(db, "connect")
        def _fast(dbapi_conn, _record) -> None:  # after the store's own pragmas: a benchmark store
            dbapi_conn.execute("PRAGMA synchronous=OFF")  # need not survive a power cut
    return open_engine(db=db, registry=registry, directory=directory, calendar=calendar,
                       run_migrations=run_migrations, master_key=master_key)
