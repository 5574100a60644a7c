"""Verifying every history from the audit page: the page asks the `verify-histories` flow for a run
and shows the state of the latest run and the latest anchor (which that flow records when every
history verifies). The verifying itself is the flow's (flows/verification.py): nightly, and at once
when asked here. Without a Prefect API (`qorgau api` without the flows, tests) the page says so and
offers `qorgau verify --all`.

Prefect's client is imported where it is used: importing it takes about two seconds, which a
process serving pages without the flows should not pay.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from flows.kick import prefect_api_url
from states.access import AUDIT
from states.anchor import Anchor, anchors

from .context import Ctx, PostedForm, SignedIn

log = logging.getLogger("qorgau.web")
router = APIRouter(include_in_schema=False)

VERIFY_DEPLOYMENT = "verify-histories/qorgau"  # the flow's name / deployments.serve.DEPLOYMENT
PREFECT_WAIT = 5.0  # seconds a page waits for Prefect before it says Prefect could not be reached
RUNNING, OK, FAILED, OTHER = "running", "ok", "failed", "other"

# Until these phrases join app/web/i18n.py: (kk, ru, en).
PHRASES = {
    "without_flows": (
        "Тексеруді ағындар жүргізеді (`qorgau serve`): әр түні 03:00-де және осы жерден сұрау бойынша. "
        "Ағындарсыз: `qorgau verify --all`.",
        "Проверку ведут потоки (`qorgau serve`): каждую ночь в 03:00 и по запросу отсюда. "
        "Без них: `qorgau verify --all`.",
        "Verification runs with the flows (`qorgau serve`): nightly at 03:00 and here on request. "
        "Without them: `qorgau verify --all`."),
    "unreachable": ("Prefect-ке қосылу мүмкін болмады", "Prefect недоступен", "Prefect could not be reached"),
    "failed": ("тексеру сәтсіз аяқталды", "проверка не прошла", "verification failed"),
}


def phrase(key: str, lang: str) -> str:
    kk, ru, en = PHRASES[key]
    return {"kk": kk, "ru": ru, "en": en}[lang]


@dataclass(frozen=True)
class Run:
    """A verify-histories flow run as the page shows it."""
    name: str
    state: str        # Prefect's state name: Scheduled, Running, Completed, Failed…
    kind: str         # RUNNING, OK, FAILED or OTHER
    at: datetime | None
    message: str | None


class NotDeployed(Exception):
    """The Prefect API answers but has no verify-histories deployment (the flows were never served)."""


def flows_configured() -> bool:
    """Whether this process talks to a Prefect API (whose runner serves the flows)."""
    return prefect_api_url() is not None


def _run(flow_run) -> Run:
    from prefect.client.schemas.objects import StateType
    state = flow_run.state
    kind = {StateType.COMPLETED: OK, StateType.FAILED: FAILED, StateType.CRASHED: FAILED,
            StateType.SCHEDULED: RUNNING, StateType.PENDING: RUNNING, StateType.RUNNING: RUNNING,
            }.get(state.type if state else None, OTHER)
    return Run(name=flow_run.name, state=state.name if state else "", kind=kind,
               at=flow_run.end_time or flow_run.start_time or flow_run.expected_start_time,
               message=state.message if state is not None and kind == FAILED else None)


async def _ask_prefect(start: bool) -> Run | None:
    """The latest run of the deployment (one starting now, with `start`); None if it never ran."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterId, FlowRunFilter,
                                                FlowRunFilterExpectedStartTime)
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            deployment = await client.read_deployment_by_name(VERIFY_DEPLOYMENT)
        except ObjectNotFound:
            raise NotDeployed(VERIFY_DEPLOYMENT) from None
        if start:
            return _run(await client.create_flow_run_from_deployment(deployment.id, tags=["audit-page"]))
        runs = await client.read_flow_runs(
            # not the nightly runs the scheduler has already created for the coming days
            flow_run_filter=FlowRunFilter(expected_start_time=FlowRunFilterExpectedStartTime(before_=datetime.now(timezone.utc))),
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=1)
        return _run(runs[0]) if runs else None


async def request_run() -> Run | None:
    """Ask the flows for a verify-histories run now."""
    return await asyncio.wait_for(_ask_prefect(start=True), PREFECT_WAIT)


async def latest_run() -> Run | None:
    """The latest verify-histories run (requested here or nightly), None if there was none."""
    return await asyncio.wait_for(_ask_prefect(start=False), PREFECT_WAIT)


def _latest_anchor(engine) -> Anchor | None:
    with engine.reader() as conn:
        found = anchors(conn)
    return found[-1] if found else None


async def verification_view(ctx: Ctx) -> dict:
    """The audit page's verification part: the latest anchor, and the latest run if the flows run."""
    view = {"anchor": await ctx.read(_latest_anchor, ctx.engine), "flows": flows_configured(), "last_run": None,
            "unreachable": None, "without_flows": phrase("without_flows", ctx.lang),
            "failed_text": phrase("failed", ctx.lang)}
    if view["flows"]:
        try:
            view["last_run"] = await latest_run()
        except NotDeployed:  # as without the flows: they have never been served against this Prefect
            view["flows"] = False
        except Exception as exc:  # Prefect down or the deployment not served: said on the page
            log.warning("could not read the verify-histories runs: %s: %s", type(exc).__name__, exc)
            view["unreachable"] = f"{phrase('unreachable', ctx.lang)} ({type(exc).__name__})"
    return view


@router.post("/audit/verify")
async def verify_now(ctx: SignedIn, form: PostedForm) -> Response:
    """Ask the flows to verify every history now; the audit page shows the run's state."""
    if ctx.principal.role not in AUDIT:
        return ctx.forbidden()
    if flows_configured():  # else the page says how to verify without the flows
        try:
            await request_run()
        except Exception as exc:  # the page then shows Prefect unreachable (or the deployment missing)
            log.warning("could not start %s: %s: %s", VERIFY_DEPLOYMENT, type(exc).__name__, exc)
    return RedirectResponse("/audit#verification", status_code=303)
