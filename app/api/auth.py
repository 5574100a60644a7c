"""Authentication: `Authorization: Bearer <token>` resolved to a `Principal` (body and role)."""
from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from app.oidc import OidcError, subject_of
from states.access import SYSTEM, Principal
from states.clock import utcnow
from states.commands import SignInPerson
from states.errors import RuleViolation
from states.persons import Person, account_hash, find_by_subject
from states.tokens import TOKEN_PREFIX, Token, find_active_on, needs_touch, touch

from .errors import ApiError


bearer = HTTPBearer(auto_error=False, scheme_name="token",
                    description="A service token from `qorgau token create --body BODY --role ROLE`, or a person's "
                                "access token from the deployment's OpenID Connect provider (a JWT).")


async def get_engine(request: Request):
    """The engine the app was created with."""
    return request.app.state.engine


async def get_commands(request: Request):
    """The command handler of the app's engine (every write goes through it)."""
    return request.app.state.commands


async def active_token(request: Request, secret: str) -> Token | None:
    """The active token whose secret this is, or None; records its use (`last_used_at`, once a minute).
    The lookup is one statement (`Store.statements`), the record one write."""
    store = request.app.state.store
    token = await store.statements(find_active_on, secret)
    now = utcnow()
    if token is not None and needs_touch(token, now):
        await store.write(touch, request.app.state.engine.db, token, now)
    return token


async def current_principal(request: Request,
                            credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """The caller, or 401 `unauthenticated` (no token, an unknown or a revoked one)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError("unauthenticated", "send `Authorization: Bearer <token>`; "
                                          "create a token with `qorgau token create`")
    provider = request.app.state.oidc
    if provider is not None and not credentials.credentials.startswith(TOKEN_PREFIX) \
            and credentials.credentials.count(".") == 2:
        return await person_principal(request, credentials.credentials)
    token = await active_token(request, credentials.credentials)
    if token is None:
        raise ApiError("unauthenticated", "unknown or revoked token")
    body = request.app.state.engine.svc.directory.find(token.body_id)
    if body is None:
        raise ApiError("unauthenticated", f"the token's body {token.body_id} is no longer in the directory")
    return Principal(token_id=token.id, prefix=token.prefix, role=token.role, body=body)


async def person_principal(request: Request, access_token: str) -> Principal:
    """A person's access token from the identity provider: checked (signature, issuer, audience,
    expiry), then the person it belongs to. A person seen for the first time is provisioned from the
    token's claims by the configured mapping, as at a first sign-in; a deactivated one is refused."""
    app = request.app
    provider, store, directory = app.state.oidc, app.state.store, app.state.engine.svc.directory
    try:
        # off the loop: a key set the provider rotated is fetched again over the network
        claims = await run_in_threadpool(provider.check, access_token, audience=provider.settings.audience)
    except OidcError as exc:
        raise ApiError("unauthenticated", exc.reason) from None
    subject = subject_of(provider.settings, claims)
    person: Person | None = await store.statements(find_by_subject, subject)
    if person is None:
        mapping = provider.settings.mapping
        granted = mapping.grant(claims, directory) or (None, None)
        account = mapping.account(claims)
        command = SignInPerson(subject, account_hash(account) if account else None, granted[0], granted[1],
                               mapping.name(claims))
        try:
            person = await store.write(app.state.commands.handle, command, SYSTEM)
        except RuleViolation as exc:
            raise ApiError("unauthenticated", exc.message) from None
    if not person.active:
        raise ApiError("unauthenticated", f"person {person.id} is deactivated in Qorgau")
    body = directory.find(person.body_id)
    if body is None:
        raise ApiError("unauthenticated", f"the person's body {person.body_id} is no longer in the directory")
    return Principal(token_id=None, prefix=None, role=person.role, body=body, person_id=person.id)
