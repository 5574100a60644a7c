"""The child's personal data of a case: read on a stated purpose, every read logged (read_personal)."""
from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from app.api.errors import status_of
from states.access import check_personal
from states.commands import ReadPersonalData
from states.errors import RuleViolation
from states.personal_data import PURPOSES, PersonalDataError

from .. import i18n
from ..render import render
from .context import Ctx, PostedForm, SignedIn, case_row, one

router = APIRouter(include_in_schema=False)


def _purposes(ctx: Ctx) -> list[tuple[str, str]]:
    return [(code, i18n.t(f"purpose.{code}", ctx.lang)) for code in PURPOSES]


async def _personal_case(ctx: Ctx, ref: str):
    """The case's row if the caller may read its child's personal data, else the page refusing it."""
    row = await ctx.read(case_row, ctx.engine, ref)
    refused = ctx.case_refused(row)
    if refused is not None:
        return None, refused
    try:
        check_personal(ctx.principal, row.ref, row.region, row.bindings)
    except RuleViolation as exc:
        return None, ctx.forbidden(exc.message)
    return row, None


@router.get("/cases/{ref}/personal")
async def personal_page(ctx: SignedIn, ref: str) -> Response:
    row, refused = await _personal_case(ctx, ref)
    if refused is not None:
        return refused
    return render("personal.html", ctx.page(ref=ref, data=None, error=None, purposes=_purposes(ctx)))


@router.post("/cases/{ref}/personal")
async def personal_read(ctx: SignedIn, form: PostedForm, ref: str) -> Response:
    """The child's personal data, on a stated purpose; every read is logged (read_personal)."""
    row, refused = await _personal_case(ctx, ref)
    if refused is not None:
        return refused
    try:
        data = await ctx.write(ctx.request.app.state.commands.handle,
                               ReadPersonalData(row.ref, one(form, "purpose"), one(form, "note")), ctx.principal)
    except RuleViolation as exc:
        return render("personal.html", ctx.page(ref=ref, data=None, purposes=_purposes(ctx),
                                                error=f"{i18n.t('form.invalid', ctx.lang)}: {exc.message}"),
                      status=status_of(exc.code))
    except PersonalDataError as exc:
        return render("personal.html", ctx.page(ref=ref, data=None, error=exc.message, purposes=_purposes(ctx)),
                      status=410)
    return render("personal.html", ctx.page(ref=ref, data=data, error=None, purposes=[]))
