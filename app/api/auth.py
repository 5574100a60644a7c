"""Authentication: `Authorization: Bearer <token>` resolved to a `Principal` (body and role)."""
from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from states.clock import utcnow
from states.tokens import Token, find_active_on, needs_touch, touch

from states.access import Principal
from .errors import ApiError


bearer = HTTPBearer(auto_error=False, scheme_name="token",
                    description="An API token from `qorgau token create --body BODY --role ROLE`.")


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
    token = await active_token(request, credentials.credentials)
    if token is None:
        raise ApiError("unauthenticated", "unknown or revoked token")
    body = request.app.state.engine.svc.directory.find(token.body_id)
    if body is None:
        raise ApiError("unauthenticated", f"the token's body {token.body_id} is no longer in the directory")
    return Principal(token_id=token.id, prefix=token.prefix, role=token.role, body=body)
