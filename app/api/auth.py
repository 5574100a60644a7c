"""Authentication: `Authorization: Bearer <token>` resolved to a `Principal` (body and role)."""
from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from states.clock import utcnow
from states.tokens import find_active, needs_touch, touch

from .access import Principal
from .errors import ApiError


def _touch(request: Request, engine, token, now) -> None:
    from .writes import gate
    with gate(request):
        touch(engine.db, token, now)


bearer = HTTPBearer(auto_error=False, scheme_name="token",
                    description="An API token from `qorgau token create --body BODY --role ROLE`.")


async def get_engine(request: Request):
    """The engine the app was created with."""
    return request.app.state.engine


async def current_principal(request: Request,
                            credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """The caller, or 401 `unauthenticated` (no token, an unknown or a revoked one). On SQLite the
    lookup, one indexed read of a local file, runs in the event loop (a thread hop costs more than
    the read); on PostgreSQL, which answers over the network, in the thread pool. The once-a-minute
    `last_used_at` write, which may wait for the store's write lock, always runs in the pool."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "unauthenticated", "send `Authorization: Bearer <token>`; "
                                               "create a token with `qorgau token create`")
    engine = request.app.state.engine
    if engine.db.dialect.name == "sqlite":
        token = find_active(engine.db, credentials.credentials)
    else:
        token = await run_in_threadpool(find_active, engine.db, credentials.credentials)
    if token is None:
        raise ApiError(401, "unauthenticated", "unknown or revoked token")
    now = utcnow()
    if needs_touch(token, now):
        await run_in_threadpool(_touch, request, engine, token, now)
    body = engine.svc.directory.find(token.body_id)
    if body is None:
        raise ApiError(401, "unauthenticated", f"the token's body {token.body_id} is no longer in the directory")
    return Principal(token_id=token.id, prefix=token.prefix, role=token.role, body=body)
