"""Anyone with a token: who am I, which algorithms exist; and an unauthenticated health check."""
from __future__ import annotations

from fastapi import APIRouter, Request

from states.queries import algorithms as algorithms_query

from ..errors import responses
from ..models import AlgorithmView, Health, Me
from ..query_check import QueryCheckedRoute
from ._shared import Caller, Engine

router = APIRouter(route_class=QueryCheckedRoute, tags=["meta"])


@router.get("/me", response_model=Me, responses=responses(401), summary="The caller's body and role")
def me(principal: Caller) -> dict:
    body = principal.body
    return {"token_id": principal.token_id, "prefix": principal.prefix, "person_id": principal.person_id,
            "role": principal.role, "body_id": body.id,
            "body_type": body.type, "body_name": dict(body.name), "region": body.region}


@router.get("/algorithms", response_model=list[AlgorithmView], responses=responses(401),
            summary="Algorithms and their launch fields")
def algorithms(principal: Caller, engine: Engine) -> list:
    """Each algorithm's latest version: who may launch it and the fields a launch needs."""
    return algorithms_query(engine.registry)


@router.get("/health", response_model=Health, summary="Liveness (no token needed)")
def health(request: Request) -> dict:
    return {"status": "ok", "algorithms": request.app.state.engine.registry.ids()}
