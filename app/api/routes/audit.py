"""Auditors (and admins): replay at a moment, verification, compliance, the personal-data access
log. Read-only."""
from __future__ import annotations

import json
from datetime import date, datetime, time, timezone
from typing import Annotated, Literal, Optional

from fastapi import APIRouter, Query
from fastapi.responses import Response

from states.calendar import KZ_TZ
from states.clock import utcnow
from states.compliance import compliance_summary, export, late_json
from states.errors import RuleViolation
from states.personal_data import access_log_for_case
from states.queries import replay_at
from states.verify import verify_all, verify_case

from states.access import AUDIT, COMPLIANCE, compliance_region, require_role
from ..errors import responses
from ..models import AccessLogEntry, Compliance, Replay, VerifyResult
from ..query_check import QueryCheckedRoute
from ._shared import Caller, Engine, Ref, Store, readable_case

router = APIRouter(route_class=QueryCheckedRoute, tags=["audit"])


def _moment(value: datetime) -> datetime:
    """A naive time is Kazakhstan time."""
    return value.replace(tzinfo=KZ_TZ) if value.tzinfo is None else value


def _verify_json(report) -> dict:
    return {"ok": report.ok, "cases": report.cases, "events": report.events,
            "failures": [{"ref": f.ref, "first_bad_event": f.first_bad_seq, "problems": f.problems}
                         for f in report.failures], "anchor_problems": report.anchor_problems}


@router.get("/cases/{ref}/replay", response_model=Replay, responses=responses(401, 403, 404, 422),
            summary="A case as it stood at a moment (auditor)")
async def replay(ref: Ref, principal: Caller, engine: Engine, store: Store,
                 at: Annotated[Optional[datetime], Query(description="ISO time; without an offset, Kazakhstan time. "
                                                                      "Default: now.",
                                                          examples=["2026-04-10T12:00:00+05:00"])] = None) -> dict:
    """The state, open tasks, bindings and escalation level that the history alone gives at `at`."""
    require_role(principal, AUDIT, "replay")
    moment = _moment(at) if at is not None else utcnow()
    try:
        in_range = datetime(1970, 1, 2, tzinfo=timezone.utc) <= moment <= datetime(9999, 1, 1, tzinfo=timezone.utc)
    except OverflowError:
        in_range = False

    def read() -> dict:
        readable_case(engine, principal, ref)  # an unreadable case answers 404/403 before a bad `at` 422
        if not in_range:
            raise RuleViolation("invalid_data", "field 'at': out of range (1970 to 9998)", field="at")
        with engine.reader() as conn:
            return replay_at(conn, ref, moment)
    return await store.read(read)


@router.get("/cases/{ref}/verify", response_model=VerifyResult, responses=responses(401, 403, 404, 422),
            summary="Verify one case's history (auditor)")
async def verify_one(ref: Ref, principal: Caller, engine: Engine, store: Store) -> dict:
    """Hash chain, legal transitions, stored case = replay, escalation steps on time, anchors."""
    require_role(principal, AUDIT, "verification")

    def read():
        readable_case(engine, principal, ref)
        with engine.reader() as conn:
            return verify_case(conn, ref, engine.registry)
    result = await store.read(read)
    return {"ok": result.ok, "cases": 1, "events": result.events,
            "failures": [] if result.ok else [{"ref": ref, "first_bad_event": result.first_bad_seq,
                                                "problems": result.problems}], "anchor_problems": []}


@router.get("/verify", response_model=VerifyResult, responses=responses(401, 403), summary="Verify every case (auditor)")
async def verify_every(principal: Caller, engine: Engine, store: Store) -> dict:
    """Verify every case in the store and every published anchor (as `qorgau verify --all`)."""
    require_role(principal, AUDIT, "verification")

    def read():
        with engine.reader() as conn:
            return verify_all(conn, engine.registry)
    return _verify_json(await store.read(read))


@router.get("/reports/compliance", response_model=Compliance,
            responses={**responses(401, 403, 422), 200: {"content": {"text/csv": {}}}},
            summary="Compliance per body and task kind (auditor; coordinator: its region)")
async def compliance(
        principal: Caller, engine: Engine, store: Store,
        date_from: Annotated[date, Query(alias="from", description="First Kazakhstan date, included.",
                                         examples=["2026-04-01"])],
        date_to: Annotated[date, Query(alias="to", description="Kazakhstan date after the window, excluded.",
                                       examples=["2026-07-01"])],
        region: Annotated[Optional[str], Query(max_length=8, examples=["KZ-75"])] = None,
        by: Literal["body", "body_type"] = "body",
        format: Literal["json", "csv"] = "json",
        part: Annotated[Literal["tasks", "reported_late", "versions"], Query(
            description="With format=csv, which table: tasks, reported_late or versions.")] = "tasks"):
    """How each body met its deadlines on tasks opened in [from, to), as of now (see
    `qorgau report compliance`): rows per body, task kind and algorithm version (cancelled tasks counted
    apart, never as on time); `versions`, the cases behind the rows per algorithm version; `reported_late`,
    violence reports (version 2) launched in the window per region and reporting body, and how many came
    more than 24 hours after detection. `format=csv` answers text/csv, one table (`part`)."""
    require_role(principal, COMPLIANCE, "the compliance report")
    region = compliance_region(principal, region)
    if region is not None and region not in engine.svc.directory.regions:
        raise RuleViolation("invalid_data", f"field 'region': unknown region {region!r}", field="region")
    for name, value in (("from", date_from), ("to", date_to)):
        if not date(1970, 1, 2) <= value <= date(9998, 12, 31):
            raise RuleViolation("invalid_data", f"field {name!r}: dates run from 1970-01-02 to 9998-12-31",
                                field=name)
    start = datetime.combine(date_from, time(0), KZ_TZ)
    end = datetime.combine(date_to, time(0), KZ_TZ)
    if end <= start:
        raise RuleViolation("invalid_data", "field 'to': must be after 'from'", field="to")
    now = utcnow()

    def read():
        with engine.reader() as conn:
            return compliance_summary(conn, engine.svc.directory, region=region, start=start, end=end, now=now, by=by)
    summary = await store.read(read)
    if format == "csv":
        return Response(export(summary, part, "csv"), media_type="text/csv")
    return {"region": region, "start": start, "end": end, "now": now, "by": by,
            "rows": json.loads(export(summary, "tasks", "json")),
            "versions": json.loads(export(summary, "versions", "json")),
            "reported_late": [late_json(r) for r in summary.late]}


@router.get("/cases/{ref}/access-log", response_model=list[AccessLogEntry], responses=responses(401, 403, 404, 422),
            summary="Who read the case's personal data (auditor)")
async def access_log(ref: Ref, principal: Caller, engine: Engine, store: Store) -> list:
    """Every read (or refused read) of the child's personal data through this case, and its erasure."""
    require_role(principal, AUDIT, "the access log")

    def read() -> list:
        readable_case(engine, principal, ref)
        with engine.reader() as conn:
            return [{k: r[k] for k in ("id", "at", "actor", "case_ref", "purpose", "note", "outcome")}
                    for r in access_log_for_case(conn, ref)]
    return await store.read(read)
