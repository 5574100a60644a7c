"""What every HTTP exchange gets, whatever answers it (API, pages, static files, redirects, errors,
even a crash): the security headers, `Cache-Control: no-store` on anything that may carry case or
personal data, and a size limit on request bodies answered with 413 before anything is parsed.

`install(app)` wraps the app's whole middleware stack, outside Starlette's own error middleware,
so a 500 carries the headers too."""
from __future__ import annotations

import json

# Everything is served by Qorgau itself; Mermaid and Swagger UI write inline styles, hence
# 'unsafe-inline' for styles only. No script runs unless it is a file Qorgau serves.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# Files that are the same for everyone and carry no case data may be cached; nothing else.
CACHEABLE_PREFIXES = ("/static/", "/api/v1/static/")
NO_STORE = {"Cache-Control": "no-store"}

API_BODY_LIMIT = 1024 * 1024  # a launch or fire is a few kilobytes
FORM_BODY_LIMIT = 256 * 1024


def body_limit(path: str) -> int:
    """The largest request body accepted on `path`."""
    return API_BODY_LIMIT if path.startswith("/api/") else FORM_BODY_LIMIT


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


_ALWAYS = _encoded(SECURITY_HEADERS)
_PRIVATE = _ALWAYS + _encoded(NO_STORE)


class SecurityHeaders:
    """Adds the security headers (and no-store, except on cacheable static files) to every response
    that does not set them itself."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _ALWAYS if scope.get("path", "").startswith(CACHEABLE_PREFIXES) else _PRIVATE

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in extra if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(send, limit: int) -> None:
    body = json.dumps({"code": "too_large", "message": f"the request body is larger than {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a request body over `body_limit(path)`: at once when Content-Length says so (nothing
    is read), else as soon as the body read so far passes it (chunked uploads)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope.get("path", ""))
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = True
            if too_large:
                await _refuse(send, limit)
                return
            await self.app(scope, receive, send)
            return
        received = 0
        started = refused = False

        async def counting_receive():
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not started and not refused:
                    refused = True
                    await _refuse(send, limit)
                if refused:  # the app sees the client gone; whatever it answers is dropped
                    return {"type": "http.disconnect"}
            return message

        async def watching_send(message):
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counting_receive, watching_send)


def install(app) -> None:
    """Wrap `app`'s middleware stack (built at its first request) in the two guards above."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeaders(BodyLimit(build()))
