"""The inbox: the open tasks of the signed-in agency, most urgent first."""
from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from starlette.responses import Response

from states.access import FIRE, INBOX
from states.clock import utcnow
from states.queries import inbox

from .. import i18n
from ..render import left_or_late, local_text, render
from .context import PAGE_SIZE, SignedIn
from .params import offset as offset_param

router = APIRouter(include_in_schema=False)


def _inbox(engine, body_id: str, now: datetime, offset: int) -> dict:
    with engine.reader() as conn:
        return inbox(conn, body_id, engine.registry, engine.svc.directory, now=now, limit=PAGE_SIZE, offset=offset)


@router.get("/inbox")
async def inbox_page(ctx: SignedIn) -> Response:
    if ctx.principal.role not in INBOX:
        return ctx.forbidden()
    now = utcnow()
    offset = offset_param(ctx.request)
    data = await ctx.read(_inbox, ctx.engine, ctx.principal.body_id, now, offset)
    rows = []
    for item in data["items"]:
        c, task = item["case"], item["task"]
        left, late = left_or_late(task["due"], now, ctx.lang)
        title = i18n.pick(task["title"], ctx.lang)
        if task.get("serves_kind"):
            d = ctx.registry.get(c["algorithm"])
            served = i18n.pick(d.task_title(task["serves_kind"]), ctx.lang)
            title = f"{i18n.t('task.ensure_completion', ctx.lang)}: {served}"
        rows.append({"ref": c["ref"], "key": task["key"], "title": title,
                     "algorithm": i18n.pick(c["algorithm_title"], ctx.lang),
                     "state": i18n.pick(c["state_title"], ctx.lang), "region": ctx.region_name(c["region"]),
                     "critical": c["critical"], "due": local_text(task["due"]), "left": left, "late": late,
                     "actionable": bool(item["actions"]) and ctx.principal.role in FIRE})
    return render("inbox.html", ctx.page(rows=rows, total=data["total"], overdue=data["overdue"], offset=offset,
                                         page_size=PAGE_SIZE))
