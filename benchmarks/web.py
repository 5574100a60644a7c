"""Web pages benchmark (not a test): the server time of the inbox, the case page and the risk map
with 100,000 cases in the store. The map's 30-second aggregate cache is switched off, so every
map figure here is a cold computation. Each page is requested in-process through the ASGI app (routing,
session check, queries, rendering; no network), N times; p50 and p95 are printed. Last line: one
JSON object with inbox_p95_ms, case_p95_ms, map_p95_ms (targets: ≤ 150 ms each).

Run: .venv/bin/python benchmarks/web.py [--cases 100000] [--requests 200] [--store PATH]
A store built once is reused when --store names an existing file (building 100,000 cases takes a
few minutes).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QORGAU_SESSION_SECRET", "benchmark-only")
os.environ["QORGAU_MAP_CACHE_SECONDS"] = "0"  # every map request computes its aggregates (cold)
os.environ.setdefault("QORGAU_MASTER_KEY", "YmVuY2htYXJrLW9ubHktbWFzdGVyLWtleS0zMmJ5dGU=")

from sqlalchemy import event, func, select  # noqa: E402

from algorithms.registry import Registry  # noqa: E402
from states import tables as T  # noqa: E402
from states.calendar import Calendar  # noqa: E402
from states.db import make_engine  # noqa: E402
from states.directory import Directory  # noqa: E402
from states.store import open_engine  # noqa: E402

NOW = datetime.now(timezone.utc)
VR_FORMS = ("bullying", "cyberbullying", "physical", "psychological", "neglect")


def progress(label: str, done: int, total: int) -> None:
    if sys.stderr.isatty():
        print(f"\r{label}: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)


def build(path: Path, cases: int, svc) -> None:
    """Launch `cases` cases over 20 regions and the last 120 days; assess a fifth of the bullying
    reports. Built with SQLite's synchronous=OFF (a benchmark store need not survive a power cut)."""
    registry, directory, calendar = svc
    db = make_engine(f"sqlite:///{path}")

    @event.listens_for(db, "connect")
    def _fast(dbapi_conn, _record) -> None:  # runs after the store's own pragmas
        dbapi_conn.execute("PRAGMA synchronous=OFF")

    engine = open_engine(db=db, registry=registry, directory=directory, calendar=calendar)
    regions = list(directory.regions)
    rng = random.Random(748)
    started = time.perf_counter()
    for i in range(cases):
        region = regions[i % len(regions)]
        school = directory.schools(region)[rng.randrange(len(directory.schools(region)))].id
        at = NOW - timedelta(minutes=rng.randrange(120 * 24 * 60))
        if i % 5 == 4:
            engine.launch("suicide-response", region, directory.region_body(region, "health").id,
                          {"kind": ("signs", "attempt", "signs")[i % 3], "channel": "health",
                           "summary": "synthetic benchmark case"}, now=at)
        else:
            # version 2: detected an hour before the launch; every tenth report late (30 h)
            detected = at - timedelta(hours=30 if i % 10 == 3 else 1)
            ref = engine.launch("violence-report", region, school,
                                {"form": VR_FORMS[i % len(VR_FORMS)], "channel": "school",
                                 "summary": "synthetic benchmark case", "school": school,
                                 "detected_at": detected.isoformat(), "reporter": "teacher"}, now=at).ref
            if i % 5 == 0:
                engine.fire(ref, "assess", school, {"immediate_danger": False, "perpetrator": "peer"},
                            now=at + timedelta(hours=3))
        if i % 500 == 0:
            progress("build", i, cases)
    progress("build", cases, cases)
    print(f"built {cases} cases in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    db.dispose()


def timed(client, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        r = client.get(url)
        out.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return out


def timed_each(client, urls: list[str]) -> list[float]:
    out = []
    for url in urls:
        started = time.perf_counter()
        r = client.get(url)
        out.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--store", help="SQLite file to build (or reuse if it exists)")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from app.web import create_site
    from states.tokens import create_token

    svc = Registry.load(), Directory.load(), Calendar.load()
    tmp = tempfile.TemporaryDirectory()
    path = Path(args.store) if args.store else Path(tmp.name) / "web.sqlite"
    if not path.exists():
        build(path, args.cases, svc)
    engine = open_engine(f"sqlite:///{path}", registry=svc[0], directory=svc[1], calendar=svc[2])
    with engine.reader() as conn:
        total = conn.execute(select(func.count()).select_from(T.cases)).scalar_one()
        events = conn.execute(select(func.count()).select_from(T.events)).scalar_one()
        tasks = conn.execute(select(func.count()).select_from(T.tasks)).scalar_one()
        refs = list(conn.execute(select(T.cases.c.ref).where(T.cases.c.region == "KZ-75")).scalars())
    app = create_site(engine)

    def sign_in(body: str, role: str) -> TestClient:
        secret, _ = create_token(engine.db, body, role, label="benchmark")
        c = TestClient(app, base_url="http://bench")
        page = c.get("/login")
        import re
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        assert c.post("/login", data={"csrf": token, "token": secret}, follow_redirects=False).status_code == 303
        return c

    school = sign_in("kz-75.school-1", "agency")
    auditor = sign_in("ministry_education", "auditor")
    rng = random.Random(1)
    n = args.requests
    for c, url in ((school, "/inbox"), (auditor, "/map"), (auditor, f"/cases/{refs[0]}")):
        timed(c, url, 5)  # warm up (templates compiled, statements cached)
    figures = {"inbox": timed(school, "/inbox", n),
               "case": timed_each(auditor, [f"/cases/{rng.choice(refs)}" for _ in range(n)]),
               "map": timed(auditor, "/map", n)}
    others = {}
    for indicator in ("overdue_tasks", "critical_cases", "suicide_attempts", "median_reaction"):
        others[indicator] = timed(auditor, f"/map?indicator={indicator}", max(20, n // 10))
    with engine.reader() as conn:
        inbox_total = conn.execute(select(func.count()).select_from(T.tasks).where(
            T.tasks.c.body_id == "kz-75.school-1", T.tasks.c.status == "open")).scalar_one()
    print(f"store: {total} cases, {events} events, {tasks} tasks (SQLite); inbox of kz-75.school-1: "
          f"{inbox_total} open tasks; {n} requests per page")
    print(f"{'page':<28}{'p50 ms':>10}{'p95 ms':>10}")
    for name, values in figures.items():
        print(f"{name:<28}{statistics.median(values):>10.1f}{p95(values):>10.1f}")
    for name, values in others.items():
        print(f"{'map ' + name:<28}{statistics.median(values):>10.1f}{p95(values):>10.1f}")
    print(json.dumps({"cases": total, "inbox_p95_ms": round(p95(figures["inbox"]), 1),
                      "case_p95_ms": round(p95(figures["case"]), 1), "map_p95_ms": round(p95(figures["map"]), 1)}))
    engine.db.dispose()


if __name__ == "__main__":
    main()
