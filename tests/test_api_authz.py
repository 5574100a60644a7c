"""The authorisation matrix: every caller × every endpoint × own / other / missing case, with the
exact status expected and no leak (a list never holds a case outside the caller's scope; personal
data appears only where the caller needs it). The expectations are written out here, independently
of states/access.py.

Every test runs twice, once per kind of credential: the callers hold service tokens, or they are
persons of the same body and role whose access tokens come from a real OpenID Connect provider
process (the API built with its settings). The expected answers are the same; a person's writes
record the person (`events.person`, the access log, the token's `created_by`)."""
from __future__ import annotations

import base64
import json
import warnings
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from app.api import create_app
from states import tables as T
from states.access import OPERATOR
from states.commands import DeactivatePerson
from states.handling import Handler
from states.persons import names_of

from factories import police_check_data
from support.oidc_provider import ProviderProcess
from support.person_callers import person_id_of, person_tokens, provider_access_token, settings_for
from test_api_fixtures import PERSONAL_MARKERS, PRINCIPALS, World, build_world, bullying

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CREDENTIALS = ("token", "person")


@dataclass
class CallerWorld(World):
    """The API world with one kind of credential for every caller."""
    kind: str = "token"
    issuer: str | None = None

    def person_of(self, name: str) -> str | None:
        """The person a write by `name` must record (None: a service token acts for its body alone)."""
        return person_id_of(self.engine, self.issuer, name) if self.kind == "person" else None


@pytest.fixture(scope="module")
def provider_process():
    process = ProviderProcess(token_max_age=3600).start()  # one set of access tokens serves the module
    yield process
    process.stop()


@pytest.fixture(scope="module")
def access_tokens(provider_process) -> dict[str, str]:
    """Each caller's access token (the person is provisioned from it in each test's fresh store)."""
    return person_tokens(provider_process, PRINCIPALS)


@pytest.fixture(name="world", params=CREDENTIALS)
def world_fixture(request, engine) -> CallerWorld:
    """build_world's cases; each caller a service token, or a person signed in at the provider."""
    base = build_world(engine)
    if request.param == "token":
        world = CallerWorld(engine, base.app, base.client, base.tokens, base.refs)
    else:
        base.client.close()
        provider = request.getfixturevalue("provider_process")
        app = create_app(engine, base_url="https://qorgau.example.kz", oidc=settings_for(provider.issuer))
        world = CallerWorld(engine, app, TestClient(app), request.getfixturevalue("access_tokens"), base.refs,
                            kind="person", issuer=provider.issuer)
    yield world
    world.client.close()

# Which of the cases A (KZ-75), B (KZ-11), C (KZ-75) each caller may read.
VISIBLE = {
    "coord_75": {"A", "C"},           # its region
    "coord_republic": {"A", "B", "C"},  # a ministry: every region
    "school_75": {"A", "C"},          # bound as the school
    "police_75": {"A", "C"},          # bound as the region's police
    "hotline_75": {"A", "C"},         # bound as the region's hotline
    "mvd": {"A", "B", "C"},           # supervisor of every region's police
    "school_11_unbound": set(),       # B is bound to kz-11.school-1, not to it
    "auditor": {"A", "B", "C"},
    "admin": {"A", "B", "C"},
}
# Who needs the child's personal data (A and B have a child; C has none: 404 no_personal_data).
PERSONAL = {"coord_75": {"A", "C"}, "school_75": {"A", "C"}, "police_75": {"A", "C"}}
# Launching a violence report in KZ-75 / KZ-11 as the caller's body.
LAUNCH = {"coord_75": {"KZ-75"}, "coord_republic": {"KZ-75", "KZ-11"}, "school_75": {"KZ-75"},
          "police_75": {"KZ-75"}, "hotline_75": {"KZ-75"}, "mvd": {"KZ-75", "KZ-11"}, "school_11_unbound": {"KZ-11"}}
AUDITORS = {"auditor", "admin"}
COMPLIANCE = {"auditor": {"KZ-75", "KZ-11", None}, "admin": {"KZ-75", "KZ-11", None},
              "coord_republic": {"KZ-75", "KZ-11", None}, "coord_75": {"KZ-75", None}}
AGENCIES = {n for n, (_, role) in PRINCIPALS.items() if role == "agency"}
COORDINATORS = {n for n, (_, role) in PRINCIPALS.items() if role == "coordinator"}
TARGETS = ("A", "B", "C", "missing")


def case_read(name: str, target: str) -> int:
    if target == "missing":
        return 404
    return 200 if target in VISIBLE[name] else 403


def audit_read(name: str, target: str) -> int:
    return case_read(name, target) if name in AUDITORS else 403


def personal(name: str, target: str) -> int:
    if target == "missing":
        return 404
    if target in PERSONAL.get(name, set()):
        return 404 if target == "C" else 200
    return 403


def fire(name: str, target: str) -> int:
    # A stale version: a caller the API lets through reaches the engine, which answers `conflict`.
    if name not in AGENCIES:
        return 403
    return 409 if case_read(name, target) == 200 else case_read(name, target)


CASE_ENDPOINTS = {
    "GET /cases/{ref}": ("GET", "/api/v1/cases/{ref}", None, case_read),
    "GET /cases/{ref}/history": ("GET", "/api/v1/cases/{ref}/history", None, case_read),
    "GET /cases/{ref}/actions": ("GET", "/api/v1/cases/{ref}/actions", None, case_read),
    "GET /cases/{ref}/personal": ("GET", "/api/v1/cases/{ref}/personal?purpose=audit", None, personal),
    "POST /cases/{ref}/fire": ("POST", "/api/v1/cases/{ref}/fire",
                               {"trigger": "assess", "version": 99, "data": {}}, fire),
    "GET /cases/{ref}/replay": ("GET", "/api/v1/cases/{ref}/replay", None, audit_read),
    "GET /cases/{ref}/verify": ("GET", "/api/v1/cases/{ref}/verify", None, audit_read),
    "GET /cases/{ref}/access-log": ("GET", "/api/v1/cases/{ref}/access-log", None, audit_read),
}


def check_no_personal_data(name: str, path: str, response) -> None:
    if "/personal" in path:
        return
    text = response.text
    assert not any(m in text for m in PERSONAL_MARKERS), f"{name} {path}: personal data leaked"


@pytest.mark.parametrize("name", sorted(PRINCIPALS))
def test_matrix(world: CallerWorld, name: str):
    c, h = world.client, world.auth(name)
    refs = {**world.refs, "missing": "VR-75-999999"}
    seen = []
    for label, (method, template, body, expected) in CASE_ENDPOINTS.items():
        for target in TARGETS:
            path = template.format(ref=refs[target])
            r = c.request(method, path, json=body, headers=h)
            want = expected(name, target)
            seen.append((label, target, r.status_code, want))
            assert r.status_code == want, f"{name} {label} on {target}: {r.status_code} {r.text[:200]}"
            check_no_personal_data(name, path, r)
            if r.status_code >= 400:
                assert set(r.json()) <= {"code", "message", "field"}
                assert r.json()["code"] in ("forbidden", "unknown_case", "conflict", "no_personal_data")
            if r.status_code == 403:
                assert "Synthetic" not in r.text and "synthetic test report" not in r.text

    # lists: never a case outside the scope, and every case inside it
    r = c.get("/api/v1/cases?limit=500", headers=h)
    assert r.status_code == 200
    listed = {item["ref"] for item in r.json()["items"]}
    assert listed == {world.refs[k] for k in VISIBLE[name]}, name
    assert r.json()["total"] == len(VISIBLE[name])
    check_no_personal_data(name, "/cases", r)
    for region in ("KZ-75", "KZ-11"):
        r = c.get(f"/api/v1/cases?region={region}", headers=h)
        want = {world.refs[k] for k in VISIBLE[name] if (k == "B") == (region == "KZ-11")}
        assert {i["ref"] for i in r.json()["items"]} == want

    # inbox: agencies and coordinators, their own body's tasks only
    r = c.get("/api/v1/inbox", headers=h)
    if name in AGENCIES | COORDINATORS:
        assert r.status_code == 200
        body_id = PRINCIPALS[name][0]
        assert r.json()["body_id"] == body_id
        refs_in_inbox = {i["case"]["ref"] for i in r.json()["items"]}
        with world.engine.reader() as conn:
            expected_refs = set(conn.execute(
                select(T.cases.c.ref).join(T.tasks, T.tasks.c.case_id == T.cases.c.id)
                .where(T.tasks.c.body_id == body_id, T.tasks.c.status == "open")).scalars())
        assert refs_in_inbox == expected_refs
        check_no_personal_data(name, "/inbox", r)
    else:
        assert r.status_code == 403 and r.json()["code"] == "forbidden"

    # whole-store audit
    r = c.get("/api/v1/verify", headers=h)
    assert r.status_code == (200 if name in AUDITORS else 403)

    # compliance: auditors everywhere, coordinators in their region
    for region in ("KZ-75", "KZ-11", None):
        q = "?from=2020-01-01&to=2040-01-01" + (f"&region={region}" if region else "")
        r = c.get("/api/v1/reports/compliance" + q, headers=h)
        want = 200 if region in COMPLIANCE.get(name, set()) else 403
        assert r.status_code == want, f"{name} compliance {region}: {r.status_code} {r.text[:200]}"
        if name == "coord_75" and r.status_code == 200:
            assert r.json()["region"] == "KZ-75"

    # tokens: admins only
    spare = c.post("/api/v1/tokens", json={"body": "kz-75.kdn", "role": "agency"}, headers=world.auth("admin")).json()
    for method, path, body, ok in (("GET", "/api/v1/tokens", None, 200),
                                   ("POST", "/api/v1/tokens", {"body": "kz-75.kdn", "role": "agency"}, 201),
                                   ("DELETE", f"/api/v1/tokens/{spare['id']}", None, 200)):
        r = c.request(method, path, json=body, headers=h)
        assert r.status_code == (ok if name == "admin" else 403), f"{name} {method} {path}: {r.status_code}"
        if name != "admin":
            assert "token" not in r.json()
    with world.engine.reader() as conn:
        creators = set(conn.execute(select(T.api_tokens.c.created_by).where(T.api_tokens.c.label.is_(None))).scalars())
    assert creators == {world.person_of("admin")}  # the tokens the admin made record who made them

    # anyone with a token: which algorithms (who am I: test_who_am_i)
    assert c.get("/api/v1/algorithms", headers=h).status_code == 200

    # launching (last: it adds cases); a person's launch records the person, a token's none
    launched = []
    for region, school in (("KZ-75", "kz-75.school-1"), ("KZ-11", "kz-11.school-1")):
        r = c.post("/api/v1/cases", json={"algorithm": "violence-report", "region": region,
                                          "data": bullying(school)}, headers=h)
        want = 201 if region in LAUNCH.get(name, set()) else 403
        assert r.status_code == want, f"{name} launch in {region}: {r.status_code} {r.text[:200]}"
        if r.status_code == 201:
            launched.append(r.json()["ref"])
    with world.engine.reader() as conn:
        recorded = conn.execute(select(T.events.c.actor, T.events.c.person).join(T.cases)
                                .where(T.cases.c.ref.in_(launched), T.events.c.seq == 1)).all()
    assert sorted(recorded) == [(PRINCIPALS[name][0], world.person_of(name))] * len(launched)
    assert len(seen) == len(CASE_ENDPOINTS) * len(TARGETS)


@pytest.mark.parametrize("name", sorted(PRINCIPALS))
def test_who_am_i(world: CallerWorld, name: str):
    r = world.client.get("/api/v1/me", headers=world.auth(name))
    assert r.status_code == 200, r.text[:300]
    assert (r.json()["body_id"], r.json()["role"]) == PRINCIPALS[name]
    assert (r.json()["person_id"] == world.person_of(name)) if world.kind == "person" else r.json()["token_id"]


def invalid_credentials(world: CallerWorld, provider=None) -> list[str]:
    """Credentials of the world's kind that must be refused: a revoked token; or a deactivated
    person's access token, an access token for another client, an edited one."""
    if world.kind == "token":
        from states.tokens import revoke_token
        revoke_token(world.engine.db, world.tokens["police_75"][:12])
        return [world.tokens["police_75"]]
    deactivated = world.tokens["police_75"]
    assert world.client.get("/api/v1/algorithms", headers=world.auth("police_75")).status_code == 200  # provisioned
    Handler(world.engine).handle(DeactivatePerson(world.person_of("police_75")), OPERATOR)
    refused = world.client.get("/api/v1/algorithms", headers=world.auth("police_75"))
    assert refused.status_code == 401 and "deactivated" in refused.json()["message"]
    header, payload, signature = world.tokens["school_75"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raised = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "someone-else", "qorgau_role": "admin"}).encode())
    edited = f"{header}.{raised.decode().rstrip('=')}.{signature}"  # a school's token made an admin's
    return [deactivated, provider_access_token(provider, "admin", client_id="another-system"), edited]


def test_without_a_valid_token_every_endpoint_answers_401(world: CallerWorld, request):
    provider = request.getfixturevalue("provider_process") if world.kind == "person" else None
    refused = invalid_credentials(world, provider)
    ref = world.refs["A"]
    endpoints = [(m, t.format(ref=ref), b) for m, t, b, _ in CASE_ENDPOINTS.values()] + [
        ("GET", "/api/v1/cases", None), ("POST", "/api/v1/cases", {"algorithm": "x", "region": "KZ-75"}),
        ("GET", "/api/v1/inbox", None), ("GET", "/api/v1/verify", None), ("GET", "/api/v1/me", None),
        ("GET", "/api/v1/algorithms", None), ("GET", "/api/v1/reports/compliance?from=2026-01-01&to=2026-02-01", None),
        ("GET", "/api/v1/tokens", None), ("POST", "/api/v1/tokens", {"body": "kz-75.kdn", "role": "admin"}),
        ("DELETE", "/api/v1/tokens/1", None)]
    for headers in ({}, {"Authorization": "Bearer qg_forged"}, {"Authorization": "Bearer e30.e30.forged"},
                    *({"Authorization": f"Bearer {secret}"} for secret in refused),
                    {"Authorization": f"Basic {refused[0]}"}):
        for method, path, body in endpoints:
            r = world.client.request(method, path, json=body, headers=headers)
            assert r.status_code == 401, (headers, method, path, r.text)
            assert r.json()["code"] == "unauthenticated" and r.headers["www-authenticate"] == "Bearer"
    assert world.client.get("/api/v1/health").status_code == 200


def test_supervisors_and_bound_bodies_really_fire(world: CallerWorld):
    """Not only let through: the ministry above the police and the bound police fire for real; the
    ministry may not take the police's decision in its place (version 2, C2)."""
    c = world.client
    for name, ref, trigger, data in (
            ("mvd", world.refs["B"], "assess", {"immediate_danger": False, "perpetrator": "family"}),
            ("police_75", world.refs["A"], "police_check_done", police_check_data("criminal_case"))):
        version = c.get(f"/api/v1/cases/{ref}", headers=world.auth(name)).json()["version"]
        r = c.post(f"/api/v1/cases/{ref}/fire", json={"trigger": trigger, "version": version, "data": data},
                   headers=world.auth(name))
        assert r.status_code == 200, r.text
        assert r.json()["version"] == version + 1
        event = c.get(f"/api/v1/cases/{ref}/history", headers=world.auth(name)).json()["events"][-1]
        assert (event["trigger"], event["actor"], event["person"]) == (trigger, PRINCIPALS[name][0],
                                                                       world.person_of(name))
        if world.kind == "person":  # shown beside the pseudonym: what the persons table holds
            with world.engine.reader() as conn:
                assert event["person_name"] == names_of(conn, {event["person"]})[event["person"]]
    ref = world.refs["B"]
    version = c.get(f"/api/v1/cases/{ref}", headers=world.auth("mvd")).json()["version"]
    r = c.post(f"/api/v1/cases/{ref}/fire", json={"trigger": "police_check_done", "version": version,
                                                  "data": {"outcome": "no_offence"}}, headers=world.auth("mvd"))
    assert r.status_code == 403 and r.json()["code"] == "forbidden" and "kz-11.police" in r.json()["message"]
    # the hotline is bound but may not fire the police's trigger: the engine's rule, 403
    ref = world.refs["C"]
    r = c.post(f"/api/v1/cases/{ref}/fire", json={"trigger": "police_check_done", "version": 1,
                                                  "data": {"outcome": "no_offence"}}, headers=world.auth("hotline_75"))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


def test_every_personal_read_is_logged_with_the_reader_and_purpose(world: CallerWorld):
    c, ref = world.client, world.refs["A"]
    r = c.get(f"/api/v1/cases/{ref}/personal", params={"purpose": "medical_examination", "note": "before the hearing"},
              headers=world.auth("police_75"))
    assert r.status_code == 200 and r.json()["data"]["given_name"] == "Aigerim-Synthetic"
    log = c.get(f"/api/v1/cases/{ref}/access-log", headers=world.auth("auditor")).json()
    assert [(e["actor"], e["purpose"], e["note"], e["outcome"]) for e in log] == [
        ("kz-75.police", "medical_examination", "before the hearing", "read")]
    assert "Aigerim" not in json.dumps(log)
    with world.engine.reader() as conn:
        readers = conn.execute(select(T.access_log.c.person)).scalars().all()
    assert readers == [world.person_of("police_75")]
    r = c.get(f"/api/v1/cases/{ref}/personal", params={"purpose": "   "}, headers=world.auth("police_75"))
    assert r.status_code == 422 and r.json()["field"] == "purpose"
    r = c.get(f"/api/v1/cases/{ref}/personal", headers=world.auth("police_75"))
    assert r.status_code == 422 and r.json()["field"] == "purpose"
