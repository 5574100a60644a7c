"""`/cases/{ref}`: where notification links point (QORGAU_BASE_URL + /cases/REF).

Until the web pages render that path, it redirects to the API's `/api/v1/cases/{ref}` (a client
following the redirect keeps its token). The web router replaces this one when it is mounted."""
from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from ..query_check import QueryCheckedRoute
from ._shared import Ref

router = APIRouter(route_class=QueryCheckedRoute, include_in_schema=False)


@router.get("/cases/{ref}")
def case_link(ref: Ref) -> RedirectResponse:
    return RedirectResponse(f"/api/v1/cases/{quote(ref, safe='')}", status_code=307)
