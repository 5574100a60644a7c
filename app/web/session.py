"""Signed session cookies and CSRF tokens, with the standard library only.

A session is a small JSON document (token id, body, role, CSRF token, issue time) signed with
HMAC-SHA256 under a secret: `QORGAU_SESSION_SECRET`, or for the embedded setup a random key created
once in `./var/session.key`. The cookie is HttpOnly and SameSite=Strict (Secure over HTTPS, or when
`QORGAU_COOKIE_SECURE=1`). It carries no token secret: each request checks that the token it came
from is still valid, so revoking the token ends the session.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SESSION_COOKIE = "qorgau_session"
LOGIN_CSRF_COOKIE = "qorgau_login_csrf"
LANG_COOKIE = "qorgau_lang"
SECRET_ENV = "QORGAU_SESSION_SECRET"
SECRET_FILE_ENV = "QORGAU_SESSION_SECRET_FILE"
DEFAULT_SECRET_FILE = Path("var") / "session.key"
MAX_AGE = 12 * 3600  # a working day; then sign in again


@dataclass(frozen=True)
class Session:
    token_id: int
    body_id: str
    role: str
    csrf: str
    issued: int


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
    expected = _b64(hmac.new(key or secret(), body.encode("ascii"), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, mac):
        return None
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def new_session(token_id: int, body_id: str, role: str) -> Session:
    return Session(token_id=token_id, body_id=body_id, role=role, csrf=secrets.token_urlsafe(32),
                   issued=int(time.time()))


def encode(session: Session) -> str:
    return sign({"t": session.token_id, "b": session.body_id, "r": session.role, "c": session.csrf,
                 "i": session.issued})


def decode(value: str | None, now: float | None = None) -> Session | None:
    p = unsign(value)
    if p is None:
        return None
    try:
        session = Session(token_id=int(p["t"]), body_id=str(p["b"]), role=str(p["r"]), csrf=str(p["c"]),
                          issued=int(p["i"]))
    except (KeyError, TypeError, ValueError):
        return None
    if (now or time.time()) - session.issued > MAX_AGE:
        return None
    return session


def csrf_ok(expected: str | None, presented: str | None) -> bool:
    return bool(expected) and bool(presented) and hmac.compare_digest(str(expected), str(presented))


def secure_cookies(scheme: str) -> bool:
    return scheme == "https" or os.environ.get("QORGAU_COOKIE_SECURE") == "1"
