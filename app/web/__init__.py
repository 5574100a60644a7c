"""Qorgau's web pages for coordinators, agencies and auditors, served by the API's own FastAPI app.

    from app.web import create_site
    app = create_site(engine)     # the API under /api/v1 and the pages under /

Or, on an app made by `app.api.create_app(engine, case_links=False)`: `app.web.install(app)`.
Every script, style and font is served from `/static` (vendored copies listed in
`static/vendor/README.md`); no page loads anything from elsewhere.
"""
from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .render import STATIC_DIR

WEB_PATHS_TAKEN_FROM_API = ("/cases/{ref}",)


def install(app: FastAPI) -> FastAPI:
    """Add the pages and /static to `app` (which already serves the API over `app.state.engine`).
    The API's redirect for `/cases/{ref}` (notification links) gives way to the case page."""
    from .pages import EXCEPTION_PAGES, router
    app.router.routes[:] = [r for r in app.router.routes
                            if getattr(r, "path", None) not in WEB_PATHS_TAKEN_FROM_API]
    # The routes are added as they are, not through include_router: the API's app-wide
    # dependencies (e.g. refusing unknown query parameters) are the API's, and the pages read
    # their own query strings (?lang=, ?next=, filters).
    app.router.routes.extend(router.routes)
    for exc_type, page in EXCEPTION_PAGES.items():  # e.g. SignedIn's redirect to the sign-in page
        app.add_exception_handler(exc_type, page)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app


def create_site(engine=None, *, base_url: str | None = None, oidc="from_env") -> FastAPI:
    """The API and the pages on one app, over `engine` (default: the configured store); `oidc`: the
    identity provider's settings (default: QORGAU_OIDC_*; None: token sign-in only)."""
    from app.api import create_app
    return install(create_app(engine, base_url=base_url, case_links=False, oidc=oidc))
