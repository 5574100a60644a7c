"""OpenID Connect: the pages sign people in at the deployment's identity provider (authorization code
with PKCE, state and nonce), and the API accepts the provider's access tokens.

Configured by environment (docs/deploy.md): `QORGAU_OIDC_ISSUER`, `QORGAU_OIDC_CLIENT_ID`,
`QORGAU_OIDC_CLIENT_SECRET`, `QORGAU_OIDC_CLAIMS` (the claim mapping file, app/oidc_claims.py),
optionally `QORGAU_OIDC_AUDIENCE` (the `aud` an API access token must carry; default the client id),
`QORGAU_OIDC_SCOPES` and `QORGAU_OIDC_RECHECK_SECONDS` (how often a page session asks the provider
again whether the person may still sign in; default 300). Without an issuer, sign-in is by token only.

Tokens are checked with joserfc (JOSE by Authlib's author): the signature against the provider's key
set (fetched from its discovery document, fetched again when a token names a key it does not hold,
at most once a minute: key rotation), the issuer, the audience, the expiry (60 s leeway), and for an
ID token the nonce of this sign-in.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from states.persons import subject_hash

from app.oidc_claims import ClaimMapping, load_mapping

LEEWAY = 60  # seconds of clock difference allowed on exp / iat (QORGAU_OIDC_LEEWAY)
JWKS_REFETCH_SECONDS = 10  # a token naming an unknown key refetches the key set at most this often
HTTP_TIMEOUT = 10.0
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]


class OidcError(Exception):
    """The provider's answer or token is not acceptable; `reason` is for the log and the page."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str | None
    audience: str
    scopes: str
    mapping: ClaimMapping
    recheck_seconds: int
    leeway: int = LEEWAY

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "OidcSettings | None":
        env = dict(os.environ if env is None else env)
        issuer = (env.get("QORGAU_OIDC_ISSUER") or "").rstrip("/")
        if not issuer:
            return None
        client_id = env.get("QORGAU_OIDC_CLIENT_ID") or ""
        if not client_id:
            raise OidcError("QORGAU_OIDC_ISSUER is set but QORGAU_OIDC_CLIENT_ID is not")
        return cls(issuer=issuer, client_id=client_id, client_secret=env.get("QORGAU_OIDC_CLIENT_SECRET") or None,
                   audience=env.get("QORGAU_OIDC_AUDIENCE") or client_id,
                   scopes=env.get("QORGAU_OIDC_SCOPES") or "openid profile email",
                   mapping=load_mapping(env.get("QORGAU_OIDC_CLAIMS")),
                   recheck_seconds=int(env.get("QORGAU_OIDC_RECHECK_SECONDS") or 300),
                   leeway=int(env.get("QORGAU_OIDC_LEEWAY") or LEEWAY))


@dataclass
class PendingSignIn:
    """What the browser carries (signed) between the redirect to the provider and the way back."""
    state: str
    nonce: str
    verifier: str
    next: str


@dataclass
class Tokens:
    id_token: str
    claims: dict[str, Any]
    refresh_token: str | None
    access_token: str | None


@dataclass
class Provider:
    """One identity provider: its discovery document and key set, cached."""
    settings: OidcSettings
    _meta: dict[str, Any] | None = None
    _keys: KeySet | None = None
    _missed_at: float = float("-inf")  # when a token naming an unknown key last made us fetch the set
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ the provider's documents
    def metadata(self) -> dict[str, Any]:
        if self._meta is None:
            url = f"{self.settings.issuer}/.well-known/openid-configuration"
            meta = self._get_json(url)
            if meta.get("issuer", "").rstrip("/") != self.settings.issuer:
                raise OidcError(f"the discovery document names issuer {meta.get('issuer')!r}, "
                                f"not {self.settings.issuer!r}")
            self._meta = meta
        return self._meta

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = httpx.get(url, timeout=HTTP_TIMEOUT)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"the identity provider did not answer {url}: {exc}") from None

    def keys(self, *, missed: bool = False) -> KeySet:
        """The provider's key set; `missed`: a token names a key we do not hold (the provider may
        have rotated its key): fetch the set again, unless a miss did so in the last few seconds
        (a stream of forged key ids must not become a stream of requests to the provider)."""
        with self._lock:
            again = missed and time.monotonic() - self._missed_at >= JWKS_REFETCH_SECONDS
            if self._keys is None or again:
                self._keys = KeySet.import_key_set(self._get_json(self.metadata()["jwks_uri"]))
                if again:
                    self._missed_at = time.monotonic()
            return self._keys

    # ------------------------------------------------------------------ sign-in
    def begin(self, redirect_uri: str, next_path: str) -> tuple[str, PendingSignIn]:
        """The provider URL to send the browser to, and what to remember until it comes back."""
        pending = PendingSignIn(state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24),
                                verifier=secrets.token_urlsafe(48), next=next_path)
        url = prepare_grant_uri(self.metadata()["authorization_endpoint"], self.settings.client_id, "code",
                                redirect_uri=redirect_uri, scope=self.settings.scopes, state=pending.state,
                                nonce=pending.nonce, code_challenge=create_s256_code_challenge(pending.verifier),
                                code_challenge_method="S256")
        return url, pending

    def finish(self, code: str, redirect_uri: str, pending: PendingSignIn) -> Tokens:
        """Exchange the code (with the PKCE verifier) and check the ID token (with this nonce)."""
        answer = self._token_request({"grant_type": "authorization_code", "code": code,
                                      "redirect_uri": redirect_uri, "code_verifier": pending.verifier})
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("the provider's answer holds no ID token")
        claims = self.check(id_token, audience=self.settings.client_id, nonce=pending.nonce)
        return Tokens(id_token, claims, answer.get("refresh_token"), answer.get("access_token"))

    def still_allowed(self, refresh_token: str | None) -> tuple[bool, str | None]:
        """Ask the provider again (a refresh grant): a person deactivated there is refused. Returns
        whether the person may go on and the refresh token to use next time (providers such as
        Keycloak give a new one, whose own expiry then counts)."""
        if not refresh_token:
            return True, None  # the provider gave no refresh token: the session's expiry is the limit
        try:
            answer = self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})
        except OidcError:
            return False, None
        renewed = answer.get("refresh_token")
        return True, renewed if isinstance(renewed, str) and renewed else refresh_token

    def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        auth = (self.settings.client_id, self.settings.client_secret) if self.settings.client_secret else None
        if auth is None:
            form = {**form, "client_id": self.settings.client_id}
        try:
            response = httpx.post(self.metadata()["token_endpoint"], data=form, auth=auth, timeout=HTTP_TIMEOUT)
        except httpx.HTTPError as exc:
            raise OidcError(f"the identity provider's token endpoint did not answer: {exc}") from None
        if response.status_code != 200:
            raise OidcError(f"the identity provider refused the {form['grant_type']} grant "
                            f"({response.status_code}: {response.text[:200]})")
        try:
            return response.json()
        except ValueError:
            raise OidcError("the identity provider's token answer is not JSON") from None

    def end_session_url(self, id_token: str | None, post_logout: str) -> str | None:
        """Where to send the browser so that the provider's own session ends too (if it offers it)."""
        endpoint = self.metadata().get("end_session_endpoint")
        if not endpoint:
            return None
        params = {"post_logout_redirect_uri": post_logout, "client_id": self.settings.client_id}
        if id_token:
            params["id_token_hint"] = id_token
        return f"{endpoint}?{urlencode(params)}"

    # ------------------------------------------------------------------ tokens
    def check(self, token: str, *, audience: str, nonce: str | None = None) -> dict[str, Any]:
        """The claims of a provider-signed JWT, or OidcError naming what is wrong with it."""
        try:
            decoded = self._decode(token)
        except JoseError as exc:
            raise OidcError(f"the token's signature does not verify ({exc.error})") from None
        except ValueError as exc:
            raise OidcError(f"the token cannot be read ({exc})") from None
        claims = decoded.claims
        options: dict[str, Any] = {"iss": {"essential": True, "value": self.settings.issuer},
                                   "exp": {"essential": True}, "sub": {"essential": True}}
        if nonce is not None:
            options["nonce"] = {"essential": True, "value": nonce}
        try:
            JWTClaimsRegistry(leeway=self.settings.leeway, **options).validate(claims)
        except JoseError as exc:
            raise OidcError(f"the token is not acceptable: {exc.error} {exc.description or ''}".strip()) from None
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        if audience not in audiences:
            raise OidcError(f"the token is for {', '.join(map(str, audiences)) or 'no audience'}, not {audience!r}")
        return claims

    def _decode(self, token: str):
        header = json.loads(_b64decode(token.split(".", 1)[0]))
        kid = header.get("kid")
        keys = self.keys()
        if kid is not None and not any(k.kid == kid for k in keys.keys):
            keys = self.keys(missed=True)  # a rotated key: fetch the set again (rate limited)
        if kid is None:  # the provider names no key: try each we hold, then (rotated?) a fresh set
            try:
                return _any_key(token, keys)
            except JoseError:
                fresh = self.keys(missed=True)
                if fresh is keys:
                    raise
                return _any_key(token, fresh)
        return jwt.decode(token, keys, algorithms=ALGORITHMS)


def _any_key(token: str, keys: KeySet):
    """A token that names no key, checked against each key of the set (a forgery fails them all)."""
    last: JoseError | None = None
    for key in keys.keys:
        try:
            return jwt.decode(token, key, algorithms=ALGORITHMS)
        except JoseError as exc:
            last = exc
    raise last or JoseError("the provider's key set is empty")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def subject_of(settings: OidcSettings, claims: dict[str, Any]) -> str:
    """The person's provider account as Qorgau keeps it: a hash of issuer and subject."""
    return subject_hash(settings.issuer, str(claims["sub"]))
