"""Migrations (admins and the ministry's coordinator; auditors read): moving running cases to a new
version of their algorithm (../shared/spec/migration.md). A dry run plans and keeps the plan; a run
moves the cases in the background, one command each, and its row counts them as they move.

Both go through `send`: the command handled as the caller in a worker thread, each write behind the
store's gate (`Store.writing`), so that neither a long plan nor a long run holds the event loop.
The pages (app/web/pages/migrations.py) start their plans and runs through the same two functions.
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future, InvalidStateError
from contextlib import nullcontext, suppress
from datetime import datetime
from typing import Annotated, Any, Callable, Literal, Optional, Union

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from states.access import Principal, check_migration
from states.commands import PlanMigration
from states.migration import Selection, SelectionPlan, describe
from states.migration_runs import SHOWN_CASES, list_runs, run_migration, run_row

from ..errors import ApiError, responses
from ..models import ErrorBody, _Model
from ..query_check import QueryCheckedRoute
from ._shared import Caller, Engine, Store

log = logging.getLogger("qorgau.api")
router = APIRouter(route_class=QueryCheckedRoute, tags=["migrations"])
RunId = Annotated[int, Path(ge=1, le=2_000_000_000, description="The migration's id (a dry run's or a run's).")]

EXAMPLE = {"algorithm": "violence-report", "to_version": 2, "region": "KZ-75", "dry_run": True}


# ------------------------------------------------------------------------------------------ bodies

class MigrationRequest(_Model):
    """Which running cases move to which version: an algorithm's cases on an earlier version,
    optionally of one region and one state. `dry_run` (the default) only plans and keeps the plan."""
    algorithm: str = Field(min_length=1, max_length=60, description="Algorithm id, e.g. violence-report.")
    to_version: int = Field(ge=1, le=1000, description="The version the cases move to.")
    region: Optional[str] = Field(None, min_length=1, max_length=8, description="Only this region's cases, e.g. KZ-75.")
    state: Optional[str] = Field(None, min_length=1, max_length=60, description="Only the cases in this state.")
    dry_run: bool = Field(True, description="true: plan only (200); false: move the cases (202).")

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [EXAMPLE]})

    def selection(self) -> Selection:
        return Selection(self.algorithm, self.to_version, self.region, self.state)


class PlannedTask(BaseModel):
    key: str
    kind: str
    body: str
    due: str


class MovedTask(PlannedTask):
    from_body: str = Field(description="The body the task is taken from (`body`: the one it moves to).")


class PlannedTimer(BaseModel):
    name: str
    at: str


class CasePlanView(BaseModel):
    """What moving one case does; a case that cannot move has only `not_migratable`, the reason."""
    ref: str
    state: str
    state_after: Optional[str]
    not_migratable: Optional[str] = None
    tasks_kept: list[PlannedTask] = []
    tasks_moved: list[MovedTask] = []
    tasks_cancelled: list[str] = Field([], description="Keys of the tasks the new version no longer owes.")
    tasks_opened: list[PlannedTask] = []
    timers: list[PlannedTimer] = []
    data_defaults: dict[str, Any] = Field({}, description="Launch fields the migration file fills in.")


class PlanCounts(BaseModel):
    cases: int
    migratable: int
    not_migratable: int
    tasks_kept: int
    tasks_moved: int
    tasks_cancelled: int
    tasks_opened: int
    state_changes: int


class MigrationPlanned(BaseModel):
    """A dry run, kept: the counts over every selected case, then the first cases' plans."""
    id: int
    status: Literal["planned"]
    counts: PlanCounts
    cases: list[CasePlanView] = Field(description=f"The first {SHOWN_CASES} cases' plans.")
    cases_total: int


class MigrationStarted(BaseModel):
    """A run that moves the cases in the background (202): follow it at GET /api/v1/migrations/{id}.
    Or, when no running case matches the selection (200), `nothing_to_move`: no run, no id."""
    id: Optional[int]
    status: Literal["running", "nothing_to_move"]


class MigrationSummary(BaseModel):
    """A dry run or a run: who asked, the selection, and the counts."""
    id: int
    algorithm: str
    from_version: int
    to_version: int
    migration_hash: str
    region: Optional[str]
    state: Optional[str]
    dry_run: bool
    actor: str = Field(description="The body that asked.")
    person: Optional[str] = Field(None, description="The person who asked, if one signed in (a pseudonymous id).")
    role: str
    status: Literal["planned", "running", "done", "failed"]
    created_at: datetime
    finished_at: Optional[datetime]
    total: int
    moved: int
    skipped: int
    failed: int
    not_migratable: int


class MigrationView(MigrationSummary):
    report: Optional[dict[str, Any]] = Field(description=(
        "A dry run: `counts`, `cases`, `cases_total`. A finished run: `moved`, `skipped`, `replanned`, and "
        "the cases `not_migratable` and `failed`, each with its reason. A running one: null."))


# ------------------------------------------------------------------------------------------ sending

def sender(app, principal: Principal) -> Callable[[Any], Any]:
    """`send(command)` for a worker thread: the command handled as `principal`; a write behind the
    store's gate, a plan that keeps nothing (a read) outside it."""
    commands, store = app.state.commands, app.state.store

    def send(command):
        reading = isinstance(command, PlanMigration) and not command.record
        with nullcontext() if reading else store.writing():
            return commands.handle(command, principal)
    return send


async def plan(app, selection: Selection, principal: Principal) -> tuple[int, SelectionPlan]:
    """A dry run, kept: its id and the plan (RuleViolation: who may not, or a selection that means nothing)."""
    s = selection
    return await asyncio.to_thread(sender(app, principal),
                                   PlanMigration(s.algorithm, s.to_version, s.region, s.state, record=True))


_RUNNING: set[asyncio.Task] = set()  # the runs of this process (a task nobody holds may be collected)


async def start(app, selection: Selection, principal: Principal) -> int | None:
    """Start a run moving the selection's cases in the background; its id once its row is open, or
    None when no running case matches (then nothing is written). What refuses it (who may not, a
    selection that means nothing) is raised here, before anything is written."""
    opened: Future[int] = Future()

    def started(run_id: int) -> None:
        with suppress(InvalidStateError):  # the request gave up waiting: the run goes on regardless
            opened.set_result(run_id)

    def run() -> None:
        try:
            outcome = run_migration(sender(app, principal), selection, started=started)
        except BaseException as exc:
            if not opened.done():  # refused before the run opened: the request answers it
                opened.set_exception(exc)
                return
            raise
        if not opened.done():  # nothing to move: no run was opened
            opened.set_result(None)
            return
        log.info("migration run %s: %s moved, %s skipped, %s not migratable, %s failed", outcome.run_id,
                 outcome.moved, outcome.skipped, len(outcome.not_migratable), len(outcome.failed))

    task = asyncio.create_task(asyncio.to_thread(run), name="qorgau-migration")
    _RUNNING.add(task)
    task.add_done_callback(_finished)
    return await asyncio.wrap_future(opened)


def _finished(task: asyncio.Task) -> None:
    _RUNNING.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("a migration run stopped with an error (its row says failed)", exc_info=task.exception())


def may_read(principal: Principal) -> None:
    """Auditors read the migrations; otherwise only who may migrate (`forbidden`)."""
    if principal.role != "auditor":
        check_migration(principal)


def read_run(engine, run_id: int) -> dict | None:
    with engine.reader() as conn:
        return run_row(conn, run_id)


def read_runs(engine, limit: int = 200) -> list[dict]:
    with engine.reader() as conn:
        return list_runs(conn, limit)


# ------------------------------------------------------------------------------------------ routes

@router.post("/migrations", response_model=Union[MigrationPlanned, MigrationStarted],
             responses={200: {"description": "The plan (a dry run), or `nothing_to_move` (not a dry run: no "
                                             "running case matches the selection)."},
                        202: {"model": MigrationStarted, "description": "The run started (`dry_run: false`)."},
                        **responses(401, 403, 422)},
             summary="Plan or start a migration to another version (admin, ministry coordinator)")
async def migrate(request: Request, principal: Caller,
                  body: Annotated[MigrationRequest, Body(openapi_examples={"dry run": {
                      "summary": "What moving Almaty's violence reports to version 2 would do",
                      "value": EXAMPLE}})]) -> JSONResponse:
    """`dry_run: true` (the default) plans, writes no case, keeps the plan, and answers 200 with the
    counts over every selected case, then each case's plan: state now and after, tasks kept, moved
    (from one body to another, due kept), cancelled and opened (with dues), or why it cannot move.
    `dry_run: false` answers 202 at once and moves the cases in the background, one transaction each
    (a case fired since the plan is planned again; a moved case is skipped): follow it at
    `GET /api/v1/migrations/{id}`; with no running case to move, 200 `nothing_to_move` and no run.
    Only an admin or a ministry's coordinator may (`forbidden`)."""
    selection = body.selection()
    if not body.dry_run:
        run_id = await start(request.app, selection, principal)
        if run_id is None:
            return JSONResponse(MigrationStarted(id=None, status="nothing_to_move").model_dump())
        return JSONResponse(MigrationStarted(id=run_id, status="running").model_dump(), status_code=202,
                            headers={"Location": f"/api/v1/migrations/{run_id}"})
    run_id, planned = await plan(request.app, selection, principal)
    cases = [describe(p) for p, _ in planned.plans[:SHOWN_CASES]]
    answer = MigrationPlanned(id=run_id, status="planned", counts=planned.counts(), cases=cases,
                              cases_total=len(planned.plans))
    return JSONResponse(answer.model_dump(mode="json"), headers={"Location": f"/api/v1/migrations/{run_id}"})


@router.get("/migrations", response_model=list[MigrationSummary], responses=responses(401, 403, 422),
            summary="The migrations, newest first (admin, auditor, ministry coordinator)")
async def migrations(principal: Caller, engine: Engine, store: Store,
                     limit: Annotated[int, Query(ge=1, le=500)] = 200) -> list:
    """Every dry run and run: who asked (body and role), when, the selection, and the counts."""
    may_read(principal)
    return await store.read(read_runs, engine, limit)


@router.get("/migrations/{run_id}", response_model=MigrationView,
            responses={**responses(401, 403, 422), 404: {"model": ErrorBody, "description": "No such migration."}},
            summary="One migration: progress and outcome (admin, auditor, ministry coordinator)")
async def migration(run_id: RunId, principal: Caller, engine: Engine, store: Store) -> dict:
    """A run's progress (`moved` and `skipped` of `total` so far) and, once `done` or `failed`, its
    outcome; a dry run's plan."""
    may_read(principal)
    row = await store.read(read_run, engine, run_id)
    if row is None:
        raise ApiError("not_found", f"no migration {run_id}")
    return row
