"""Cases: launch, list, read, fire, history, available actions, personal data."""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse

from states.access import scope_for
from states.commands import Fire, Launch, ReadPersonalData
from states.queries import case_actions, history

from app.presenters import case_detail, case_link, list_cases

from ..errors import responses
from ..models import (FIRE_EXAMPLE, LAUNCH_EXAMPLE, ActionView, CaseDetail, CasePage, FireRequest, History,
                      LaunchRequest, Outcome, PersonalData, Purpose)
from ..query_check import QueryCheckedRoute
from ._shared import Caller, Commands, Engine, Ref, Store, base_url, json_response, readable_case

router = APIRouter(route_class=QueryCheckedRoute, tags=["cases"])


def _outcome(request: Request, result) -> dict:
    return {"ref": result.ref, "state": result.state, "version": result.version, "outcome": result.outcome,
            "spawned": list(result.spawned), "link": case_link(base_url(request), result.ref)}


@router.post("/cases", status_code=201, response_model=Outcome, responses=responses(401, 403, 409, 422),
             summary="Launch a case (coordinator, agency)")
async def launch(request: Request, principal: Caller, commands: Commands, store: Store,
                 body: Annotated[LaunchRequest, Body(openapi_examples={"bullying report": {
                     "summary": "A bullying report in Almaty (as kz-75.education_department)",
                     "value": LAUNCH_EXAMPLE}})]) -> JSONResponse:
    """Open a case as the token's body. The engine's launch rules apply (which body types may
    launch the algorithm, in which region); a regional coordinator launches in its own region.
    Answers 201 with the reference, the first state and the case version to fire against."""
    result = await store.write(commands.handle,
                               Launch(body.algorithm, body.region, body.data, body.algorithm_version), principal)
    return JSONResponse(Outcome(**_outcome(request, result)).model_dump(mode="json"), status_code=201,
                        headers={"Location": f"/api/v1/cases/{result.ref}"})


@router.get("/cases", response_model=CasePage, responses=responses(401, 422), summary="List cases")
async def cases(request: Request, principal: Caller, engine: Engine, store: Store,
                region: Annotated[Optional[str], Query(max_length=8, examples=["KZ-75"])] = None,
                algorithm: Annotated[Optional[str], Query(max_length=60, examples=["violence-report"])] = None,
                state: Annotated[Optional[str], Query(max_length=60)] = None,
                overdue: Annotated[Optional[bool], Query(description="Has an open task past its due.")] = None,
                critical: Optional[bool] = None,
                closed: Annotated[Optional[bool], Query(description="true: closed cases; false: open ones.")] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0):
    """The cases the caller may read, most recently changed first, filtered. A coordinator sees
    its region, an agency the cases bound to its body or a body below it, auditors and admins all."""
    scope = scope_for(principal, engine.svc.directory)

    def read() -> dict:
        with engine.reader() as conn:
            return list_cases(conn, engine.registry, scope, region=region, algorithm=algorithm, state=state,
                              overdue=overdue, critical=critical, closed=closed, limit=limit, offset=offset,
                              base_url=base_url(request))
    return json_response(await store.read(read))


@router.get("/cases/{ref}", response_model=CaseDetail, responses=responses(401, 403, 404, 422),
            summary="Read one case")
async def case(request: Request, ref: Ref, principal: Caller, engine: Engine, store: Store) -> dict:
    """State, version (to fire against), bound bodies, tasks with dues and escalation levels,
    links. No personal data: see `/cases/{ref}/personal`. Notification links (QORGAU_BASE_URL +
    `/cases/{ref}`) lead here."""
    def read() -> dict:
        readable_case(engine, principal, ref)
        with engine.reader() as conn:
            return case_detail(conn, ref, engine.registry, engine.svc.directory, base_url=base_url(request),
                               catalogue=engine.svc.catalogue)
    return await store.read(read)


@router.get("/cases/{ref}/history", response_model=History, responses=responses(401, 403, 404, 422),
            summary="A case's history")
async def case_history(ref: Ref, principal: Caller, engine: Engine, store: Store) -> dict:
    """Every event, oldest first, with the hash chain (no personal data)."""
    def read() -> dict:
        readable_case(engine, principal, ref)
        with engine.reader() as conn:
            return history(conn, ref)
    return await store.read(read)


@router.get("/cases/{ref}/actions", response_model=list[ActionView], responses=responses(401, 403, 404, 422),
            summary="Triggers the caller's body may fire now")
async def actions(ref: Ref, principal: Caller, engine: Engine, store: Store) -> list:
    """The triggers the token's body may fire on the case in its current state, with their fields."""
    def read() -> list:
        readable_case(engine, principal, ref)
        with engine.reader() as conn:
            return case_actions(conn, ref, engine.registry, engine.svc.directory, principal.body_id)
    return await store.read(read)


@router.post("/cases/{ref}/fire", response_model=Outcome, responses=responses(401, 403, 404, 409, 422),
             summary="Fire a trigger (agency)")
async def fire(request: Request, ref: Ref, principal: Caller, commands: Commands, store: Store,
               body: Annotated[FireRequest, Body(openapi_examples={"assess": {
                   "summary": "The school assesses a fresh bullying report (as kz-75.school-1)",
                   "value": FIRE_EXAMPLE}})]) -> dict:
    """Fire `trigger` as the token's body, at the case `version` the caller read. Rejections carry
    the spec's codes: `conflict` if the case moved since that version (read it again),
    `invalid_transition`, `forbidden`, `invalid_data` (names the field), `guard_failed`."""
    return _outcome(request, await store.write(commands.handle, Fire(ref, body.trigger, body.data, body.version),
                                               principal))


@router.get("/cases/{ref}/personal", response_model=PersonalData, responses=responses(401, 403, 404, 410, 422, 503),
            summary="The child's personal data (need to know; logged)")
async def personal(ref: Ref, principal: Caller, commands: Commands, store: Store,
             purpose: Annotated[Purpose, Query(description="Why it is needed, one of the codes; recorded.",
                                               examples=["medical_examination"])],
             note: Annotated[Optional[str], Query(max_length=200, description=(
                 "An optional short note beside the purpose, recorded; no IIN (refused), no name."))] = None
             ) -> dict:
    """Only the coordinator of the case's region and the school, police, health, guardianship,
    social services, psychological centre, consilium or KDN bound to the case may read it; every
    read (and every refusal by the store) is recorded in the case's access log with the purpose
    code and the note. The note is cleared when the child's data is erased."""
    data = await store.write(commands.handle, ReadPersonalData(ref, purpose, note), principal)
    return {"ref": ref, "data": data, "logged": True}
