"""The audit page: compliance with the deadlines per body and task (and its CSV), reports made late,
who did the tasks done (per person), and for an auditor the verification of every history and the
plan's status."""
from __future__ import annotations

from datetime import date, datetime, time as dtime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.responses import Response

from states.access import AUDIT, COMPLIANCE, compliance_region
from states.calendar import KZ_TZ
from states.clock import utcnow
from states.compliance import PARTS, compliance_summary, export, region_totals
from states.errors import RuleViolation

from app.reports import FORMATS, compliance_xlsx

from .. import i18n
from ..render import render
from .context import Ctx, SignedIn
from .params import period_params
from .plan import period_or_current, plan_status
from .verification import verification_view

router = APIRouter(include_in_schema=False)


def _summary(engine, region: str | None, start: date, end: date, now: datetime):
    with engine.reader() as conn:
        return compliance_summary(conn, engine.svc.directory, region=region,
                                  start=datetime.combine(start, dtime(0), KZ_TZ),
                                  end=datetime.combine(end, dtime(0), KZ_TZ), now=now, by="body")


async def _compliance_rows(ctx: Ctx):
    """The compliance summary for the page's period and region (RuleViolation: a region not the caller's)."""
    now = utcnow()
    today = now.astimezone(KZ_TZ).date()
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    start, end = period_params(ctx.request, quarter_start, today + timedelta(days=1))
    region = ctx.request.query_params.get("region") or None
    if region is not None and region not in ctx.directory.regions:
        region = None
    region = compliance_region(ctx.principal, region)
    summary = await ctx.read(_summary, ctx.engine, region, start, end, now)
    return summary, start, end, region


@router.get("/audit/compliance.csv")
async def compliance_csv(ctx: SignedIn) -> Response:
    """The compliance report as CSV: `part=tasks` (default), `reported_late` or `versions`."""
    if ctx.principal.role not in COMPLIANCE:
        return ctx.forbidden()
    try:
        summary, start, end, region = await _compliance_rows(ctx)
    except RuleViolation as exc:
        return ctx.forbidden(exc.message)
    part = ctx.request.query_params.get("part") or "tasks"
    if part not in PARTS:
        part = "tasks"
    suffix = "" if part == "tasks" else f"-{part.replace('_', '-')}"
    name = f"compliance{suffix}-{region or 'KZ'}-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(export(summary, part, "csv"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
                             "X-Content-Type-Options": "nosniff"})


@router.get("/audit/compliance.xlsx")
async def compliance_workbook(ctx: SignedIn) -> Response:
    """The compliance report as an Excel workbook, the query of the CSV: one sheet per table (the one
    `part` names, else every one), the CSV's rows."""
    if ctx.principal.role not in COMPLIANCE:
        return ctx.forbidden()
    try:
        summary, start, end, region = await _compliance_rows(ctx)
    except RuleViolation as exc:
        return ctx.forbidden(exc.message)
    part = ctx.request.query_params.get("part")
    parts = (part,) if part in PARTS else PARTS
    suffix = "" if part not in PARTS or part == "tasks" else f"-{part.replace('_', '-')}"
    name = f"compliance{suffix}-{region or 'KZ'}-{start.isoformat()}-{end.isoformat()}.xlsx"
    return Response(compliance_xlsx(summary, parts), media_type=FORMATS["xlsx"],
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
                             "X-Content-Type-Options": "nosniff"})


def _algorithm_title(ctx: Ctx, algorithm: str) -> str:
    if algorithm not in ctx.registry.ids():  # no longer loaded: its id
        return algorithm
    return i18n.pick(ctx.registry.latest(algorithm).spec.title, ctx.lang)


def _late_view(ctx: Ctx, rows) -> dict[str, Any]:
    """Reported late (violence-report version 2) per region and per reporting body, for the audit page."""
    def percent(late: int, n: int) -> str:
        return f"{100 * late / n:.0f}" if n else "—"

    regions = [{"region": ctx.region_name(t.region), "code": t.region, "launched": t.launched,
                "late": t.reported_late, "share": percent(t.reported_late, t.launched)} for t in region_totals(rows)]
    bodies = [{"region": ctx.region_name(r.region), "code": r.region, "body": ctx.body_name(r.body_id),
               "launched": r.launched, "late": r.reported_late, "share": percent(r.reported_late, r.launched)}
              for r in rows]
    return {"late_regions": regions, "late_bodies": bodies}


def _persons_view(ctx: Ctx, rows) -> list[dict[str, Any]]:
    """The tasks done per body, acting body and person (the name, or the pseudonym once erased)."""
    def percent(part: int, whole: int) -> str:
        return f"{100 * part / whole:.0f}" if whole else "—"

    return [{"body": ctx.body_name(r.body_id),
             "acted_for": "" if r.acted_for == r.body_id else ctx.body_name(r.acted_for) or "—",
             "person": r.person or i18n.t("audit.no_person", ctx.lang), "pseudonym": r.person_id or "",
             "done": r.done, "on_time": r.done_on_time, "late": r.done_late,
             "share": percent(r.done_on_time, r.done)} for r in rows]


def _task_kind_title(ctx: Ctx, kind: str) -> str:
    if kind == "ensure_completion":
        return i18n.t("task.ensure_completion", ctx.lang)
    for d in ctx.registry:
        if kind in d.spec.task_kinds or kind.split(":", 1)[0] + ":*" in d.spec.task_kinds:
            return i18n.pick(d.task_title(kind), ctx.lang)
    return kind


def _table(ctx: Ctx, summary) -> list[dict[str, Any]]:
    table = []
    for r in summary.rows:
        judged = r.done_on_time + r.done_late + r.still_overdue
        # cancelled tasks are their own column and bar: never in "on time", never in the on-time share
        table.append({"body": ctx.body_name(r.body_id), "kind": _task_kind_title(ctx, r.task_kind),
                      "version": r.algorithm_version,
                      "opened": r.opened, "on_time": r.done_on_time, "late": r.done_late,
                      "overdue": r.still_overdue, "cancelled": r.cancelled,
                      "cancelled_past_due": r.cancelled_past_due,
                      "rate": f"{100 * r.done_on_time / judged:.0f}" if judged else "—",
                      "median": "—" if r.median_delay_h is None else f"{r.median_delay_h:.1f}",
                      "judged": judged})
    biggest = max((t["judged"] + t["cancelled"] for t in table), default=0) or 1
    for t in table:
        for part in ("on_time", "late", "overdue", "cancelled"):
            t[f"w_{part}"] = round(300 * t[part] / biggest, 1)
    return table


@router.get("/audit")
async def audit_page(ctx: SignedIn) -> Response:
    p, lang = ctx.principal, ctx.lang
    if p.role not in COMPLIANCE:
        return ctx.forbidden()
    try:
        summary, start, end, region = await _compliance_rows(ctx)
    except RuleViolation as exc:
        return ctx.forbidden(exc.message)
    period = {"from": start.isoformat(), "to": end.isoformat(), **({"region": region} if region else {})}
    view = {"rows": _table(ctx, summary), "from": start.isoformat(), "to": end.isoformat(), "region": region or "",
            "versions": [{"title": _algorithm_title(ctx, v.algorithm), "version": v.algorithm_version,
                          "version_label": i18n.t("audit.version_n", lang).format(n=v.algorithm_version),
                          "cases": v.cases, "tasks": v.tasks} for v in summary.versions],
            "spans_versions": summary.spans_versions,
            **_late_view(ctx, summary.late),
            "persons": _persons_view(ctx, summary.persons),
            "persons_csv_url": "/audit/compliance.csv?" + urlencode({**period, "part": "persons"}),
            "regions": [(c, ctx.region_name(c)) for c in ctx.directory.regions],
            "region_fixed": p.role == "coordinator" and p.region is not None,
            "csv_url": "/audit/compliance.csv?" + urlencode(period),
            "xlsx_url": "/audit/compliance.xlsx?" + urlencode(period),
            "late_csv_url": "/audit/compliance.csv?" + urlencode({**period, "part": "reported_late"}),
            "auditor": p.role in AUDIT}
    if p.role in AUDIT:
        view["verification"] = await verification_view(ctx)
        catalogue = ctx.engine.svc.catalogue
        view["plan"] = await plan_status(ctx, period_or_current(ctx.request.query_params.get("period"), utcnow(),
                                                                catalogue))
    return render("audit.html", ctx.page(**view))
