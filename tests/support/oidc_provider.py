"""A real OpenID Connect provider process for the sign-in tests: `oidc-provider-mock` (PyPI, made for
testing relying parties), with one setting a production provider such as Keycloak also has: access
tokens are JWTs signed with the provider's key (the mock's default is opaque strings).

Run as a script (`python tests/support/oidc_provider.py --port 9400 [--token-max-age 300]`); the
fixture in tests/test_oidc.py starts it, registers users with `PUT /users/{sub}` (their claims) and
restarts it for a key rotation (a new process makes a new signing key).
"""
from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx

import flask
import oidc_provider_mock
from joserfc import jwt
from joserfc.jwk import RSAKey


def jwt_access_token(client, grant_type, user, scope):
    """An access token as Keycloak issues one: a JWT for the client (aud), with the user's sub."""
    storage = flask.g.oidc_provider_mock_storage
    config = flask.g.oidc_provider_mock_config
    now = int(time.time())
    claims = {"iss": flask.request.host_url.rstrip("/"), "sub": user.sub, "aud": client.id, "azp": client.id,
              "iat": now, "exp": now + int(config.access_token_max_age.total_seconds()), "scope": scope or "",
              "jti": uuid.uuid4().hex, **{k: v for k, v in user.claims.items() if k in ("groups", "qorgau_body",
                                                                                     "qorgau_role")}}
    key = RSAKey.import_key(storage.jwk.as_dict(is_private=True))
    return jwt.encode({"alg": "RS256", "kid": storage.jwk.kid}, claims, key)


def _named_key() -> None:
    """Give the signing key a `kid` (as Keycloak does), so that tokens name the key that signed them
    and a relying party can tell a rotated key from a forged signature."""
    storage = flask.g.oidc_provider_mock_storage
    if storage.jwk.kid is None:  # the mock's key is an authlib.jose key
        key = storage.jwk.as_dict(is_private=True)
        storage.jwk = type(storage.jwk).import_key({**key, "kid": storage.jwk.thumbprint()})


def make_app(token_max_age: int) -> flask.Flask:
    app = flask.Flask("oidc_provider_mock._app")  # the mock's package: its templates (the sign-in form)
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = jwt_access_token
    oidc_provider_mock.init_app(app, require_nonce=True, access_token_max_age=timedelta(seconds=token_max_age))
    app.before_request(_named_key)  # after the mock's own hook, which puts its storage on flask.g
    app.secret_key = uuid.uuid4().bytes
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-max-age", type=int, default=300)
    args = parser.parse_args()
    app = make_app(args.token_max_age)
    from werkzeug.serving import run_simple
    run_simple("127.0.0.1", args.port, app, threaded=True, use_reloader=False, use_debugger=False)


class ProviderProcess:
    """The provider as a separate process on 127.0.0.1 (a fixed port across restarts, as a real
    provider keeps its address when it rotates its key)."""

    def __init__(self, token_max_age: int = 300):
        self.token_max_age = token_max_age
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.issuer = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None

    def start(self) -> "ProviderProcess":
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--port", str(self.port),
             "--token-max-age", str(self.token_max_age)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the OpenID Connect test provider did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def restart(self) -> None:
        """A new process: a new signing key (and no users, codes or tokens of the old one)."""
        self.stop()
        self.start()

    def user(self, sub: str, **claims) -> None:
        """Register (or change) a user's claims at the provider."""
        httpx.put(f"{self.issuer}/users/{sub}", json=claims, timeout=5).raise_for_status()

    def revoke(self, sub: str) -> None:
        """The provider revokes the user's tokens (as when an account is disabled there)."""
        httpx.post(f"{self.issuer}/users/{sub}/revoke-tokens", timeout=5).raise_for_status()


if __name__ == "__main__":
    main()
