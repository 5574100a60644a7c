"""D3: web sessions live in the store and end at once: after signing out, after the token is
revoked, and at their expiry, a copied cookie gets the sign-in page and can fire nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.web import session as sessions
from states import tables as T
from states.clock import utcnow
from states.tokens import revoke_token

from test_web import client_for, csrf_of, launch, sign_in

pytestmark = pytest.mark.db


@pytest.fixture
def site(engine):
    from app.web import create_site
    return create_site(engine, base_url="http://testserver")


def _thief(site, victim):
    thief = client_for(site)
    thief.cookies.set(sessions.SESSION_COOKIE, victim.cookies.get(sessions.SESSION_COOKIE))
    return thief


def _signed_out(client) -> None:
    r = client.get("/inbox")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_a_cookie_copied_before_logout_gets_the_sign_in_page_after_it(site, engine):
    ref = launch(engine)
    victim = sign_in(site, engine, "kz-75.school-1", "agency")
    csrf = csrf_of(victim.get("/inbox").text)
    thief = _thief(site, victim)
    assert thief.get("/inbox").status_code == 200
    assert victim.post("/logout", data={"csrf": csrf}).status_code == 303
    _signed_out(thief)
    r = thief.post(f"/cases/{ref}/fire", data={"csrf": csrf, "trigger": "assess", "version": "1",
                                               "d.immediate_danger": "false", "d.perpetrator": "peer"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert engine.case(ref).version == 1
    with engine.reader() as conn:
        assert conn.execute(select(func.count()).select_from(T.web_sessions)).scalar() == 0


def test_revoking_the_token_ends_its_sessions_at_once(site, engine):
    victim = sign_in(site, engine, "kz-75.school-1", "agency")
    thief = _thief(site, victim)
    assert thief.get("/inbox").status_code == 200
    revoke_token(engine.db, "1")
    _signed_out(thief)
    _signed_out(victim)
    with engine.reader() as conn:
        assert conn.execute(select(func.count()).select_from(T.web_sessions)).scalar() == 0


def test_an_expired_session_ends_whatever_the_cookie_says(site, engine):
    client = sign_in(site, engine, "kz-75.school-1", "agency")
    assert client.get("/inbox").status_code == 200
    with engine.db.begin() as conn:
        conn.execute(update(T.web_sessions).values(expires_at=utcnow() - timedelta(seconds=1)))
    _signed_out(client)


def test_the_store_keeps_only_a_hash_of_the_session_id(site, engine):
    client = sign_in(site, engine, "kz-75.school-1", "agency")
    cookie = client.cookies.get(sessions.SESSION_COOKIE)
    session_id = sessions.session_id(cookie)
    with engine.reader() as conn:
        stored = conn.execute(select(T.web_sessions.c.id_hash)).scalar_one()
    assert session_id and session_id not in stored and stored not in cookie
