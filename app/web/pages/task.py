"""The task form: act on one open task (a trigger with its data), and the fire it posts."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from app.api.errors import status_of
from states import tables as T
from states.access import FIRE
from states.clock import utcnow
from states.commands import Fire
from states.errors import RuleViolation
from states.queries import case_detail, completing_triggers, load_case_row, task_actions

from .. import forms, i18n
from ..render import left_or_late, local_text, render
from .context import Ctx, PostedForm, SignedIn, case_row, one
from .params import whole_number

router = APIRouter(include_in_schema=False)


def _case_and_detail(engine, ref: str, now: datetime):
    """The case's row and its read model, or (None, None) if there is no such case."""
    with engine.reader() as conn:
        try:
            row = load_case_row(conn, ref)
        except RuleViolation:
            return None, None
        return row, case_detail(conn, ref, engine.registry, engine.svc.directory, now=now)


def _work_kind(engine, row, key: str) -> str | None:
    """The kind of work task `key` stands for (the served task's, for an ensure-completion task)."""
    with engine.reader() as conn:
        t = conn.execute(select(T.tasks.c.kind, T.tasks.c.serves).where(
            T.tasks.c.case_id == row.id, T.tasks.c.key == key)).first()
        if t is not None and t.serves:
            t = conn.execute(select(T.tasks.c.kind, T.tasks.c.serves).where(
                T.tasks.c.case_id == row.id, T.tasks.c.key == t.serves)).first() or t
    return t.kind if t is not None else None


async def task_view(ctx: Ctx, ref: str, key: str, trigger: str | None, *, values=None, errors=None,
                    message: str | None = None, conflict: bool = False, version: int | None = None,
                    status: int = 200) -> Response:
    """The form that acts on one task (also re-rendered with errors after a refused submit)."""
    p = ctx.principal
    now = utcnow()
    row, detail = await ctx.read(_case_and_detail, ctx.engine, ref, now)
    refused = ctx.case_refused(row)
    if refused is not None:
        return refused
    d = ctx.definition(row)
    task = next((t for t in detail["tasks"] if t["key"] == key), None)
    if task is None:
        return ctx.not_found()
    work_kind = task["kind"]
    if task["serves"]:
        served = next((t for t in detail["tasks"] if t["key"] == task["serves"]), None)
        work_kind = served["kind"] if served else work_kind
    actions = []
    if task["status"] == "open" and p.role in FIRE:
        actions = task_actions(d, ctx.directory, row.state, work_kind, row.bindings, p.body_id)
    chosen = next((a for a in actions if a["trigger"] == trigger), actions[0] if actions else None)
    fields = []
    if chosen is not None:
        specs = d.spec.triggers[chosen["trigger"]].data
        prefill = chosen["prefill"]
        specs = {n: s for n, s in specs.items() if n not in prefill}
        fields = forms.build_fields(specs, ctx.lang, forms.choices(ctx.directory, ctx.engine.svc.catalogue, ctx.lang,
                                                                   row.region), values or {}, errors or {})
    left, late = left_or_late(task["due"], now, ctx.lang)
    title = i18n.pick(task["title"], ctx.lang)
    if task["serves"]:
        title = f"{i18n.t('task.ensure_completion', ctx.lang)}: {i18n.pick(d.task_title(work_kind), ctx.lang)}"
    view: dict[str, Any] = {
        "ref": ref, "algorithm": i18n.pick(d.spec.title, ctx.lang), "state": i18n.pick(detail["state"]["title"], ctx.lang),
        "task": {"key": key, "title": title, "due": local_text(task["due"]), "left": left, "late": late,
                 "open": task["status"] == "open", "body": ctx.body_name(task["body_id"])},
        "actions": [{"trigger": a["trigger"], "title": i18n.pick(a["title"], ctx.lang),
                     "url": f"/cases/{quote(ref)}/tasks/{quote(key)}?trigger={quote(a['trigger'])}"} for a in actions],
        "chosen": chosen and {"trigger": chosen["trigger"], "title": i18n.pick(chosen["title"], ctx.lang),
                              "prefill": chosen["prefill"]},
        "fields": fields, "version": detail["version"] if version is None else version,
        "message": message, "conflict": conflict, "has_errors": bool(errors),
        "may_fire": p.role in FIRE,
    }
    return render("task.html", ctx.page(**view), status=status)


@router.get("/cases/{ref}/tasks/{key}")
async def task_page(ctx: SignedIn, ref: str, key: str) -> Response:
    return await task_view(ctx, ref, key, ctx.request.query_params.get("trigger"))


@router.post("/cases/{ref}/fire")
async def fire(ctx: SignedIn, form: PostedForm, ref: str) -> Response:
    p = ctx.principal
    if p.role not in FIRE:
        return ctx.error(403, i18n.t("error.read_only", ctx.lang) if p.role == "auditor"
                         else i18n.t("error.forbidden", ctx.lang))
    trigger, key = one(form, "trigger"), one(form, "task")
    version = whole_number(one(form, "version"), -1)
    values = forms.flat_values(form)
    row = await ctx.read(case_row, ctx.engine, ref)
    refused = ctx.case_refused(row)
    if refused is not None:
        return refused
    d = ctx.definition(row)
    spec = d.trigger(trigger)
    if spec is None:
        return ctx.error(422, i18n.t("form.rejected", ctx.lang), f"unknown_trigger: {trigger}")
    # The task's own prefill (e.g. which plan action) is re-derived, never taken from the browser.
    prefill = {}
    if key:
        kind = await ctx.read(_work_kind, ctx.engine, row, key)
        if kind is not None:
            prefill = dict(next((pf for name, pf in completing_triggers(d, kind) if name == trigger), {}))
    specs = {n: s for n, s in spec.data.items() if n not in prefill}
    payload, errors = forms.parse(specs, form, ctx.lang)
    if errors:
        return await task_view(ctx, ref, key, trigger, values=values, errors=errors, version=version,
                               message=i18n.t("form.errors", ctx.lang), status=422)
    payload.update(prefill)
    try:
        result = await ctx.write(ctx.request.app.state.commands.handle,
                                 Fire(ref, trigger, payload, expected_version=version), p)
    except RuleViolation as exc:
        if exc.code == "forbidden" and exc.field is None:  # the case left the caller's scope since the page was read
            return ctx.forbidden(exc.message)
        if exc.code == "conflict":
            return await task_view(ctx, ref, key, trigger, values=values, version=version, conflict=True,
                                   message=i18n.t("form.conflict", ctx.lang), status=409)
        if exc.code == "invalid_data" and exc.field:
            field = exc.field if exc.field in values or "." in exc.field or exc.field in spec.data else None
            if field:
                return await task_view(ctx, ref, key, trigger, values=values, version=version,
                                       errors={field: f"{i18n.t('form.invalid', ctx.lang)}: {exc.message}"},
                                       message=i18n.t("form.errors", ctx.lang), status=422)
        return await task_view(ctx, ref, key, trigger, values=values, version=version, status=status_of(exc.code),
                               message=f"{i18n.t('form.rejected', ctx.lang)}: {exc.code} — {exc.message}")
    return RedirectResponse(f"/cases/{quote(result.ref)}?" + urlencode({"fired": trigger}), status_code=303)
