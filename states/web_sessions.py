"""Web sign-in sessions, kept in the store so that they end at once: signing out deletes the row,
revoking the token it came from deletes its rows (and a revoked token's rows no longer count), and
`expires_at` ends it at the latest. The browser holds only a random id; the store holds its hash."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine as DbEngine, bindparam, delete, insert, select

from . import tables as T
from .clock import as_utc, utcnow


@dataclass(frozen=True)
class WebSession:
    token_id: int
    body_id: str
    role: str
    prefix: str
    csrf: str
    expires_at: datetime


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def start_session(db: DbEngine, token_id: int, max_age: timedelta, *, now: datetime | None = None) -> tuple[str, str]:
    """A new session of the token: (the id for the cookie, its CSRF token)."""
    now = as_utc(now or utcnow())
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with db.begin() as conn:
        conn.execute(delete(T.web_sessions).where(T.web_sessions.c.expires_at <= now))  # keep the table small
        conn.execute(insert(T.web_sessions).values(id_hash=_hash(session_id), token_id=token_id, csrf=csrf,
                                                   created_at=now, expires_at=now + max_age))
    return session_id, csrf


_ACTIVE = (select(T.web_sessions.c.token_id, T.web_sessions.c.csrf, T.web_sessions.c.expires_at,
                  T.api_tokens.c.body_id, T.api_tokens.c.role, T.api_tokens.c.prefix)
           .join(T.api_tokens, T.api_tokens.c.id == T.web_sessions.c.token_id)
           .where(T.web_sessions.c.id_hash == bindparam("h"), T.api_tokens.c.revoked_at.is_(None),
                  T.web_sessions.c.expires_at > bindparam("now")))


def find_session(conn: Connection, session_id: str, *, now: datetime | None = None) -> WebSession | None:
    """The live session with this id (not signed out, not expired, its token not revoked), or None."""
    row = conn.execute(_ACTIVE, {"h": _hash(session_id), "now": as_utc(now or utcnow())}).first()
    if row is None:
        return None
    return WebSession(token_id=row.token_id, body_id=row.body_id, role=row.role, prefix=row.prefix, csrf=row.csrf,
                      expires_at=row.expires_at)


def end_session(db: DbEngine, session_id: str) -> None:
    """Sign out: the session is gone (idempotent)."""
    with db.begin() as conn:
        conn.execute(delete(T.web_sessions).where(T.web_sessions.c.id_hash == _hash(session_id)))


def end_sessions_of_token(conn: Connection, token_id: int) -> None:
    """Every session signed in with the token (on revocation), in the caller's transaction."""
    conn.execute(delete(T.web_sessions).where(T.web_sessions.c.token_id == token_id))
