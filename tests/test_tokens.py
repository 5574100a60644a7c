"""API tokens: shown once, stored hashed, bound to a body and a role, revocable."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from states import tables as T
from states.tokens import (TOKEN_PREFIX, TokenError, authenticate, create_token, hash_secret, list_tokens,
                           revoke_token)

from conftest import kz


def test_a_token_is_stored_only_as_its_hash(engine):
    secret, token = create_token(engine.db, "kz-75.police", "agency", "inspectors", now=kz(2026, 4, 6, 10))
    assert secret.startswith(TOKEN_PREFIX) and len(secret) > 40
    assert token.prefix == secret[:12] and token.body_id == "kz-75.police" and token.role == "agency"
    with engine.reader() as conn:
        row = conn.execute(select(T.api_tokens)).one()
    assert row.token_hash == hash_secret(secret) and secret not in str(tuple(row))
    found = authenticate(engine.db, secret, now=kz(2026, 4, 6, 11))
    assert found is not None and found.id == token.id and found.role == "agency"


def test_unknown_malformed_and_revoked_tokens_are_refused(engine):
    secret, token = create_token(engine.db, "kz-75.police", "agency")
    assert authenticate(engine.db, "qg_not-a-token") is None
    assert authenticate(engine.db, "") is None and authenticate(engine.db, "x" * 500) is None
    revoked = revoke_token(engine.db, token.prefix)
    assert revoked.revoked_at is not None and authenticate(engine.db, secret) is None
    again = revoke_token(engine.db, str(token.id))  # idempotent
    assert again.revoked_at == revoked.revoked_at


def test_last_used_is_refreshed_at_most_once_a_minute(engine):
    secret, _ = create_token(engine.db, "kz-75.police", "agency")
    t0 = kz(2026, 4, 6, 10)
    authenticate(engine.db, secret, now=t0)
    authenticate(engine.db, secret, now=t0 + timedelta(seconds=30))
    with engine.reader() as conn:
        assert list_tokens(conn)[0].last_used_at == t0
    authenticate(engine.db, secret, now=t0 + timedelta(minutes=2))
    with engine.reader() as conn:
        assert list_tokens(conn)[0].last_used_at == t0 + timedelta(minutes=2)


@pytest.mark.parametrize("body, role, field", [("kz-75.nowhere", "agency", "body"), ("kz-75.police", "root", "role"),
                                               ("kz-75.police", "agency", "label")])
def test_bad_tokens_are_refused_naming_the_field(engine, body, role, field):
    with pytest.raises(TokenError) as exc:
        create_token(engine.db, body, role, "x" * 300 if field == "label" else None)
    assert exc.value.field == field


def test_revoke_names_what_it_cannot_find(engine):
    with pytest.raises(TokenError, match="no token"):
        revoke_token(engine.db, "qg_nothing")
    with pytest.raises(TokenError, match="no token"):
        revoke_token(engine.db, "42")


def test_list_can_leave_out_revoked_tokens(engine):
    _, a = create_token(engine.db, "kz-75.police", "agency")
    create_token(engine.db, "ministry_education", "coordinator")
    revoke_token(engine.db, str(a.id))
    with engine.reader() as conn:
        assert [t.role for t in list_tokens(conn)] == ["agency", "coordinator"]
        assert [t.role for t in list_tokens(conn, include_revoked=False)] == ["coordinator"]
