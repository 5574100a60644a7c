"""D5, D8, D9: what every exchange gets. Security headers on every response (API, pages, static
files, redirects, errors, a crash), no-store on anything carrying case data, a 413 for a body over
the limit before anything parses it, and no page or API document that references another host."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from app.api.transport import API_BODY_LIMIT, FORM_BODY_LIMIT

from test_web import VR, client_for, launch, sign_in  # noqa: F401  (sets the session secret)

pytestmark = pytest.mark.db

HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options")


@pytest.fixture
def site(engine):
    from app.web import create_site
    app = create_site(engine, base_url="http://testserver")

    @app.get("/api/v1/_crash", include_in_schema=False)
    def crash():
        raise RuntimeError("a bug")
    return app


def _secured(r, *, private: bool = True) -> None:
    missing = [h for h in HEADERS if h not in r.headers]
    assert not missing, (r.request.url, r.status_code, missing)
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    if private:
        assert r.headers.get("cache-control") == "no-store", (r.request.url, r.status_code)


def test_every_kind_of_response_carries_the_security_headers(site, engine):
    ref = launch(engine)
    anonymous = TestClient(site, follow_redirects=False, raise_server_exceptions=False)
    school = sign_in(site, engine, "kz-75.school-1", "agency")
    from states.tokens import create_token
    token = create_token(engine.db, "kz-75.school-1", "agency")[0]
    api = {"Authorization": f"Bearer {token}"}
    for r in (anonymous.get("/api/v1/health"), anonymous.get("/api/v1/cases"),            # JSON, 401
              anonymous.get("/api/v1/nowhere"), anonymous.put("/api/v1/cases"),           # 404, 405
              anonymous.get("/api/v1/cases/%00"), anonymous.get("/api/v1/_crash"),        # 422 (NUL), 500
              anonymous.get("/"), anonymous.get("/login"), anonymous.get("/inbox"),       # redirects, page
              anonymous.get(f"/cases/{ref}"),
              anonymous.get(f"/api/v1/cases/{ref}", headers=api),                        # case data
              anonymous.get(f"/api/v1/cases/{ref}/history", headers=api),
              school.get("/inbox"), school.get(f"/cases/{ref}"), school.get("/nowhere"),
              anonymous.get("/api/v1/docs"), anonymous.get("/api/v1/openapi.json")):
        _secured(r)
    assert anonymous.get("/api/v1/_crash").status_code == 500
    for path in ("/static/app.css", "/api/v1/static/swagger-ui-bundle.js"):
        r = anonymous.get(path)
        assert r.status_code == 200
        _secured(r, private=False)


def test_personal_data_is_never_stored_by_a_cache(site, engine):
    from test_api_fixtures import CHILD_A, bullying
    ref = engine.launch("violence-report", "KZ-75", "kz-75.school-1", bullying("kz-75.school-1", CHILD_A)).ref
    from states.tokens import create_token
    token = create_token(engine.db, "kz-75.school-1", "agency")[0]
    r = TestClient(site).get(f"/api/v1/cases/{ref}/personal", params={"purpose": "safety_plan"},
                             headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"


def test_an_api_body_over_the_limit_is_413_before_it_is_parsed(site, engine):
    client = TestClient(site)
    too_big = b"[" * (API_BODY_LIMIT + 1)  # not even JSON: nobody parsed it
    r = client.post("/api/v1/cases", content=too_big, headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (413, "too_large")
    _secured(r)

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(API_BODY_LIMIT // 65536 + 2):
            yield b" " * 65536
    r = client.post("/api/v1/cases", content=chunks(), headers={"content-type": "application/json",
                                                                "authorization": "Bearer qg_x"})
    assert (r.status_code, r.json()["code"]) == (413, "too_large")


def test_a_form_over_the_limit_is_413(site, engine):
    client = sign_in(site, engine, "kz-75.education_department", "coordinator")
    body = b"csrf=x&d.summary=" + b"a" * FORM_BODY_LIMIT
    for path in ("/login", "/launch", "/logout"):
        r = client.post(path, content=body, headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413, path


_URL = re.compile(r"""(?:https?:)?//([A-Za-z0-9.\-]+(?::\d+)?)""")
_NAMESPACE = re.compile(r"""xmlns(?::\w+)?=["']http://www\.w3\.org/[^"']*["']""")


def _foreign_hosts(text: str, own: set[str]) -> set[str]:
    text = _NAMESPACE.sub("", text)
    return {m.group(1) for m in _URL.finditer(text)} - own


def test_no_page_or_api_document_references_another_host(site, engine):
    own = {"testserver", "qorgau.example.kz"}
    ref = launch(engine)
    anonymous = TestClient(site, follow_redirects=False)
    docs = [anonymous.get(p) for p in ("/api/v1/docs", "/api/v1/redoc", "/api/v1/openapi.json", "/login")]
    for r in docs:
        assert r.status_code == 200
        assert not _foreign_hosts(r.text, own), (r.request.url, _foreign_hosts(r.text, own))
    for html in (docs[0].text, docs[1].text):  # every asset the docs load is served here
        for src in re.findall(r'(?:src|href)="([^"]+)"', html):
            if not src.startswith("data:"):
                assert src.startswith("/") and anonymous.get(src).status_code == 200, src
    pages = {"coordinator": ["/dashboard", "/cases", f"/cases/{ref}", "/map", "/audit"],
             "agency": ["/inbox", f"/cases/{ref}", f"/cases/{ref}/personal"],
             "auditor": ["/audit", f"/cases/{ref}", "/map"]}
    bodies = {"coordinator": "kz-75.education_department", "agency": "kz-75.school-1", "auditor": "kz-75.akimat"}
    for role, paths in pages.items():
        client = sign_in(site, engine, bodies[role], role)
        for path in paths:
            r = client.get(path)
            assert r.status_code == 200, (role, path)
            assert not _foreign_hosts(r.text, own), (path, _foreign_hosts(r.text, own))
    assert urlsplit("http://testserver").hostname in own
