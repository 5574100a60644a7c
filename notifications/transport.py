"""How Qorgau's deliveries ride on apprise: installed once, explicitly, when delivery starts
(`Courier`), never as a side effect of an import.

- A mail's Message-ID is the letter's own while it is sent, so a resend carries the same one
  (apprise builds it with `email.utils.make_msgid` in `apprise.plugins.email.base`).
- Apprise's JSON/form/XML webhook plugins post through the `requests` module, a new connection per
  message; `_PooledRequests` gives them keep-alive connections per thread (same payload, headers,
  status check). It protects the delivery figure of docs/performance.md ("Prefect runtime":
  ≥ 500 messages/s; the `requests` session machinery cost half the CPU of a webhook).
- Apprise reports a failure in its log, not an exception: the last lines are kept per thread.

tests/test_transport.py fails if apprise moves the internals this relies on.
"""
from __future__ import annotations

import contextvars
import importlib
import logging
import os
import threading
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlencode

import requests
import urllib3

WEBHOOK_PLUGINS = ("custom_json", "custom_form", "custom_xml")
# Apprise builds a mail's Message-ID with `email.utils.make_msgid`; while one of our letters is
# being sent, that call returns the letter's own Message-ID, so a resend carries the same one.
_MESSAGE_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("qorgau_message_id", default=None)
_capture = threading.local()


def install() -> None:
    """Hook Qorgau's delivery into apprise (idempotent)."""
    from apprise.plugins.email import base as email_base
    original = email_base.make_msgid
    if getattr(original, "_qorgau", False):
        return

    def make_msgid(*args, **kwargs):
        return _MESSAGE_ID.get() or original(*args, **kwargs)

    make_msgid._qorgau = True
    email_base.make_msgid = make_msgid

    # Webhook plugins post through the `requests` module, a new connection per message; give them a
    # lighter transport with a keep-alive connection per thread (same payload, headers, status check).
    for name in WEBHOOK_PLUGINS:
        try:
            module = importlib.import_module(f"apprise.plugins.{name}")
        except ImportError:  # pragma: no cover - a future apprise may move them
            continue
        if getattr(module, "requests", None) is requests:
            module.requests = _PooledRequests()

    # Apprise reports a failure in its log, not in an exception: keep the last lines per thread.
    logging.getLogger("apprise").addHandler(_CaptureHandler())


class _Response:
    """What apprise's webhook plugins read of a response."""

    def __init__(self, status: int, content: bytes):
        self.status_code, self.content = status, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class _PooledRequests:
    """Quacks like the `requests` module for apprise's webhook plugins: `request`/`post`/... go
    straight to urllib3 (which `requests` itself sits on) on keep-alive connections.
    Skipping requests' session machinery (settings merge, hooks, cookie jar, proxy lookups per
    message) halves the CPU a webhook costs, which is what bounds delivery on a small machine.
    Each delivery thread keeps its own pool, so threads never queue on a shared one.
    Errors come out as `requests` exceptions, as the plugins expect."""

    _local = threading.local()

    def __getattr__(self, name):
        return getattr(requests, name)

    def _pool(self, verify: bool):
        """This thread's pool (one kept-alive connection per host and thread): delivery threads
        never wait on each other for a connection."""
        pools = getattr(self._local, "pools", None)
        if pools is None:
            pools = self._local.pools = {}
        pool = pools.get(verify)
        if pool is None:
            if not verify:
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            kwargs = dict(num_pools=32, maxsize=1, cert_reqs="CERT_REQUIRED" if verify else "CERT_NONE")
            if verify:
                import certifi  # the CA bundle requests would use (its environment settings first)
                kwargs["ca_certs"] = (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                                      or certifi.where())
            pool = pools[verify] = urllib3.PoolManager(**kwargs)
        return pool

    def request(self, method, url, *, data=None, params=None, headers=None, auth=None, verify=True,
                timeout=None, allow_redirects=True, files=None, **_ignored):
        if files or _proxy_in_env():  # multipart attachments, proxies (and their exceptions): requests itself
            return requests.request(method, url, data=data, params=params, headers=headers, auth=auth, verify=verify,
                                    timeout=timeout, allow_redirects=allow_redirects, files=files)
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        headers = dict(headers or {})
        if auth:
            headers.update(urllib3.make_headers(basic_auth=f"{auth[0]}:{auth[1] or ''}"))
        if isinstance(data, dict):
            data = urlencode(data, doseq=True)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if isinstance(data, str):
            data = data.encode("utf-8")
        if isinstance(timeout, tuple):
            timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        retries = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0,
                                redirect=10 if allow_redirects else 0, raise_on_redirect=False)
        try:
            r = self._pool(bool(verify)).request(method.upper(), url, body=data, headers=headers, timeout=timeout,
                                                 retries=retries, redirect=allow_redirects)
        except urllib3.exceptions.SSLError as exc:
            raise requests.exceptions.SSLError(str(exc)) from None
        except (urllib3.exceptions.TimeoutError, urllib3.exceptions.MaxRetryError) as exc:
            reason = getattr(exc, "reason", None) or exc
            cls = (requests.exceptions.Timeout if isinstance(reason, urllib3.exceptions.TimeoutError)
                   else requests.exceptions.ConnectionError)
            raise cls(str(reason)) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise requests.exceptions.ConnectionError(str(exc)) from None
        return _Response(r.status, r.data)

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)

    def put(self, url, **kwargs):
        return self.request("PUT", url, **kwargs)

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)


def _proxy_in_env() -> bool:
    return any(os.environ.get(n) for n in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
                                             "ALL_PROXY", "all_proxy"))


class _CaptureHandler(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        lines = getattr(_capture, "lines", None)
        if lines is not None:
            try:
                lines.append(record.getMessage())
            except Exception:  # pragma: no cover - a malformed log record
                pass




@contextmanager
def sending(message_id: str) -> Iterator[list[str]]:
    """While a letter is sent: its Message-ID for mail, and the list apprise's warnings land in."""
    token = _MESSAGE_ID.set(message_id)
    lines: list[str] = []
    _capture.lines = lines
    try:
        yield lines
    finally:
        _MESSAGE_ID.reset(token)
        _capture.lines = None
