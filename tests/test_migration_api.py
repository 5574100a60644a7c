"""Migrations through the HTTP API (../shared/spec/migration.md, "Commands and API"): the ministry's
coordinator plans a move of running cases to version 2 and reads what changes for each, starts it
and follows it until done; every moved case has one `migrated` event. Only an admin or the
ministry's coordinator may; auditors read; a selection that means nothing is 422 naming the field
and writes nothing."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from states import tables as T
from states.clock import utcnow

from test_api_fixtures import World, world_fixture  # noqa: F401

pytestmark = pytest.mark.db

V1 = {"form": "bullying", "channel": "school", "summary": "synthetic: name-calling in class 5B"}


def version_1_cases(engine) -> dict[str, str]:
    """Two running violence reports of version 1: a bullying case in KZ-75 whose decision lies with
    the education department (version 2 gives it to the school), and a fresh report in KZ-11."""
    now = utcnow() - timedelta(hours=3)
    bullying = engine.launch("violence-report", "KZ-75", "kz-75.school-1", V1, now=now, version=1).ref
    engine.fire(bullying, "assess", "kz-75.school-1", {"immediate_danger": False, "perpetrator": "peer"},
                now=now + timedelta(hours=1))
    fresh = engine.launch("violence-report", "KZ-11", "kz-11.school-1", V1, now=now, version=1).ref
    return {"bullying": bullying, "fresh": fresh}


@pytest.fixture
def api(world: World):
    """The world's API with the version-1 cases, served with one event loop (as uvicorn does)."""
    world.refs.update(version_1_cases(world.engine))
    with TestClient(world.app) as client:
        world.client = client
        yield world


def written(engine) -> tuple[int, int]:
    """How many migration rows and `migrated` events the store holds."""
    with engine.db.connect() as conn:
        return (conn.execute(select(func.count()).select_from(T.migrations)).scalar_one(),
                conn.execute(select(func.count()).where(T.events.c.trigger == "migrated")).scalar_one())


def until_finished(api: World, run_id: int, caller: str = "coord_republic") -> dict:
    deadline = time.monotonic() + 30
    while True:
        r = api.client.get(f"/api/v1/migrations/{run_id}", headers=api.auth(caller))
        assert r.status_code == 200, r.text
        if r.json()["status"] != "running":
            return r.json()
        assert time.monotonic() < deadline, r.json()
        time.sleep(0.05)


def test_a_dry_run_shows_counts_then_each_case_and_moves_nothing(api: World):
    r = api.client.post("/api/v1/migrations", json={"algorithm": "violence-report", "to_version": 2},
                        headers=api.auth("coord_republic"))
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["status"] == "planned" and plan["cases_total"] == 2
    assert plan["counts"]["cases"] == 2 and plan["counts"]["migratable"] == 2
    assert plan["counts"]["not_migratable"] == 0 and plan["counts"]["tasks_moved"] == 1
    case = next(c for c in plan["cases"] if c["ref"] == api.refs["bullying"])
    assert (case["state"], case["state_after"]) == ("bullying_review", "bullying_review")
    moved, = case["tasks_moved"]
    assert moved["kind"] == "decide_bullying"
    assert (moved["from_body"], moved["body"]) == ("kz-75.education_department", "kz-75.school-1")
    with api.engine.reader() as conn:  # the due is kept
        due = conn.execute(select(T.tasks.c.due).where(T.tasks.c.kind == "decide_bullying")).scalar_one()
    assert moved["due"].replace("Z", "+00:00") == due.isoformat().replace(".000000", "")
    assert written(api.engine) == (1, 0)  # the plan is kept; no case moved

    kept = api.client.get(f"/api/v1/migrations/{plan['id']}", headers=api.auth("auditor")).json()
    assert kept["dry_run"] is True and kept["status"] == "planned"
    assert (kept["actor"], kept["role"]) == ("ministry_education", "coordinator")
    assert kept["report"]["counts"] == plan["counts"] and kept["total"] == 2


def test_a_region_and_a_state_narrow_the_selection(api: World):
    r = api.client.post("/api/v1/migrations", json={"algorithm": "violence-report", "to_version": 2,
                                                     "region": "KZ-11", "state": "reported"},
                        headers=api.auth("admin"))
    assert r.status_code == 200, r.text
    assert [c["ref"] for c in r.json()["cases"]] == [api.refs["fresh"]]


def test_a_run_moves_each_case_once_and_is_followed_until_done(api: World):
    r = api.client.post("/api/v1/migrations", json={"algorithm": "violence-report", "to_version": 2,
                                                     "dry_run": False}, headers=api.auth("coord_republic"))
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "running" and r.headers["location"] == f"/api/v1/migrations/{r.json()['id']}"
    run = until_finished(api, r.json()["id"])
    assert run["status"] == "done" and run["dry_run"] is False
    assert (run["total"], run["moved"], run["skipped"], run["failed"], run["not_migratable"]) == (2, 2, 0, 0, 0)
    assert run["report"]["failed"] == [] and run["finished_at"] is not None
    for ref in (api.refs["bullying"], api.refs["fresh"]):
        events = api.client.get(f"/api/v1/cases/{ref}/history", headers=api.auth("auditor")).json()["events"]
        migrated = [e for e in events if e["trigger"] == "migrated"]
        assert len(migrated) == 1 and migrated[0]["actor"] == "ministry_education"
        assert (migrated[0]["data"]["from_version"], migrated[0]["data"]["to_version"]) == (1, 2)
        assert api.client.get(f"/api/v1/cases/{ref}/verify", headers=api.auth("auditor")).json()["ok"] is True
    detail = api.client.get(f"/api/v1/cases/{api.refs['bullying']}", headers=api.auth("admin")).json()
    decide = next(t for t in detail["tasks"] if t["kind"] == "decide_bullying")
    assert decide["body_id"] == "kz-75.school-1" and detail["algorithm"]["version"] == 2

    again = api.client.post("/api/v1/migrations", json={"algorithm": "violence-report", "to_version": 2,
                                                         "dry_run": False}, headers=api.auth("admin"))
    assert (again.status_code, again.json()) == (200, {"id": None, "status": "nothing_to_move"})  # all moved
    listed = api.client.get("/api/v1/migrations", headers=api.auth("auditor")).json()
    assert [(m["id"], m["actor"], m["role"], m["status"]) for m in listed] == [
        (r.json()["id"], "ministry_education", "coordinator", "done")]
    assert "report" not in listed[0]


@pytest.mark.parametrize("caller", ["school_75", "auditor", "coord_75", "mvd"])
@pytest.mark.parametrize("dry_run", [True, False])
def test_only_an_admin_or_the_ministrys_coordinator_may_migrate(api: World, caller, dry_run):
    r = api.client.post("/api/v1/migrations", json={"algorithm": "violence-report", "to_version": 2,
                                                     "dry_run": dry_run}, headers=api.auth(caller))
    assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
    assert written(api.engine) == (0, 0)


@pytest.mark.parametrize("caller", ["school_75", "coord_75"])
def test_agencies_and_regional_coordinators_do_not_read_migrations(api: World, caller):
    planned = api.client.post("/api/v1/migrations", json={"algorithm": "violence-report", "to_version": 2},
                              headers=api.auth("admin")).json()
    for path in ("/api/v1/migrations", f"/api/v1/migrations/{planned['id']}"):
        r = api.client.get(path, headers=api.auth(caller))
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert api.client.get("/api/v1/migrations").status_code == 401


@pytest.mark.parametrize("body, field", [
    ({"algorithm": "no-such-algorithm", "to_version": 2}, "algorithm"),
    ({"algorithm": "violence-report", "to_version": 0}, "to_version"),
    ({"algorithm": "violence-report", "to_version": 99}, "to_version"),
    ({"algorithm": "violence-report", "to_version": 2, "region": "KZ-99"}, "region"),
    ({"algorithm": "violence-report", "to_version": 2, "state": "no_such_state"}, "state"),
    ({"algorithm": "violence-report", "to_version": 2, "dry_run": False, "force": True}, "force"),
    ({"algorithm": "violence-report", "to_version": "2"}, "to_version"),
    ({"algorithm": "violence-report", "to_version": 2, "dry_run": "no"}, "dry_run"),
    ({"algorithm": "violence-report", "to_version": 2, "region": 75}, "region"),
    ({"to_version": 2}, "algorithm"),
])
@pytest.mark.parametrize("dry_run", [True, False])
def test_a_selection_that_means_nothing_is_refused_naming_the_field(api: World, body, field, dry_run):
    body = {"dry_run": dry_run, **body}
    r = api.client.post("/api/v1/migrations", json=body, headers=api.auth("coord_republic"))
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_data" and r.json()["field"] == field
    assert written(api.engine) == (0, 0)


def test_an_unknown_migration_is_404(api: World):
    r = api.client.get("/api/v1/migrations/12345", headers=api.auth("auditor"))
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert api.client.get("/api/v1/migrations/0", headers=api.auth("auditor")).status_code == 422
    assert api.client.get("/api/v1/migrations/x", headers=api.auth("auditor")).json()["field"] == "run_id"


def test_the_openapi_document_describes_the_migrations(api: World):
    doc = api.client.get("/api/v1/openapi.json").json()
    post = doc["paths"]["/api/v1/migrations"]["post"]
    assert {"200", "202", "403", "422"} <= set(post["responses"])
    assert "/api/v1/migrations/{run_id}" in doc["paths"]
    r = api.client.post("/api/v1/migrations", json=post["requestBody"]["content"]["application/json"]["examples"]
                        ["dry run"]["value"], headers=api.auth("admin"))
    assert r.status_code == 200 and [c["ref"] for c in r.json()["cases"]] == [api.refs["bullying"]]
