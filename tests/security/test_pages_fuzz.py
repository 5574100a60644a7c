"""Issue 14, item 7: Schemathesis over the web pages as over the API. The pages have no OpenAPI
document of their own, so this file describes their inputs (query strings, forms, the session
cookie) as one, serves it beside them, and lets Schemathesis generate valid and invalid requests
for every page and form, signed in as a coordinator, an agency, an auditor and an administrator, with
a valid CSRF token in the valid ones. No answer may be a server error."""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from app.web import session as sessions
from states.access import OPERATOR
from states.commands import CreatePerson
from states.handling import Handler

from test_web import launch, sign_in

pytestmark = pytest.mark.db

_N = int(os.environ.get("QORGAU_FUZZ_EXAMPLES", "0"))
EXAMPLES = {GenerationMode.POSITIVE: _N or 8, GenerationMode.NEGATIVE: _N or 5}
CALLERS = {"coordinator": "kz-75.education_department", "agency": "kz-75.school-1", "auditor": "kz-75.akimat",
           "admin": "government_office"}

_TEXT = {"type": "string", "maxLength": 80}
_DATE = {"type": "string", "format": "date"}


def _query(*names, **schemas) -> list[dict]:
    return ([{"name": n, "in": "query", "required": False, "schema": _TEXT} for n in names]
            + [{"name": n, "in": "query", "required": False, "schema": s} for n, s in schemas.items()])


def _path(*names) -> list[dict]:
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 40}}
            for n in names]


def _form(csrf: str, required: list[str], **fields) -> dict:
    props = {"csrf": {"type": "string", "enum": [csrf]}, **fields}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "properties": props, "required": ["csrf", *required]}}}}


def _get(params: list[dict]) -> dict:
    return {"get": {"parameters": params, "responses": {"default": {"description": "a page"}}}}


def _post(body: dict, params: list[dict] = ()) -> dict:
    return {"post": {"parameters": list(params), "requestBody": body,
                     "responses": {"default": {"description": "a page or a redirect"}}}}


def pages_document(csrf: str, ref: str, person_id: str) -> dict:
    ints = {"type": "integer"}
    moment = {"type": "string", "maxLength": 40}
    paths = {
        "/": _get([]),
        "/login": {**_get(_query("next")), **_post(_form(csrf, ["token"], token=_TEXT, next=_TEXT))},
        "/lang/{code}": _get(_path("code") + _query("next")),
        "/inbox": _get(_query(offset=ints)),
        "/cases": _get(_query("region", "algorithm", "state", "overdue", "critical", "closed", offset=ints)),
        "/cases/{ref}": _get(_path("ref") + _query("fired", "launched", at=moment)),
        "/cases/{ref}/tasks/{key}": _get(_path("ref", "key") + _query("trigger")),
        "/cases/{ref}/fire": _post(_form(csrf, ["trigger"], trigger={"type": "string", "enum": ["assess", "link",
                                                                                                 "withdraw"]},
                                         task=_TEXT, version=ints, **{"d.immediate_danger": {"type": "string"},
                                                                      "d.perpetrator": _TEXT, "d.case": _TEXT,
                                                                      "d.reason": _TEXT}), _path("ref")),
        "/cases/{ref}/personal": {**_get(_path("ref")),
                                  **_post(_form(csrf, ["purpose"], purpose=_TEXT, note=_TEXT), _path("ref"))},
        "/dashboard": _get(_query("launch", "region", offset=ints)),
        "/launch": _post(_form(csrf, ["algorithm"], algorithm={"type": "string", "enum": ["violence-report"]},
                               region=_TEXT, **{"d.form": _TEXT, "d.channel": _TEXT, "d.summary": _TEXT,
                                                "d.school": _TEXT, "d.child.birth_date": _TEXT,
                                                "d.child.sex": _TEXT, "d.child.iin": _TEXT})),
        "/map": _get(_query("indicator", "algorithm", "agency_type", **{"from": _DATE, "to": _DATE})),
        "/audit": _get(_query("region", "period", **{"from": _DATE, "to": _DATE})),
        "/audit/compliance.csv": _get(_query("region", **{"from": _DATE, "to": _DATE})),
        "/audit/compliance.xlsx": _get(_query("region", "part", **{"from": _DATE, "to": _DATE})),
        "/cases/{ref}/report.docx": _get(_path("ref") + _query("lang")),
        "/cases/{ref}/report.xlsx": _get(_path("ref") + _query("lang")),
        "/audit/verify": _post(_form(csrf, [])),
        "/migrations": {**_get([]), **_post(_form(csrf, ["algorithm", "to_version"], algorithm=_TEXT,
                                                 to_version=_TEXT, region=_TEXT, state=_TEXT))},
        "/migrations/{run_id}": _get(_path("run_id")),
        "/migrations/{run_id}/apply": _post(_form(csrf, []), _path("run_id")),
        "/persons": {**_get(_query("body")), **_post(_form(csrf, ["body", "role", "name"], body=_TEXT, role=_TEXT,
                                                          name=_TEXT, position=_TEXT, account=_TEXT))},
        "/persons/{person_id}": _get(_path("person_id") + _query("created", "deactivated", "erased")),
        "/persons/{person_id}/deactivate": _post(_form(csrf, []), _path("person_id")),
        "/persons/{person_id}/erase": {**_get(_path("person_id")),
                                       **_post(_form(csrf, [], confirm=_TEXT), _path("person_id"))},
    }
    examples = {"ref": ref, "person_id": person_id}
    for item in paths.values():
        for op in item.values():
            for p in op["parameters"]:
                if p["in"] == "path" and p["name"] in examples:
                    p["example"] = examples[p["name"]]
    return {"openapi": "3.0.3", "info": {"title": "Qorgau pages", "version": "1"}, "paths": paths}


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
def test_no_page_or_form_answers_a_server_error(engine, mode):
    from app.web import create_site
    site = create_site(engine, base_url="http://testserver")
    ref = launch(engine)
    person = Handler(engine).handle(CreatePerson("kz-75.school-1", "agency", "Айгүл Тестова"), OPERATOR)
    signed = {}
    for role, body in CALLERS.items():
        client = sign_in(site, engine, body, role)
        cookie = client.cookies.get(sessions.SESSION_COOKIE)
        from states.db import reading
        from states.web_sessions import find_session
        with reading(engine.db) as conn:
            csrf = find_session(conn, sessions.session_id(cookie)).csrf
        signed[role] = (cookie, csrf)
    documents = {role: pages_document(csrf, ref, person.id) for role, (_, csrf) in signed.items()}

    @site.get("/_test/pages/{role}.json", include_in_schema=False)
    def document(role: str) -> dict:
        return documents[role]

    problems = []
    for role, (cookie, _) in signed.items():
        schema = schemathesis.openapi.from_asgi(f"/_test/pages/{role}.json", site)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 30  # every page and form but /logout (it would end the session)
        for operation in operations:
            raw = operation.definition.raw
            if mode is GenerationMode.NEGATIVE and not (raw.get("parameters") or raw.get("requestBody")):
                continue  # nothing a browser sends can be invalid (e.g. GET /)

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES[mode], deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case):
                response = case.call(headers={"Cookie": f"{sessions.SESSION_COOKIE}={cookie}"},
                                     allow_redirects=False)
                if response.status_code >= 500:
                    problems.append((role, case.method, case.formatted_path, case.query, case.body,
                                     response.status_code))
                assert response.status_code < 500, problems[-1]
            run()
    assert not problems
