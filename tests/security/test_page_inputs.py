"""D6, D7: every input a page reads (query, form, cookie) that cannot be read is answered with a 4xx
naming the field, never a 500; the web launch form refuses a NUL character as the API does."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from test_web import client_for, csrf_of, launch, sign_in

pytestmark = pytest.mark.db

COORDINATOR = ("kz-75.education_department", "coordinator")
AUDITOR = ("kz-75.akimat", "auditor")
AGENCY = ("kz-75.school-1", "agency")


@pytest.fixture
def site(engine):
    from app.web import create_site
    return create_site(engine, base_url="http://testserver")


def _client(site, engine, who) -> TestClient:
    client = sign_in(site, engine, *who)
    return client


BAD_QUERIES = [
    (AUDITOR, "/cases/{ref}?at=0001-01-01T00:00%2B23:59", "at"),
    (AUDITOR, "/cases/{ref}?at=9999-12-31T23:59-23:59", "at"),
    (AUDITOR, "/cases/{ref}?at=yesterday", "at"),
    (COORDINATOR, "/cases?offset=999999999999999999999", "offset"),
    (COORDINATOR, "/cases?offset=-1", "offset"),
    (COORDINATOR, "/dashboard?offset=999999999999999999999", "offset"),
    (AGENCY, "/inbox?offset=999999999999999999999", "offset"),
    (AGENCY, "/inbox?offset=1e3", "offset"),
    (AUDITOR, "/audit?from=2026-05-01&to=2026-04-01", "to"),
    (AUDITOR, "/audit?from=9999-12-31", "from"),
    (AUDITOR, "/audit?from=0001-01-01&to=0001-01-02", "from"),
    (AUDITOR, "/audit/compliance.csv?from=9999-12-31&to=9999-12-31", "from"),
    (AUDITOR, "/audit/compliance.csv?from=2026-05-01&to=2026-05-01", "to"),
    (COORDINATOR, "/map?indicator=median_reaction&from=0001-01-01", "from"),
    (COORDINATOR, "/map?indicator=median_reaction&to=9999-12-31", "to"),
    (COORDINATOR, "/map?from=2026-13-01", "from"),
]


@pytest.mark.parametrize("who, path, field", BAD_QUERIES)
def test_a_query_value_that_cannot_be_read_is_422_naming_the_field(site, engine, who, path, field):
    ref = launch(engine)
    client = _client(site, engine, who)
    r = client.get(path.format(ref=ref))
    assert r.status_code == 422, (path, r.status_code)
    assert "invalid_data" in r.text and f"field &#39;{field}&#39;" in r.text
    again = client.get("/cases")  # the connection and the session are still fine
    assert again.status_code == 200


@pytest.mark.parametrize("cookie", ["é.x", "é", ".", "x.é", "\u0001.x", "a" * 5000])
def test_a_session_cookie_that_was_never_ours_gets_the_sign_in_page(site, cookie):
    client = TestClient(site, follow_redirects=False, raise_server_exceptions=False)
    r = client.get("/inbox", headers={"cookie": f"qorgau_session={cookie}".encode("utf-8")})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert client.get("/login").status_code == 200


@pytest.mark.parametrize("value", ["é", "\u200b", "x" * 300])
def test_a_csrf_value_that_cannot_match_is_403_not_500(site, engine, value):
    ref = launch(engine)
    client = sign_in(site, engine, *AGENCY)
    r = client.post(f"/cases/{ref}/fire", data={"csrf": value, "trigger": "assess", "version": "1"})
    assert r.status_code == 403
    login = client_for(site)
    login.get("/login")
    assert login.post("/login", data={"csrf": value, "token": "qg_x"}).status_code == 403


def test_the_web_launch_form_refuses_a_nul_character(site, engine):
    client = sign_in(site, engine, *COORDINATOR)
    page = client.get("/dashboard?launch=violence-report")
    r = client.post("/launch", data={"csrf": csrf_of(page.text), "algorithm": "violence-report",
                                     "d.form": "bullying", "d.channel": "school", "d.school": "kz-75.school-1",
                                     "d.summary": "name-calling\x00 in 5B"})
    assert r.status_code == 422
    from sqlalchemy import func, select
    from states import tables as T
    with engine.reader() as conn:
        assert conn.execute(select(func.count()).select_from(T.cases)).scalar() == 0
