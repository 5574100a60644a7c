"""Admins: API tokens (the command line has the same: `qorgau token create/list/revoke`)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from states.access import TOKENS, require_role
from states.commands import CreateToken, RevokeToken
from states.tokens import list_tokens

from ..errors import responses
from ..models import TokenCreate, TokenCreated, TokenView
from ..query_check import QueryCheckedRoute
from ._shared import Caller, Commands, Engine, Store

router = APIRouter(route_class=QueryCheckedRoute, tags=["tokens"])


def _view(token) -> dict:
    return {"id": token.id, "prefix": token.prefix, "body_id": token.body_id, "role": token.role,
            "label": token.label, "created_at": token.created_at, "revoked_at": token.revoked_at,
            "last_used_at": token.last_used_at}


@router.get("/tokens", response_model=list[TokenView], responses=responses(401, 403), summary="List tokens (admin)")
async def tokens(principal: Caller, engine: Engine, store: Store) -> list:
    require_role(principal, TOKENS, "token management")

    def read() -> list:
        with engine.reader() as conn:
            return [_view(t) for t in list_tokens(conn)]
    return await store.read(read)


@router.post("/tokens", status_code=201, response_model=TokenCreated, responses=responses(401, 403, 422),
             summary="Create a token (admin)")
async def create(body: TokenCreate, principal: Caller, commands: Commands, store: Store) -> dict:
    """The secret is in the answer once; only its SHA-256 is kept."""
    secret, token = await store.write(commands.handle, CreateToken(body.body, body.role, body.label), principal)
    return {**_view(token), "token": secret}


@router.delete("/tokens/{token_id}", response_model=TokenView, responses=responses(401, 403, 404, 422),
               summary="Revoke a token (admin)")
async def revoke(token_id: Annotated[int, Path(ge=1, le=2_000_000_000)], principal: Caller, commands: Commands,
                 store: Store) -> dict:
    """Revoked tokens are refused from the next request on (401). Revoking twice changes nothing."""
    return _view(await store.write(commands.handle, RevokeToken(str(token_id)), principal))
