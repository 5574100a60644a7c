"""A person signs in through a real OpenID Connect provider in Chromium, fires a trigger, and the
history names them; deactivated in Qorgau, their next page is the sign-in page."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.api.server import ServerThread
from app.oidc import OidcSettings
from app.oidc_claims import ClaimMapping, Rule
from app.web import create_site
from states.access import OPERATOR
from states.clock import utcnow
from states.commands import DeactivatePerson
from states.handling import Handler
from states.persons import list_persons
from states.queries import history
from states.store import open_engine

from factories import violence_report_data
from support.oidc_provider import ProviderProcess

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def oidc_live(tmp_path_factory, registry, directory, calendar):
    provider = ProviderProcess().start()
    path = tmp_path_factory.mktemp("oidc") / "qorgau.sqlite"
    engine = open_engine(f"sqlite:///{path}", registry=registry, directory=directory, calendar=calendar)
    with ServerThread(create_site(engine, oidc=None)) as probe:  # learn a free address first
        url = probe.url
    settings = OidcSettings(issuer=provider.issuer, client_id="qorgau", client_secret="browser-test",
                            audience="qorgau", scopes="openid profile email", recheck_seconds=300,
                            mapping=ClaimMapping((Rule(claim="groups", value="school-1", body="kz-75.school-1",
                                                       role="agency"),)))
    site = create_site(engine, base_url=url, oidc=settings)
    with ServerThread(site, port=int(url.rsplit(":", 1)[1])) as server:
        yield {"url": server.url, "engine": engine, "provider": provider}
    provider.stop()
    engine.db.dispose()


def test_a_person_signs_in_through_the_provider_and_the_history_names_them(page, oidc_live):
    engine, provider, url = oidc_live["engine"], oidc_live["provider"], oidc_live["url"]
    at = utcnow() - timedelta(hours=2)
    ref = engine.launch("violence-report", "KZ-75", "kz-75.school-1",
                        violence_report_data(now=at, summary="synthetic browser case"), now=at).ref
    provider.user("aigul-browser", name="Айгүл Браузерова", preferred_username="aigul",
                  groups=["school-1"])
    # The test provider's own page asks a CDN for a stylesheet; this machine has no outside network,
    # so the browser is told at once instead of waiting for it (Qorgau's pages ask no outside host).
    page.route("**/*", lambda route: route.continue_() if "://127.0.0.1" in route.request.url else route.abort())
    page.goto(f"{url}/login")
    page.get_by_role("link", name="Sign in with your organisation's account").click()
    page.fill("input[name=sub]", "aigul-browser")  # the provider's own sign-in form
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{url}/inbox")
    assert ref in page.content()
    page.goto(f"{url}/cases/{ref}/tasks/t1")
    page.get_by_role("radio", name="No").check()
    page.select_option("#f-perpetrator", "peer")
    page.click("#task-form button[type=submit]")
    page.wait_for_selector(".flash")
    assert engine.case(ref).state == "bullying_review"
    with engine.reader() as conn:
        events = history(conn, ref)["events"]
        (person,) = list_persons(conn)
    assess = next(e for e in events if e["trigger"] == "assess")
    assert assess["person"] == person.id and assess["person_name"] == "Айгүл Браузерова"
    assert "Айгүл Браузерова" in page.locator("#timeline").inner_text()  # the case page says who acted
    Handler(engine).handle(DeactivatePerson(person.id), OPERATOR)
    page.goto(f"{url}/inbox")
    assert "/login" in page.url  # the session ended at once
