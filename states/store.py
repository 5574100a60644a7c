"""Open the case store and the engine over it, with the shipped or configured data."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from sqlalchemy import Engine as DbEngine, delete, insert, select, update

from algorithms.registry import Registry

from . import tables as T
from .calendar import Calendar
from .db import make_engine, migrate
from .directory import Directory
from .engine import Engine
from .unit_of_work import Services
from .tallies import install as install_tallies


def open_engine(url: str | None = None, *, db: DbEngine | None = None, registry: Registry | None = None,
                directory: Directory | None = None, calendar: Calendar | None = None,
                definition_dirs: Iterable[str | Path] = (), run_migrations: bool = True,
                master_key=None) -> Engine:
    """An engine on `url` (default: QORGAU_DATABASE_URL or the embedded SQLite file), migrated,
    with the bodies directory mirrored into the store and definitions pinned."""
    db = db or make_engine(url)
    install_tallies(db)  # each transaction's tally deltas added at its commit
    if run_migrations:
        migrate(db)
    services = Services(registry=registry or Registry.load(definition_dirs),
                        directory=directory or Directory.load(),
                        calendar=calendar or Calendar.load(), _master_key=master_key)
    engine = Engine(db, services)
    sync_bodies(db, services.directory)
    engine.pin_definitions()
    return engine


def sync_bodies(db: DbEngine, directory: Directory) -> None:
    """Mirror the directory into the `bodies` table (tokens and reports join on it): add new bodies,
    update changed ones, remove those the directory no longer has (refused if a token still names one)."""
    wanted = {b.id: {"id": b.id, "type": b.type, "region": b.region, "parent_id": b.parent, "code": b.code,
                     "name": dict(b.name), "language": b.language, "channels": list(b.channels)}
              for b in directory.bodies()}
    with db.begin() as conn:
        existing = {r.id: dict(r._mapping) for r in conn.execute(select(T.bodies))}
        if existing == wanted:
            return
        new = [row for body_id, row in wanted.items() if body_id not in existing]
        if new:
            conn.execute(insert(T.bodies), new)
        for body_id, row in wanted.items():
            if body_id in existing and existing[body_id] != row:
                conn.execute(update(T.bodies).where(T.bodies.c.id == body_id).values(**row))
        gone = [body_id for body_id in existing if body_id not in wanted]
        if gone:
            conn.execute(delete(T.bodies).where(T.bodies.c.id.in_(gone)))
