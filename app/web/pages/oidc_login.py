"""Signing a person in through the deployment's identity provider (OpenID Connect), when one is
configured (app/oidc.py); token sign-in stays beside it.

GET /login/oidc sends the browser to the provider with a fresh state, nonce and PKCE verifier, which
it keeps in a short-lived signed cookie (SameSite=Lax: the provider's redirect back is a top-level
navigation from another site). GET /login/oidc/callback checks the state, exchanges the code, checks
the ID token, maps the claims to a body and role (`SignInPerson`: nothing is granted by default),
and starts the person's session. The session cookie is SameSite=Strict, which a browser withholds
on a redirect chain that began at another site: the callback answers with a page that moves on by
itself, from our own site, so the next page already sees the session.
"""
from __future__ import annotations

import hmac
from datetime import timedelta
from functools import partial

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from app.oidc import OidcError, PendingSignIn, subject_of
from states.access import SYSTEM
from states.commands import SignInPerson
from states.errors import RuleViolation
from states.persons import account_hash
from states.web_sessions import start_person_session

from .. import i18n, session as sessions
from ..render import render
from .context import Visitor, safe_next

router = APIRouter(include_in_schema=False)
PENDING_COOKIE = "qorgau_oidc"
PENDING_PATH = "/login/oidc"
PENDING_SECONDS = 600  # a sign-in at the provider that takes longer starts again


def callback_url(ctx) -> str:
    return f"{str(ctx.request.base_url).rstrip('/')}{PENDING_PATH}/callback"


@router.get(PENDING_PATH)
async def begin(ctx: Visitor) -> Response:
    provider = ctx.request.app.state.oidc
    if provider is None:
        return ctx.not_found()
    try:
        url, pending = await run_in_threadpool(provider.begin, callback_url(ctx),
                                               safe_next(ctx.request.query_params.get("next")))
    except OidcError as exc:
        return ctx.error(502, i18n.t("oidc.unavailable", ctx.lang), exc.reason)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(PENDING_COOKIE, sessions.sign(pending.__dict__), max_age=PENDING_SECONDS, httponly=True,
                        samesite="lax", secure=sessions.secure_cookies(ctx.request.url.scheme), path=PENDING_PATH)
    return response


def _pending(value: str | None) -> PendingSignIn | None:
    data = sessions.unsign(value)
    if not data or set(data) != {"state", "nonce", "verifier", "next"} or not all(isinstance(v, str) for v in data.values()):
        return None
    return PendingSignIn(**data)


@router.get(PENDING_PATH + "/callback")
async def finish(ctx: Visitor) -> Response:
    request, provider = ctx.request, ctx.request.app.state.oidc
    if provider is None:
        return ctx.not_found()
    query = request.query_params
    pending = _pending(request.cookies.get(PENDING_COOKIE))
    state, code = query.get("state") or "", query.get("code") or ""
    if pending is None or not hmac.compare_digest(pending.state.encode(), state.encode()):
        return _refused(ctx, 400, i18n.t("oidc.stale", ctx.lang))
    if query.get("error") or not code:
        return _refused(ctx, 401, i18n.t("oidc.denied", ctx.lang), query.get("error"))
    try:
        tokens = await run_in_threadpool(provider.finish, code, callback_url(ctx), pending)
    except OidcError as exc:
        return _refused(ctx, 401, i18n.t("oidc.refused", ctx.lang), exc.reason)
    settings = provider.settings
    granted = settings.mapping.grant(tokens.claims, ctx.directory) or (None, None)
    account = settings.mapping.account(tokens.claims)
    command = SignInPerson(subject_of(settings, tokens.claims), account_hash(account) if account else None,
                           granted[0], granted[1], settings.mapping.name(tokens.claims))
    try:
        person = await ctx.write(request.app.state.commands.handle, command, SYSTEM)
    except RuleViolation as exc:
        return _refused(ctx, 403, i18n.t("oidc.no_access", ctx.lang), exc.message)
    session_id, _ = await ctx.write(partial(start_person_session, id_token=tokens.id_token,
                                            refresh_token=tokens.refresh_token,
                                            check_after=timedelta(seconds=settings.recheck_seconds)),
                                    ctx.engine.db, person.id, timedelta(seconds=sessions.MAX_AGE))
    response = render("continue.html", ctx.page(next=safe_next(pending.next)),
                      headers={"Refresh": f"0; url={safe_next(pending.next)}"})
    response.set_cookie(sessions.SESSION_COOKIE, sessions.cookie_value(session_id), max_age=sessions.MAX_AGE,
                        httponly=True, samesite="strict", secure=sessions.secure_cookies(request.url.scheme), path="/")
    response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH)
    return response


def _refused(ctx, status: int, message: str, detail: str | None = None) -> Response:
    response = ctx.error(status, message, detail)
    response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH)
    return response
