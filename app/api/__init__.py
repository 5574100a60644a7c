"""The Qorgau HTTP API (FastAPI), under `/api/v1`.

    from app.api import create_app
    app = create_app()            # engine from states.store.open_engine() (QORGAU_DATABASE_URL)

Routers are modular (app/api/routes/): the web pages mount their own HTML routes on the same app.
Every error has the shape `{"code", "message", "field"?}` (app/api/errors.py); who may do what is
in app/api/access.py. The OpenAPI document is at /api/v1/openapi.json, the docs at /api/v1/docs
(Swagger UI) and /api/v1/redoc, from Qorgau's own files (app/api/docs.py).
"""
from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.responses import JSONResponse

from app.oidc import OidcSettings, Provider
from app.store import store_for
from states.handling import Handler

from . import docs, errors, transport
from .routes import audit, cases, inbox, links, meta, migrations, reports, tokens

PREFIX = "/api/v1"
THREADS_ENV = "QORGAU_API_THREADS"

DESCRIPTION = """
Interagency child-protection response algorithms (Decree No. 748) as versioned state machines.

**Roles** (each token is bound to one body of the directory and one role):
coordinators launch cases and read those of their region; agencies read the cases bound to their
body (or a body below it), work their inbox and fire triggers; auditors read everything (history,
replay, verification, compliance, access log) and write nothing; admins manage tokens. Admins and
the ministry's coordinators move running cases to a new version of their algorithm (migrations:
plan first, then apply), which auditors read.

**Errors** carry the spec's codes: `unknown_case` 404, `unknown_trigger` 422, `invalid_transition` 409,
`conflict` 409, `forbidden` 403, `invalid_data` 422 (with `field`), `guard_failed` 409; a missing or
revoked token is `unauthenticated` 401.

**Times** are ISO 8601; fields ending in `_local` are Kazakhstan time (UTC+05:00).
"""


class _RejectNul:
    """A NUL character in the path or query is never meaningful (and PostgreSQL refuses it)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and ("\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"")
                                        or b"\x00" in scope.get("query_string", b"")):
            response = JSONResponse({"code": "invalid_data", "message": "the request contains a NUL character",
                                     "field": "path"}, status_code=422)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _ArrivalOrder:
    """Requests are answered in about the order they arrived, not in the order of their connections.

    The event loop reads every socket with a request waiting, then runs those requests one after
    another, in the order the kernel lists the sockets (by connection, not by arrival), before it
    looks at the sockets again. Under load a request that arrives just after that look waits for the
    whole round, and is then answered last of the next round too: the same few connections saw twice
    the latency of the others (benchmarks/api.py: p99 twice the median). Each request first yields
    to the loop once: the loop looks at the sockets again after the round's first steps (microseconds
    each), so a request that just missed a round queues right behind it, not behind the next one.

    Protects benchmarks/api.py's clients' p99 spread (docs/performance.md, "HTTP API": 32.0 - 39.2 ms
    with it, 27 - 52 ms without) at 3 - 5 % of throughput; tests/test_arrival_order.py fails when
    it stops mattering."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            await asyncio.sleep(0)
        await self.app(scope, receive, send)


def _query_params_never_null(app: FastAPI) -> None:
    """In the OpenAPI document, an optional query parameter is `string` (or boolean...), not
    `string or null`: a query string cannot carry a null, leaving the parameter out means no filter."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            doc = build()
            for ops in doc.get("paths", {}).values():
                for op in ops.values():
                    for param in op.get("parameters", []):
                        schema = param.get("schema", {})
                        options = [o for o in schema.get("anyOf", []) if o.get("type") != "null"]
                        if param.get("in") == "query" and len(options) == 1 and len(schema["anyOf"]) == 2:
                            rest = {k: v for k, v in schema.items() if k != "anyOf"}
                            param["schema"] = {**options[0], **rest}
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi


def _default_threads(engine) -> int:
    """Worker threads for the store's reads and the synchronous handlers: QORGAU_API_THREADS, else 4
    on SQLite (writes and one-statement reads run in the event loop there, see app/store.py; the rest
    is CPU-bound, and more threads only queue on the GIL) and 8 on PostgreSQL (all store work waits
    on the network there; fewer than the 15 pooled connections)."""
    setting = os.environ.get(THREADS_ENV)
    if setting:
        return max(1, int(setting))
    return 4 if engine.db.dialect.name == "sqlite" else 8


def _lifespan(threads: int):
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import anyio.to_thread
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        # The first fire would otherwise load the holiday tables while every request waits (SQLite
        # writes run in the event loop, app/store.py).
        app.state.engine.svc.calendar.prepare()
        try:
            yield
        finally:
            app.state.store.close()
    return lifespan


def create_app(engine=None, *, base_url: str | None = None, case_links: bool = True,
               threads: int | None = None, oidc: "OidcSettings | None | str" = "from_env") -> FastAPI:
    """The API over `engine` (default: `open_engine()` on the configured store). `base_url` is
    where case links point (default QORGAU_BASE_URL). `case_links` serves `/cases/{ref}` as a
    redirect to the API until the web pages take that path. `threads`: see `_default_threads`.
    `oidc`: the identity provider (default: the QORGAU_OIDC_* settings; None: tokens only)."""
    if engine is None:
        from states.store import open_engine
        engine = open_engine()
    if base_url is None:
        from notifications.context import default_base_url
        base_url = default_base_url()
    app = FastAPI(title="Qorgau API", version="1", description=DESCRIPTION, openapi_url=f"{PREFIX}/openapi.json",
                  docs_url=None, redoc_url=None,
                  lifespan=_lifespan(threads if threads is not None else _default_threads(engine)))
    app.state.engine = engine
    app.state.commands = Handler(engine)
    app.state.base_url = base_url
    app.state.store = store_for(engine)  # the one way to the store, API and pages alike
    settings = OidcSettings.from_env() if oidc == "from_env" else oidc
    app.state.oidc = Provider(settings) if settings is not None else None
    errors.install(app)
    app.add_middleware(_RejectNul)
    app.add_middleware(_ArrivalOrder)  # added last: the outermost of the app's own
    for module in (meta, cases, inbox, audit, tokens, migrations, reports):
        app.include_router(module.router, prefix=PREFIX)
    if case_links:
        app.include_router(links.router)
    docs.install(app, PREFIX)
    _query_params_never_null(app)
    transport.install(app)  # outermost: headers and the body limit on every exchange, errors included
    return app
