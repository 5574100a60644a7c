"""The administrator's pages for persons (issue 17): who acts for which body, created here or
provisioned at their first OpenID Connect sign-in; one person's live sessions and what they did
across cases; deactivating them (their sessions end at once) and erasing them (the name goes, the
pseudonym stays in the histories).

Every write is the domain's command (`CreatePerson`, `DeactivatePerson`, `ErasePerson`) through the
command handler, which checks again that the caller is an administrator; its refusals are
translated by the one error table (`app.api.errors.status_of`).
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from app.api.errors import status_of
from states.access import TOKENS, Principal
from states.commands import CreatePerson, DeactivatePerson, ErasePerson
from states.errors import RuleViolation
from states.persons import Person, activity_of, get_person, list_persons, sessions_of
from states.tokens import ROLES

from .. import i18n
from ..render import local_text, render
from .case import _trigger_title as trigger_title
from .context import Ctx, Form, PostedForm, SignedIn, one
from .params import InvalidInput

router = APIRouter(include_in_schema=False)
FIELDS = ("body", "role", "name", "position", "account")
REQUIRED = ("body", "role", "name")
PERSON_ID = re.compile(r"p_[0-9a-f]{16}")


def may_manage(p: Principal) -> bool:
    """Managing persons is an administrator's (`states.access.TOKENS`, as the handler checks)."""
    return p.role in TOKENS


def _refused_role(ctx: Ctx) -> Response:
    return ctx.error(403, i18n.t("error.read_only", ctx.lang) if ctx.principal.role == "auditor"
                     else i18n.t("error.forbidden", ctx.lang))


# ------------------------------------------------------------------------------------ words

def _status(ctx: Ctx, p: Person) -> tuple[str, str]:
    """(`active` | `deactivated` | `erased`, the words shown, with the date it happened)."""
    if p.erased_at is not None:
        return "erased", f"{i18n.t('person.status.erased', ctx.lang)} {local_text(p.erased_at)}"
    if not p.active:
        return "deactivated", f"{i18n.t('person.status.deactivated', ctx.lang)} {local_text(p.deactivated_at)}"
    return "active", i18n.t("person.status.active", ctx.lang)


def _person_view(ctx: Ctx, p: Person) -> dict[str, Any]:
    status, status_text = _status(ctx, p)
    return {"id": p.id, "href": f"/persons/{p.id}", "name": p.name or p.id, "erased": p.erased_at is not None,
            "position": p.position or "", "body": ctx.body_name(p.body_id), "role": i18n.t(f"role.{p.role}", ctx.lang),
            "status": status, "status_text": status_text, "active": p.active,
            "source": i18n.t(f"person.source.{p.source}", ctx.lang), "created": local_text(p.created_at),
            "last_sign_in": local_text(p.last_sign_in_at) or i18n.t("person.never", ctx.lang)}


def _body_groups(ctx: Ctx) -> list[tuple[str, list[tuple[str, str]]]]:
    """The directory's bodies for a select: the national ones first, then region by region."""
    by_region: dict[str | None, list[tuple[str, str]]] = {}
    for body in ctx.directory.bodies():
        by_region.setdefault(body.region, []).append((body.id, body.name_in(ctx.lang)))
    groups = [(i18n.t("persons.national", ctx.lang), by_region.get(None, []))]
    groups += [(ctx.region_name(code), by_region[code]) for code in ctx.directory.regions if code in by_region]
    return [g for g in groups if g[1]]


def _roles(ctx: Ctx) -> list[tuple[str, str]]:
    return [(role, i18n.t(f"role.{role}", ctx.lang)) for role in ROLES]


# ------------------------------------------------------------------------------------ the list and the form

def _read_persons(engine, body_id: str | None) -> list[Person]:
    with engine.reader() as conn:
        return list_persons(conn, body_id=body_id)


def _body_filter(ctx: Ctx) -> str | None:
    body = ctx.request.query_params.get("body") or ""
    if body == "":
        return None
    if body not in ctx.directory:
        raise InvalidInput("body", "must be a body of the directory")
    return body


async def _list_page(ctx: Ctx, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                     message: str | None = None, status: int = 200) -> Response:
    body = _body_filter(ctx)
    persons = await ctx.read(_read_persons, ctx.engine, body)
    view = {"persons": [_person_view(ctx, p) for p in persons], "filter_body": body or "",
            "body_groups": _body_groups(ctx), "roles": _roles(ctx), "values": values or {}, "errors": errors or {},
            "message": message}
    return render("persons.html", ctx.page(**view), status=status)


@router.get("/persons")
async def persons_page(ctx: SignedIn) -> Response:
    if not may_manage(ctx.principal):
        return _refused_role(ctx)
    return await _list_page(ctx)


def _values(form: Form) -> dict[str, str]:
    return {name: one(form, name).strip() for name in FIELDS}


def _unreadable(ctx: Ctx, values: dict[str, str]) -> dict[str, str]:
    """What the form's own reading refuses before any command: a required field left empty, and a NUL
    character (never meaningful, and PostgreSQL refuses it, as the edge does in a path or query)."""
    errors = {name: i18n.t("form.required_missing", ctx.lang) for name in REQUIRED if not values[name]}
    for name in FIELDS:
        if "\x00" in values[name]:
            errors[name] = f"{i18n.t('form.invalid', ctx.lang)}: must not contain a NUL character"
    return errors


def _command(values: dict[str, str]) -> CreatePerson:
    return CreatePerson(values["body"], values["role"], values["name"], values["position"] or None,
                        values["account"] or None)


def _field_error(ctx: Ctx, exc: RuleViolation) -> str:
    if exc.code == "conflict" and exc.field == "account":
        return i18n.t("person.account_taken", ctx.lang)
    return f"{i18n.t('form.invalid', ctx.lang)}: {exc.message}"


@router.post("/persons")
async def create_person(ctx: SignedIn, form: PostedForm) -> Response:
    """Create a person from the form (`CreatePerson`), then show them."""
    if not may_manage(ctx.principal):
        return _refused_role(ctx)
    values = _values(form)
    errors = _unreadable(ctx, values)
    if errors:
        return await _list_page(ctx, values=values, errors=errors, status=422,
                                message=i18n.t("form.errors", ctx.lang))
    try:
        person = await ctx.write(ctx.request.app.state.commands.handle, _command(values), ctx.principal)
    except RuleViolation as exc:
        if exc.field in FIELDS:
            return await _list_page(ctx, values=values, errors={exc.field: _field_error(ctx, exc)},
                                    status=status_of(exc.code), message=i18n.t("form.errors", ctx.lang))
        return _rejected(ctx, exc)
    return RedirectResponse(f"/persons/{person.id}?created=1", status_code=303)


def _rejected(ctx: Ctx, exc: RuleViolation) -> Response:
    if exc.code == "forbidden":
        return ctx.forbidden(exc.message)
    return ctx.error(status_of(exc.code), i18n.t("form.rejected", ctx.lang), f"{exc.code}: {exc.message}")


# ------------------------------------------------------------------------------------ one person

def _read_person(engine, person_id: str) -> dict[str, Any] | None:
    with engine.reader() as conn:
        person = get_person(conn, person_id)
        if person is None:
            return None
        return {"person": person, "sessions": sessions_of(conn, person_id), "events": activity_of(conn, person_id)}


def _event_view(ctx: Ctx, e: dict[str, Any]) -> dict[str, Any]:
    # the titles of the algorithm's latest version: the event's own version is the case page's to tell
    d = ctx.registry.latest(e["algorithm"]) if e["algorithm"] in ctx.registry.ids() else None
    return {"ref": e["ref"], "href": f"/cases/{quote(e['ref'])}", "when": local_text(e["at"]),
            "trigger": trigger_title(ctx, d, e["trigger"]) if d is not None else e["trigger"],
            "from": ctx.state_title(d, e["from_state"]) if d is not None else (e["from_state"] or ""),
            "to": ctx.state_title(d, e["to_state"]) if d is not None else e["to_state"],
            "actor": ctx.body_name(e["actor"])}


def _flash(ctx: Ctx) -> str | None:
    q = ctx.request.query_params
    for done in ("created", "deactivated", "erased"):
        if q.get(done):
            return i18n.t(f"person.{done}", ctx.lang)
    return None


async def _person_page(ctx: Ctx, person_id: str, *, confirm_erase: bool = False,
                       errors: dict[str, str] | None = None, status: int = 200) -> Response:
    if not may_manage(ctx.principal):
        return _refused_role(ctx)
    found = await ctx.read(_read_person, ctx.engine, person_id) if PERSON_ID.fullmatch(person_id) else None
    if found is None:
        return ctx.not_found()
    view = {"person": _person_view(ctx, found["person"]),
            "sessions": [{"started": local_text(s["created_at"]), "ends": local_text(s["expires_at"])}
                         for s in found["sessions"]],
            "events": [_event_view(ctx, e) for e in found["events"]],
            "confirm_erase": confirm_erase, "errors": errors or {}, "flash": _flash(ctx)}
    return render("person.html", ctx.page(**view), status=status)


@router.get("/persons/{person_id}")
async def person_page(ctx: SignedIn, person_id: str) -> Response:
    return await _person_page(ctx, person_id)


async def _act(ctx: Ctx, command, done: str) -> Response:
    """Send a command about one person; back to their page saying what was done."""
    if not may_manage(ctx.principal):
        return _refused_role(ctx)
    if not PERSON_ID.fullmatch(command.person_id):
        return ctx.not_found()
    try:
        await ctx.write(ctx.request.app.state.commands.handle, command, ctx.principal)
    except RuleViolation as exc:
        return ctx.not_found() if exc.field == "person" else _rejected(ctx, exc)
    return RedirectResponse(f"/persons/{command.person_id}?{done}=1", status_code=303)


@router.post("/persons/{person_id}/deactivate")
async def deactivate_person(ctx: SignedIn, form: PostedForm, person_id: str) -> Response:
    """The person may no longer sign in; their sessions end now."""
    return await _act(ctx, DeactivatePerson(person_id), "deactivated")


@router.get("/persons/{person_id}/erase")
async def erase_confirmation(ctx: SignedIn, person_id: str) -> Response:
    return await _person_page(ctx, person_id, confirm_erase=True)


@router.post("/persons/{person_id}/erase")
async def erase_person(ctx: SignedIn, form: PostedForm, person_id: str) -> Response:
    """Erase the person once the administrator has confirmed it cannot be undone."""
    if one(form, "confirm") != "yes":
        return await _person_page(ctx, person_id, confirm_erase=True, status=422,
                                  errors={"confirm": i18n.t("person.erase_confirm_missing", ctx.lang)})
    return await _act(ctx, ErasePerson(person_id), "erased")
