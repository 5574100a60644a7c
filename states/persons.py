"""People who act for a body: a psychologist of school 1, a duty officer of the Almaty police.

A person belongs to one body with one of the roles tokens have (coordinator, agency, auditor,
admin) and optionally a position. An administrator creates persons, or they are provisioned at
their first OpenID Connect sign-in from the provider's claims (app/oidc_claims.py maps the claims to a
body and role; nothing is granted by default). Histories, the access log, migrations and tokens
record only the person's id: `p_` and 16 random hex digits, which says nothing about the person.
The name lives in the `persons` table alone and is erased like a child's data (the row stays, so
the histories still point somewhere: "erased person").

Deactivating a person ends every session of theirs at once; a deactivated person cannot sign in.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine as DbEngine, delete, func, insert, select, update

from . import tables as T
from .clock import as_utc, utcnow
from .db import scrub
from .errors import RuleViolation
from .iin import looks_like_iin
from .tokens import ROLES

P = T.persons
NAME_MAX, POSITION_MAX = 200, 120


@dataclass(frozen=True)
class Person:
    id: str
    body_id: str
    role: str
    position: str | None
    name: str | None
    source: str
    active: bool
    created_at: datetime
    deactivated_at: datetime | None
    erased_at: datetime | None
    last_sign_in_at: datetime | None

    @classmethod
    def from_row(cls, row) -> "Person":
        m = row._mapping
        return cls(id=m["id"], body_id=m["body_id"], role=m["role"], position=m["position"], name=m["name"],
                   source=m["source"], active=m["active"], created_at=m["created_at"],
                   deactivated_at=m["deactivated_at"], erased_at=m["erased_at"], last_sign_in_at=m["last_sign_in_at"])

    @property
    def shown_name(self) -> str:
        """What a page or a listing shows: the name, or the pseudonym once the name is erased."""
        return self.name if self.name else f"{self.id} (erased)" if self.erased_at else self.id


def new_person_id() -> str:
    return "p_" + secrets.token_hex(8)


def subject_hash(issuer: str, subject: str) -> str:
    """The provider account a person signs in with, as a hash: the store keeps no provider id."""
    return hashlib.sha256(f"{issuer.rstrip('/')}|{subject}".encode("utf-8")).hexdigest()


def _check(conn: Connection, body_id: str, role: str, name: str | None, position: str | None) -> None:
    if role not in ROLES:
        raise RuleViolation("invalid_data", f"role must be one of {', '.join(ROLES)}, not {role!r}", field="role")
    if conn.execute(select(T.bodies.c.id).where(T.bodies.c.id == body_id)).first() is None:
        raise RuleViolation("invalid_data", f"unknown body {body_id!r}; name a body of the directory", field="body")
    for field, value, limit in (("name", name, NAME_MAX), ("position", position, POSITION_MAX)):
        if value is None:
            continue
        if not value.strip() or len(value) > limit:
            raise RuleViolation("invalid_data", f"{field}: 1 to {limit} characters", field=field)
        if "\x00" in value:  # PostgreSQL stores no NUL in text: refused here, not a 500 there
            raise RuleViolation("invalid_data", f"{field}: must not contain a NUL character", field=field)
        if looks_like_iin(value):
            raise RuleViolation("invalid_data", f"{field}: must not contain a 12-digit personal number", field=field)


def create_person(db: DbEngine, body_id: str, role: str, name: str | None, position: str | None = None, *,
                  created_by: str | None = None, source: str = "admin", subject: str | None = None,
                  account: str | None = None, now: datetime | None = None) -> Person:
    """A new active person. `subject`: the provider account's hash (a provisioned person);
    `account`: the hash of the user name an admin-created person will sign in with."""
    now = as_utc(now or utcnow())
    with db.begin() as conn:
        _check(conn, body_id, role, name, position)
        if account is not None and conn.execute(select(P.c.id).where(P.c.account_hash == account)).first():
            raise RuleViolation("conflict", "a person with this account already exists", field="account")
        person_id = new_person_id()
        conn.execute(insert(P).values(id=person_id, body_id=body_id, role=role, position=position, name=name,
                                      subject_hash=subject, account_hash=account, source=source, active=True,
                                      created_at=now, created_by=created_by))
        return Person.from_row(conn.execute(select(P).where(P.c.id == person_id)).one())


def get_person(conn: Connection, person_id: str) -> Person | None:
    row = conn.execute(select(P).where(P.c.id == person_id)).first()
    return Person.from_row(row) if row else None


def find_by_subject(conn: Connection, subject: str) -> Person | None:
    row = conn.execute(select(P).where(P.c.subject_hash == subject)).first()
    return Person.from_row(row) if row else None


def find_unlinked_account(conn: Connection, account: str) -> Person | None:
    """An admin-created person waiting for their first sign-in with this account."""
    row = conn.execute(select(P).where(P.c.account_hash == account, P.c.subject_hash.is_(None))).first()
    return Person.from_row(row) if row else None


def account_hash(user_name: str) -> str:
    """The user name an admin-created person signs in with (e.g. Keycloak's preferred_username), hashed."""
    return hashlib.sha256(("account|" + user_name.strip().lower()).encode("utf-8")).hexdigest()


def signed_in_admin_created(db: DbEngine, person_id: str, subject: str, name: str | None, *,
                            now: datetime | None = None) -> Person:
    """An admin-created person signs in: bound to this provider account from now on; their body
    and role stay the administrator's."""
    now = as_utc(now or utcnow())
    with db.begin() as conn:
        conn.execute(update(P).where(P.c.id == person_id, P.c.erased_at.is_(None)).values(
            subject_hash=func.coalesce(P.c.subject_hash, subject), name=func.coalesce(name, P.c.name),
            last_sign_in_at=now))
        return Person.from_row(conn.execute(select(P).where(P.c.id == person_id)).one())


def signed_in(db: DbEngine, person_id: str, body_id: str, role: str, name: str | None, *,
              now: datetime | None = None) -> Person:
    """Record a sign-in: the provider's claims are the source of truth for body, role and name."""
    now = as_utc(now or utcnow())
    with db.begin() as conn:
        _check(conn, body_id, role, name, None)
        conn.execute(update(P).where(P.c.id == person_id, P.c.erased_at.is_(None)).values(
            body_id=body_id, role=role, name=name, last_sign_in_at=now))
        return Person.from_row(conn.execute(select(P).where(P.c.id == person_id)).one())


def list_persons(conn: Connection, *, body_id: str | None = None, active: bool | None = None) -> list[Person]:
    q = select(P).order_by(P.c.body_id, P.c.created_at)
    if body_id is not None:
        q = q.where(P.c.body_id == body_id)
    if active is not None:
        q = q.where(P.c.active == active)
    return [Person.from_row(r) for r in conn.execute(q)]


def _require(conn: Connection, person_id: str) -> Person:
    person = get_person(conn, person_id)
    if person is None:
        raise RuleViolation("invalid_data", f"no person {person_id!r}", field="person")
    return person


def deactivate_person(db: DbEngine, person_id: str, *, now: datetime | None = None) -> Person:
    """The person may no longer sign in; every session of theirs ends now (idempotent)."""
    now = as_utc(now or utcnow())
    with db.begin() as conn:
        _require(conn, person_id)
        conn.execute(update(P).where(P.c.id == person_id, P.c.active.is_(True)).values(active=False,
                                                                                        deactivated_at=now))
        conn.execute(delete(T.web_sessions).where(T.web_sessions.c.person_id == person_id))
        return Person.from_row(conn.execute(select(P).where(P.c.id == person_id)).one())


def erase_person(db: DbEngine, person_id: str, *, now: datetime | None = None) -> Person:
    """Remove what identifies the person (name, position, provider account) for good; the
    pseudonymous id stays in the histories. The person is deactivated too. Scrubs the store files."""
    now = as_utc(now or utcnow())
    with db.begin() as conn:
        _require(conn, person_id)
        conn.execute(update(P).where(P.c.id == person_id).values(
            name=None, position=None, subject_hash=None, account_hash=None, active=False, erased_at=now,
            deactivated_at=func.coalesce(P.c.deactivated_at, now)))
        conn.execute(delete(T.web_sessions).where(T.web_sessions.c.person_id == person_id))
        person = Person.from_row(conn.execute(select(P).where(P.c.id == person_id)).one())
    scrub(db)
    return person


def sessions_of(conn: Connection, person_id: str) -> list[dict]:
    """The person's live sessions (when they started and end), newest first."""
    w = T.web_sessions.c
    return [{"created_at": r.created_at, "expires_at": r.expires_at}
            for r in conn.execute(select(w.created_at, w.expires_at).where(w.person_id == person_id)
                                  .order_by(w.created_at.desc()))]


def activity_of(conn: Connection, person_id: str, limit: int = 500) -> list[dict]:
    """What the person did: their events across cases, newest first."""
    e, c = T.events.c, T.cases.c
    rows = conn.execute(select(c.ref, c.algorithm, e.seq, e.at, e.actor, e.trigger, e.from_state, e.to_state)
                        .join(T.cases, T.cases.c.id == e.case_id).where(e.person == person_id)
                        .order_by(e.at.desc(), e.id.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]


def names_of(conn: Connection, person_ids: set[str]) -> dict[str, str]:
    """Person id -> what to show for it (the name, or the pseudonym once erased)."""
    if not person_ids:
        return {}
    rows = conn.execute(select(P).where(P.c.id.in_(sorted(person_ids))))
    return {r.id: Person.from_row(r).shown_name for r in rows}
