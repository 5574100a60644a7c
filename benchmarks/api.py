"""API benchmark (not a test): requests/s and p50/p99 latency of a mix of inbox reads and fires at
20 concurrent clients over loopback, against `qorgau api` in a subprocess on an SQLite store (or the
store named by --database-url). Target: p99 <= 100 ms on SQLite. Last line: one JSON object.

Run: .venv/bin/python benchmarks/api.py [--clients 20] [--requests 4000] [--fire-share 0.25] [--workers 1]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from deployments.ports import free_port  # noqa: E402

REGIONS = ("KZ-75", "KZ-71", "KZ-79", "KZ-11")
ASSESS = {"immediate_danger": False, "perpetrator": "peer"}


def progress(label: str, done: int, total: int) -> None:
    if sys.stderr.isatty():
        print(f"\r{label}: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)


def seed(url: str, cases: int) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Launch `cases` cases across four regions and their schools; a token for each school (it
    assesses) and each region's police (a large inbox). Returns [(ref, school)] and body -> token."""
    from states.store import open_engine
    from states.tokens import create_token
    engine = open_engine(url)
    directory = engine.svc.directory
    schools = [s.id for region in REGIONS for s in directory.schools(region)]
    refs = []
    for i in range(cases):
        school = schools[i % len(schools)]
        detected = datetime.now(timezone.utc) - timedelta(hours=1)  # version 2: duty-to-report fields
        ref = engine.launch("violence-report", directory.get(school).region, school,
                            {"form": "bullying", "channel": "school", "summary": "synthetic benchmark case",
                             "school": school, "detected_at": detected.isoformat(), "reporter": "teacher"}).ref
        refs.append((ref, school))
        progress("seed", i + 1, cases)
    bodies = schools + [directory.region_body(r, "police").id for r in REGIONS]
    tokens = {body: create_token(engine.db, body, "agency", "benchmark")[0] for body in bodies}
    engine.db.dispose()
    return refs, tokens


def start_server(url: str, port: int, master_key: str, workers: int) -> subprocess.Popen:
    """`qorgau api` (the web pages and the API, `workers` processes on one port) on the store."""
    env = {**os.environ, "QORGAU_DATABASE_URL": url, "QORGAU_MASTER_KEY": master_key}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "api", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers), "--log-level", "warning"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("the API server did not start")


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: the load generator must cost the
    two-core machine far less CPU than the server it measures (httpx costs about as much per
    request as the server's own work)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, token: str, body: bytes = b"") -> tuple[int, bytes]:
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), payload

    def close(self) -> None:
        self.writer.close()


def run(port: int, refs: list[tuple[str, str]], tokens: dict[str, str], clients: int, requests: int,
        fire_share: float) -> dict:
    """`clients` concurrent clients, each on its own keep-alive connection, each sending its next
    request as soon as the last is answered, until `requests` are answered in all."""
    readers = list(tokens)
    queue = list(refs)
    samples: list[tuple[str, float, int, int]] = []  # (kind, seconds, status, client)
    per_client = requests // clients
    fire_body = json.dumps({"trigger": "assess", "version": 1, "data": ASSESS}).encode()

    async def client(seed_: int, start: asyncio.Event) -> None:
        rnd = random.Random(seed_)
        conn = Connection("127.0.0.1", port)
        await conn.open()
        await start.wait()
        for _ in range(per_client):
            job = queue.pop() if (rnd.random() < fire_share and queue) else None
            t0 = time.perf_counter()
            if job is not None:
                ref, school = job
                status, _ = await conn.request("POST", f"/api/v1/cases/{ref}/fire", tokens[school], fire_body)
                samples.append(("fire", time.perf_counter() - t0, status, seed_))
            else:
                status, _ = await conn.request("GET", "/api/v1/inbox?limit=20", tokens[rnd.choice(readers)])
                samples.append(("inbox", time.perf_counter() - t0, status, seed_))
        conn.close()

    async def all_clients() -> float:
        start = asyncio.Event()
        tasks = [asyncio.create_task(client(i, start)) for i in range(clients)]
        await asyncio.sleep(0.2)  # every connection open
        t0 = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        return time.perf_counter() - t0

    elapsed = asyncio.run(all_clients())

    def pct(values: list[float], p: float) -> float:
        values = sorted(values)
        return round(1000 * values[min(len(values) - 1, int(p * len(values)))], 1) if values else 0.0

    all_ms = [s[1] for s in samples]
    by = {kind: [s[1] for s in samples if s[0] == kind] for kind in ("inbox", "fire")}
    errors = [s for s in samples if s[2] != 200]
    client_p99 = [pct([s[1] for s in samples if s[3] == c], 0.99) for c in range(clients)]
    return {"clients": clients, "requests": len(samples), "seconds": round(elapsed, 2),
            "requests_per_s": round(len(samples) / elapsed, 1), "p50_ms": pct(all_ms, 0.50),
            "p95_ms": pct(all_ms, 0.95), "p99_ms": pct(all_ms, 0.99),
            "mean_ms": round(1000 * statistics.fmean(all_ms), 1),
            "inbox": {"n": len(by["inbox"]), "p50_ms": pct(by["inbox"], 0.5), "p99_ms": pct(by["inbox"], 0.99)},
            "fire": {"n": len(by["fire"]), "p50_ms": pct(by["fire"], 0.5), "p99_ms": pct(by["fire"], 0.99)},
            # each client's own p99, lowest and highest: far apart means some connections are served
            # later than others (the server does not answer in arrival order)
            "client_p99_ms": [min(client_p99), max(client_p99)], "errors": len(errors),
            "error_statuses": {str(status): n for status, n in sorted(Counter(s[2] for s in errors).items())}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--fire-share", type=float, default=0.25, help="Share of requests that fire.")
    parser.add_argument("--workers", type=int, default=1, help="Worker processes of `qorgau api`.")
    parser.add_argument("--database-url", help="A store to use instead of a fresh SQLite file (it gets seeded).")
    args = parser.parse_args()
    master_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    os.environ["QORGAU_MASTER_KEY"] = master_key
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'api.sqlite'}"
        fires = int(args.requests * args.fire_share * 1.3) + 50
        refs, tokens = seed(url, fires)
        port = free_port()
        server = start_server(url, port, master_key, args.workers)
        try:
            run(port, [], tokens, args.clients, args.clients * 10, 0.0)  # warm-up: reads only
            result = run(port, refs, tokens, args.clients, args.requests, args.fire_share)
        finally:
            server.terminate()
            server.wait(timeout=10)
    result["backend"] = url.split(":", 1)[0]
    result["workers"] = args.workers
    result["target_p99_ms"] = 100
    result["meets_target"] = result["p99_ms"] <= 100 and result["errors"] == 0
    print(f"API at {args.clients} concurrent clients over loopback ({result['backend']}, "
          f"{args.workers} worker process{'es' if args.workers > 1 else ''}): "
          f"{result['requests']} requests ({result['fire']['n']} fires, {result['inbox']['n']} inbox reads) "
          f"in {result['seconds']} s")
    print(f"  {result['requests_per_s']} requests/s; latency p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
          f"p99 {result['p99_ms']} ms "
          f"(inbox p99 {result['inbox']['p99_ms']} ms, fire p99 {result['fire']['p99_ms']} ms); "
          f"errors: {result['errors']}")
    print(f"  each client's p99 between {result['client_p99_ms'][0]} and {result['client_p99_ms'][1]} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
