"""An agency's inbox: the open tasks of its body, with what each needs."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.presenters import inbox as inbox_query

from states.access import INBOX, require_role
from ..errors import responses
from ..models import Inbox
from ..query_check import QueryCheckedRoute
from ._shared import Caller, Engine, Store, base_url, json_response

router = APIRouter(route_class=QueryCheckedRoute, tags=["inbox"])


@router.get("/inbox", response_model=Inbox, responses=responses(401, 403, 422), summary="The body's open tasks")
async def inbox(request: Request, principal: Caller, engine: Engine, store: Store,
                overdue: Annotated[bool, Query(description="Only tasks past their due.")] = False,
                limit: Annotated[int, Query(ge=1, le=500)] = 100,
                offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0):
    """Open tasks of the token's body, overdue first then soonest due: the case (reference,
    algorithm, state, version to fire against), the task (due in UTC and Kazakhstan time, how late
    or how long left) and the triggers that complete it which this body may fire now, with their
    fields. An `ensure_completion` task lists the triggers of the task it serves. No personal data."""
    require_role(principal, INBOX, "an inbox")

    return json_response(await store.statements(
        inbox_query, principal.body_id, engine.registry, engine.svc.directory,
        overdue_only=overdue, limit=limit, offset=offset, base_url=base_url(request)))
