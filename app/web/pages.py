"""The web pages: server-rendered HTML on the API's own app, under `/` (the API stays under /api/v1).

Who may see and do what is the API's rule (`app.api.access`), checked here on the server for every
page and form; what a page shows comes from the API's read models (`states.queries`). Sign-in takes
the same tokens as the API and gives a signed session cookie (HttpOnly, SameSite=Strict); every
form carries the session's CSRF token. Times are shown on the Kazakhstan clock; titles come from
the definitions and the directory, never identifiers.
"""
from __future__ import annotations

import logging
import re
import secrets
import threading
import weakref
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from states.access import (AUDIT, COMPLIANCE, FIRE, INBOX, LAUNCH, Principal, check_case, check_launch,
                            check_personal, compliance_region, scope_for)
from app.api.auth import active_token
from app.api.transport import FORM_BODY_LIMIT
from app.api.writes import run_write
from states import tables as T
from states.calendar import KZ_TZ
from states.clock import utcnow
from app.api.errors import status_of
from states.commands import Fire, Launch, ReadPersonalData
from states.errors import RuleViolation
from states.web_sessions import WebSession
from states.queries import (case_detail, descendants, history, inbox as inbox_query, list_cases, load_case_row,
                            replay_at, task_actions)

from . import cartogram, forms, i18n, session as sessions
from .render import left_or_late, local_input, local_text, render

log = logging.getLogger("qorgau.web")
router = APIRouter(include_in_schema=False)

MAX_FORM_BYTES = FORM_BODY_LIMIT  # the transport refuses bigger bodies (413) before this reads one
PAGE_SIZE = 50
SYSTEM_STEPS = ("launch", "reminder", "overdue", "escalation", "critical", "timer", "linked")


# ============================================================================================ context

@dataclass
class Ctx:
    request: Request
    engine: Any
    lang: str
    session: WebSession | None
    principal: Principal | None

    @property
    def directory(self):
        return self.engine.svc.directory

    @property
    def registry(self):
        return self.engine.registry

    def page(self, **extra) -> dict[str, Any]:
        p = self.principal
        nav = []
        if p is not None:
            if p.role in INBOX:
                nav.append(("/inbox", "nav.inbox"))
            if p.role == "coordinator":
                nav.append(("/dashboard", "nav.dashboard"))
            nav.append(("/cases", "nav.cases"))
            nav.append(("/map", "nav.map"))
            if p.role in COMPLIANCE:
                nav.append(("/audit", "nav.audit"))
        path = self.request.url.path
        query = self.request.url.query
        here = path + (f"?{query}" if query else "")
        return {"lang": self.lang, "principal": p, "body_name": self.body_name(p.body_id) if p else "",
                "csrf": self.session.csrf if self.session else "", "nav": nav, "path": path,
                "here": quote(here, safe="/?=&-_.~%"), "now": utcnow(), "flash": None, **extra}

    def body_name(self, body_id: str | None) -> str:
        if not body_id:
            return ""
        if body_id == "system":
            return i18n.t("case.system", self.lang)
        body = self.directory.find(body_id)
        return body.name_in(self.lang) if body else body_id

    def region_name(self, code: str | None) -> str:
        region = self.directory.regions.get(code or "")
        return i18n.pick(region.name, self.lang) if region else (code or "")


def _language(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in i18n.LANGUAGES:
        return asked
    cookie = request.cookies.get(sessions.LANG_COOKIE)
    if cookie in i18n.LANGUAGES:
        return cookie
    return i18n.negotiate(request.headers.get("accept-language"))


def _context(request: Request) -> Ctx:
    """The request's language and, if its cookie names a live session in the store, who is signed in."""
    from states.db import reading
    from states.web_sessions import find_session
    engine = request.app.state.engine
    lang = _language(request)
    session = principal = None
    session_id = sessions.session_id(request.cookies.get(sessions.SESSION_COOKIE))
    if session_id is not None:
        with reading(engine.db) as conn:
            found = find_session(conn, session_id)
        body = engine.svc.directory.find(found.body_id) if found is not None else None
        if body is not None:
            session = found
            principal = Principal(token_id=found.token_id, prefix=found.prefix, role=found.role, body=body)
    return Ctx(request, engine, lang, session, principal)


def _login_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": here}), status_code=303)


def _error(ctx: Ctx, status: int, message: str, detail: str | None = None) -> Response:
    return render("error.html", ctx.page(status=status, message=message, detail=detail), status=status)


def _forbidden(ctx: Ctx, detail: str | None = None) -> Response:
    return _error(ctx, 403, i18n.t("error.forbidden", ctx.lang), detail)


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


async def _form(request: Request) -> dict[str, list[str]] | None:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def _one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[-1]


def _cross_site(request: Request) -> bool:
    return request.headers.get("sec-fetch-site") == "cross-site"


async def _post(request: Request) -> tuple[Ctx, dict[str, list[str]] | None, Response | None]:
    """A signed-in POST with a valid CSRF token, or the response refusing it."""
    ctx = _context(request)
    if ctx.principal is None:
        return ctx, None, _login_redirect(request)
    form = await _form(request)
    if form is None or _cross_site(request) or not sessions.csrf_ok(ctx.session.csrf, _one(form, "csrf")):
        return ctx, None, _error(ctx, 403, i18n.t("error.csrf", ctx.lang))
    return ctx, form, None


# ============================================================================================ sign-in

@router.get("/")
def home(request: Request) -> Response:
    ctx = _context(request)
    if ctx.principal is None:
        return RedirectResponse("/login", status_code=303)
    role = ctx.principal.role
    target = {"agency": "/inbox", "coordinator": "/dashboard", "auditor": "/audit"}.get(role, "/cases")
    return RedirectResponse(target, status_code=303)


@router.get("/login")
def login_page(request: Request) -> Response:
    ctx = _context(request)
    token = secrets.token_urlsafe(24)
    response = render("login.html", ctx.page(login_csrf=token, next=_safe_next(request.query_params.get("next")),
                                             failed=False))
    _set_login_csrf(request, response, token)
    return response


def _set_login_csrf(request: Request, response: Response, token: str) -> None:
    response.set_cookie(sessions.LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=sessions.secure_cookies(request.url.scheme), path="/login")


@router.post("/login")
async def login(request: Request) -> Response:
    ctx = _context(request)
    form = await _form(request) or {}
    if _cross_site(request) or not sessions.csrf_ok(request.cookies.get(sessions.LOGIN_CSRF_COOKIE),
                                                    _one(form, "csrf")):
        return _error(ctx, 403, i18n.t("error.csrf", ctx.lang))
    engine = ctx.engine
    token = await active_token(request, _one(form, "token").strip())
    body = engine.svc.directory.find(token.body_id) if token is not None else None
    if token is None or body is None:
        fresh = secrets.token_urlsafe(24)
        response = render("login.html", ctx.page(login_csrf=fresh, next=_safe_next(_one(form, "next")), failed=True),
                          status=401)
        _set_login_csrf(request, response, fresh)
        return response
    from states.web_sessions import start_session
    session_id, _ = await run_write(request, start_session, engine.db, token.id, timedelta(seconds=sessions.MAX_AGE))
    response = RedirectResponse(_safe_next(_one(form, "next")), status_code=303)
    response.set_cookie(sessions.SESSION_COOKIE, sessions.cookie_value(session_id), max_age=sessions.MAX_AGE, httponly=True,
                        samesite="strict", secure=sessions.secure_cookies(request.url.scheme), path="/")
    response.delete_cookie(sessions.LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    ctx, form, refused = await _post(request)
    if refused is not None and ctx.principal is not None:
        return refused
    if ctx.principal is not None:  # the session ends in the store: a copied cookie is worth nothing now
        from states.web_sessions import end_session
        await run_write(request, end_session, ctx.engine.db,
                        sessions.session_id(request.cookies.get(sessions.SESSION_COOKIE)))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
def language(request: Request, code: str) -> Response:
    """Switch the pages' language (a preference cookie; nothing else changes)."""
    response = RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie(sessions.LANG_COOKIE, code, max_age=365 * 86400, samesite="lax", httponly=True,
                            secure=sessions.secure_cookies(request.url.scheme), path="/")
    return response


# ============================================================================================ inbox

@router.get("/inbox")
def inbox_page(request: Request) -> Response:
    ctx = _context(request)
    if ctx.principal is None:
        return _login_redirect(request)
    if ctx.principal.role not in INBOX:
        return _forbidden(ctx)
    now = utcnow()
    offset = _offset(request)
    with ctx.engine.reader() as conn:
        data = inbox_query(conn, ctx.principal.body_id, ctx.registry, ctx.directory, now=now, limit=PAGE_SIZE,
                           offset=offset)
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


def _int(value: str | None, default: int) -> int:
    try:
        return max(0, int(value)) if value not in (None, "") else default
    except ValueError:
        return default


class InvalidInput(Exception):
    """A page's query value that cannot be read: answered 422 `invalid_data` naming the field
    (`invalid_input_page`), never a 500."""

    def __init__(self, field: str, message: str):
        super().__init__(f"field {field!r}: {message}")
        self.field, self.message = field, message


def invalid_input_page(request: Request, exc: InvalidInput) -> Response:
    ctx = _context(request)
    return _error(ctx, 422, i18n.t("form.rejected", ctx.lang), f"invalid_data: {exc}")


MAX_OFFSET = 1_000_000_000  # as the API's `offset`
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)  # dates a page may ask about


def _offset(request: Request) -> int:
    text = request.query_params.get("offset") or ""
    if text == "":
        return 0
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_OFFSET:
        raise InvalidInput("offset", f"must be a whole number from 0 to {MAX_OFFSET}")
    return int(text)


def _date_param(request: Request, name: str, default: date) -> date:
    text = request.query_params.get(name) or ""
    if text == "":
        return default
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(name, "must be a date, e.g. 2026-04-01") from None
    if not EARLIEST <= value <= LATEST:
        raise InvalidInput(name, f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return value


def _period_params(request: Request, default_start: date, default_end: date) -> tuple[date, date]:
    """`from` and `to` of a report or the map: dates in range, `to` after `from`."""
    start = _date_param(request, "from", default_start)
    end = _date_param(request, "to", default_end)
    if end <= start:
        raise InvalidInput("to", "must be after 'from'")
    return start, end


# ============================================================================================ task form

def _choices(ctx: Ctx, region: str | None) -> forms.Choices:
    directory, lang = ctx.directory, ctx.lang

    def bodies(body_type: str | None):
        groups = []
        regions = [region] if region else list(directory.regions)
        for code in regions:
            options = [(b.id, b.name_in(lang)) for b in directory.bodies()
                       if b.region == code and (body_type is None or b.type == body_type)]
            if options:
                groups.append((ctx.region_name(code), options))
        return groups

    def executors():
        from states.reporting import executor_bodies
        return [(b.id, b.name_in(lang)) for b in executor_bodies(ctx.engine.svc.catalogue, directory)]

    def measures():
        return [(m.number, f"{m.number}. {m.short_title(90)}") for m in ctx.engine.svc.catalogue.measures]

    return forms.Choices(bodies=bodies, regions=[(code, ctx.region_name(code)) for code in directory.regions],
                         executors=_Lazy(executors), measures=_Lazy(measures))


class _Lazy:
    """A list computed only if a form iterates it."""

    def __init__(self, make):
        self._make, self._items = make, None

    def __iter__(self):
        if self._items is None:
            self._items = self._make()
        return iter(self._items)


def _task_view(ctx: Ctx, ref: str, key: str, trigger: str | None, *, values=None, errors=None,
               message: str | None = None, conflict: bool = False, version: int | None = None,
               status: int = 200) -> Response:
    """The form that acts on one task (also re-rendered with errors after a refused submit)."""
    p = ctx.principal
    now = utcnow()
    with ctx.engine.reader() as conn:
        try:
            row = load_case_row(conn, ref)
        except RuleViolation:
            return _error(ctx, 404, i18n.t("error.not_found", ctx.lang))
        try:
            check_case(p, ctx.directory, row.ref, row.region, row.bindings)
        except RuleViolation as exc:
            return _forbidden(ctx, exc.message)
        detail = case_detail(conn, ref, ctx.registry, ctx.directory, now=now)
    d = ctx.registry.variant(row.algorithm, row.algorithm_version, row.overrides)
    task = next((t for t in detail["tasks"] if t["key"] == key), None)
    if task is None:
        return _error(ctx, 404, i18n.t("error.not_found", ctx.lang))
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
        fields = forms.build_fields(specs, ctx.lang, _choices(ctx, row.region), values or {}, errors or {})
    left, late = left_or_late(task["due"], now, ctx.lang)
    title = i18n.pick(task["title"], ctx.lang)
    if task["serves"]:
        title = f"{i18n.t('task.ensure_completion', ctx.lang)}: {i18n.pick(d.task_title(work_kind), ctx.lang)}"
    view = {
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
def task_page(request: Request, ref: str, key: str) -> Response:
    ctx = _context(request)
    if ctx.principal is None:
        return _login_redirect(request)
    return _task_view(ctx, ref, key, request.query_params.get("trigger"))


@router.post("/cases/{ref}/fire")
async def fire(request: Request, ref: str) -> Response:
    ctx, form, refused = await _post(request)
    if refused is not None:
        return refused
    p = ctx.principal
    if p.role not in FIRE:
        return _error(ctx, 403, i18n.t("error.read_only", ctx.lang) if p.role == "auditor"
                      else i18n.t("error.forbidden", ctx.lang))
    trigger, key = _one(form, "trigger"), _one(form, "task")
    version = _int(_one(form, "version"), -1)
    values = forms.flat_values(form)
    with ctx.engine.reader() as conn:
        try:
            row = load_case_row(conn, ref)
        except RuleViolation:
            return _error(ctx, 404, i18n.t("error.not_found", ctx.lang))
    try:
        check_case(p, ctx.directory, row.ref, row.region, row.bindings)
    except RuleViolation as exc:
        return _forbidden(ctx, exc.message)
    d = ctx.registry.variant(row.algorithm, row.algorithm_version, row.overrides)
    spec = d.trigger(trigger)
    if spec is None:
        return _error(ctx, 422, i18n.t("form.rejected", ctx.lang), f"unknown_trigger: {trigger}")
    # The task's own prefill (e.g. which plan action) is re-derived, never taken from the browser.
    prefill = {}
    if key:
        from states.queries import completing_triggers
        with ctx.engine.reader() as conn:
            t = conn.execute(select(T.tasks.c.kind, T.tasks.c.serves).where(
                T.tasks.c.case_id == row.id, T.tasks.c.key == key)).first()
            if t is not None and t.serves:
                t = conn.execute(select(T.tasks.c.kind, T.tasks.c.serves).where(
                    T.tasks.c.case_id == row.id, T.tasks.c.key == t.serves)).first() or t
        if t is not None:
            prefill = dict(next((pf for name, pf in completing_triggers(d, t.kind) if name == trigger), {}))
    specs = {n: s for n, s in spec.data.items() if n not in prefill}
    payload, errors = forms.parse(specs, form, ctx.lang)
    if errors:
        return _task_view(ctx, ref, key, trigger, values=values, errors=errors, version=version,
                          message=i18n.t("form.errors", ctx.lang), status=422)
    payload.update(prefill)
    try:
        result = await run_write(request, request.app.state.commands.handle,
                                 Fire(ref, trigger, payload, expected_version=version), p)
    except RuleViolation as exc:
        if exc.code == "forbidden" and exc.field is None:  # the case left the caller's scope since the page was read
            return _forbidden(ctx, exc.message)
        if exc.code == "conflict":
            return _task_view(ctx, ref, key, trigger, values=values, version=version, conflict=True,
                              message=i18n.t("form.conflict", ctx.lang), status=409)
        if exc.code == "invalid_data" and exc.field:
            field = exc.field if exc.field in values or "." in exc.field or exc.field in spec.data else None
            if field:
                return _task_view(ctx, ref, key, trigger, values=values, version=version,
                                  errors={field: f"{i18n.t('form.invalid', ctx.lang)}: {exc.message}"},
                                  message=i18n.t("form.errors", ctx.lang), status=422)
        status = status_of(exc.code)
        return _task_view(ctx, ref, key, trigger, values=values, version=version, status=status,
                          message=f"{i18n.t('form.rejected', ctx.lang)}: {exc.code} — {exc.message}")
    return RedirectResponse(f"/cases/{quote(result.ref)}?" + urlencode({"fired": trigger}), status_code=303)


# ============================================================================================ case page

def _parse_moment(text: str | None) -> datetime | None:
    """A moment from the replay picker: ISO with an offset, or a Kazakhstan wall-clock time."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        value = value.replace(tzinfo=KZ_TZ) if value.tzinfo is None else value
        value.astimezone(timezone.utc)  # 0001-01-01T00:00+23:59 has no UTC instant
    except (ValueError, OverflowError):
        raise InvalidInput("at", "must be a date and time, e.g. 2026-04-10T12:00") from None
    if not EARLIEST <= value.date() <= LATEST:
        raise InvalidInput("at", f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return value


def _effects_text(ctx: Ctx, d, fx: dict[str, Any], kinds: dict[str, str]) -> list[str]:
    lang, out = ctx.lang, []
    for t in fx.get("tasks_opened", []):
        title = i18n.pick(d.task_title(t["kind"]), lang) if t["kind"] != "ensure_completion" else \
            i18n.t("task.ensure_completion", lang)
        out.append(f"{title} — {ctx.body_name(t['body'])}: {i18n.t('fx.opened', lang)}, "
                   f"{i18n.t('col.due', lang).lower()} {local_text(t['due'])}")
    for t in fx.get("tasks_closed", []):
        kind = kinds.get(t["key"], t["key"])
        title = i18n.pick(d.task_title(kind), lang) if kind != "ensure_completion" else \
            i18n.t("task.ensure_completion", lang)
        out.append(f"{title}: {i18n.t('fx.' + t['status'], lang) if t['status'] in ('done', 'cancelled') else t['status']}")
    for key in fx.get("overdue", []):
        kind = kinds.get(key, key)
        out.append(f"{i18n.pick(d.task_title(kind), lang)}: {i18n.t('fx.overdue', lang)}")
    if fx.get("critical"):
        out.append(i18n.t("fx.critical", lang))
    if fx.get("outcome"):
        titles = d.spec.outcomes.get(fx["outcome"])
        out.append(f"{i18n.t('fx.outcome', lang)}: {i18n.pick(titles, lang) if titles else fx['outcome']}")
    moved = fx.get("transferred")
    if moved:
        out.append(f"{i18n.t('fx.transferred', lang)} {ctx.region_name(moved.get('region'))}")
    for s in fx.get("spawned", []):
        out.append(f"{i18n.t('fx.spawned', lang)}: {s['ref']}")
    if fx.get("linked"):
        out.append(f"{i18n.t('case.linked', lang)}: {fx['linked']}")
    notes = fx.get("notifications") or []
    if notes:
        out.append(f"{i18n.t('fx.notified', lang)}: {len(notes)}")
    return out


def _trigger_title(ctx: Ctx, d, trigger: str) -> str:
    spec = d.trigger(trigger)
    if spec is not None:
        return i18n.pick(spec.title, ctx.lang)
    if trigger in SYSTEM_STEPS:
        return i18n.t(f"step.{trigger}", ctx.lang)
    return trigger


def _state_title(ctx: Ctx, d, state: str | None) -> str:
    if not state:
        return ""
    spec = d.spec.states.get(state)
    return i18n.pick(spec.title, ctx.lang) if spec else state


@router.get("/cases/{ref}")
def case_page(request: Request, ref: str) -> Response:
    ctx = _context(request)
    if ctx.principal is None:
        return _login_redirect(request)
    p, lang, now = ctx.principal, ctx.lang, utcnow()
    may_replay = p.role in AUDIT
    at = _parse_moment(request.query_params.get("at")) if may_replay else None
    from states.verify import verify_case
    with ctx.engine.reader() as conn:
        try:
            row = load_case_row(conn, ref)
        except RuleViolation:
            return _error(ctx, 404, i18n.t("error.not_found", lang))
        try:
            check_case(p, ctx.directory, row.ref, row.region, row.bindings)
        except RuleViolation as exc:
            return _forbidden(ctx, exc.message)
        detail = case_detail(conn, ref, ctx.registry, ctx.directory, now=now)
        events = history(conn, ref)["events"]
        verification = verify_case(conn, ref, ctx.registry)
        replayed = None
        if at is not None:
            try:
                replayed = replay_at(conn, ref, at)
            except RuleViolation:
                replayed = None
                at = None
    d = ctx.registry.variant(row.algorithm, row.algorithm_version, row.overrides)
    kinds = {}
    for ev in events:
        for t in (ev["effects"] or {}).get("tasks_opened", []):
            kinds[t["key"]] = t["kind"]
    if replayed is not None:
        shown_events = [ev for ev in events if ev["seq"] <= replayed["version"]]
        state = replayed["state"]
        open_tasks = [{"title": _task_title(ctx, d, t["kind"]), "body": ctx.body_name(t["body_id"]),
                       "due": local_text(t["due"]), "overdue": t["overdue"], "level": t["level"],
                       "left": left_or_late(t["due"], replayed["at"], lang)[0], "key": t["key"], "act": False}
                      for t in replayed["open_tasks"]]
        closed = _closed_from_events(shown_events)
        done_tasks = [{"title": _task_title(ctx, d, kinds.get(k, k)), "status": i18n.t(f"fx.{s}", lang),
                       "when": local_text(when), "due": "", "body": ""} for k, (s, when) in closed.items()]
        bindings = replayed["bindings"]
        critical, level, version = replayed["critical"], replayed["escalation_level"], replayed["version"]
        outcome, region = replayed["outcome"], replayed["region"]
    else:
        shown_events = events
        state = detail["state"]["name"]
        open_tasks, done_tasks = [], []
        for t in detail["tasks"]:
            title = _task_title(ctx, d, t["kind"])
            if t["status"] == "open":
                open_tasks.append({"title": title, "body": ctx.body_name(t["body_id"]), "due": local_text(t["due"]),
                                   "overdue": t["overdue"], "level": t["level"], "key": t["key"],
                                   "left": left_or_late(t["due"], now, lang)[0],
                                   "act": p.role in FIRE and _concerns(ctx, t["body_id"])})
            else:
                done_tasks.append({"title": title, "status": i18n.t(f"fx.{t['status']}", lang),
                                   "when": local_text(t["closed_at"]), "body": ctx.body_name(t["body_id"]),
                                   "due": local_text(t["due"])})
        bindings = {b["role"]: b["body_id"] for b in detail["bindings"]}
        critical, level, version = detail["critical"], detail["escalation_level"], detail["version"]
        outcome, region = detail["outcome"], detail["region"]
    timeline = [{"seq": ev["seq"], "when": local_text(ev["at"]), "who": ctx.body_name(ev["actor"]),
                 "trigger": _trigger_title(ctx, d, ev["trigger"]),
                 "from": _state_title(ctx, d, ev["from_state"]), "to": _state_title(ctx, d, ev["to_state"]),
                 "effects": _effects_text(ctx, d, ev["effects"] or {}, kinds)} for ev in shown_events]
    moments = [{"value": local_input(ev["at"]), "label": f"{ev['seq']}. {local_text(ev['at'])} — "
                f"{_trigger_title(ctx, d, ev['trigger'])}", "seq": ev["seq"]} for ev in events]
    diagram = _diagram(d, lang, state)
    fired = request.query_params.get("fired")
    flash = None
    if fired and replayed is None:
        flash = f"{i18n.t('fired', lang)} {_state_title(ctx, d, state)}"
    elif request.query_params.get("launched") and replayed is None:
        flash = f"{i18n.t('launched', lang)} {ref} — {_state_title(ctx, d, state)}"
    outcome_titles = d.spec.outcomes.get(outcome) if outcome else None
    view = {
        "ref": ref, "algorithm": i18n.pick(d.spec.title, lang), "algorithm_version": d.version,
        "state": _state_title(ctx, d, state), "state_name": state,
        "outcome": i18n.pick(outcome_titles, lang) if outcome_titles else outcome,
        "region": ctx.region_name(region), "version": version, "critical": critical, "level": level,
        "bound": [{"role": i18n.body_type_title(role, lang) if role in i18n.body_types() else
                   (i18n.pick(d.spec.roles[role].title, lang) if role in d.spec.roles else role),
                   "name": ctx.body_name(body_id)} for role, body_id in bindings.items()],
        "open_tasks": open_tasks, "done_tasks": done_tasks, "timeline": list(reversed(timeline)),
        "diagram": diagram,
        "states": [{"title": i18n.pick(s.title, lang), "current": n == state, "final": s.final}
                   for n, s in d.spec.states.items()],
        "verified": verification.ok, "divergence": verification.first_divergence,
        "may_replay": may_replay, "moments": moments, "replay_at": local_text(replayed["at"]) if replayed else None,
        "replay_value": local_input(replayed["at"]) if replayed else "",
        "links": detail["links"], "has_personal_data": detail["has_personal_data"],
        "may_read_personal": _may_read_personal(p, row), "flash": flash,
    }
    return render("case.html", ctx.page(**view))


_EDGE = re.compile(r"^(\s*\S+ --> \S+): (\w+)$", re.M)


def _diagram(d, lang: str, state: str | None) -> str:
    """The definition's Mermaid diagram with trigger titles on its edges and the current state in a
    strong, high-contrast highlight."""
    from states.machines import mermaid
    text = mermaid(d, lang, current=state)

    def title(m: re.Match) -> str:
        spec = d.trigger(m.group(2))
        label = i18n.pick(spec.title, lang) if spec else m.group(2)
        return f"{m.group(1)}: {re.sub(r'[:;#{}<>]', ' ', label)}"

    text = _EDGE.sub(title, text)
    return re.sub(r"^(\s*)classDef s_active .*$", r"\1classDef s_active fill:#8a2a12,color:#ffffff,stroke:#1b1f24,stroke-width:3px",
                  text, flags=re.M)


def _concerns(ctx: Ctx, body_id: str) -> bool:
    p = ctx.principal
    return body_id == p.body_id or ctx.directory.is_supervisor(p.body_id, body_id)


def _may_read_personal(p: Principal, row) -> bool:
    try:
        check_personal(p, row.ref, row.region, row.bindings)
        return True
    except RuleViolation:
        return False


def _task_title(ctx: Ctx, d, kind: str) -> str:
    if kind == "ensure_completion":
        return i18n.t("task.ensure_completion", ctx.lang)
    if kind == "accept_transfer" and kind not in d.spec.task_kinds:
        return i18n.t("task.accept_transfer", ctx.lang)
    return i18n.pick(d.task_title(kind), ctx.lang)


def _closed_from_events(events: list[dict]) -> dict[str, tuple[str, Any]]:
    closed: dict[str, tuple[str, Any]] = {}
    for ev in events:
        for t in (ev["effects"] or {}).get("tasks_closed", []):
            closed[t["key"]] = (t["status"], ev["at"])
    return closed


# ============================================================================================ personal data

@router.get("/cases/{ref}/personal")
def personal_page(request: Request, ref: str) -> Response:
    ctx = _context(request)
    if ctx.principal is None:
        return _login_redirect(request)
    row, refused = _personal_case(ctx, ref)
    if refused is not None:
        return refused
    return render("personal.html", ctx.page(ref=ref, data=None, error=None, purposes=_purposes(ctx)))


def _purposes(ctx: Ctx) -> list[tuple[str, str]]:
    from states.personal_data import PURPOSES
    return [(code, i18n.t(f"purpose.{code}", ctx.lang)) for code in PURPOSES]


def _personal_case(ctx: Ctx, ref: str):
    with ctx.engine.reader() as conn:
        try:
            row = load_case_row(conn, ref)
        except RuleViolation:
            return None, _error(ctx, 404, i18n.t("error.not_found", ctx.lang))
    try:
        check_case(ctx.principal, ctx.directory, row.ref, row.region, row.bindings)
        check_personal(ctx.principal, row.ref, row.region, row.bindings)
    except RuleViolation as exc:
        return None, _forbidden(ctx, exc.message)
    return row, None


@router.post("/cases/{ref}/personal")
async def personal_read(request: Request, ref: str) -> Response:
    """The child's personal data, on a stated purpose; every read is logged (read_personal)."""
    ctx, form, refused = await _post(request)
    if refused is not None:
        return refused
    row, refused = _personal_case(ctx, ref)
    if refused is not None:
        return refused
    from states.personal_data import PersonalDataError
    try:
        data = await run_write(request, request.app.state.commands.handle,
                               ReadPersonalData(row.ref, _one(form, "purpose"), _one(form, "note")), ctx.principal)
    except RuleViolation as exc:
        return render("personal.html", ctx.page(ref=ref, data=None, purposes=_purposes(ctx),
                                                error=f"{i18n.t('form.invalid', ctx.lang)}: {exc.message}"),
                      status=status_of(exc.code))
    except PersonalDataError as exc:
        return render("personal.html", ctx.page(ref=ref, data=None, error=exc.message, purposes=_purposes(ctx)),
                      status=410)
    return render("personal.html", ctx.page(ref=ref, data=data, error=None, purposes=[]))


# ============================================================================================ case lists

def _filters(request: Request) -> dict[str, Any]:
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


def _case_list(ctx: Ctx, filters: dict[str, Any], offset: int, region: str | None) -> dict[str, Any]:
    scope = scope_for(ctx.principal, ctx.directory)
    now = utcnow()
    with ctx.engine.reader() as conn:
        page = list_cases(conn, ctx.registry, scope, region=region, algorithm=filters["algorithm"],
                          state=filters["state"], overdue=True if filters["overdue"] else None,
                          critical=True if filters["critical"] else None,
                          closed=None if filters["closed"] else False, limit=PAGE_SIZE, offset=offset, now=now)
        counts = {}
        base = dict(region=region, algorithm=filters["algorithm"], closed=False, limit=1, now=now)
        counts["open"] = list_cases(conn, ctx.registry, scope, **base)["total"]
        counts["overdue"] = list_cases(conn, ctx.registry, scope, overdue=True, **base)["total"]
        counts["critical"] = list_cases(conn, ctx.registry, scope, critical=True, **base)["total"]
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
def cases_page(request: Request) -> Response:
    ctx = _context(request)
    if ctx.principal is None:
        return _login_redirect(request)
    filters = _filters(request)
    region = filters["region"]
    if region is not None and region not in ctx.directory.regions:
        region = None
    view = _case_list(ctx, filters, _offset(request), region)
    return render("cases.html", ctx.page(**view))


# ============================================================================================ dashboard

def _launch_view(ctx: Ctx, algorithm: str | None, *, values=None, errors=None, message=None,
                 status: int = 200) -> Response:
    p = ctx.principal
    filters = _filters(ctx.request)
    region = p.region or filters["region"]
    if region is not None and region not in ctx.directory.regions:
        region = None
    listing = _case_list(ctx, filters, _offset(ctx.request), region)
    launchable = []
    for d_id in ctx.registry.ids():
        d = ctx.registry.latest(d_id)
        if p.body.type in d.spec.launch.actors or p.role == "coordinator":
            launchable.append((d_id, i18n.pick(d.spec.title, ctx.lang)))
    chosen = algorithm if algorithm in dict(launchable) else None
    fields = []
    if chosen:
        d = ctx.registry.latest(chosen)
        fields = forms.build_fields(d.spec.launch.data, ctx.lang, _choices(ctx, p.region), values or {}, errors or {})
    view = {**listing, "launchable": launchable, "chosen_algorithm": chosen, "launch_fields": fields,
            "may_launch": p.role in LAUNCH, "fixed_region": p.region,
            "launch_region": (values or {}).get("_region") or p.region or "",
            "launch_message": message, "launch_errors": bool(errors)}
    return render("dashboard.html", ctx.page(**view), status=status)


@router.get("/dashboard")
def dashboard(request: Request) -> Response:
    ctx = _context(request)
    if ctx.principal is None:
        return _login_redirect(request)
    if ctx.principal.role != "coordinator":
        return _forbidden(ctx)
    return _launch_view(ctx, request.query_params.get("launch"))


@router.post("/launch")
async def launch(request: Request) -> Response:
    ctx, form, refused = await _post(request)
    if refused is not None:
        return refused
    p = ctx.principal
    if p.role not in LAUNCH or p.role != "coordinator":
        return _error(ctx, 403, i18n.t("error.read_only", ctx.lang) if p.role == "auditor"
                      else i18n.t("error.forbidden", ctx.lang))
    algorithm = _one(form, "algorithm")
    region = p.region or _one(form, "region")
    values = {**forms.flat_values(form), "_region": region}
    if algorithm not in ctx.registry.ids():
        return _launch_view(ctx, None, message=i18n.t("form.rejected", ctx.lang), status=422)
    try:
        check_launch(p, region)
    except RuleViolation as exc:
        return _forbidden(ctx, exc.message)
    d = ctx.registry.latest(algorithm)
    payload, errors = forms.parse(d.spec.launch.data, form, ctx.lang)
    if errors:
        return _launch_view(ctx, algorithm, values=values, errors=errors, message=i18n.t("form.errors", ctx.lang),
                            status=422)
    try:
        result = await run_write(request, request.app.state.commands.handle, Launch(algorithm, region, payload), p)
    except RuleViolation as exc:
        if exc.code == "invalid_data" and exc.field and exc.field not in ("region", "algorithm", "actor"):
            return _launch_view(ctx, algorithm, values=values, status=422, message=i18n.t("form.errors", ctx.lang),
                                errors={exc.field: f"{i18n.t('form.invalid', ctx.lang)}: {exc.message}"})
        return _launch_view(ctx, algorithm, values=values, status=status_of(exc.code),
                            message=f"{i18n.t('form.rejected', ctx.lang)}: {exc.code} — {exc.message}")
    return RedirectResponse(f"/cases/{quote(result.ref)}?launched=1", status_code=303)


# ============================================================================================ map

def access_regions(principal: Principal, directory) -> frozenset[str]:
    """The regions in which the principal may read cases (for small-count suppression on the map)."""
    all_regions = frozenset(directory.regions)
    scope = scope_for(principal, directory)
    if scope.regions is None and scope.bodies is None:
        return all_regions
    if scope.regions is not None:
        return frozenset(scope.regions)
    regions = set()
    for body_id in descendants(directory, principal.body_id):
        body = directory.find(body_id)
        if body is not None and body.region is not None:
            regions.add(body.region)
    return frozenset(regions)


def _window(request: Request, now: datetime) -> tuple[date, date]:
    today = now.astimezone(KZ_TZ).date()
    return _period_params(request, (today.replace(day=1) - timedelta(days=365)).replace(day=1),
                          today + timedelta(days=1))


@router.get("/map")
def map_page(request: Request) -> Response:
    from states.indicators import INDICATORS, WINDOW_INDICATORS, disclose, scale_value
    ctx = _context(request)
    if ctx.principal is None:
        return _login_redirect(request)
    q, lang, now = request.query_params, ctx.lang, utcnow()
    indicator = q.get("indicator") if q.get("indicator") in INDICATORS else "open_cases"
    algorithm = q.get("algorithm") if q.get("algorithm") in ctx.registry.ids() else None
    body_type = q.get("agency_type") if q.get("agency_type") in i18n.body_types() else "police"
    start, end = _window(request, now)
    start_dt, end_dt = datetime.combine(start, dtime(0), KZ_TZ), datetime.combine(end, dtime(0), KZ_TZ)
    figures = _cached_figures(ctx.engine, (indicator, algorithm, start, end, body_type), lambda: _figures(
        ctx, indicator, now=now, algorithm=algorithm, start=start_dt, end=end_dt, body_type=body_type))
    access = access_regions(ctx.principal, ctx.directory)
    scaled = {r: scale_value(figures.get(r), r in access) for r in ctx.directory.regions}
    suppressed = {r for r in ctx.directory.regions
                  if figures.get(r) is not None and disclose(figures.get(r), r in access) == "<5"}
    values = [v for r, v in scaled.items() if v is not None and r not in suppressed]
    edges = cartogram.bins(values)
    is_count = indicator != "median_reaction"
    legend = []
    for i, (lo, hi) in enumerate(edges):
        colour, text = cartogram.PALETTE[i if len(edges) > 1 else len(cartogram.PALETTE) - 1]
        label = _range_label(lo, hi, is_count, i == 0)
        legend.append({"colour": colour, "text": text, "label": label})
    unit = "" if is_count else f" {i18n.t('map.hours', lang)}"
    indicator_title = i18n.t(f"ind.{indicator}", lang)
    tiles = []
    for code, (col, row) in cartogram.TILES.items():
        if code not in ctx.directory.regions:
            continue
        figure = figures.get(code)
        shown = disclose(figure, code in access)
        if code in suppressed:
            colour, text = cartogram.SUPPRESSED
        elif scaled[code] is None:
            colour, text = cartogram.NO_DATA
        else:
            i = cartogram.bin_index(scaled[code], edges) if len(edges) > 1 else len(cartogram.PALETTE) - 1
            colour, text = cartogram.PALETTE[i]
        display = shown if shown is not None else ("0" if is_count else "—")
        n_text = ""
        if not is_count and figure is not None:
            n_text = f"{'<5' if code in suppressed else figure.n} {i18n.t('map.tasks_n', lang)}"
        name = ctx.region_name(code)
        short = cartogram.SHORT.get(code, {}).get(lang, code)
        tiles.append({"code": code, "col": col + 1, "row": row + 1, "name": name, "short": short, "value": display + (unit if shown else ""),
                      "n": n_text, "colour": colour, "text": text, "suppressed": code in suppressed,
                      # starts with the tile's visible text (short name, figure, code), then says it in full
                      "label": f"{short} {display}{unit if shown else ''} {code} — {name}: {indicator_title}"
                               + (f" ({n_text})" if n_text else ""),
                      "href": "/cases?" + urlencode({"region": code, **({"algorithm": algorithm} if algorithm else {})})})
    tiles.sort(key=lambda t: (t["row"], t["col"]))
    view = {"indicator": indicator, "indicator_title": indicator_title, "indicators": list(INDICATORS),
            "algorithm": algorithm or "", "agency_type": body_type, "from": start.isoformat(), "to": end.isoformat(),
            "algorithms": [(d_id, i18n.pick(ctx.registry.latest(d_id).spec.title, lang)) for d_id in ctx.registry.ids()],
            "agency_types": [(bt, i18n.body_type_title(bt, lang)) for bt in i18n.body_types()],
            "tiles": tiles, "legend": legend, "has_suppressed": bool(suppressed),
            "suppressed_colour": cartogram.SUPPRESSED[0], "no_data_colour": cartogram.NO_DATA[0],
            "columns": cartogram.COLUMNS, "rows": cartogram.ROWS, "is_count": is_count,
            "needs_window": indicator in WINDOW_INDICATORS,
            "needs_type": indicator == "median_reaction"}
    return render("map.html", ctx.page(**view))


MAP_CACHE_ENV = "QORGAU_MAP_CACHE_SECONDS"
_MAP_CACHE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()
_MAP_LOCK = threading.Lock()


def _figures(ctx: Ctx, indicator: str, **kw):
    from states.indicators import region_figures
    with ctx.engine.reader() as conn:
        return region_figures(conn, ctx.registry, ctx.directory, indicator, **kw)


def _cached_figures(engine, key: tuple, compute):
    """The map's aggregates, kept for QORGAU_MAP_CACHE_SECONDS (default 30; 0: always fresh). They
    are the same for every reader (small counts are hidden per reader afterwards), and a risk map a
    few seconds old is as good as a fresh one, while a scan of every case is not free."""
    import os
    import time as _time
    ttl = float(os.environ.get(MAP_CACHE_ENV, "30") or 0)
    if ttl <= 0:
        return compute()
    with _MAP_LOCK:
        cache = _MAP_CACHE.setdefault(engine, {})
        hit = cache.get(key)
    if hit is not None and _time.monotonic() - hit[0] < ttl:
        return hit[1]
    figures = compute()
    with _MAP_LOCK:
        if len(cache) > 256:
            cache.clear()
        cache[key] = (_time.monotonic(), figures)
    return figures


def _range_label(lo: float, hi: float, is_count: bool, first: bool) -> str:
    if is_count:
        a, b = int(lo) + (0 if first else 1), int(hi)
        return f"{a}" if a >= b else f"{a}–{b}"
    return f"{lo:.1f}–{hi:.1f}"


# ============================================================================================ audit

_VERIFY_LOCK = threading.Lock()
# The last verification run per engine (in this process; `qorgau verify --all` prints its own).
_VERIFICATIONS: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _verification_state(engine) -> dict:
    with _VERIFY_LOCK:
        return _VERIFICATIONS.setdefault(engine, {"running": False, "last": None})


def _run_verification(engine) -> None:
    from states.verify import verify_all
    state = _verification_state(engine)
    started = utcnow()
    try:
        with engine.reader() as conn:
            report = verify_all(conn, engine.registry)
        result = {"at": started, "finished": utcnow(), "ok": report.ok, "cases": report.cases,
                  "events": report.events, "failures": [{"ref": f.ref, "first": f.first_divergence}
                                                        for f in report.failures[:20]],
                  "failure_count": len(report.failures), "anchor_problems": report.anchor_problems[:5]}
    except Exception as exc:  # shown on the page; the auditor may run it again
        log.exception("verification failed")
        result = {"at": started, "finished": utcnow(), "ok": False, "cases": 0, "events": 0, "failures": [],
                  "failure_count": 0, "anchor_problems": [f"verification could not run: {exc}"]}
    state["last"] = result
    state["running"] = False


@router.post("/audit/verify")
async def verify_now(request: Request) -> Response:
    """Verify every history now (in the background); the audit page shows the result."""
    ctx, form, refused = await _post(request)
    if refused is not None:
        return refused
    if ctx.principal.role not in AUDIT:
        return _forbidden(ctx)
    state = _verification_state(ctx.engine)
    with _VERIFY_LOCK:
        if not state["running"]:
            state["running"] = True
            threading.Thread(target=_run_verification, args=(ctx.engine,), name="qorgau-web-verify",
                             daemon=True).start()
    return RedirectResponse("/audit#verification", status_code=303)


def _compliance_rows(ctx: Ctx, request: Request):
    from states.compliance import compliance_summary
    now = utcnow()
    today = now.astimezone(KZ_TZ).date()
    q = request.query_params
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    start, end = _period_params(request, quarter_start, today + timedelta(days=1))
    region = q.get("region") or None
    if region is not None and region not in ctx.directory.regions:
        region = None
    region = compliance_region(ctx.principal, region)
    with ctx.engine.reader() as conn:
        summary = compliance_summary(conn, ctx.directory, region=region,
                                     start=datetime.combine(start, dtime(0), KZ_TZ),
                                     end=datetime.combine(end, dtime(0), KZ_TZ), now=now, by="body")
    return summary, start, end, region


@router.get("/audit/compliance.csv")
def compliance_csv(request: Request) -> Response:
    """The compliance report as CSV: `part=tasks` (default), `reported_late` or `versions`."""
    from states.compliance import PARTS, export
    ctx = _context(request)
    if ctx.principal is None:
        return _login_redirect(request)
    if ctx.principal.role not in COMPLIANCE:
        return _forbidden(ctx)
    try:
        summary, start, end, region = _compliance_rows(ctx, request)
    except RuleViolation as exc:
        return _forbidden(ctx, exc.message)
    part = request.query_params.get("part") or "tasks"
    if part not in PARTS:
        part = "tasks"
    suffix = "" if part == "tasks" else f"-{part.replace('_', '-')}"
    name = f"compliance{suffix}-{region or 'KZ'}-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(export(summary, part, "csv"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
                             "X-Content-Type-Options": "nosniff"})


def _algorithm_title(ctx: Ctx, algorithm: str) -> str:
    if algorithm not in ctx.registry.ids():  # no longer loaded: its id
        return algorithm
    return i18n.pick(ctx.registry.latest(algorithm).spec.title, ctx.lang)


def _late_view(ctx: Ctx, rows) -> dict[str, Any]:
    """Reported late (violence-report version 2) per region and per reporting body, for the audit page."""
    from states.compliance import region_totals

    def percent(late: int, n: int) -> str:
        return f"{100 * late / n:.0f}" if n else "—"

    regions = [{"region": ctx.region_name(t.region), "code": t.region, "launched": t.launched,
                "late": t.reported_late, "share": percent(t.reported_late, t.launched)} for t in region_totals(rows)]
    bodies = [{"region": ctx.region_name(r.region), "code": r.region, "body": ctx.body_name(r.body_id),
               "launched": r.launched, "late": r.reported_late, "share": percent(r.reported_late, r.launched)}
              for r in rows]
    return {"late_regions": regions, "late_bodies": bodies}


def _current_quarter(now: datetime, catalogue=None) -> str:
    """This quarter, or the plan's last one once the plan has ended (a page of nobody otherwise)."""
    local = now.astimezone(KZ_TZ).date()
    if catalogue is not None and local > catalogue.span.end:
        local = catalogue.span.end
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def _plan_status(ctx: Ctx, period: str) -> dict[str, Any]:
    """The plan's measures and, per executor, the state of its report for `period`."""
    from states.reporting import codes_of, executor_bodies, reporting_executors
    catalogue = ctx.engine.svc.catalogue
    lang = ctx.lang
    # A quarter is reported by the executors of its plan (successors of reorganised ones, rule R2).
    executors = (reporting_executors(period, catalogue, ctx.directory) if "-Q" in period
                 else executor_bodies(catalogue, ctx.directory))
    keys = {f"plan-reporting|period={period}|executor={b.id}": b for b in executors}
    states: dict[str, Any] = {}
    with ctx.engine.reader() as conn:
        for row in conn.execute(select(T.cases.c.unique_key, T.cases.c.ref, T.cases.c.state, T.cases.c.algorithm,
                                       T.cases.c.algorithm_version, T.cases.c.overrides)
                                .where(T.cases.c.unique_key.in_(list(keys)))):
            states[keys[row.unique_key].id] = row
    by_body = {}
    for b in executors:
        row = states.get(b.id)
        if row is not None:
            d = ctx.registry.variant(row.algorithm, row.algorithm_version, row.overrides)
            state = _state_title(ctx, d, row.state)
            kind = "accepted" if row.state == "accepted" else "open"
        else:
            state, kind = i18n.t("audit.not_launched", lang), "missing"
        by_body[b.id] = {"id": b.id, "name": b.name_in(lang), "state": state, "kind": kind,
                         "ref": row.ref if row is not None else None,
                         "codes": codes_of(b, ctx.directory)}
    measures = []
    for m in catalogue.measures:
        bodies = [v for v in by_body.values() if v["codes"] & set(m.executors)]
        summary = {"accepted": 0, "open": 0, "missing": 0}
        for v in bodies:
            summary[v["kind"]] += 1
        measures.append({"number": m.number, "title": m.short_title(110), "codes": ", ".join(m.executors),
                         "bodies": bodies if len(bodies) <= 4 else [], "summary": summary, "count": len(bodies)})
    counts = {"accepted": 0, "open": 0, "missing": 0}
    for v in by_body.values():
        counts[v["kind"]] += 1
    return {"period": period, "counts": counts, "executors": sorted(by_body.values(), key=lambda v: (v["kind"] != "missing", v["name"])),
            "measures": measures}


@router.get("/audit")
def audit_page(request: Request) -> Response:
    from states.anchor import anchors
    ctx = _context(request)
    if ctx.principal is None:
        return _login_redirect(request)
    p, lang = ctx.principal, ctx.lang
    if p.role not in COMPLIANCE:
        return _forbidden(ctx)
    try:
        summary, start, end, region = _compliance_rows(ctx, request)
    except RuleViolation as exc:
        return _forbidden(ctx, exc.message)
    table = []
    for r in summary.rows:
        judged = r.done_on_time + r.done_late + r.still_overdue
        kind = r.task_kind
        title = kind
        for d in ctx.registry:
            if kind in d.spec.task_kinds or kind.split(":", 1)[0] + ":*" in d.spec.task_kinds:
                title = i18n.pick(d.task_title(kind), lang)
                break
        if kind == "ensure_completion":
            title = i18n.t("task.ensure_completion", lang)
        # cancelled tasks are their own column and bar: never in "on time", never in the on-time share
        table.append({"body": ctx.body_name(r.body_id), "kind": title, "version": r.algorithm_version,
                      "opened": r.opened, "on_time": r.done_on_time, "late": r.done_late,
                      "overdue": r.still_overdue, "cancelled": r.cancelled,
                      "cancelled_past_due": r.cancelled_past_due,
                      "rate": f"{100 * r.done_on_time / judged:.0f}" if judged else "—",
                      "median": "—" if r.median_delay_h is None else f"{r.median_delay_h:.1f}",
                      "judged": judged})
    biggest = max((t["judged"] + t["cancelled"] for t in table), default=0) or 1
    for t in table:
        t["w_on_time"] = round(300 * t["on_time"] / biggest, 1)
        t["w_late"] = round(300 * t["late"] / biggest, 1)
        t["w_overdue"] = round(300 * t["overdue"] / biggest, 1)
        t["w_cancelled"] = round(300 * t["cancelled"] / biggest, 1)
    view = {"rows": table, "from": start.isoformat(), "to": end.isoformat(), "region": region or "",
            "versions": [{"title": _algorithm_title(ctx, v.algorithm), "version": v.algorithm_version,
                          "version_label": i18n.t("audit.version_n", lang).format(n=v.algorithm_version),
                          "cases": v.cases, "tasks": v.tasks} for v in summary.versions],
            "spans_versions": summary.spans_versions,
            **_late_view(ctx, summary.late),
            "regions": [(c, ctx.region_name(c)) for c in ctx.directory.regions],
            "region_fixed": p.role == "coordinator" and p.region is not None,
            "csv_url": "/audit/compliance.csv?" + urlencode({"from": start.isoformat(), "to": end.isoformat(),
                                                             **({"region": region} if region else {})}),
            "late_csv_url": "/audit/compliance.csv?" + urlencode({"from": start.isoformat(), "to": end.isoformat(),
                                                                  **({"region": region} if region else {}),
                                                                  "part": "reported_late"}),
            "auditor": p.role in AUDIT}
    if p.role in AUDIT:
        with ctx.engine.reader() as conn:
            all_anchors = anchors(conn)
        view["anchor"] = all_anchors[-1] if all_anchors else None
        state = _verification_state(ctx.engine)
        view["last_run"], view["running"] = state["last"], state["running"]
        period = request.query_params.get("period") or _current_quarter(utcnow(), ctx.engine.svc.catalogue)
        try:
            from states.periods import period_bounds
            period_bounds(period)
        except ValueError:
            period = _current_quarter(utcnow(), ctx.engine.svc.catalogue)
        view["plan"] = _plan_status(ctx, period)
    return render("audit.html", ctx.page(**view))
