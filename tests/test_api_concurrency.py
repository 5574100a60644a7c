"""52 clients at once against a real server on loopback: 50 fire on distinct cases, two fire on
the same case at the same version. Every request gets a clean answer; the pair gives one success
and one `conflict`; every history verifies afterwards."""
from __future__ import annotations

import threading

import httpx

from app.api import create_app
from app.api.server import ServerThread
from states.tokens import create_token
from states.verify import verify_all

from test_api_fixtures import bullying

ASSESS = {"trigger": "assess", "version": 1, "data": {"immediate_danger": False, "perpetrator": "peer"}}


def test_fifty_distinct_fires_and_a_race_on_one_case(engine):
    refs = [engine.launch("violence-report", "KZ-75", "kz-75.school-1", bullying("kz-75.school-1")).ref
            for _ in range(51)]
    token = create_token(engine.db, "kz-75.school-1", "agency")[0]
    jobs = [refs[i] for i in range(50)] + [refs[50], refs[50]]
    barrier = threading.Barrier(len(jobs))
    answers: list[tuple[str, int, dict]] = [None] * len(jobs)  # type: ignore[list-item]

    with ServerThread(create_app(engine)) as server:
        def client(i: int, ref: str) -> None:
            with httpx.Client(base_url=server.url, timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as http:
                barrier.wait()
                r = http.post(f"/api/v1/cases/{ref}/fire", json=ASSESS)
                answers[i] = (ref, r.status_code, r.json())

        threads = [threading.Thread(target=client, args=(i, ref)) for i, ref in enumerate(jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)

    assert all(a is not None for a in answers), "a client got no answer"
    distinct = answers[:50]
    assert all(status == 200 and body["state"] == "bullying_review" and body["version"] == 2
               for _, status, body in distinct), [a for a in distinct if a[1] != 200]
    pair = sorted((status, body.get("code")) for _, status, body in answers[50:])
    assert pair == [(200, None), (409, "conflict")], pair
    assert engine.case(refs[50]).version == 2
    with engine.reader() as conn:
        report = verify_all(conn, engine.registry)
    assert report.ok and report.cases == 51, report.failures
