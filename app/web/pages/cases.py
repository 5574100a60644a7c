"""The case lists: the cases the signed-in user may see, filtered and paged, with their counts."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from states.access import scope_for
from states.clock import utcnow
from states.queries import list_cases

from .. import i18n
from ..render import left_or_late, local_text, render
from .context import PAGE_SIZE, Ctx, SignedIn
from .params import offset as offset_param

router = APIRouter(include_in_schema=False)


def filters_of(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {"region": q.get("region") or None, "algorithm": q.get("algorithm") or None,
            "state": q.get("state") or None, "overdue": q.get("overdue") == "1", "critical": q.get("critical") == "1",
            "closed": q.get("closed") == "1"}


def _case_rows(ctx: Ctx, items: list[dict]) -> list[dict]:
    now = utcnow()
    return [{"ref": c["ref"], "algorithm": i18n.pick(c["algorithm_title"], ctx.lang),
             "state": i18n.pick(c["state_title"], ctx.lang), "region": ctx.region_name(c["region"]),
             "critical": c["critical"], "open_tasks": c["open_tasks"], "overdue_tasks": c["overdue_tasks"],
             "next_due": local_text(c["next_due"]), "updated": local_text(c["updated_at"]),
             "left": left_or_late(c["next_due"], now, ctx.lang)[0] if c["next_due"] else ""} for c in items]


def _list_and_counts(engine, scope, filters: dict[str, Any], offset: int, region: str | None,
                     now: datetime) -> tuple[dict, dict[str, int]]:
    with engine.reader() as conn:
        page = list_cases(conn, engine.registry, scope, region=region, algorithm=filters["algorithm"],
                          state=filters["state"], overdue=True if filters["overdue"] else None,
                          critical=True if filters["critical"] else None,
                          closed=None if filters["closed"] else False, limit=PAGE_SIZE, offset=offset, now=now)
        base = dict(region=region, algorithm=filters["algorithm"], closed=False, limit=1, now=now)
        counts = {"open": list_cases(conn, engine.registry, scope, **base)["total"],
                  "overdue": list_cases(conn, engine.registry, scope, overdue=True, **base)["total"],
                  "critical": list_cases(conn, engine.registry, scope, critical=True, **base)["total"]}
    return page, counts


async def case_list(ctx: Ctx, filters: dict[str, Any], offset: int, region: str | None) -> dict[str, Any]:
    """The list's part of a page (also the coordinator's dashboard)."""
    scope = scope_for(ctx.principal, ctx.directory)
    page, counts = await ctx.read(_list_and_counts, ctx.engine, scope, filters, offset, region, utcnow())
    algorithms = [(d_id, i18n.pick(ctx.registry.latest(d_id).spec.title, ctx.lang)) for d_id in ctx.registry.ids()]
    states = []
    if filters["algorithm"] in ctx.registry.ids():
        d = ctx.registry.latest(filters["algorithm"])
        states = [(n, i18n.pick(s.title, ctx.lang)) for n, s in d.spec.states.items()]
    nxt = None
    if offset + PAGE_SIZE < page["total"]:
        params = {k: v for k, v in ctx.request.query_params.items() if k != "offset"}
        params["offset"] = str(offset + PAGE_SIZE)
        nxt = ctx.request.url.path + "?" + urlencode(params)
    return {"cases": _case_rows(ctx, page["items"]), "total": page["total"], "counts": counts, "filters": filters,
            "algorithms": algorithms, "states": states, "next_page": nxt, "offset": offset,
            "regions": [(code, ctx.region_name(code)) for code in ctx.directory.regions],
            "region_title": ctx.region_name(region) if region else None}


@router.get("/cases")
async def cases_page(ctx: SignedIn) -> Response:
    filters = filters_of(ctx.request)
    region = filters["region"]
    if region is not None and region not in ctx.directory.regions:
        region = None
    view = await case_list(ctx, filters, offset_param(ctx.request), region)
    return render("cases.html", ctx.page(**view))
