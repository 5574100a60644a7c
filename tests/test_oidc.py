"""The OpenID Connect client against a real provider process (tests/support/oidc_provider.py):
the authorization request (PKCE S256, state, nonce), the code exchange, the ID token's checks
(signature, issuer, audience, expiry, nonce), access tokens for another client, expired ones, a
rotated signing key, a forged one, and the claim mapping (nothing granted by default)."""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from app.oidc import OidcError, OidcSettings, Provider
from app.oidc_claims import ClaimMapping, ClaimMappingError, Rule, load_mapping

from support.oidc_provider import ProviderProcess

CALLBACK = "http://localhost:8000/login/oidc/callback"


@pytest.fixture(scope="module")
def provider_process():
    process = ProviderProcess(token_max_age=300).start()
    yield process
    process.stop()


def _settings(issuer: str, *, client_id: str = "qorgau", leeway: int = 60, rules=()) -> OidcSettings:
    return OidcSettings(issuer=issuer, client_id=client_id, client_secret="test-secret", audience=client_id,
                        scopes="openid profile email", mapping=ClaimMapping(tuple(rules)), recheck_seconds=300,
                        leeway=leeway)


def sign_in_at_provider(url: str, sub: str) -> str:
    """What a person does on the provider's form: sign in as `sub`; returns where it sends them back."""
    answer = httpx.post(url, data={"sub": sub}, timeout=10)
    assert answer.status_code == 302, answer.text[:300]
    return answer.headers["location"]


def _code(location: str, state: str) -> str:
    query = parse_qs(urlparse(location).query)
    assert query["state"] == [state]
    return query["code"][0]


def test_the_sign_in_request_carries_pkce_state_and_nonce(provider_process) -> None:
    provider = Provider(_settings(provider_process.issuer))
    url, pending = provider.begin(CALLBACK, "/inbox")
    query = parse_qs(urlparse(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0] != pending.verifier
    assert query["state"] == [pending.state] and query["nonce"] == [pending.nonce]
    assert query["client_id"] == ["qorgau"] and query["redirect_uri"] == [CALLBACK]


def test_a_person_signs_in_and_the_id_token_is_checked(provider_process) -> None:
    provider_process.user("psych-1", name="Айгүл Тестова", preferred_username="aigul", groups=["school-1"])
    provider = Provider(_settings(provider_process.issuer))
    url, pending = provider.begin(CALLBACK, "/inbox")
    tokens = provider.finish(_code(sign_in_at_provider(url, "psych-1"), pending.state), CALLBACK, pending)
    assert tokens.claims["sub"] == "psych-1" and tokens.claims["name"] == "Айгүл Тестова"
    assert tokens.claims["nonce"] == pending.nonce and tokens.refresh_token
    assert provider.check(tokens.access_token, audience="qorgau")["sub"] == "psych-1"
    allowed, renewed = provider.still_allowed(tokens.refresh_token)
    assert allowed and renewed
    provider_process.revoke("psych-1")  # disabled at the provider
    assert provider.still_allowed(renewed) == (False, None)


def test_an_id_token_for_another_sign_in_is_refused(provider_process) -> None:
    provider = Provider(_settings(provider_process.issuer))
    url, pending = provider.begin(CALLBACK, "/inbox")
    _, other = provider.begin(CALLBACK, "/inbox")
    code = _code(sign_in_at_provider(url, "psych-2"), pending.state)
    pending.nonce = other.nonce  # a replayed answer: the nonce is not this sign-in's
    with pytest.raises(OidcError, match="nonce"):
        provider.finish(code, CALLBACK, pending)


def test_an_access_token_of_another_client_is_refused(provider_process) -> None:
    other = Provider(_settings(provider_process.issuer, client_id="some-other-system"))
    url, pending = other.begin(CALLBACK, "/")
    tokens = other.finish(_code(sign_in_at_provider(url, "psych-3"), pending.state), CALLBACK, pending)
    ours = Provider(_settings(provider_process.issuer))
    with pytest.raises(OidcError, match="not 'qorgau'"):
        ours.check(tokens.access_token, audience="qorgau")


def test_a_token_of_another_issuer_is_refused(provider_process) -> None:
    provider = Provider(_settings(provider_process.issuer))
    url, pending = provider.begin(CALLBACK, "/")
    tokens = provider.finish(_code(sign_in_at_provider(url, "psych-4"), pending.state), CALLBACK, pending)
    header, payload, signature = tokens.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "aud": "qorgau", "sub": "admin"}).encode()).rstrip(b"=")
    with pytest.raises(OidcError, match="signature"):  # an edited token: its signature no longer holds
        provider.check(f"{header}.{forged.decode()}.{signature}", audience="qorgau")


def test_an_expired_access_token_is_refused() -> None:
    process = ProviderProcess(token_max_age=1).start()
    try:
        provider = Provider(_settings(process.issuer, leeway=0))
        url, pending = provider.begin(CALLBACK, "/")
        tokens = provider.finish(_code(sign_in_at_provider(url, "psych-5"), pending.state), CALLBACK, pending)
        time.sleep(2.1)
        with pytest.raises(OidcError, match="expired"):
            provider.check(tokens.access_token, audience="qorgau")
    finally:
        process.stop()


def test_a_rotated_signing_key_is_fetched_and_the_old_one_refused() -> None:
    process = ProviderProcess().start()
    try:
        provider = Provider(_settings(process.issuer))
        url, pending = provider.begin(CALLBACK, "/")
        old = provider.finish(_code(sign_in_at_provider(url, "psych-6"), pending.state), CALLBACK, pending)
        assert provider.check(old.access_token, audience="qorgau")
        process.restart()  # the provider rotates its key (and forgets the old one)
        url, pending = provider.begin(CALLBACK, "/")
        new = provider.finish(_code(sign_in_at_provider(url, "psych-6"), pending.state), CALLBACK, pending)
        assert provider.check(new.access_token, audience="qorgau")["sub"] == "psych-6"
        with pytest.raises(OidcError, match="signature"):
            provider.check(old.access_token, audience="qorgau")
    finally:
        process.stop()


# ------------------------------------------------------------------------------ the claim mapping

def test_claims_map_to_a_body_and_role_and_nothing_by_default(directory) -> None:
    mapping = ClaimMapping((Rule(claim="groups", value="school-1", body="kz-75.school-1", role="agency"),
                            Rule(claim="qorgau_body", body_from="qorgau_body", role_from="qorgau_role")))
    assert mapping.grant({"groups": ["other", "school-1"]}, directory) == ("kz-75.school-1", "agency")
    assert mapping.grant({"qorgau_body": "kz-75.police", "qorgau_role": "agency"}, directory) == ("kz-75.police", "agency")
    assert mapping.grant({"groups": ["other"]}, directory) is None
    assert mapping.grant({"qorgau_body": "kz-75.police", "qorgau_role": "root"}, directory) is None
    assert mapping.grant({"qorgau_body": "nowhere", "qorgau_role": "agency"}, directory) is None
    assert ClaimMapping().grant({"groups": ["school-1"]}, directory) is None


@pytest.mark.parametrize("text, problem", [
    ("rules: [{value: x, body: kz-75.police, role: agency}]", "names a `claim`"),
    ("rules: [{claim: groups, value: x, role: agency}]", "`body` or `body_from`"),
    ("rules: [{claim: groups, value: x, body: kz-75.police, role: root}]", "role must be one of"),
    ("rules: [{claim: groups, value: x, body: kz-75.police, role: agency, colour: red}]", "unknown keys colour"),
])
def test_a_broken_claim_mapping_is_refused_naming_the_rule(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "claims.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ClaimMappingError) as info:
        load_mapping(str(path))
    assert f"{path}: rule 1: " in str(info.value) and problem in str(info.value)
