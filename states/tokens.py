"""API tokens: a secret shown once, stored as its SHA-256, bound to one body and one role.

A token is `qg_` + `secrets.token_urlsafe(32)` (256 random bits). Only its hash and its first
characters (the *prefix*, to tell tokens apart in lists and to revoke one) are kept. A revoked token
is refused. `last_used_at` is refreshed at most once a minute per token, so authenticating a
request is a single indexed read and almost never a write (SQLite readers never wait for writers).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine as DbEngine, bindparam, insert, select, update

from . import tables as T
from .clock import as_utc, utcnow
from .db import single_statements
from .iin import looks_like_iin
from .web_sessions import end_sessions_of_token

ROLES = ("coordinator", "agency", "auditor", "admin")
TOKEN_PREFIX = "qg_"
PREFIX_LENGTH = 12
LAST_USED_GRANULARITY = timedelta(minutes=1)


class TokenError(ValueError):
    """A token could not be created or revoked; `field` names the offending input; `code` is
    `invalid_data`, or `not_found` for a token that does not exist."""

    def __init__(self, message: str, field: str | None = None, code: str = "invalid_data"):
        super().__init__(message)
        self.message, self.field, self.code = message, field, code


@dataclass(frozen=True)
class Token:
    """A stored token (never its secret)."""
    id: int
    prefix: str
    body_id: str
    role: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def from_row(cls, row) -> "Token":
        m = row._mapping
        return cls(id=m["id"], prefix=m["prefix"], body_id=m["body_id"], role=m["role"], label=m["label"],
                   created_at=m["created_at"], revoked_at=m["revoked_at"], last_used_at=m["last_used_at"])


def hash_secret(secret: str) -> str:
    """The stored form of a token: SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(db: DbEngine, body_id: str, role: str, label: str | None = None, *,
                 now: datetime | None = None, created_by: str | None = None) -> tuple[str, Token]:
    """A new token for `body_id` acting as `role`; returns (secret, token). The secret is not stored."""
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}, not {role!r}", field="role")
    if label is not None and len(label) > 200:
        raise TokenError("label: at most 200 characters", field="label")
    if label is not None and looks_like_iin(label):
        raise TokenError("label: must not contain personal data (a 12-digit number looks like an IIN)", field="label")
    now = as_utc(now or utcnow())
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.begin() as conn:
        if conn.execute(select(T.bodies.c.id).where(T.bodies.c.id == body_id)).first() is None:
            raise TokenError(f"unknown body {body_id!r}; name a body of the directory, e.g. kz-75.police",
                             field="body")
        token_id = conn.execute(insert(T.api_tokens).values(
            token_hash=hash_secret(secret), prefix=secret[:PREFIX_LENGTH], body_id=body_id, role=role,
            label=label, created_at=now, created_by=created_by)).inserted_primary_key[0]
        token = Token.from_row(conn.execute(select(T.api_tokens).where(T.api_tokens.c.id == token_id)).one())
    return secret, token


def _find(conn: Connection, prefix_or_id: str) -> Token:
    text = prefix_or_id.strip()
    if text.isdigit():
        rows = conn.execute(select(T.api_tokens).where(T.api_tokens.c.id == int(text))).all()
    else:
        rows = conn.execute(select(T.api_tokens).where(T.api_tokens.c.prefix == text[:PREFIX_LENGTH])).all()
    if not rows:
        raise TokenError(f"no token with id or prefix {prefix_or_id!r}", field="token", code="not_found")
    if len(rows) > 1:
        raise TokenError(f"{len(rows)} tokens share the prefix {prefix_or_id!r}; revoke by id "
                         f"({', '.join(str(r.id) for r in rows)})", field="token")
    return Token.from_row(rows[0])


def revoke_token(db: DbEngine, prefix_or_id: str, *, now: datetime | None = None) -> Token:
    """Revoke the token with this id or prefix (idempotent: an already revoked token stays as it was)."""
    now = as_utc(now or utcnow())
    with db.begin() as conn:
        token = _find(conn, prefix_or_id)
        if token.revoked_at is None:
            conn.execute(update(T.api_tokens).where(T.api_tokens.c.id == token.id).values(revoked_at=now))
            end_sessions_of_token(conn, token.id)  # its web sessions end now, not at their expiry
            token = Token.from_row(conn.execute(select(T.api_tokens).where(T.api_tokens.c.id == token.id)).one())
    return token


def list_tokens(conn: Connection, *, include_revoked: bool = True) -> list[Token]:
    """Every token, oldest first."""
    q = select(T.api_tokens).order_by(T.api_tokens.c.id)
    if not include_revoked:
        q = q.where(T.api_tokens.c.revoked_at.is_(None))
    return [Token.from_row(r) for r in conn.execute(q)]


_BY_HASH = select(T.api_tokens).where(T.api_tokens.c.token_hash == bindparam("h"))
_TOUCH = update(T.api_tokens).where(T.api_tokens.c.id == bindparam("t_id")).values(last_used_at=bindparam("at"))


def find_active(db: DbEngine, secret: str) -> Token | None:
    """The active token whose secret this is, or None (unknown, malformed or revoked). One read."""
    with single_statements(db) as conn:
        return find_active_on(conn, secret)


def find_active_on(conn: Connection, secret: str) -> Token | None:
    """`find_active` on an open connection: one statement."""
    if not secret or len(secret) > 200:
        return None
    row = conn.execute(_BY_HASH, {"h": hash_secret(secret)}).first()
    if row is None or row.revoked_at is not None:
        return None
    return Token.from_row(row)


def needs_touch(token: Token, now: datetime) -> bool:
    """Whether `last_used_at` is older than the granularity (a write is due)."""
    return token.last_used_at is None or as_utc(now) - token.last_used_at >= LAST_USED_GRANULARITY


def touch(db: DbEngine, token: Token, now: datetime) -> None:
    """Record that the token was used at `now`."""
    with db.begin() as conn:
        conn.execute(_TOUCH, {"t_id": token.id, "at": as_utc(now)})


def authenticate(db: DbEngine, secret: str, *, now: datetime | None = None) -> Token | None:
    """The active token whose secret this is, or None; refreshes its `last_used_at` when due."""
    token = find_active(db, secret)
    if token is None:
        return None
    now = as_utc(now or utcnow())
    if needs_touch(token, now):
        touch(db, token, now)
    return token
