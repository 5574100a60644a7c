"""Verification benchmark (not a test): simulate many cases through the engine, then time
`verify --all` over them. Last line: one JSON object with the figures.

Run: .venv/bin/python benchmarks/verify.py [--cases 10000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from algorithms.registry import Registry  # noqa: E402
from states.anchor import make_anchor  # noqa: E402
from states.calendar import Calendar  # noqa: E402
from states.directory import Directory  # noqa: E402
from states.personal_data import MasterKey  # noqa: E402
from states.store import open_engine  # noqa: E402
from states.sweep import sweep  # noqa: E402
from states.verify import verify_all  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import REPORT, STORY, T0, progress  # noqa: E402


def simulate(engine, cases: int) -> None:
    """Each case: launch, a day of triggers, then a month of deadlines swept as they fall due."""
    directory = engine.svc.directory
    regions = sorted(directory.regions)
    for i in range(cases):
        region = regions[i % len(regions)]
        school = directory.schools(region)[0].id
        start = T0 + timedelta(minutes=i % 600)
        ref = engine.launch("violence-report", region, school,
                            {**REPORT, "detected_at": (start - timedelta(hours=1)).isoformat()}, now=start).ref
        bindings = engine.case(ref).bindings
        now = start + timedelta(minutes=30)
        for trigger, role, data in STORY[: 2 + i % (len(STORY) - 1)]:
            now += timedelta(minutes=5)
            engine.fire(ref, trigger, bindings[role], data, now=now)
        progress("simulate", i + 1, cases)
    for day in range(1, 31):  # the sweeper, once a day for a month
        sweep(engine, now=T0 + timedelta(days=day))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qorgau-verify-", dir=os.environ.get("QORGAU_BENCH_DIR")) as tmp:
        engine = open_engine(f"sqlite:///{Path(tmp) / 'verify.sqlite'}", registry=Registry.load(),
                             directory=Directory.load(), calendar=Calendar.load(), master_key=MasterKey.generate())
        started = time.perf_counter()
        simulate(engine, args.cases)
        simulated_s = time.perf_counter() - started
        make_anchor(engine)
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            with engine.reader() as conn:
                report = verify_all(conn, engine.registry, workers=os.cpu_count() or 1)
            timings.append(time.perf_counter() - started)
        engine.db.dispose()
    best = min(timings)
    rate = report.events / best
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"simulated {report.cases:,} cases with {report.events:,} events in {simulated_s:.0f} s")
    print(f"verify --all: {best:.2f} s (best of 3), {rate:,.0f} events/s (target >= 50,000); "
          f"failures: {len(report.failures)}, anchor problems: {len(report.anchor_problems)}")
    print(json.dumps({"cases": report.cases, "events": report.events, "verify_s": round(best, 3),
                      "verify_events_per_s": round(rate), "failures": len(report.failures)}))
    if not report.ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
