"""The administrator's pages for persons (issue 17 item 3): the list with its filter and the create
form, a person's live sessions and their events across cases, deactivation that ends their session at
once, erasure behind a confirmation that leaves only the pseudonym; nobody but an administrator sees
any of it, and an invalid form names its field and writes nothing."""
from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

os.environ.setdefault("QORGAU_SESSION_SECRET", "test-session-secret-not-for-production")

from app.web import create_site  # noqa: E402
from app.web import session as sessions  # noqa: E402
from states import tables as T  # noqa: E402
from states.access import OPERATOR, Principal  # noqa: E402
from states.commands import CreatePerson, Fire  # noqa: E402
from states.handling import Handler  # noqa: E402
from states.persons import list_persons  # noqa: E402
from states.web_sessions import start_person_session  # noqa: E402

from test_web import client_for, csrf_of, launch, sign_in  # noqa: E402

pytestmark = pytest.mark.db

ADMIN = ("government_office", "admin")
AIGUL = {"body": "kz-75.school-1", "role": "agency", "name": "Айгүл Тестова", "position": "психолог",
         "account": "aigul"}
PERSON_HREF = re.compile(r'href="/persons/(p_[0-9a-f]{16})"')


@pytest.fixture
def site(engine):
    return create_site(engine, base_url="http://testserver")


def persons(engine):
    with engine.reader() as conn:
        return list_persons(conn)


def create(client, **fields):
    form = client.get("/persons")
    return client.post("/persons", data={"csrf": csrf_of(form.text), **{**AIGUL, **fields}})


def person_of(engine, body: str, role: str, name: str):
    return Handler(engine).handle(CreatePerson(body, role, name), OPERATOR)


def signed_in_person(site, engine, person_id: str):
    """A browser holding a live session of the person (as after an OpenID Connect sign-in)."""
    session_id, _ = start_person_session(engine.db, person_id, timedelta(hours=1), id_token=None,
                                         refresh_token=None, check_after=timedelta(hours=1))
    client = client_for(site)
    client.cookies.set(sessions.SESSION_COOKIE, sessions.cookie_value(session_id))
    return client


def test_an_admin_lists_and_creates_persons_and_a_duplicate_account_is_refused(site, engine):
    admin = sign_in(site, engine, *ADMIN)
    page = admin.get("/persons")
    assert page.status_code == 200 and 'href="/persons" aria-current="page"' in page.text
    assert 'id="no-persons"' in page.text and '<option value="kz-75.school-1">' in page.text

    r = create(admin)
    assert r.status_code == 303, r.text
    (person,) = persons(engine)
    assert r.headers["location"] == f"/persons/{person.id}?created=1"
    assert (person.body_id, person.role, person.name, person.position, person.source) == (
        "kz-75.school-1", "agency", "Айгүл Тестова", "психолог", "admin")
    shown = admin.get(r.headers["location"]).text
    assert "The person is added." in shown and person.id in shown

    listed = admin.get("/persons").text
    row = re.search(rf'<tr data-person="{person.id}">.*?</tr>', listed, re.S).group(0)
    for words in ("Айгүл Тестова", "психолог", "School-Gymnasium No. 1, Almaty", "agency", 'data-status="active"',
                  "by an administrator", "never"):
        assert words in row, words
    assert person.id in admin.get("/persons?body=kz-75.school-1").text
    assert person.id not in admin.get("/persons?body=kz-75.police").text

    again = create(admin, name="Другая Тестова", account=" AIGUL ")  # the same user name, however typed
    assert again.status_code == 409 and 'data-error-for="account"' in again.text
    assert "A person with this account already exists." in again.text
    assert 'value="Другая Тестова"' in again.text  # the form keeps what was typed
    assert len(persons(engine)) == 1


@pytest.mark.parametrize("caller", [("kz-75.school-1", "agency"), ("kz-75.education_department", "coordinator"),
                                    ("kz-75.akimat", "auditor")])
def test_only_an_administrator_sees_or_manages_persons(site, engine, caller):
    someone = person_of(engine, "kz-75.school-1", "agency", "Айгүл Тестова")
    client = sign_in(site, engine, *caller)
    inbox_or_cases = client.get("/cases")
    assert 'href="/persons"' not in inbox_or_cases.text
    csrf = csrf_of(inbox_or_cases.text)
    assert client.get("/persons").status_code == 403
    assert client.get(f"/persons/{someone.id}").status_code == 403
    assert client.get(f"/persons/{someone.id}/erase").status_code == 403
    assert client.post("/persons", data={"csrf": csrf, **AIGUL, "account": "other"}).status_code == 403
    assert client.post(f"/persons/{someone.id}/deactivate", data={"csrf": csrf}).status_code == 403
    assert client.post(f"/persons/{someone.id}/erase", data={"csrf": csrf, "confirm": "yes"}).status_code == 403
    (unchanged,) = persons(engine)
    assert unchanged == someone


@pytest.mark.parametrize("field, value", [
    ("body", ""), ("body", "kz-75.nowhere"), ("role", ""), ("role", "operator"), ("name", ""), ("name", "   "),
    ("name", "Я" * 201), ("name", "Айгүл 880101300505"), ("position", "П" * 121), ("position", "880101300505"),
    ("name", "Айгүл\x00"), ("position", "психолог\x00"), ("account", "aigul\x00"),
])
def test_an_invalid_form_names_its_field_and_writes_nothing(site, engine, field, value):
    admin = sign_in(site, engine, *ADMIN)
    r = create(admin, **{field: value})
    assert 400 <= r.status_code < 500, r.status_code
    assert r.status_code == 422
    assert f'data-error-for="{field}"' in r.text and 'id="form-message"' in r.text
    assert persons(engine) == []


def test_invalid_addresses_answer_4xx(site, engine):
    admin = sign_in(site, engine, *ADMIN)
    assert admin.get("/persons?body=kz-75.nowhere").status_code == 422
    assert admin.get("/persons/p_0000000000000000").status_code == 404
    assert admin.get("/persons/nobody").status_code == 404
    csrf = csrf_of(admin.get("/persons").text)
    assert admin.post("/persons/p_0000000000000000/deactivate", data={"csrf": csrf}).status_code == 404
    assert admin.post("/persons/p_0000000000000000/erase", data={"csrf": csrf, "confirm": "yes"}).status_code == 404
    assert admin.post("/persons", data={**AIGUL}).status_code == 403  # no CSRF token
    assert persons(engine) == []


def test_deactivation_ends_the_persons_live_session_at_once(site, engine):
    person = person_of(engine, "kz-75.school-1", "agency", "Дана Тестова")
    browser = signed_in_person(site, engine, person.id)
    assert browser.get("/inbox").status_code == 200
    admin = sign_in(site, engine, *ADMIN)
    page = admin.get(f"/persons/{person.id}")
    assert page.status_code == 200 and 'id="sessions"' in page.text and 'id="deactivate-form"' in page.text
    assert admin.post(f"/persons/{person.id}/deactivate", data={}).status_code == 403  # without CSRF: nothing
    assert browser.get("/inbox").status_code == 200

    r = admin.post(f"/persons/{person.id}/deactivate", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == f"/persons/{person.id}?deactivated=1"
    assert browser.get("/inbox").headers["location"].startswith("/login")  # at once, not at expiry
    after = admin.get(r.headers["location"]).text
    assert 'data-status="deactivated"' in after and 'id="no-sessions"' in after
    assert 'id="deactivate-form"' not in after and "their sessions have ended" in after


def test_erasure_asks_first_then_leaves_only_the_pseudonym(site, engine):
    admin = sign_in(site, engine, *ADMIN)
    assert create(admin).status_code == 303
    (person,) = persons(engine)
    page = admin.get(f"/persons/{person.id}")
    assert f'href="/persons/{person.id}/erase"' in page.text

    unconfirmed = admin.post(f"/persons/{person.id}/erase", data={"csrf": csrf_of(page.text)})
    assert unconfirmed.status_code == 422 and 'data-error-for="confirm"' in unconfirmed.text
    assert persons(engine)[0].name == "Айгүл Тестова"  # nothing written

    confirm = admin.get(f"/persons/{person.id}/erase")
    assert confirm.status_code == 200 and 'id="erase-form"' in confirm.text and "cannot be undone" in confirm.text
    r = admin.post(f"/persons/{person.id}/erase", data={"csrf": csrf_of(confirm.text), "confirm": "yes"})
    assert r.status_code == 303 and r.headers["location"] == f"/persons/{person.id}?erased=1"

    listed = admin.get("/persons").text
    assert person.id in listed and "Айгүл" not in listed and "психолог" not in listed
    row = re.search(rf'<tr data-person="{person.id}">.*?</tr>', listed, re.S).group(0)
    assert 'data-status="erased"' in row
    shown = admin.get(f"/persons/{person.id}").text
    assert "Айгүл" not in shown and 'id="erase-link"' not in shown
    with engine.reader() as conn:
        row = conn.execute(select(T.persons).where(T.persons.c.id == person.id)).one()
    assert row.name is None and row.position is None and row.account_hash is None and row.subject_hash is None
    assert not any(isinstance(v, str) and ("Айгүл" in v or "психолог" in v) for v in row)


def test_the_person_page_lists_their_events_across_cases(site, engine):
    person = person_of(engine, "kz-75.school-1", "agency", "Айгүл Тестова")
    school = engine.svc.directory.get("kz-75.school-1")
    acting = Principal(token_id=None, prefix=None, role="agency", body=school, person_id=person.id)
    refs = [launch(engine, days_ago=1), launch(engine, days_ago=1)]
    for ref in refs:
        Handler(engine).handle(Fire(ref, "assess", {"immediate_danger": False, "perpetrator": "peer"}), acting)
    untouched = launch(engine)

    admin = sign_in(site, engine, *ADMIN)
    page = admin.get(f"/persons/{person.id}")
    assert page.status_code == 200
    table = re.search(r'<table class="responsive" id="events">.*?</table>', page.text, re.S).group(0)
    rows = re.findall(r"<tr>\s*<td.*?</tr>", table, re.S)
    assert len(rows) == 2
    for ref in refs:
        assert f'<a href="/cases/{ref}">{ref}</a>' in table
    assert untouched not in table
    assert table.count(">Assess<") == 2 and "Reported →" in table
    assert re.search(r"<time>\d\d\.\d\d\.\d{4} \d\d:\d\d</time>", table)
    assert "Astana time" in page.text
    assert "School-Gymnasium No. 1, Almaty" in table
    kz = admin.get(f"/persons/{person.id}?lang=kk").text
    assert "Жағдайды бағалау" in kz  # the trigger's own title, in the page's language


def test_a_nul_in_a_name_is_refused_by_the_command_itself(engine) -> None:
    from states.access import OPERATOR
    from states.commands import CreatePerson
    from states.errors import RuleViolation
    from states.handling import Handler
    with pytest.raises(RuleViolation) as info:
        Handler(engine).handle(CreatePerson("kz-75.school-1", "agency", "Айгүл\x00"), OPERATOR)
    assert (info.value.code, info.value.field) == ("invalid_data", "name")
