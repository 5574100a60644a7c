"""The coordinator's dashboard: the region's case list and the form that launches a case."""
from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from app.api.errors import status_of
from states.access import LAUNCH, check_launch
from states.commands import Launch
from states.errors import RuleViolation

from .. import forms, i18n
from ..render import render
from .cases import case_list, filters_of
from .context import Ctx, PostedForm, SignedIn, one
from .params import offset

router = APIRouter(include_in_schema=False)


async def _launch_view(ctx: Ctx, algorithm: str | None, *, values=None, errors=None, message=None,
                       status: int = 200) -> Response:
    p = ctx.principal
    filters = filters_of(ctx.request)
    region = p.region or filters["region"]
    if region is not None and region not in ctx.directory.regions:
        region = None
    listing = await case_list(ctx, filters, offset(ctx.request), region)
    launchable = []
    for d_id in ctx.registry.ids():
        d = ctx.registry.latest(d_id)
        # Only what the engine would accept from this body in its region (e.g. version 2's akimat
        # supervises only the commission and the interagency group: no violence report from it).
        may = (ctx.engine.may_launch(d, p.region, p.body_id) if p.region is not None
               else p.body.type in d.spec.launch.actors or p.role == "coordinator")
        if may:
            launchable.append((d_id, i18n.pick(d.spec.title, ctx.lang)))
    chosen = algorithm if algorithm in dict(launchable) else None
    fields = []
    if chosen:
        d = ctx.registry.latest(chosen)
        fields = forms.build_fields(d.spec.launch.data, ctx.lang,
                                    forms.choices(ctx.directory, ctx.engine.svc.catalogue, ctx.lang, p.region),
                                    values or {}, errors or {})
    view = {**listing, "launchable": launchable, "chosen_algorithm": chosen, "launch_fields": fields,
            "may_launch": p.role in LAUNCH, "fixed_region": p.region,
            "launch_region": (values or {}).get("_region") or p.region or "",
            "launch_message": message, "launch_errors": bool(errors)}
    return render("dashboard.html", ctx.page(**view), status=status)


@router.get("/dashboard")
async def dashboard(ctx: SignedIn) -> Response:
    if ctx.principal.role != "coordinator":
        return ctx.forbidden()
    return await _launch_view(ctx, ctx.request.query_params.get("launch"))


@router.post("/launch")
async def launch(ctx: SignedIn, form: PostedForm) -> Response:
    p = ctx.principal
    if p.role not in LAUNCH or p.role != "coordinator":
        return ctx.error(403, i18n.t("error.read_only", ctx.lang) if p.role == "auditor"
                         else i18n.t("error.forbidden", ctx.lang))
    algorithm = one(form, "algorithm")
    region = p.region or one(form, "region")
    values = {**forms.flat_values(form), "_region": region}
    if algorithm not in ctx.registry.ids():
        return await _launch_view(ctx, None, message=i18n.t("form.rejected", ctx.lang), status=422)
    try:
        check_launch(p, region)
    except RuleViolation as exc:
        return ctx.forbidden(exc.message)
    d = ctx.registry.latest(algorithm)
    payload, errors = forms.parse(d.spec.launch.data, form, ctx.lang)
    if errors:
        return await _launch_view(ctx, algorithm, values=values, errors=errors,
                                  message=i18n.t("form.errors", ctx.lang), status=422)
    try:
        result = await ctx.write(ctx.request.app.state.commands.handle, Launch(algorithm, region, payload), p)
    except RuleViolation as exc:
        if exc.code == "invalid_data" and exc.field and exc.field not in ("region", "algorithm", "actor"):
            return await _launch_view(ctx, algorithm, values=values, status=422,
                                      message=i18n.t("form.errors", ctx.lang),
                                      errors={exc.field: f"{i18n.t('form.invalid', ctx.lang)}: {exc.message}"})
        return await _launch_view(ctx, algorithm, values=values, status=status_of(exc.code),
                                  message=f"{i18n.t('form.rejected', ctx.lang)}: {exc.code} — {exc.message}")
    return RedirectResponse(f"/cases/{quote(result.ref)}?launched=1", status_code=303)
