"""What the routers share: the engine, the store, the caller, and reading a case within the caller's scope."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from fastapi.responses import Response
from pydantic_core import to_json

from app.store import StoreDep
from states.queries import load_case_row

from states.access import Principal, check_case
from ..auth import current_principal, get_commands, get_engine

Caller = Annotated[Principal, Depends(current_principal)]
Engine = Annotated[object, Depends(get_engine)]
Commands = Annotated[object, Depends(get_commands)]  # states.handling.Handler: the one way to write
Store = StoreDep  # app.store.Store: where the store work runs (`await store.read(fn)`, `.write`, `.statements`)
Ref = Annotated[str, Path(min_length=1, max_length=40, description="Case reference, e.g. VR-75-000001.",
                          examples=["VR-75-000001"])]


def readable_case(engine, principal: Principal, ref: str):
    """The case row if the caller may read it: 404 `unknown_case`, 403 `forbidden` otherwise.
    Reads the store: call it inside a function given to `Store.read`."""
    with engine.reader() as conn:
        row = load_case_row(conn, ref)
    check_case(principal, engine.svc.directory, row.ref, row.region, row.bindings)
    return row


def base_url(request) -> str | None:
    """Where case links point: the app's configured base URL (QORGAU_BASE_URL by default)."""
    return request.app.state.base_url


def json_response(data) -> Response:
    """Serialise a read model straight to JSON (as its response model would, minus re-validating
    it: the hot read paths, inbox and case lists, skip that cost; the schema tests check them)."""
    return Response(to_json(data), media_type="application/json")
