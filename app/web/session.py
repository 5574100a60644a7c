"""The web session cookie and CSRF tokens, with the standard library only.

A session lives in the store (states/web_sessions.py): signing out, revoking its token or its
expiry ends it at once, whatever a browser (or a thief) still holds. The cookie carries only the
session's random id, signed with HMAC-SHA256 under a secret: `QORGAU_SESSION_SECRET`, or for the
embedded setup a random key created once in `./var/session.key`. The cookie is HttpOnly and
SameSite=Strict (Secure over HTTPS, or when `QORGAU_COOKIE_SECURE=1`); it carries no token secret.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path

SESSION_COOKIE = "qorgau_session"
LOGIN_CSRF_COOKIE = "qorgau_login_csrf"
LANG_COOKIE = "qorgau_lang"
SECRET_ENV = "QORGAU_SESSION_SECRET"
SECRET_FILE_ENV = "QORGAU_SESSION_SECRET_FILE"
DEFAULT_SECRET_FILE = Path("var") / "session.key"
MAX_AGE = 12 * 3600  # a working day at most; then sign in again (the store ends it then)


@lru_cache(maxsize=4)
def _secret_from(env_value: str | None, file_value: str | None) -> bytes:
    if env_value:
        return env_value.encode("utf-8")
    path = Path(file_value) if file_value else DEFAULT_SECRET_FILE
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def secret() -> bytes:
    return _secret_from(os.environ.get(SECRET_ENV), os.environ.get(SECRET_FILE_ENV))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict, key: bytes | None = None) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    mac = hmac.new(key or secret(), body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(value: str | None, key: bytes | None = None) -> dict | None:
    if not value or "." not in value:
        return None
    body, _, mac = value.rpartition(".")
    if not (body.isascii() and mac.isascii()):  # a cookie that was never ours: no session
        return None
    expected = _b64(hmac.new(key or secret(), body.encode("ascii"), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, mac):
        return None
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def cookie_value(session_id: str) -> str:
    """The session cookie for a session id."""
    return sign({"s": session_id})


def session_id(value: str | None) -> str | None:
    """The session id a cookie carries if we signed it, else None (whatever else it holds)."""
    payload = unsign(value)
    found = payload.get("s") if payload is not None else None
    return found if isinstance(found, str) and 0 < len(found) <= 100 else None


def csrf_ok(expected: str | None, presented: str | None) -> bool:
    # Compared as bytes: compare_digest refuses non-ASCII text (a form's `csrf=é` would be a 500).
    return bool(expected) and bool(presented) and hmac.compare_digest(str(expected).encode("utf-8"),
                                                                      str(presented).encode("utf-8"))


def secure_cookies(scheme: str) -> bool:
    return scheme == "https" or os.environ.get("QORGAU_COOKIE_SECURE") == "1"
