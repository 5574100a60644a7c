"""Persons as API callers: each caller a user at a real provider process (support/oidc_provider.py)
whose access token carries `qorgau_body` and `qorgau_role` (as a Keycloak user attribute mapper puts
them there), mapped by the `body_from` / `role_from` rule that docs/deploy.md documents."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx

from app.oidc import OidcSettings, Provider
from app.oidc_claims import ClaimMapping, Rule
from states.persons import find_by_subject, subject_hash

CLIENT_ID = "qorgau"
CALLBACK = "http://testserver/login/oidc/callback"
MAPPING = ClaimMapping((Rule(claim="qorgau_body", body_from="qorgau_body", role_from="qorgau_role"),))


def settings_for(issuer: str, **overrides) -> OidcSettings:
    """Qorgau's settings for the test provider: the client `qorgau`, the attribute mapping."""
    values = dict(issuer=issuer, client_id=CLIENT_ID, client_secret="test-secret", audience=CLIENT_ID,
                  scopes="openid profile email", mapping=MAPPING, recheck_seconds=300)
    return OidcSettings(**{**values, **overrides})


def provider_access_token(process, sub: str, *, client_id: str = CLIENT_ID) -> str:
    """The access token the provider gives `sub` after signing in through `client_id` (authorization
    code with PKCE, as Qorgau's sign-in does)."""
    provider = Provider(settings_for(process.issuer, client_id=client_id, audience=client_id))
    url, pending = provider.begin(CALLBACK, "/")
    back = httpx.post(url, data={"sub": sub}, timeout=10)
    assert back.status_code == 302, back.text[:300]
    code = parse_qs(urlparse(back.headers["location"]).query)["code"][0]
    return provider.finish(code, CALLBACK, pending).access_token


def person_tokens(process, callers: dict[str, tuple[str, str]]) -> dict[str, str]:
    """name -> the access token of a person `name` of that (body, role), registered at the provider."""
    tokens = {}
    for name, (body, role) in callers.items():
        process.user(name, name=f"{name} Synthetic", preferred_username=name, qorgau_body=body, qorgau_role=role)
        tokens[name] = provider_access_token(process, name)
    return tokens


def person_id_of(engine, issuer: str, sub: str) -> str | None:
    """The pseudonymous id Qorgau gave the provider's user `sub` (None: not seen yet)."""
    with engine.reader() as conn:
        person = find_by_subject(conn, subject_hash(issuer, sub))
    return person.id if person else None
