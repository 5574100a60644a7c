"""People sign in through a real OpenID Connect provider process (tests/support/oidc_provider.py) and
act: the history names the person; deactivating them in Qorgau or at the provider ends the session;
claims that map to nothing are refused with a page; the API takes the provider's access token and
refuses a foreign one; token sign-in stays beside it."""
from __future__ import annotations

import re
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import select

from app.oidc import OidcSettings
from app.oidc_claims import ClaimMapping, Rule
from app.web import create_site
from states import tables as T
from states.access import OPERATOR
from states.commands import CreatePerson, DeactivatePerson
from states.handling import Handler
from states.persons import list_persons

from support.oidc_provider import ProviderProcess
from test_web import client_for, csrf_of, launch, sign_in

RULES = (Rule(claim="groups", value="school-1-psychologists", body="kz-75.school-1", role="agency"),
         Rule(claim="groups", value="ministry-coordinators", body="ministry_education", role="coordinator"))


@pytest.fixture(scope="module")
def provider_process():
    process = ProviderProcess().start()
    yield process
    process.stop()


def _settings(issuer: str, **overrides) -> OidcSettings:
    values = dict(issuer=issuer, client_id="qorgau", client_secret="test-secret", audience="qorgau",
                  scopes="openid profile email", mapping=ClaimMapping(RULES), recheck_seconds=300)
    return OidcSettings(**{**values, **overrides})


@pytest.fixture
def oidc_site(engine, provider_process):
    return create_site(engine, base_url="http://testserver", oidc=_settings(provider_process.issuer))


def sign_in_person(site, sub: str, *, next_path: str = "/inbox"):
    """The browser's way through the provider's form; returns (client, the callback's answer)."""
    client = client_for(site)
    client.cookies.set("qorgau_lang", "en")
    to_provider = client.get(f"/login/oidc?next={next_path}")
    assert to_provider.status_code == 303
    at_provider = httpx.post(to_provider.headers["location"], data={"sub": sub}, timeout=10)
    assert at_provider.status_code == 302, at_provider.text[:300]
    back = urlparse(at_provider.headers["location"])
    return client, client.get(f"{back.path}?{back.query}")


def test_a_person_signs_in_fires_and_the_history_names_them(oidc_site, engine, provider_process) -> None:
    provider_process.user("aigul", name="Айгүл Тестова", preferred_username="aigul",
                          groups=["school-1-psychologists"])
    ref = launch(engine, days_ago=2)
    client, answer = sign_in_person(oidc_site, "aigul")
    assert answer.status_code == 200 and answer.headers["refresh"] == "0; url=/inbox"
    inbox = client.get("/inbox")
    assert inbox.status_code == 200 and ref in inbox.text
    key = re.search(r'data-ref="%s" data-task="([^"]+)"' % ref, inbox.text).group(1)
    form = client.get(f"/cases/{ref}/tasks/{key}")
    fired = client.post(f"/cases/{ref}/fire", data={"csrf": csrf_of(form.text), "version": "1", "trigger": "assess",
                                                    "task": key, "d.immediate_danger": "false",
                                                    "d.perpetrator": "peer"})
    assert fired.status_code == 303, fired.text
    with engine.reader() as conn:
        person = next(p for p in list_persons(conn) if p.name == "Айгүл Тестова")
        event = conn.execute(select(T.events).where(T.events.c.trigger == "assess")).one()
    assert person.body_id == "kz-75.school-1" and person.role == "agency" and person.source == "oidc"
    assert event.actor == "kz-75.school-1" and event.person == person.id
    assert "Айгүл" not in str(event.data) + str(event.effects)  # the history holds only the pseudonym
    history = client.get(f"/api/v1/cases/{ref}/history", headers={"Authorization": "Bearer x"})
    assert history.status_code == 401
    page = client.get(f"/cases/{ref}")
    assert "Айгүл Тестова" in page.text  # the case page's timeline shows who acted


def test_deactivating_the_person_ends_their_session_at_once(oidc_site, engine, provider_process) -> None:
    provider_process.user("dana", name="Дана Тестова", groups=["school-1-psychologists"])
    client, _ = sign_in_person(oidc_site, "dana")
    assert client.get("/inbox").status_code == 200
    with engine.reader() as conn:
        person = next(p for p in list_persons(conn) if p.name == "Дана Тестова")
    Handler(engine).handle(DeactivatePerson(person.id), OPERATOR)
    assert client.get("/inbox").status_code == 303  # to the sign-in page
    _, again = sign_in_person(oidc_site, "dana")
    assert again.status_code == 403 and "deactivated" in again.text


def test_a_person_disabled_at_the_provider_loses_the_session(engine, provider_process) -> None:
    site = create_site(engine, base_url="http://testserver",
                       oidc=_settings(provider_process.issuer, recheck_seconds=0))
    provider_process.user("erlan", name="Ерлан Тестов", groups=["school-1-psychologists"])
    client, _ = sign_in_person(site, "erlan")
    assert client.get("/inbox").status_code == 200
    provider_process.revoke("erlan")
    assert client.get("/inbox").status_code == 303


def test_claims_that_map_to_nothing_are_refused_with_a_page(oidc_site, engine, provider_process) -> None:
    provider_process.user("stranger", name="Бөгде Адам", groups=["someone-else"])
    client, answer = sign_in_person(oidc_site, "stranger")
    assert answer.status_code == 403 and "no body and no role" in answer.text
    assert client.get("/inbox").status_code == 303
    with engine.reader() as conn:
        assert list_persons(conn) == []  # nothing provisioned, nothing granted


def test_an_admin_created_person_is_bound_at_the_first_sign_in(oidc_site, engine, provider_process) -> None:
    created = Handler(engine).handle(CreatePerson("kz-75.police", "agency", "Инспектор Тестов", "inspector",
                                                  account="inspector1"), OPERATOR)
    provider_process.user("sub-inspector", name="Инспектор Тестов", preferred_username="inspector1",
                          groups=["someone-else"])  # the claims grant nothing; the admin's grant holds
    client, answer = sign_in_person(oidc_site, "sub-inspector")
    assert answer.status_code == 200
    with engine.reader() as conn:
        (person,) = list_persons(conn)
    assert person.id == created.id and person.body_id == "kz-75.police"


def test_a_forged_state_is_refused(oidc_site) -> None:
    client = client_for(oidc_site)
    client.get("/login/oidc")
    answer = client.get("/login/oidc/callback?code=x&state=forged")
    assert answer.status_code == 400


def test_logout_also_ends_the_provider_session(oidc_site, provider_process) -> None:
    provider_process.user("gulnar", name="Гүлнар Тестова", groups=["school-1-psychologists"])
    client, _ = sign_in_person(oidc_site, "gulnar")
    page = client.get("/inbox")
    out = client.post("/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 200
    target = out.headers["refresh"].split("url=", 1)[1]
    assert target.startswith(f"{provider_process.issuer}/oauth2/end_session") and "id_token_hint=" in target
    assert client.get("/inbox").status_code == 303


def test_token_sign_in_stays_beside_the_provider(oidc_site, engine) -> None:
    client = sign_in(oidc_site, engine, "kz-75.school-1", "agency")
    assert client.get("/inbox").status_code == 200
    assert 'href="/login/oidc' in client_for(oidc_site).get("/login").text


# ------------------------------------------------------------------------------ the API

def _access_token(provider_process, sub: str, client_id: str = "qorgau") -> str:
    from app.oidc import Provider
    provider = Provider(_settings(provider_process.issuer, client_id=client_id, audience=client_id))
    url, pending = provider.begin("http://testserver/login/oidc/callback", "/")
    location = httpx.post(url, data={"sub": sub}, timeout=10).headers["location"]
    code = dict(p.split("=", 1) for p in urlparse(location).query.split("&"))["code"]
    return provider.finish(code, "http://testserver/login/oidc/callback", pending).access_token


def test_the_api_takes_the_providers_access_token(oidc_site, engine, provider_process) -> None:
    provider_process.user("coord", name="Координатор Тестов", groups=["ministry-coordinators"])
    client = client_for(oidc_site)
    token = _access_token(provider_process, "coord")
    answer = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    foreign = _access_token(provider_process, "coord", client_id="another-system")
    refused = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {foreign}"})
    assert refused.status_code == 401 and refused.json()["code"] == "unauthenticated"
    with engine.reader() as conn:
        (person,) = list_persons(conn)
    Handler(engine).handle(DeactivatePerson(person.id), OPERATOR)
    assert client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_the_api_refuses_an_expired_access_token(engine) -> None:
    import time
    process = ProviderProcess(token_max_age=1).start()
    try:
        process.user("late", name="Кеш Қалған", groups=["ministry-coordinators"])
        site = create_site(engine, base_url="http://testserver", oidc=_settings(process.issuer, leeway=0))
        token = _access_token(process, "late")
        time.sleep(2.1)
        answer = client_for(site).get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401 and "expired" in answer.json()["message"]
    finally:
        process.stop()

