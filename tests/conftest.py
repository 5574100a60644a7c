"""Shared fixtures. Every test that touches the database runs on SQLite, and on PostgreSQL too
when QORGAU_TEST_DATABASE_URL is set (CI sets it)."""
from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from algorithms.registry import Registry
from states.calendar import Calendar
from states.db import make_engine, migrate
from states.directory import Directory
from states.store import open_engine
from states.tables import metadata

KZ = timezone(timedelta(hours=5))
# A fixed synthetic master key, so no test creates ./var/master.key.
os.environ.setdefault("QORGAU_MASTER_KEY", "cW9yZ2F1LXRlc3QtbWFzdGVyLWtleS0zMi1ieXRlcyE=")
# Anchors in tests: a key of this test run (not ./var/anchor.key) and no witnesses unless a test names them.
os.environ.setdefault("QORGAU_ANCHOR_KEY_FILE", str(Path(tempfile.mkdtemp(prefix="qorgau-anchor-key-")) / "anchor.key"))
os.environ.setdefault("QORGAU_ANCHOR_WITNESSES", "")
ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("QORGAU_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def kz(*args) -> datetime:
    """A Kazakhstan wall-clock time, e.g. kz(2026, 4, 6, 10)."""
    return datetime(*args, tzinfo=KZ)


@pytest.fixture(scope="session")
def registry() -> Registry:
    return Registry.load()


@pytest.fixture(scope="session")
def directory() -> Directory:
    return Directory.load()


@pytest.fixture(scope="session")
def calendar() -> Calendar:
    return Calendar.load()


_pg_migrated = False


PG_SCHEMA = f"qorgau_test_{os.getpid()}"


def _pg_db():
    """The PostgreSQL test database, in a schema of this test process (so parallel runs never share
    tables), migrated once per session and emptied before each use."""
    global _pg_migrated
    if not _pg_migrated:
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
        admin.dispose()
    db = make_engine(PG_URL, schema=PG_SCHEMA)
    if not _pg_migrated:
        migrate(db)
        _pg_migrated = True
    with db.begin() as conn:
        names = ", ".join(t.name for t in reversed(metadata.sorted_tables))
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return db


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_schema():
    yield
    if PG_URL and _pg_migrated:
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db_factory(backend, tmp_path, registry, directory, calendar):
    """Makes engines on a fresh store of the current backend (same store for each call in a test)."""
    state: dict = {}

    def make(**kwargs):
        if backend == "sqlite":
            db = state.get("db") or make_engine(f"sqlite:///{tmp_path / 'qorgau.sqlite'}")
        else:
            db = state.get("db") or _pg_db()
        migrated = "db" in state
        state["db"] = db
        return open_engine(db=db, registry=kwargs.get("registry", registry), directory=directory,
                           calendar=calendar, run_migrations=not migrated)

    yield make
    if "db" in state:
        state["db"].dispose()


@pytest.fixture
def engine(db_factory):
    return db_factory()
