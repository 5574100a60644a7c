"""The HTTP API as its users meet it: a coordinator launches, an agency works its inbox and fires,
an auditor replays and verifies; errors carry the spec's codes with fitting statuses."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.api.models import FIRE_EXAMPLE, LAUNCH_EXAMPLE
from states.clock import utcnow
from states.queries import completing_triggers
from states.sweep import sweep

from factories import police_check_data
from test_api_fixtures import World, bullying, world_fixture  # noqa: F401


def test_coordinator_launches_agency_works_inbox_auditor_verifies(world: World):
    c = world.client
    r = c.post("/api/v1/cases", json=LAUNCH_EXAMPLE, headers=world.auth("coord_75"))
    assert r.status_code == 201, r.text
    ref = r.json()["ref"]
    assert r.json()["state"] == "reported" and r.json()["version"] == 1
    assert r.json()["link"] == f"https://qorgau.example.kz/cases/{ref}"
    assert r.headers["location"] == f"/api/v1/cases/{ref}"

    inbox = c.get("/api/v1/inbox", headers=world.auth("school_75")).json()
    item = next(i for i in inbox["items"] if i["case"]["ref"] == ref)
    assert item["task"]["kind"] == "collect_information"
    assert item["task"]["title"]["en"] == "Collect information"
    assert item["task"]["due_local"].endswith("+05:00") and item["task"]["due"].endswith("Z")
    action = item["actions"][0]
    assert action["trigger"] == "assess"
    fields = {f["name"]: f for f in action["fields"]}
    assert fields["perpetrator"]["required"] and "peer" in fields["perpetrator"]["choices"]
    assert fields["immediate_danger"]["type"] == "bool"

    r = c.post(f"/api/v1/cases/{ref}/fire", json={**FIRE_EXAMPLE, "version": item["case"]["version"]},
               headers=world.auth("school_75"))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "bullying_review" and r.json()["version"] == 2

    detail = c.get(f"/api/v1/cases/{ref}", headers=world.auth("coord_75")).json()
    assert detail["state"]["name"] == "bullying_review" and detail["version"] == 2
    assert {t["kind"] for t in detail["tasks"] if t["status"] == "open"} >= {"decide_bullying", "police_check"}
    assert {b["role"]: b["body_id"] for b in detail["bindings"]}["school"] == "kz-75.school-1"

    history = c.get(f"/api/v1/cases/{ref}/history", headers=world.auth("auditor")).json()
    assert [e["trigger"] for e in history["events"]] == ["launch", "assess"]
    assert history["events"][1]["prev_hash"] == history["events"][0]["hash"] == history["events"][1]["prev_hash"]
    launched_at = history["events"][0]["at"]
    replay = c.get(f"/api/v1/cases/{ref}/replay", params={"at": launched_at}, headers=world.auth("auditor")).json()
    assert replay["state"] == "reported" and replay["version"] == 1
    assert c.get(f"/api/v1/cases/{ref}/verify", headers=world.auth("auditor")).json()["ok"] is True
    everything = c.get("/api/v1/verify", headers=world.auth("auditor")).json()
    assert everything["ok"] is True and everything["cases"] == 4


def test_the_openapi_examples_work(world: World):
    """The launch and fire examples of the OpenAPI document, as documented, succeed."""
    doc = world.client.get("/api/v1/openapi.json").json()
    launch_ex = doc["paths"]["/api/v1/cases"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    fire_ex = doc["paths"]["/api/v1/cases/{ref}/fire"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    (launch_body,) = [e["value"] for e in launch_ex.values()]
    (fire_body,) = [e["value"] for e in fire_ex.values()]
    r = world.client.post("/api/v1/cases", json=launch_body, headers=world.auth("coord_75"))
    assert r.status_code == 201, r.text
    r = world.client.post(f"/api/v1/cases/{r.json()['ref']}/fire", json=fire_body, headers=world.auth("school_75"))
    assert r.status_code == 200, r.text
    assert doc["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op.get("summary") and "responses" in op, (method, path)
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


@pytest.mark.parametrize("payload, status, code, field", [
    ({"trigger": "no_such", "version": 1, "data": {}}, 422, "unknown_trigger", "trigger"),
    ({"trigger": "bullying_recognised", "version": 1, "data": {}}, 409, "invalid_transition", None),
    ({"trigger": "assess", "version": 1, "data": {"immediate_danger": False}}, 422, "invalid_data", "perpetrator"),
    ({"trigger": "assess", "version": 1, "data": {"immediate_danger": "maybe", "perpetrator": "peer"}}, 422,
     "invalid_data", "immediate_danger"),
    ({"trigger": "assess", "version": 7, "data": {}}, 409, "conflict", None),
    ({"trigger": "assess", "data": {}}, 422, "invalid_data", "version"),
    ({"trigger": "assess", "version": -1, "data": {}}, 422, "invalid_data", "version"),
    ({"trigger": "assess", "version": 1, "data": [1]}, 422, "invalid_data", "data"),
    ({"trigger": "assess", "version": 1, "data": {}, "extra": 1}, 422, "invalid_data", "extra"),
])
def test_fire_errors_carry_spec_codes(world: World, payload, status, code, field):
    ref = world.refs["C"]
    r = world.client.post(f"/api/v1/cases/{ref}/fire", json=payload, headers=world.auth("school_75"))
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and body["message"]
    assert body.get("field") == field


def test_other_error_codes(world: World):
    c, school = world.client, world.auth("school_75")
    r = c.post("/api/v1/cases/VR-75-424242/fire", json={"trigger": "assess", "version": 1}, headers=school)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_case")
    r = c.post(f"/api/v1/cases/{world.refs['C']}/fire", content=b"{not json", headers={**school,
                                                                                      "content-type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_data")
    r = c.post("/api/v1/cases", json={"algorithm": "nope", "region": "KZ-75", "data": {}}, headers=school)
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "invalid_data", "algorithm")
    r = c.post("/api/v1/cases", json={"algorithm": "violence-report", "region": "KZ-75",
                                      "data": bullying("kz-75.school-1") | {"summary": "IIN 040302 500 123 in text"}},
               headers=school)
    assert (r.status_code, r.json()["field"]) == (422, "summary")
    r = c.get("/api/v1/cases?limit=0", headers=school)
    assert (r.status_code, r.json()["field"]) == (422, "limit")
    r = c.get("/api/v1/nowhere", headers=school)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = c.put("/api/v1/cases", headers=school)
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")
    r = c.get("/api/v1/cases/%00", headers=school)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_data")
    # guard_failed: an appeal more than 3 months after the decision
    engine, t0 = world.engine, utcnow() - timedelta(days=200)
    ref = engine.launch("violence-report", "KZ-75", "kz-75.school-1", bullying("kz-75.school-1", now=t0), now=t0).ref
    engine.fire(ref, "assess", "kz-75.school-1", {"immediate_danger": False, "perpetrator": "peer"},
                now=t0 + timedelta(hours=1))
    engine.fire(ref, "bullying_not_recognised", "kz-75.school-1", {"reason": "one-off conflict"},
                now=t0 + timedelta(days=1))
    from states.tokens import create_token
    dept = {"Authorization": "Bearer " + create_token(engine.db, "kz-75.education_department", "agency")[0]}
    r = c.post(f"/api/v1/cases/{ref}/fire", json={"trigger": "appeal_filed", "version": 3,
                                                  "data": {"grounds": "new witnesses"}}, headers=dept)
    assert (r.status_code, r.json()["code"]) == (409, "guard_failed")
    assert "3 months" in r.json()["message"]


def test_inbox_lists_overdue_first_then_soonest_due_without_personal_data(world: World):
    inbox = world.client.get("/api/v1/inbox", headers=world.auth("police_75")).json()
    dues = [i["task"]["due"] for i in inbox["items"]]
    assert dues == sorted(dues)
    flags = [i["task"]["overdue"] for i in inbox["items"]]
    assert flags == sorted(flags, reverse=True) and flags[0] is True and flags[-1] is False
    late = inbox["items"][0]["task"]
    assert late["seconds_left"] < 0 and late["late_by"] and late["time_left"] is None
    assert inbox["overdue"] == sum(flags) and inbox["total"] == len(flags)
    only_late = world.client.get("/api/v1/inbox?overdue=true", headers=world.auth("police_75")).json()
    assert all(i["task"]["overdue"] for i in only_late["items"]) and only_late["total"] == inbox["overdue"]
    assert "Aigerim" not in str(inbox)


def test_unknown_or_repeated_query_parameters_are_refused_before_anything_else(world: World):
    c, police = world.client, world.auth("police_75")
    r = c.get("/api/v1/inbox?overdu=true", headers=police)
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "invalid_data", "overdu")
    assert "allowed: limit, offset, overdue" in r.json()["message"]
    r = c.get("/api/v1/inbox?limit=2&limit=3", headers=police)
    assert (r.status_code, r.json()["field"]) == (422, "limit") and "more than once" in r.json()["message"]
    # checked before the token: a typo is named even to a caller without one
    r = c.get("/api/v1/cases?regoin=KZ-75")
    assert (r.status_code, r.json()["field"]) == (422, "regoin")
    assert c.get("/api/v1/health?x=1").status_code == 422
    # an operation without query parameters, and the pages (their own query strings) are not refused
    assert "allowed: none" in c.get("/api/v1/me?verbose=1", headers=police).json()["message"]
    assert c.get("/api/v1/inbox?overdue=true&limit=5&offset=0", headers=police).status_code == 200
    assert c.get("/api/v1/health").status_code == 200


def test_inbox_pages_carry_the_whole_inbox_counts(world: World):
    """Paged with a small limit, every page (and one past the end) reports the counts of the whole
    inbox, and the pages together are the inbox in order."""
    whole = world.client.get("/api/v1/inbox", headers=world.auth("police_75")).json()
    assert whole["total"] >= 2 and whole["overdue"] >= 1
    pages = []
    for offset in range(whole["total"] + 1):
        page = world.client.get(f"/api/v1/inbox?limit=1&offset={offset}", headers=world.auth("police_75")).json()
        assert (page["total"], page["overdue"]) == (whole["total"], whole["overdue"])
        pages.append(page)
    assert [i["task"]["key"] + i["case"]["ref"] for p in pages for i in p["items"]] == \
        [i["task"]["key"] + i["case"]["ref"] for i in whole["items"]]
    assert pages[-1]["items"] == []
    late = world.client.get("/api/v1/inbox?overdue=true&limit=1&offset=1000", headers=world.auth("police_75")).json()
    assert (late["total"], late["overdue"], late["items"]) == (whole["overdue"], whole["overdue"], [])


def test_inbox_actions_are_what_the_engine_accepts(world: World):
    """Every action offered in an inbox is a trigger of the case's current state that the engine's
    own authorisation lets this body fire (it is never `invalid_transition` nor `forbidden`)."""
    engine = world.engine
    offered = 0
    for name, body_id in (("school_75", "kz-75.school-1"), ("police_75", "kz-75.police"),
                          ("coord_75", "kz-75.education_department")):
        for item in world.client.get("/api/v1/inbox", headers=world.auth(name)).json()["items"]:
            case = engine.case(item["case"]["ref"])
            d = engine.definition_for(case)
            for action in item["actions"]:
                assert d.edges_from(action["trigger"], case.state)
                engine._authorize(d, d.trigger(action["trigger"]), case, body_id, action["trigger"])  # raises if not
                offered += 1
    assert offered >= 4


def test_escalated_task_in_the_supervisors_inbox_offers_the_served_trigger(world: World):
    engine = world.engine
    sweep(engine, now=utcnow() + timedelta(days=10))
    from states.tokens import create_token
    health_dept = {"Authorization": "Bearer " + create_token(engine.db, "kz-75.health_department", "agency")[0]}
    inbox = world.client.get("/api/v1/inbox", headers=health_dept).json()
    ensure = [i for i in inbox["items"] if i["task"]["kind"] == "ensure_completion"]
    assert ensure, inbox
    item = ensure[0]
    assert item["task"]["serves_kind"] == "medical_examination"
    assert [a["trigger"] for a in item["actions"]] == ["examined"]
    # police_check_done is the police's decision (version 2, C2): escalated to the ministry, the
    # task is in its inbox but the decision is not offered to it.
    inbox = world.client.get("/api/v1/inbox", headers=world.auth("mvd")).json()
    police = [i for i in inbox["items"] if i["task"]["kind"] == "ensure_completion"]
    assert police and all(i["task"]["serves_kind"] == "police_check" and i["actions"] == [] for i in police)
    detail = world.client.get(f"/api/v1/cases/{item['case']['ref']}", headers=world.auth("auditor")).json()
    assert detail["escalation_level"] >= 2 and detail["critical"] in (True, False)
    overdue = world.client.get("/api/v1/cases?overdue=true", headers=world.auth("auditor")).json()
    assert item["case"]["ref"] in {c["ref"] for c in overdue["items"]}
    assert all(c["overdue_tasks"] > 0 for c in overdue["items"])


def test_templated_completion_names_the_task_to_prefill():
    from algorithms.registry import Registry
    d = Registry.load().latest("social-patronage")
    assert completing_triggers(d, "plan_action:A1") == [("plan_action_done", {"action_id": "A1"})]
    assert all(prefill == {} for _, prefill in completing_triggers(d, "home_visit"))
    assert [name for name, _ in completing_triggers(d, "home_visit")] == ["visit_done"]


def test_compliance_as_json_and_csv(world: World):
    q = {"from": "2020-01-01", "to": "2040-01-01", "region": "KZ-75"}
    r = world.client.get("/api/v1/reports/compliance", params=q, headers=world.auth("auditor"))
    assert r.status_code == 200 and r.json()["rows"]
    assert {row["body_id"] for row in r.json()["rows"]} >= {"kz-75.police", "kz-75.school-1"}
    r = world.client.get("/api/v1/reports/compliance", params={**q, "format": "csv"}, headers=world.auth("auditor"))
    assert r.headers["content-type"].startswith("text/csv") and r.text.startswith("body_id,body_type,task_kind")
    r = world.client.get("/api/v1/reports/compliance", params={**q, "to": "2019-01-01"}, headers=world.auth("auditor"))
    assert (r.status_code, r.json()["field"]) == (422, "to")
    r = world.client.get("/api/v1/reports/compliance", params={**q, "region": "KZ-00"}, headers=world.auth("auditor"))
    assert (r.status_code, r.json()["field"]) == (422, "region")


def test_tokens_through_the_api(world: World):
    c, admin = world.client, world.auth("admin")
    r = c.post("/api/v1/tokens", json={"body": "kz-75.kdn", "role": "agency", "label": "kdn"}, headers=admin)
    assert r.status_code == 201
    created = r.json()
    kdn = {"Authorization": f"Bearer {created['token']}"}
    assert c.get("/api/v1/me", headers=kdn).json()["body_id"] == "kz-75.kdn"
    listed = c.get("/api/v1/tokens", headers=admin).json()
    assert created["id"] in [t["id"] for t in listed] and all("token" not in t for t in listed)
    assert c.delete(f"/api/v1/tokens/{created['id']}", headers=admin).json()["revoked_at"]
    assert c.get("/api/v1/me", headers=kdn).status_code == 401
    assert c.delete("/api/v1/tokens/999999", headers=admin).status_code == 404
    r = c.post("/api/v1/tokens", json={"body": "nowhere", "role": "agency"}, headers=admin)
    assert (r.status_code, r.json()["field"]) == (422, "body")
    r = c.post("/api/v1/tokens", json={"body": "kz-75.kdn", "role": "root"}, headers=admin)
    assert (r.status_code, r.json()["field"]) == (422, "role")


def test_notification_links_lead_to_the_case(world: World):
    ref = world.refs["A"]
    r = world.client.get(f"/cases/{ref}", headers=world.auth("police_75"), follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == f"/api/v1/cases/{ref}"
    r = world.client.get(f"/cases/{ref}", headers=world.auth("police_75"))
    assert r.status_code == 200 and r.json()["ref"] == ref
    assert r.json()["link"] == f"https://qorgau.example.kz/cases/{ref}"


def test_spawned_cases_and_links_show_on_the_case(world: World):
    c, ref = world.client, world.refs["C"]
    other = world.refs["A"]
    r = c.post(f"/api/v1/cases/{ref}/fire", json={"trigger": "link", "version": 1, "data": {"case": other}},
               headers=world.auth("school_75"))
    assert r.status_code == 200, r.text
    links = c.get(f"/api/v1/cases/{ref}", headers=world.auth("school_75")).json()["links"]
    assert {"relation": "linked", "ref": other} in links
    actions = c.get(f"/api/v1/cases/{ref}/actions", headers=world.auth("school_75")).json()
    assert "assess" in {a["trigger"] for a in actions} and "link" in {a["trigger"] for a in actions}


def test_the_api_takes_version_2_date_times_and_registry_numbers(world: World):
    """violence-report v2 through the API: `detected_at` an ISO date-time with its offset (garbage, a
    wall time without offset, a future or too old moment: invalid_data naming the field), and the
    police's `register` / `registry_number` (a typed field: 15 digits are not an IIN)."""
    c, coord = world.client, world.auth("coord_75")
    launch = {"algorithm": "violence-report", "region": "KZ-75"}
    now = utcnow()
    for bad in ("yesterday evening", "2026-04-06T09:00:00", (now + timedelta(hours=2)).isoformat(),
                (now - timedelta(days=400)).isoformat(), 20260406):
        r = c.post("/api/v1/cases", json={**launch, "data": bullying("kz-75.school-1") | {"detected_at": bad}},
                   headers=coord)
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "invalid_data", "detected_at"), bad
    r = c.post("/api/v1/cases", json={**launch, "data": bullying("kz-75.school-1") | {"reporter": None}},
               headers=coord)
    assert (r.status_code, r.json()["field"]) == (422, "reporter")
    r = c.post("/api/v1/cases", json={**launch, "data": bullying("kz-75.school-1", form="physical")}, headers=coord)
    assert r.status_code == 201, r.text
    ref = r.json()["ref"]
    detail = c.get(f"/api/v1/cases/{ref}", headers=coord).json()
    assert detail["algorithm"]["version"] == 2 and detail["data"]["reporter"] == "teacher"
    fields = {f["name"]: f for f in next(
        a for a in c.get(f"/api/v1/cases/{ref}/actions", headers=world.auth("police_75")).json()
        if a["trigger"] == "police_check_done")["fields"]}
    assert fields["registry_number"]["type"] == "registry_number" and fields["register"]["choices"] == ["erdr", "kui"]
    police = world.auth("police_75")
    fire = {"trigger": "police_check_done", "version": 1}
    r = c.post(f"/api/v1/cases/{ref}/fire", json={**fire, "data": {"outcome": "criminal_case"}}, headers=police)
    assert (r.status_code, r.json()["field"]) == (422, "register")
    r = c.post(f"/api/v1/cases/{ref}/fire", json={**fire, "data": police_check_data(registry_number="12 34")},
               headers=police)
    assert (r.status_code, r.json()["field"]) == (422, "registry_number")
    r = c.post(f"/api/v1/cases/{ref}/fire", json={**fire, "data": police_check_data()}, headers=police)
    assert r.status_code == 200, r.text
