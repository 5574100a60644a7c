"""The web pages through Starlette's TestClient (both backends): sign-in and sessions, CSRF on every
form, the API's access rules on every page, forms generated from the definitions, replay, the map
and the auditor's pages. The same flows in a real browser are in tests/browser/."""
from __future__ import annotations

import os
import re
from datetime import timedelta, timezone

import pytest
from fastapi.testclient import TestClient

os.environ.setdefault("QORGAU_SESSION_SECRET", "test-session-secret-not-for-production")

from app.web import create_site  # noqa: E402
from app.web import session as sessions  # noqa: E402
from app.web.pages import verification  # noqa: E402
from states.clock import utcnow  # noqa: E402
from states.tokens import create_token, revoke_token  # noqa: E402

from factories import violence_report_data  # noqa: E402

pytestmark = pytest.mark.db

VR = {"form": "bullying", "channel": "school", "summary": "name-calling in class 5B"}
KZ = timezone(timedelta(hours=5))
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def site(engine):
    return create_site(engine, base_url="http://testserver")


def client_for(site) -> TestClient:
    return TestClient(site, base_url="http://testserver", follow_redirects=False)


def sign_in(site, engine, body: str, role: str, lang: str = "en") -> TestClient:
    secret, _ = create_token(engine.db, body, role)
    client = client_for(site)
    client.cookies.set(sessions.LANG_COOKIE, lang)
    page = client.get("/login")
    token = CSRF.search(page.text).group(1)
    r = client.post("/login", data={"csrf": token, "token": secret, "next": "/"})
    assert r.status_code == 303, r.text
    return client


def csrf_of(html: str) -> str:
    return CSRF.search(html).group(1)


def launch(engine, *, days_ago: float = 0, region: str = "KZ-75", data=None, actor: str | None = None):
    """A violence-report of the current version, launched `days_ago`, detected an hour before; `data`
    laid over VR."""
    actor = actor or engine.svc.directory.schools(region)[0].id
    now = utcnow() - timedelta(days=days_ago)
    return engine.launch("violence-report", region, actor, violence_report_data(now=now, **{**VR, **(data or {})}),
                         now=now).ref


# ------------------------------------------------------------------------------------------ sign-in

def test_sign_in_sets_a_strict_http_only_session_cookie(site, engine):
    client = client_for(site)
    page = client.get("/login")
    assert page.status_code == 200 and 'type="password"' in page.text
    assert "Content-Security-Policy" in page.headers and "script-src 'self'" in page.headers["Content-Security-Policy"]
    secret, stored = create_token(engine.db, "kz-75.school-1", "agency")
    assert stored.last_used_at is None
    r = client.post("/login", data={"csrf": csrf_of(page.text), "token": secret, "next": "/"})
    assert r.status_code == 303
    from states.tokens import list_tokens
    with engine.db.connect() as conn:  # signing in counts as a use of the token
        assert next(t for t in list_tokens(conn) if t.id == stored.id).last_used_at is not None
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith(sessions.SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert secret not in cookie  # the session never carries the token itself
    assert client.get("/").headers["location"] == "/inbox"


def test_wrong_token_is_refused_and_pages_need_a_session(site, engine):
    client = client_for(site)
    assert client.get("/inbox").headers["location"].startswith("/login?next=")
    page = client.get("/login")
    r = client.post("/login", data={"csrf": csrf_of(page.text), "token": "qg_nope"})
    assert r.status_code == 401 and "role=\"alert\"" in r.text


def test_login_without_its_csrf_token_is_refused(site, engine):
    secret, _ = create_token(engine.db, "kz-75.school-1", "agency")
    client = client_for(site)
    client.get("/login")
    assert client.post("/login", data={"token": secret}).status_code == 403
    other = client_for(site)  # a token from another browser's form does not match this one's cookie
    token = csrf_of(other.get("/login").text)
    client.cookies.set(sessions.LOGIN_CSRF_COOKIE, "something-else", path="/login")
    assert client.post("/login", data={"csrf": token, "token": secret}).status_code == 403


def test_a_revoked_token_ends_its_session(site, engine):
    client = sign_in(site, engine, "kz-75.school-1", "agency")
    assert client.get("/inbox").status_code == 200
    revoke_token(engine.db, "1")
    assert client.get("/inbox").headers["location"].startswith("/login")


def test_a_tampered_session_cookie_is_ignored(site, engine):
    client = sign_in(site, engine, "kz-75.school-1", "agency")
    value = client.cookies.get(sessions.SESSION_COOKIE)
    body, _, mac = value.rpartition(".")
    other = sign_in(site, engine, "kz-75.education_department", "coordinator").cookies.get(sessions.SESSION_COOKIE)
    forged = other.rpartition(".")[0] + "." + mac  # another session's id under this cookie's signature
    forger = client_for(site)
    forger.cookies.set(sessions.SESSION_COOKIE, forged)
    assert forger.get("/inbox").headers["location"].startswith("/login")
    honest = client_for(site)
    honest.cookies.set(sessions.SESSION_COOKIE, value)
    assert honest.get("/inbox").status_code == 200


# ------------------------------------------------------------------------------------------ inbox and forms

def test_inbox_lists_overdue_first_in_kazakhstan_time_without_personal_data(site, engine):
    fresh = launch(engine, data={**VR, "child": {"birth_date": "2014-03-02", "sex": "female",
                                                 "given_name": "Айгерим", "family_name": "Секретова"}})
    late = launch(engine, days_ago=6)
    client = sign_in(site, engine, "kz-75.school-1", "agency")
    page = client.get("/inbox")
    assert page.status_code == 200
    rows = re.findall(r'data-ref="([^"]+)" data-task="([^"]+)"', page.text)
    assert [r[0] for r in rows] == [late, fresh]
    assert "overdue" in page.text and "Collect information" in page.text
    assert "Секретова" not in page.text and "Айгерим" not in page.text and "2014" not in page.text
    case_page = client.get(f"/cases/{fresh}")
    assert "Секретова" not in case_page.text and "Айгерим" not in case_page.text


def test_task_form_fires_its_trigger_and_shows_the_new_state(site, engine):
    ref = launch(engine, days_ago=2)
    client = sign_in(site, engine, "kz-75.school-1", "agency")
    key = re.search(r'data-ref="%s" data-task="([^"]+)"' % ref, client.get("/inbox").text).group(1)
    form = client.get(f"/cases/{ref}/tasks/{key}")
    assert form.status_code == 200
    assert 'name="d.immediate_danger"' in form.text and 'name="d.perpetrator"' in form.text
    assert "Immediate danger" in form.text and "A peer" in form.text  # titles, not identifiers
    r = client.post(f"/cases/{ref}/fire", data={"csrf": csrf_of(form.text), "version": "1", "trigger": "assess",
                                                "task": key, "d.immediate_danger": "false", "d.perpetrator": "peer"})
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"])
    assert "Bullying review" in page.text and 'role="status"' in page.text
    assert engine.case(ref).state == "bullying_review"


def test_a_missing_field_is_shown_beside_it(site, engine):
    ref = launch(engine)
    client = sign_in(site, engine, "kz-75.school-1", "agency", lang="ru")
    form = client.get(f"/cases/{ref}/tasks/t1")
    r = client.post(f"/cases/{ref}/fire", data={"csrf": csrf_of(form.text), "version": "1", "trigger": "assess",
                                                "task": "t1", "d.immediate_danger": "false"})
    assert r.status_code == 422
    assert re.search(r'id="f-perpetrator-error" data-error-for="perpetrator">Заполните это поле', r.text)
    assert re.search(r'<select id="f-perpetrator"[^>]*aria-invalid="true"[^>]*aria-describedby="f-perpetrator-error"',
                     r.text)
    assert 'value="false" checked' in r.text  # what was entered stays
    assert engine.case(ref).version == 1


def test_the_engines_refusal_of_a_field_is_shown_beside_it(site, engine):
    ref = launch(engine)
    engine.fire(ref, "assess", "kz-75.school-1", {"immediate_danger": False, "perpetrator": "peer"})
    client = sign_in(site, engine, "kz-75.school-1", "agency")  # the school decides (version 2, V5)
    key = next(t.key for t in _tasks(engine, ref) if t.kind == "decide_bullying")
    form = client.get(f"/cases/{ref}/tasks/{key}?trigger=bullying_not_recognised")
    assert 'name="d.reason"' in form.text
    r = client.post(f"/cases/{ref}/fire", data={"csrf": csrf_of(form.text), "version": "2",
                                                "trigger": "bullying_not_recognised", "task": key,
                                                "d.reason": "see IIN 900101 300123 of the child"})
    assert r.status_code == 422
    assert 'id="f-reason-error"' in r.text and "personal data" in r.text


def test_a_stale_version_is_a_conflict_that_offers_to_reload(site, engine):
    ref = launch(engine)
    client = sign_in(site, engine, "kz-75.school-1", "agency")
    form = client.get(f"/cases/{ref}/tasks/t1")
    engine.fire(ref, "police_check_done", "kz-75.police", {"outcome": "no_offence"})  # someone else moved it
    r = client.post(f"/cases/{ref}/fire", data={"csrf": csrf_of(form.text), "version": "1", "trigger": "assess",
                                                "task": "t1", "d.immediate_danger": "false", "d.perpetrator": "peer"})
    assert r.status_code == 409
    assert 'id="reload"' in r.text and "has changed" in r.text
    assert engine.case(ref).state == "reported"


def _tasks(engine, ref):
    from sqlalchemy import select

    from states import tables as T
    with engine.reader() as conn:
        case_id = conn.execute(select(T.cases.c.id).where(T.cases.c.ref == ref)).scalar_one()
        return conn.execute(select(T.tasks).where(T.tasks.c.case_id == case_id)).all()


# ------------------------------------------------------------------------------------------ CSRF and access

def test_every_form_needs_its_csrf_token(site, engine):
    ref = launch(engine)
    client = sign_in(site, engine, "kz-75.school-1", "agency")
    good = {"version": "1", "trigger": "assess", "task": "t1", "d.immediate_danger": "false", "d.perpetrator": "peer"}
    assert client.post(f"/cases/{ref}/fire", data=good).status_code == 403
    assert client.post(f"/cases/{ref}/fire", data={**good, "csrf": "forged"}).status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    assert engine.case(ref).version == 1
    coordinator = sign_in(site, engine, "kz-75.akimat", "coordinator")
    r = coordinator.post("/launch", data={"algorithm": "violence-report", "d.form": "bullying", "d.channel": "school",
                                          "d.summary": "x"})
    assert r.status_code == 403
    auditor = sign_in(site, engine, "ministry_education", "auditor")
    assert auditor.post("/audit/verify", data={}).status_code == 403


def test_an_agency_cannot_open_another_bodys_case(site, engine):
    mine = launch(engine)
    other = launch(engine, region="KZ-71")
    client = sign_in(site, engine, "kz-75.school-1", "agency")
    assert client.get(f"/cases/{mine}").status_code == 200
    for url in (f"/cases/{other}", f"/cases/{other}/tasks/t1", f"/cases/{other}/personal"):
        r = client.get(url)
        assert r.status_code == 403, url
        assert other not in r.text.split("</header>")[1].split("<footer>")[0].replace(f"case {other}", "")
    form = client.get(f"/cases/{mine}/tasks/t1")
    r = client.post(f"/cases/{other}/fire", data={"csrf": csrf_of(form.text), "version": "1", "trigger": "assess",
                                                  "task": "t1", "d.immediate_danger": "false", "d.perpetrator": "peer"})
    assert r.status_code == 403
    assert engine.case(other).version == 1
    cases = client.get("/cases")
    assert mine in cases.text and other not in cases.text
    assert client.get("/cases/VR-75-999999").status_code == 404


def test_a_supervisor_agency_reads_the_cases_below_it(site, engine):
    ref = launch(engine)
    client = sign_in(site, engine, "kz-75.education_department", "agency")
    assert client.get(f"/cases/{ref}").status_code == 200
    other = sign_in(site, engine, "kz-71.education_department", "agency")
    assert other.get(f"/cases/{ref}").status_code == 403


def test_an_auditor_reads_everything_and_writes_nothing(site, engine):
    ref = launch(engine)
    auditor = sign_in(site, engine, "ministry_education", "auditor")
    assert auditor.get(f"/cases/{ref}").status_code == 200
    page = auditor.get(f"/cases/{ref}/tasks/t1")
    assert 'id="task-form"' not in page.text
    r = auditor.post(f"/cases/{ref}/fire", data={"csrf": csrf_of(page.text), "version": "1", "trigger": "assess",
                                                 "task": "t1", "d.immediate_danger": "false", "d.perpetrator": "peer"})
    assert r.status_code == 403
    r = auditor.post("/launch", data={"csrf": csrf_of(page.text), "algorithm": "violence-report"})
    assert r.status_code == 403
    assert auditor.get("/dashboard").status_code == 403
    assert engine.case(ref).version == 1


def test_a_coordinator_reads_its_region_only(site, engine):
    mine = launch(engine)
    other = launch(engine, region="KZ-71")
    client = sign_in(site, engine, "kz-75.akimat", "coordinator")
    assert client.get(f"/cases/{mine}").status_code == 200
    assert client.get(f"/cases/{other}").status_code == 403
    page = client.get("/dashboard")
    assert mine in page.text and other not in page.text


# ------------------------------------------------------------------------------------------ coordinator

def test_a_coordinator_launches_a_case_from_the_generated_form(site, engine):
    client = sign_in(site, engine, "kz-75.education_department", "coordinator")
    page = client.get("/dashboard?launch=violence-report")
    assert page.status_code == 200
    for name in ("d.form", "d.channel", "d.summary", "d.school", "d.child.birth_date", "d.reporter",
                 "d.immediate_danger"):
        assert f'name="{name}"' in page.text
    assert re.search(r'<input id="f-detected-at" name="d.detected_at" type="datetime-local"[^>]* required', page.text)
    assert "Form of violence" in page.text and "Cyberbullying" in page.text
    # detected two hours ago on the Kazakhstan wall clock, as a datetime-local input sends it
    detected = (utcnow() - timedelta(hours=2)).astimezone(KZ).replace(second=0, microsecond=0)
    r = client.post("/launch", data={"csrf": csrf_of(page.text), "algorithm": "violence-report",
                                     "d.form": "cyberbullying", "d.channel": "online",
                                     "d.summary": "messages in a class chat", "d.school": "kz-75.school-2",
                                     "d.detected_at": detected.strftime("%Y-%m-%dT%H:%M"), "d.reporter": "parent"})
    assert r.status_code == 303, r.text
    ref = r.headers["location"].split("/cases/")[1].split("?")[0]
    case = engine.case(ref)
    assert case.region == "KZ-75" and case.bindings["school"] == "kz-75.school-2"
    assert case.algorithm_version == 2 and case.data["reporter"] == "parent"
    assert case.data["detected_at"] == detected.isoformat() and case.data["detected_at"].endswith("+05:00")
    page = client.get(r.headers["location"])
    assert "Case opened" in page.text and ref in page.text


def test_a_launch_with_a_missing_field_shows_it_beside_the_field(site, engine):
    client = sign_in(site, engine, "kz-75.education_department", "coordinator")
    page = client.get("/dashboard?launch=violence-report")
    r = client.post("/launch", data={"csrf": csrf_of(page.text), "algorithm": "violence-report",
                                     "d.form": "bullying", "d.summary": "x"})
    assert r.status_code == 422 and 'id="f-channel-error"' in r.text


def test_a_launch_with_a_garbled_or_future_detection_time_is_refused_beside_the_field(site, engine):
    client = sign_in(site, engine, "kz-75.education_department", "coordinator", lang="ru")
    page = client.get("/dashboard?launch=violence-report")
    base = {"csrf": csrf_of(page.text), "algorithm": "violence-report", "d.form": "bullying", "d.channel": "school",
            "d.summary": "x", "d.reporter": "teacher"}
    r = client.post("/launch", data={**base, "d.detected_at": "вчера вечером"})
    assert r.status_code == 422
    assert re.search(r'id="f-detected-at-error" data-error-for="detected_at">Введите дату и время', r.text)
    assert re.search(r'<input id="f-detected-at"[^>]*aria-invalid="true"', r.text)
    future = (utcnow() + timedelta(days=2)).astimezone(KZ).strftime("%Y-%m-%dT%H:%M")
    r = client.post("/launch", data={**base, "d.detected_at": future})
    assert r.status_code == 422 and 'id="f-detected-at-error"' in r.text  # the engine's refusal, beside the field
    assert f'value="{future}"' in r.text  # what was entered stays
    r = client.post("/launch", data={k: v for k, v in base.items() if k != "d.reporter"})
    assert r.status_code == 422 and 'id="f-detected-at-error"' in r.text and 'id="f-reporter-error"' in r.text
    from sqlalchemy import func, select

    from states import tables as T
    with engine.reader() as conn:
        assert conn.execute(select(func.count()).select_from(T.cases)).scalar_one() == 0


def test_the_police_form_takes_the_register_and_its_number(site, engine):
    ref = launch(engine)
    client = sign_in(site, engine, "kz-75.police", "agency")
    key = next(t.key for t in _tasks(engine, ref) if t.kind == "police_check")
    form = client.get(f"/cases/{ref}/tasks/{key}?trigger=police_check_done")
    assert re.search(r'<select id="f-register" name="d.register"', form.text)
    assert re.search(r'<input id="f-registry-number" name="d.registry_number" type="text"[^>]*maxlength="30"',
                     form.text)
    base = {"csrf": csrf_of(form.text), "version": "1", "trigger": "police_check_done", "task": key,
            "d.outcome": "criminal_case"}
    r = client.post(f"/cases/{ref}/fire", data=base)  # a criminal case names its register (version 2, V3)
    assert r.status_code == 422 and 'id="f-register-error"' in r.text
    r = client.post(f"/cases/{ref}/fire", data={**base, "d.register": "erdr", "d.registry_number": "26 15"})
    assert r.status_code == 422 and 'id="f-registry-number-error"' in r.text
    # a 15-digit registry number is a typed field, not an IIN in free text
    r = client.post(f"/cases/{ref}/fire", data={**base, "d.register": "erdr", "d.registry_number": "261500031000123"})
    assert r.status_code == 303, r.text
    from sqlalchemy import select

    from states import tables as T
    with engine.reader() as conn:
        data = conn.execute(select(T.events.c.data).where(T.events.c.trigger == "police_check_done")).scalar_one()
    assert data == {"outcome": "criminal_case", "register": "erdr", "registry_number": "261500031000123"}


def test_dashboard_filters_and_counts(site, engine):
    launch(engine, days_ago=6)
    launch(engine)
    client = sign_in(site, engine, "kz-75.akimat", "coordinator")
    page = client.get("/dashboard?overdue=1")
    assert re.search(r'id="count-found">1<', page.text)
    page = client.get("/dashboard?algorithm=violence-report&state=reported")
    assert re.search(r'id="count-found">2<', page.text)
    assert client.get("/dashboard?algorithm=suicide-response").text.count('id="count-found">0<') == 1


# ------------------------------------------------------------------------------------------ case page and replay

def test_case_page_shows_state_tasks_timeline_diagram_and_badge(site, engine):
    ref = launch(engine, days_ago=1)
    engine.fire(ref, "assess", "kz-75.school-1", {"immediate_danger": False, "perpetrator": "peer"})
    client = sign_in(site, engine, "kz-75.school-1", "agency")
    page = client.get(f"/cases/{ref}").text
    assert 'id="case-state">Bullying review<' in page
    assert "History verifies" in page
    assert "stateDiagram-v2" in page and "Class bullying_review s_active" in page
    assert ": Assess" in page and "--> bullying_review: assess" not in page  # titles on the edges
    assert "Decide on bullying" in page and "Collect information — done" in page
    assert "/static/vendor/mermaid.min.js" in page and "https://" not in page.split("<body>")[1]


def test_an_auditor_replays_the_case_at_a_past_moment(site, engine):
    t0 = utcnow() - timedelta(days=2)
    ref = engine.launch("violence-report", "KZ-75", "kz-75.school-1", violence_report_data(now=t0, **VR), now=t0).ref
    engine.fire(ref, "assess", "kz-75.school-1", {"immediate_danger": False, "perpetrator": "peer"},
                now=t0 + timedelta(hours=1))
    auditor = sign_in(site, engine, "ministry_education", "auditor")
    page = auditor.get(f"/cases/{ref}")
    assert 'id="case-state">Bullying review<' in page.text and 'id="replay-form"' in page.text
    first = re.search(r'<option value="([^"]+)" data-seq="1"', page.text).group(1)
    past = auditor.get(f"/cases/{ref}", params={"at": first})
    assert 'id="case-state">Reported<' in past.text and 'id="replay-banner"' in past.text
    assert "Collect information" in past.text
    agency = sign_in(site, engine, "kz-75.school-1", "agency")
    assert 'id="replay-form"' not in agency.get(f"/cases/{ref}").text  # replay is the auditors' (as in the API)
    assert 'id="case-state">Bullying review<' in agency.get(f"/cases/{ref}", params={"at": first}).text


def test_a_tampered_history_shows_its_first_divergence(site, engine):
    from sqlalchemy import text
    ref = launch(engine)
    engine.fire(ref, "assess", "kz-75.school-1", {"immediate_danger": False, "perpetrator": "peer"})
    with engine.db.begin() as conn:
        conn.execute(text("UPDATE events SET actor = 'kz-75.police' WHERE seq = 2"))
    auditor = sign_in(site, engine, "ministry_education", "auditor")
    page = auditor.get(f"/cases/{ref}").text
    assert "History does not verify" in page and "event 2" in page


# ------------------------------------------------------------------------------------------ map

def test_the_map_has_all_twenty_regions_and_links_to_their_cases(site, engine):
    launch(engine)
    client = sign_in(site, engine, "kz-75.akimat", "coordinator")
    page = client.get("/map").text
    tiles = re.findall(r'<a class="tile" href="([^"]+)" data-region="(KZ-\d\d)"', page)
    assert len(tiles) == 20 and len({t[1] for t in tiles}) == 20
    href = dict((code, h) for h, code in tiles)["KZ-75"]
    assert href == "/cases?region=KZ-75"
    listing = client.get(href)
    assert 'id="list-region">Almaty<' in listing.text and "VR-75-" in listing.text
    assert 'aria-label="Almaty 1 KZ-75 — Almaty: Open cases"' in page


def test_small_counts_are_hidden_where_the_reader_has_no_case_access(site, engine):
    for _ in range(3):
        launch(engine, region="KZ-71")
    for _ in range(6):
        launch(engine, region="KZ-75")
    agency = sign_in(site, engine, "kz-75.police", "agency")
    page = agency.get("/map?indicator=open_cases").text
    assert 'aria-label="Astana &lt;5 KZ-71 — Astana: Open cases"' in page
    assert 'aria-label="Almaty 6 KZ-75 — Almaty: Open cases"' in page
    auditor = sign_in(site, engine, "ministry_education", "auditor")
    assert 'aria-label="Astana 3 KZ-71 — Astana: Open cases"' in auditor.get("/map").text


@pytest.mark.parametrize("indicator", ["open_cases", "overdue_tasks", "critical_cases", "suicide_attempts",
                                       "median_reaction"])
def test_every_indicator_renders(site, engine, indicator):
    launch(engine, days_ago=10)
    engine.launch("suicide-response", "KZ-75", "kz-75.school-1",
                  {"kind": "attempt", "channel": "school", "summary": "synthetic"}, now=utcnow() - timedelta(days=3))
    client = sign_in(site, engine, "ministry_education", "auditor", lang="kk")
    page = client.get(f"/map?indicator={indicator}")
    assert page.status_code == 200 and page.text.count('class="tile"') == 20
    assert '<html lang="kk">' in page.text


# ------------------------------------------------------------------------------------------ audit

def test_audit_page_compliance_csv_verification_and_plan(site, engine, monkeypatch):
    launch(engine, days_ago=6)
    auditor = sign_in(site, engine, "ministry_education", "auditor")
    page = auditor.get("/audit")
    assert page.status_code == 200
    assert 'id="compliance-table"' in page.text and "Collect information" in page.text
    assert 'id="measures-table"' in page.text and 'id="executors-table"' in page.text
    csv = auditor.get(re.search(r'href="([^"]+)" id="csv-link"', page.text).group(1).replace("&amp;", "&"))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.startswith("body_id,body_type,task_kind")
    # Without the flows (no Prefect API) the page says how to verify: no run to ask for.
    assert "qorgau verify --all" in page.text and 'action="/audit/verify"' not in page.text
    assert auditor.post("/audit/verify", data={"csrf": csrf_of(page.text)}).status_code == 303
    # With the flows, the button asks verify-histories for a run and the page shows the latest one.
    asked = []
    monkeypatch.setattr(verification, "flows_configured", lambda: True)

    async def request_run():
        asked.append(True)

    async def latest_run():
        return verification.Run("calm-owl", "Completed", verification.OK, utcnow(), None) if asked else None

    monkeypatch.setattr(verification, "request_run", request_run)
    monkeypatch.setattr(verification, "latest_run", latest_run)
    page = auditor.get("/audit")
    assert "not run yet" in page.text and 'action="/audit/verify"' in page.text
    assert auditor.post("/audit/verify", data={"csrf": csrf_of(page.text)}).status_code == 303 and asked
    assert "all verify" in auditor.get("/audit").text
    agency = sign_in(site, engine, "kz-75.school-1", "agency")
    assert agency.get("/audit").status_code == 403
    assert agency.get("/audit/compliance.csv").status_code == 403


def test_the_audit_page_asks_the_verify_histories_flow_for_a_run_and_shows_its_state(site, engine):
    """Against a real Prefect server (nobody serves the deployment here: the run's states are set by hand)."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.states import Completed, Failed

    from flows.verification import verify_histories
    from support.prefect_server import shared_server, using_prefect

    if engine.db.dialect.name != "sqlite":
        pytest.skip("the page's Prefect calls do not depend on the store")
    auditor = sign_in(site, engine, "ministry_education", "auditor")
    with using_prefect(shared_server().api_url):
        deployment_id = verify_histories.to_deployment("qorgau").apply()

        async def runs():
            async with get_client() as client:
                return await client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))

        async def set_state(run_id, state):
            async with get_client() as client:
                await client.set_flow_run_state(run_id, state, force=True)

        async def clean():  # nobody will run them
            async with get_client() as client:
                for r in await runs():
                    await client.delete_flow_run(r.id)

        asyncio.run(clean())
        try:
            page = auditor.get("/audit")
            assert "not run yet" in page.text and 'action="/audit/verify"' in page.text
            assert auditor.post("/audit/verify", data={"csrf": csrf_of(page.text)}).status_code == 303
            (run,) = asyncio.run(runs())
            assert "audit-page" in run.tags
            assert "Verification is running" in auditor.get("/audit").text
            asyncio.run(set_state(run.id, Failed(message="HistoriesDoNotVerify: 1 of 3 cases do not verify")))
            page = auditor.get("/audit").text
            assert "verification failed" in page and "1 of 3 cases do not verify" in page
            asyncio.run(set_state(run.id, Completed()))
            assert "all verify" in auditor.get("/audit").text
        finally:
            asyncio.run(clean())


def test_a_coordinator_sees_the_compliance_of_its_region_only(site, engine):
    client = sign_in(site, engine, "kz-75.akimat", "coordinator")
    page = client.get("/audit")
    assert page.status_code == 200 and 'id="executors-table"' not in page.text
    assert client.get("/audit?region=KZ-71").status_code == 403


# ------------------------------------------------------------------------------------------ languages

def test_language_from_accept_language_then_the_switch(site, engine):
    client = client_for(site)
    assert '<html lang="kk">' in client.get("/login", headers={"Accept-Language": "kk-KZ,ru;q=0.8"}).text
    assert '<html lang="ru">' in client.get("/login", headers={"Accept-Language": "de-DE"}).text
    assert '<html lang="en">' in client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    r = client.get("/lang/kk?next=/login")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert '<html lang="kk">' in client.get("/login", headers={"Accept-Language": "en"}).text
    assert client.get("/lang/kk?next=//evil.example").headers["location"] == "/"


def test_times_are_shown_on_the_kazakhstan_clock(site, engine):
    from datetime import datetime, timezone
    at = datetime(2026, 4, 6, 5, 0, tzinfo=timezone.utc)
    ref = engine.launch("violence-report", "KZ-75", "kz-75.school-1", violence_report_data(now=at, **VR),
                        now=at).ref  # 10:00 in Almaty
    client = sign_in(site, engine, "kz-75.school-1", "agency")
    page = client.get(f"/cases/{ref}").text
    assert "06.04.2026 10:00" in page  # launch event, local time
    assert "07.04.2026 18:00" in page  # collect_information: 1 working day → Tue 18:00


def test_kazakh_and_russian_pages_use_one_agreed_term_per_notion(site, engine):
    detected = (utcnow() - timedelta(days=1, hours=2)).isoformat()
    ref = launch(engine, days_ago=1, data={**VR, "detected_at": detected, "reporter": "teacher"})
    kk = sign_in(site, engine, "kz-75.school-1", "agency", lang="kk")
    inbox = kk.get("/inbox").text
    assert "Жүйеге кірген: <strong>" in inbox and "Ұйымымның тапсырмалары" in inbox and ">Күйі<" in inbox
    assert re.search(r"<h1>[^\n]*\(\d-нұсқа\)</span></h1>", kk.get(f"/cases/{ref}").text)
    ru = sign_in(site, engine, "ministry_education", "auditor", lang="ru")
    case = ru.get(f"/cases/{ref}").text
    assert "Статус: <span" in case and re.search(r"<h1>[^\n]*\(версия \d\)</span></h1>", case)
    first = re.search(r'<option value="([^"]+)" data-seq="1"', case).group(1)
    past = ru.get(f"/cases/{ref}", params={"at": first}).text
    assert "(время Астаны)." in past and "(KZ)" not in past and "Вернуться к текущему моменту" in past
    page = ru.get("/map").text
    assert ">Орган опеки и попечительства<" in page and ">Психолого-педагогический консилиум<" in page
    assert ">Управление здравоохранения<" in page and ">Управление координации занятости и социальных программ<" in page
    assert re.search(r'data-region="KZ-62"[^>]*>\s*<span aria-hidden="true">Ұлытау<', page)


def test_labels_of_version_2_values_in_kazakh_and_russian():
    from app.web import i18n
    assert (i18n.t("fx.cancelled", "kk"), i18n.t("fx.cancelled", "ru")) == ("тоқтатылды", "прекращена")
    assert (i18n.t("reported_late", "kk"), i18n.t("reported_late", "ru")) == ("Кешіктіріп хабарланды",
                                                                             "Сообщено с опозданием")
    assert i18n.t("form.not_date", "kk").startswith("Күнді ЖЖЖЖ-АА-КК")
    for reporter in ("teacher", "psychologist", "social_pedagogue", "medical_worker", "police_officer",
                     "parent", "child", "other"):
        for lang in ("kk", "ru"):
            assert i18n.value_title(reporter, lang) != reporter
    assert i18n.value_title("crisis_center", "ru") == "Центр адаптации несовершеннолетних (кризисный центр)"
    assert i18n.value_title("pre_trial_investigation", "kk") == "Сотқа дейінгі тергеп-тексеру"
    assert i18n.body_type_title("kdn", "kk") == ("Кәмелетке толмағандардың істері және олардың құқықтарын "
                                                 "қорғау жөніндегі комиссия")


def test_the_launch_form_offers_only_what_the_body_may_launch(site, engine):
    # Version 2: the akimat supervises only the commission and the interagency group, so it may not
    # report violence; the region's education department may.
    def offered(body: str) -> list[str]:
        page = sign_in(site, engine, body, "coordinator").get("/dashboard").text
        picker = page[page.index('id="launch-algorithm"'):]
        return re.findall(r'<option value="([a-z-]+)"', picker[:picker.index("</select>")])

    assert "violence-report" not in offered("kz-75.akimat")
    assert "violence-report" in offered("kz-75.education_department")
