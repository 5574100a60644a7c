"""Web sign-in sessions, kept in the store so that they end at once: signing out deletes the row,
revoking the token it came from, or deactivating the person it belongs to, deletes its rows (and a
revoked token's or a deactivated person's rows no longer count), and `expires_at` ends it at the
latest. The browser holds only a random id; the store holds its hash. A person's session (OpenID
Connect) also keeps the provider's ID token (the hint for ending the provider's session) and refresh
token (to ask the provider, every few minutes, whether the person may still sign in)."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine as DbEngine, and_, bindparam, delete, func, insert, or_, select, update

from . import tables as T
from .clock import as_utc, utcnow


@dataclass(frozen=True)
class WebSession:
    token_id: int | None
    body_id: str
    role: str
    prefix: str | None
    csrf: str
    expires_at: datetime
    person_id: str | None = None
    id_token: str | None = None
    refresh_token: str | None = None
    check_at: datetime | None = None


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


def start_person_session(db: DbEngine, person_id: str, max_age: timedelta, *, id_token: str | None,
                         refresh_token: str | None, check_after: timedelta, now: datetime | None = None) -> tuple[str, str]:
    """A new session of a person signed in at the identity provider: (cookie id, CSRF token)."""
    now = as_utc(now or utcnow())
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with db.begin() as conn:
        conn.execute(delete(T.web_sessions).where(T.web_sessions.c.expires_at <= now))
        conn.execute(insert(T.web_sessions).values(id_hash=_hash(session_id), person_id=person_id, csrf=csrf,
                                                   created_at=now, expires_at=now + max_age, id_token=id_token,
                                                   refresh_token=refresh_token, check_at=now + check_after))
    return session_id, csrf


def checked(db: DbEngine, session_id: str, next_check: datetime, refresh_token: str | None = None) -> None:
    """The provider still lets the person in: ask again at `next_check`, with its newest refresh token."""
    values = {"check_at": next_check, **({"refresh_token": refresh_token} if refresh_token else {})}
    with db.begin() as conn:
        conn.execute(update(T.web_sessions).where(T.web_sessions.c.id_hash == _hash(session_id)).values(**values))


_W, _TK, _P = T.web_sessions.c, T.api_tokens.c, T.persons.c
_ACTIVE = (select(_W.token_id, _W.person_id, _W.csrf, _W.expires_at, _W.id_token, _W.refresh_token, _W.check_at,
                  func.coalesce(_TK.body_id, _P.body_id).label("body_id"),
                  func.coalesce(_TK.role, _P.role).label("role"), _TK.prefix)
           .select_from(T.web_sessions.outerjoin(T.api_tokens, _TK.id == _W.token_id)
                        .outerjoin(T.persons, _P.id == _W.person_id))
           .where(_W.id_hash == bindparam("h"), _W.expires_at > bindparam("now"),
                  or_(and_(_W.token_id.is_not(None), _TK.revoked_at.is_(None)),
                      and_(_W.person_id.is_not(None), _P.active.is_(True)))))


def find_session(conn: Connection, session_id: str, *, now: datetime | None = None) -> WebSession | None:
    """The live session with this id (not signed out, not expired, its token not revoked, its person
    not deactivated), or None."""
    row = conn.execute(_ACTIVE, {"h": _hash(session_id), "now": as_utc(now or utcnow())}).first()
    if row is None:
        return None
    return WebSession(token_id=row.token_id, body_id=row.body_id, role=row.role, prefix=row.prefix, csrf=row.csrf,
                      expires_at=row.expires_at, person_id=row.person_id, id_token=row.id_token,
                      refresh_token=row.refresh_token, check_at=row.check_at)


def end_session(db: DbEngine, session_id: str) -> None:
    """Sign out: the session is gone (idempotent)."""
    with db.begin() as conn:
        conn.execute(delete(T.web_sessions).where(T.web_sessions.c.id_hash == _hash(session_id)))


def end_sessions_of_token(conn: Connection, token_id: int) -> None:
    """Every session signed in with the token (on revocation), in the caller's transaction."""
    conn.execute(delete(T.web_sessions).where(T.web_sessions.c.token_id == token_id))
