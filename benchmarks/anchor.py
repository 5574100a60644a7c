"""Anchor benchmark (not a test): what an anchor costs at a national size (issue 18: "cheap at
120,000 cases"). The case rows are synthetic heads (an anchor reads only each case's reference,
version and head hash), written straight into the store; then an anchor after 10, 100 and 1,000
changed heads, each with its signed witness document queued, against the first anchor (every head).
Last line: one JSON object with the figures.

Run: .venv/bin/python benchmarks/anchor.py [--cases 120000] [--database-url postgresql+psycopg://...]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, update  # noqa: E402

from states import tables as T  # noqa: E402
from states.db import make_engine  # noqa: E402
from states.anchor import make_anchor  # noqa: E402
from states.store import open_engine  # noqa: E402
from states.witness import Witnessing, signing_key  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores import drop_schema, open_store  # noqa: E402

T0 = datetime(2026, 4, 6, 5, tzinfo=timezone.utc)


def synthetic_heads(engine, cases: int) -> None:
    rows = []
    for i in range(1, cases + 1):
        digest = hashlib.sha256(f"case {i} event 3".encode()).hexdigest()
        rows.append({"ref": f"VR-75-{i:06d}", "algorithm": "violence-report", "algorithm_version": 2,
                     "definition_hash": "0" * 64, "region": "KZ-75", "state": "reported", "state_entered_at": T0,
                     "entered_by": "launch", "critical": False, "version": 3, "task_seq": 0, "data": {},
                     "bindings": {}, "created_at": T0, "updated_at": T0, "head_hash": digest})
        if len(rows) == 5000 or i == cases:
            with engine.db.begin() as conn:
                conn.execute(insert(T.cases), rows)
            rows = []


def change(engine, n: int, rng: random.Random, cases: int, round_: int) -> None:
    """`n` cases get one more event (a synthetic row: the anchor reads only which cases were written)."""
    with engine.db.begin() as conn:
        for i in rng.sample(range(1, cases + 1), n):
            digest = hashlib.sha256(f"case {i} round {round_}".encode()).hexdigest()
            conn.execute(update(T.cases).where(T.cases.c.id == i).values(version=3 + round_, head_hash=digest))
            conn.execute(insert(T.events).values(case_id=i, seq=3 + round_, at=T0, actor="system", trigger="timer",
                                                 data={}, from_state="reported", to_state="reported", effects={},
                                                 algorithm_version=2, prev_hash="0" * 64, hash=digest))


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=120_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qorgau-anchor-") as tmp:
        url, schema = open_store(args.database_url, Path(tmp), "anchor")  # PostgreSQL: a schema of its own
        engine = open_engine(db=make_engine(url, schema=schema))
        witness = Witnessing(key=signing_key(Path(tmp) / "anchor.key"), urls=[f"eml://{tmp}/witness"])
        synthetic_heads(engine, args.cases)
        figures = {"cases": args.cases, "store": engine.db.dialect.name, "cpus": os.cpu_count(),
                   "python": platform.python_version()}
        first, _ = timed(lambda: make_anchor(engine, T0, witness=witness))
        figures["first_anchor_every_head_s"] = round(first, 3)
        idle, nothing = timed(lambda: make_anchor(engine, T0 + timedelta(minutes=1), witness=witness))
        assert nothing is None
        figures["minute_with_nothing_written_s"] = round(idle, 3)
        rng = random.Random(748)
        for round_, n in enumerate((10, 100, 1000), start=1):
            change(engine, n, rng, args.cases, round_)
            seconds, anchor = timed(lambda: make_anchor(engine, T0 + timedelta(minutes=1 + round_), witness=witness))
            assert anchor.changed == n
            figures[f"anchor_after_{n}_changed_s"] = round(seconds, 3)
        engine.db.dispose()
        drop_schema(url, schema)
    print(f"{'anchor at':<34}{'seconds':>10}")
    for key, value in figures.items():
        if key.endswith("_s"):
            print(f"{key[:-2].replace('_', ' '):<34}{value:>10.3f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
