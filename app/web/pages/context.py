"""What every page shares: who is signed in (`SignedIn`, `Visitor`), the page's language, the store
calls, a checked form (`PostedForm`), and the error page.

`SignedIn` is a FastAPI dependency: the signed-in context, or `SignInRequired`, which the handler
installed by `app.web.install` answers with a 303 to /login?next=<this page>. `PostedForm` is the
body of a signed-in POST whose CSRF token matches the session's, or `FormRefused` (403).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Callable
from urllib.parse import parse_qs, quote, urlencode

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from app.api.transport import FORM_BODY_LIMIT
from states.access import AUDIT, COMPLIANCE, INBOX, TOKENS, Principal, check_case
from states.clock import utcnow
from states.errors import RuleViolation
from states.queries import load_case_row
from states.web_sessions import WebSession, checked, end_session, find_session

from .. import i18n, session as sessions
from ..render import render

MAX_FORM_BYTES = FORM_BODY_LIMIT  # the transport refuses bigger bodies (413) before this reads one
PAGE_SIZE = 50


def case_row(engine, ref: str):
    """The case's row, or None if there is no such case (a read for `Ctx.read`)."""
    with engine.reader() as conn:
        try:
            return load_case_row(conn, ref)
        except RuleViolation:
            return None


# ------------------------------------------------------------------------------------ context

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

    async def read(self, fn: Callable[..., Any], *args) -> Any:
        """`fn(*args)`, reads only (fn opens `engine.reader()` itself), off the event loop (app/store.py)."""
        return await self.request.app.state.store.read(fn, *args)

    async def write(self, fn: Callable[..., Any], *args) -> Any:
        """`fn(*args)`, one write transaction, e.g. `request.app.state.commands.handle` with a command."""
        return await self.request.app.state.store.write(fn, *args)

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
            if p.role in AUDIT or (p.role == "coordinator" and p.region is None):  # who reads the migrations
                nav.append(("/migrations", "nav.migrations"))
            if p.role in TOKENS:  # who manages persons
                nav.append(("/persons", "nav.persons"))
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

    def state_title(self, d, state: str | None) -> str:
        if not state:
            return ""
        spec = d.spec.states.get(state)
        return i18n.pick(spec.title, self.lang) if spec else state

    def definition(self, row):
        """The definition the case runs on (its version, with the case's overrides)."""
        return self.registry.variant(row.algorithm, row.algorithm_version, row.overrides)

    def case_refused(self, row) -> Response | None:
        """The page refusing a case (`row` None: there is none; else not in the caller's scope), or None."""
        if row is None:
            return self.not_found()
        try:
            check_case(self.principal, self.directory, row.ref, row.region, row.bindings)
        except RuleViolation as exc:
            return self.forbidden(exc.message)
        return None

    def error(self, status: int, message: str, detail: str | None = None) -> Response:
        return render("error.html", self.page(status=status, message=message, detail=detail), status=status)

    def forbidden(self, detail: str | None = None) -> Response:
        return self.error(403, i18n.t("error.forbidden", self.lang), detail)

    def not_found(self) -> Response:
        return self.error(404, i18n.t("error.not_found", self.lang))


def language(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in i18n.LANGUAGES:
        return asked
    cookie = request.cookies.get(sessions.LANG_COOKIE)
    if cookie in i18n.LANGUAGES:
        return cookie
    return i18n.negotiate(request.headers.get("accept-language"))


async def context(request: Request) -> Ctx:
    """The request's language and, if its cookie names a live session in the store, who is signed in."""
    engine = request.app.state.engine
    session = principal = None
    session_id = sessions.session_id(request.cookies.get(sessions.SESSION_COOKIE))
    if session_id is not None:
        # one statement, on every page: the store's fast path, as the API's token lookup
        found = await request.app.state.store.statements(find_session, session_id)
        if found is not None and found.person_id is not None and not await _provider_still_allows(request, session_id,
                                                                                                   found):
            found = None
        body = engine.svc.directory.find(found.body_id) if found is not None else None
        if body is not None:
            session = found
            principal = Principal(token_id=found.token_id, prefix=found.prefix, role=found.role, body=body,
                                  person_id=found.person_id)
    return Ctx(request, engine, language(request), session, principal)


async def _provider_still_allows(request: Request, session_id: str, found: WebSession) -> bool:
    """Every few minutes (QORGAU_OIDC_RECHECK_SECONDS) a person's session asks the identity provider
    again (a refresh grant); a person disabled there loses the session at once."""
    provider = request.app.state.oidc
    now = utcnow()
    if provider is None or found.check_at is None or found.check_at > now:
        return True
    store = request.app.state.store
    allowed, refresh_token = await run_in_threadpool(provider.still_allowed, found.refresh_token)
    if allowed:
        await store.write(checked, request.app.state.engine.db, session_id,
                          now + timedelta(seconds=provider.settings.recheck_seconds), refresh_token)
        return True
    await store.write(end_session, request.app.state.engine.db, session_id)
    return False


class SignInRequired(Exception):
    """Raised by `SignedIn` for a visitor without a live session: answered with the sign-in page."""

    def __init__(self, here: str):
        super().__init__(here)
        self.here = here


async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
    return RedirectResponse("/login?" + urlencode({"next": exc.here}), status_code=303)


async def signed_in(ctx: Annotated[Ctx, Depends(context)]) -> Ctx:
    if ctx.principal is None:
        url = ctx.request.url
        raise SignInRequired(url.path + (f"?{url.query}" if url.query else ""))
    return ctx


Visitor = Annotated[Ctx, Depends(context)]      # anyone, signed in or not
SignedIn = Annotated[Ctx, Depends(signed_in)]   # a signed-in user, else the sign-in page


# ------------------------------------------------------------------------------------ forms

Form = dict[str, list[str]]


async def read_form(request: Request) -> Form | None:
    """The urlencoded body, or None if it is too big."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def one(form: Form, name: str) -> str:
    values = form.get(name) or [""]
    return values[-1]


def cross_site(request: Request) -> bool:
    return request.headers.get("sec-fetch-site") == "cross-site"


class FormRefused(Exception):
    """A signed-in POST without the session's CSRF token (or from another site): a 403 page."""

    def __init__(self, ctx: Ctx):
        super().__init__("csrf")
        self.ctx = ctx


async def refuse_form(request: Request, exc: FormRefused) -> Response:
    return exc.ctx.error(403, i18n.t("error.csrf", exc.ctx.lang))


async def checked_form(ctx: SignedIn) -> Form:
    form = await read_form(ctx.request)
    if form is None or cross_site(ctx.request) or not sessions.csrf_ok(ctx.session.csrf, one(form, "csrf")):
        raise FormRefused(ctx)
    return form


PostedForm = Annotated[Form, Depends(checked_form)]  # after SignedIn: a signed-in POST's checked body


def safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
