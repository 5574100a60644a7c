"""Signing in (a token for a session cookie), signing out, the home redirect and the language switch."""
from __future__ import annotations

import secrets
from datetime import timedelta

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from app.api.auth import active_token
from app.oidc import OidcError
from states.web_sessions import end_session, start_session

from .. import i18n, session as sessions
from ..render import render
from .context import Visitor, cross_site, one, read_form, safe_next

router = APIRouter(include_in_schema=False)
HOMES = {"agency": "/inbox", "coordinator": "/dashboard", "auditor": "/audit"}


@router.get("/")
async def home(ctx: Visitor) -> Response:
    if ctx.principal is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(HOMES.get(ctx.principal.role, "/cases"), status_code=303)


@router.get("/login")
async def login_page(ctx: Visitor) -> Response:
    token = secrets.token_urlsafe(24)
    response = render("login.html", ctx.page(login_csrf=token, next=safe_next(ctx.request.query_params.get("next")),
                                             failed=False, oidc=ctx.request.app.state.oidc is not None))
    _set_login_csrf(ctx.request, response, token)
    return response


def _set_login_csrf(request: Request, response: Response, token: str) -> None:
    response.set_cookie(sessions.LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=sessions.secure_cookies(request.url.scheme), path="/login")


@router.post("/login")
async def login(ctx: Visitor) -> Response:
    request = ctx.request
    form = await read_form(request) or {}
    if cross_site(request) or not sessions.csrf_ok(request.cookies.get(sessions.LOGIN_CSRF_COOKIE), one(form, "csrf")):
        return ctx.error(403, i18n.t("error.csrf", ctx.lang))
    token = await active_token(request, one(form, "token").strip())
    body = ctx.directory.find(token.body_id) if token is not None else None
    if token is None or body is None:
        fresh = secrets.token_urlsafe(24)
        response = render("login.html", ctx.page(login_csrf=fresh, next=safe_next(one(form, "next")), failed=True,
                                                 oidc=ctx.request.app.state.oidc is not None), status=401)
        _set_login_csrf(request, response, fresh)
        return response
    session_id, _ = await ctx.write(start_session, ctx.engine.db, token.id, timedelta(seconds=sessions.MAX_AGE))
    response = RedirectResponse(safe_next(one(form, "next")), status_code=303)
    response.set_cookie(sessions.SESSION_COOKIE, sessions.cookie_value(session_id), max_age=sessions.MAX_AGE,
                        httponly=True, samesite="strict", secure=sessions.secure_cookies(request.url.scheme), path="/")
    response.delete_cookie(sessions.LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(ctx: Visitor) -> Response:
    """Signed out whatever the cookie; a live session ends in the store only with its CSRF token."""
    request = ctx.request
    if ctx.principal is not None:
        form = await read_form(request)
        if form is None or cross_site(request) or not sessions.csrf_ok(ctx.session.csrf, one(form, "csrf")):
            return ctx.error(403, i18n.t("error.csrf", ctx.lang))
        # the session ends in the store: a copied cookie is worth nothing now
        await ctx.write(end_session, ctx.engine.db, sessions.session_id(request.cookies.get(sessions.SESSION_COOKIE)))
    response = _provider_logout(ctx) or RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.SESSION_COOKIE, path="/")
    return response


def _provider_logout(ctx: Visitor) -> Response | None:
    """A person signed in at the identity provider: end the provider's session too, where it offers
    that. The form may not redirect to another site (CSP form-action 'self'), so a page moves on."""
    provider = ctx.request.app.state.oidc
    if provider is None or ctx.session is None or ctx.session.person_id is None:
        return None
    try:
        url = provider.end_session_url(ctx.session.id_token, f"{str(ctx.request.base_url).rstrip('/')}/login")
    except OidcError:
        return None
    if url is None:
        return None
    return render("signed_out.html", {**ctx.page(provider_url=url), "principal": None},
                  headers={"Refresh": f"0; url={url}"})


@router.get("/lang/{code}")
def language(request: Request, code: str) -> Response:
    """Switch the pages' language (a preference cookie; nothing else changes)."""
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie(sessions.LANG_COOKIE, code, max_age=365 * 86400, samesite="lax", httponly=True,
                            secure=sessions.secure_cookies(request.url.scheme), path="/")
    return response
