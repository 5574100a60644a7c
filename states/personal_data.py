"""The child's personal data, encrypted at rest, read only with a record of who read it and why.

Envelope encryption (AES-256-GCM from `cryptography`):

* each subject has its own random 256-bit **data key**; `subjects.payload` holds
  `{"v": 1, "nonce": b64, "ct": b64}` = AES-GCM(data key, json(payload)), associated data = the
  subject id (a payload copied onto another subject does not decrypt);
* the data key is stored in `subject_keys.wrapped_key`, wrapped (AES-GCM) by the deployment's
  **master key**, associated data = subject id + master key id, as base64(nonce || ciphertext);
* **erasure** destroys the wrapped key and overwrites the payload with `{"v": 1, "erased": true}`:
  the data is gone for good, while every case history still verifies, because histories and
  messages never hold personal data (only the subject id);
* **every read** (`read_subject`) appends an `access_log` row (who, when, which case, why) whatever
  its outcome: `read`, `refused` (no or wrong master key, altered ciphertext) or `erased`. Why is a
  code of `PURPOSES`, never free text, with an optional short note that must not hold an IIN
  (`states.iin.looks_like_iin`); erasure clears the subject's notes too.

Master key: see `states.master_key`. Retention: `QORGAU_RETENTION_DAYS` (default 1826, five years)
after the subject's last case closed.

The functions taking a `Connection` work inside the caller's transaction and never commit. A
refused read raises *after* writing its log row, so a caller that rolls back on the exception loses
that row: use `read_personal(db, ...)`, which commits the log row whether the read succeeds or not.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import uuid
from datetime import date, datetime, timedelta
from typing import Any, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Engine as DbEngine, insert, or_, select, update

from . import tables as T
from .clock import as_utc, utcnow
from .errors import PersonalDataError, RuleViolation
from .iin import looks_like_iin
from .master_key import MasterKey, master_key_from_settings

RETENTION_ENV = "QORGAU_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 1826  # five years
FORMAT_VERSION = 1
ERASED_PAYLOAD = {"v": FORMAT_VERSION, "erased": True}

# Why personal data is read: one of these codes (the access log keeps the code, not free text).
PURPOSES = {
    "assessment": "assess the child's situation",
    "interview": "interview the child or the family",
    "home_visit": "visit the child's home",
    "medical_examination": "arrange or carry out a medical examination",
    "psychological_support": "psychological support",
    "safety_plan": "plan the child's safety or placement",
    "social_support": "social support for the family",
    "school_support": "support at school",
    "legal_proceedings": "police, court or KDN proceedings",
    "guardianship": "a guardianship decision",
    "audit": "audit of the case",
}
ERASURE_PURPOSES = {
    "erasure_retention": "erasure after the retention period",
    "erasure_court_order": "forced erasure (court order)",
}
NOTE_MAX = 200

# ---------------------------------------------------------------------------- settings
def retention_days_from_settings(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    text = env.get(RETENTION_ENV)
    if not text:
        return DEFAULT_RETENTION_DAYS
    try:
        days = int(text)
    except ValueError:
        days = -1
    if days < 0:
        raise PersonalDataError("retention", f"{RETENTION_ENV}={text!r} must be a whole number of days (0 or more)")
    return days


# ---------------------------------------------------------------------------- crypto
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _wrap_ad(subject_id: str, key_id: str) -> bytes:
    return f"{subject_id}|{key_id}".encode()


def _wrap(master: MasterKey, subject_id: str, data_key: bytes) -> str:
    nonce = os.urandom(12)
    return _b64(nonce + AESGCM(master.key).encrypt(nonce, data_key, _wrap_ad(subject_id, master.key_id)))


def _unwrap(master: MasterKey, subject_id: str, key_row) -> bytes:
    if key_row.master_key_id != master.key_id:
        raise PersonalDataError("wrong_master_key", f"subject {subject_id}'s data key is wrapped by master key "
                                                    f"{key_row.master_key_id!r}, but the configured one is "
                                                    f"{master.key_id!r}; configure that key, or rewrap the keys "
                                                    "with both (rewrap_all)")
    try:
        blob = _unb64(key_row.wrapped_key)
        return AESGCM(master.key).decrypt(blob[:12], blob[12:], _wrap_ad(subject_id, master.key_id))
    except (InvalidTag, binascii.Error, ValueError):
        raise PersonalDataError("wrong_master_key", f"subject {subject_id}'s data key does not unwrap with master "
                                                    f"key {master.key_id!r}: the configured key is not the one "
                                                    "that id names, or the stored key was altered") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _encrypt(data_key: bytes, subject_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    plain = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                       default=_json_default).encode()
    nonce = os.urandom(12)
    ct = AESGCM(data_key).encrypt(nonce, plain, subject_id.encode())
    return {"v": FORMAT_VERSION, "nonce": _b64(nonce), "ct": _b64(ct)}


def _decrypt(data_key: bytes, subject_id: str, stored: dict[str, Any]) -> dict[str, Any]:
    try:
        plain = AESGCM(data_key).decrypt(_unb64(stored["nonce"]), _unb64(stored["ct"]), subject_id.encode())
        return json.loads(plain)
    except (InvalidTag, KeyError, TypeError, binascii.Error, ValueError):
        raise PersonalDataError("tampered", f"subject {subject_id}'s encrypted data fails authentication: it was "
                                            "altered or copied from another subject; restore it from a backup "
                                            "and report the incident") from None


def _is_encrypted(payload: Any) -> bool:
    return isinstance(payload, dict) and "v" in payload


# ---------------------------------------------------------------------------- store, read, erase
def store_subject(conn: Connection, payload: dict[str, Any], now: datetime, master: MasterKey | None = None) -> str:
    """Store a child's personal data encrypted under a new data key; returns the new subject id."""
    master = master or master_key_from_settings()
    now = as_utc(now)
    subject_id = str(uuid.uuid4())
    data_key = AESGCM.generate_key(bit_length=256)
    conn.execute(insert(T.subjects).values(id=subject_id, payload=_encrypt(data_key, subject_id, dict(payload)),
                                           created_at=now))
    conn.execute(insert(T.subject_keys).values(subject_id=subject_id, wrapped_key=_wrap(master, subject_id, data_key),
                                               master_key_id=master.key_id, created_at=now))
    return subject_id


def check_purpose(purpose: str, note: str | None = None, *, codes: Mapping[str, str] = PURPOSES) -> str | None:
    """RuleViolation (invalid_data, naming the field) unless `purpose` is one of `codes` and `note`
    is short and holds no IIN; returns the note stripped (None when empty)."""
    if purpose not in codes:
        raise RuleViolation("invalid_data", f"field 'purpose': must be one of {', '.join(codes)}", field="purpose")
    if note is None or not note.strip():
        return None
    note = note.strip()
    if len(note) > NOTE_MAX or "\x00" in note:
        raise RuleViolation("invalid_data", f"field 'note': at most {NOTE_MAX} characters, no NUL", field="note")
    if looks_like_iin(note):
        raise RuleViolation("invalid_data", "field 'note': must not contain personal data "
                                            "(a 12-digit number looks like an IIN)", field="note")
    return note


def _check_who(actor: str, purpose: str, note: str | None = None,
               codes: Mapping[str, str] = PURPOSES) -> str | None:
    if not actor or not actor.strip() or len(actor) > 80:
        raise ValueError("actor: who reads personal data must be named (1 to 80 characters)")
    return check_purpose(purpose, note, codes=codes)


def _log(conn: Connection, subject_id: str, case_ref: str | None, actor: str, purpose: str, now: datetime,
         outcome: str, note: str | None = None, person: str | None = None) -> None:
    conn.execute(insert(T.access_log).values(subject_id=subject_id[:36], case_ref=case_ref, actor=actor,
                                             purpose=purpose, note=note, at=now, outcome=outcome, person=person))


def read_subject(conn: Connection, subject_id: str, *, actor: str, case_ref: str | None, purpose: str,
                 now: datetime, master: MasterKey | None = None, note: str | None = None,
                 person: str | None = None) -> dict[str, Any]:
    """The subject's personal data, read for `purpose` (a code of PURPOSES; `note` optional). Always
    appends an access_log row first: `read`, or `erased` / `refused` before raising PersonalDataError."""
    note = _check_who(actor, purpose, note)
    now = as_utc(now)
    row = conn.execute(select(T.subjects).where(T.subjects.c.id == subject_id)).first()
    if row is None:
        _log(conn, subject_id, case_ref, actor, purpose, now, "refused", note, person)
        raise PersonalDataError("unknown_subject", f"no subject {subject_id!r}")
    key_row = conn.execute(select(T.subject_keys).where(T.subject_keys.c.subject_id == subject_id)).first()
    if row.erased_at is not None or (key_row is not None and key_row.wrapped_key is None):
        _log(conn, subject_id, case_ref, actor, purpose, now, "erased", note, person)
        when = row.erased_at or key_row.destroyed_at
        raise PersonalDataError("erased", f"subject {subject_id}'s personal data was erased"
                                          + (f" on {when:%Y-%m-%d}" if when else "")
                                          + "; it cannot be recovered")
    if not _is_encrypted(row.payload):
        # Stored before encryption at rest (plain dict): readable, still logged; erase or re-store it.
        _log(conn, subject_id, case_ref, actor, purpose, now, "read", note, person)
        return dict(row.payload)
    try:
        if key_row is None:
            raise PersonalDataError("wrong_master_key", f"subject {subject_id} has encrypted data but no data key "
                                                        "row; restore subject_keys from a backup")
        master = master or master_key_from_settings()
        data = _decrypt(_unwrap(master, subject_id, key_row), subject_id, row.payload)
    except PersonalDataError:
        _log(conn, subject_id, case_ref, actor, purpose, now, "refused", note, person)
        raise
    _log(conn, subject_id, case_ref, actor, purpose, now, "read", note, person)
    return data


def subject_of_case(conn: Connection, case_ref: str) -> str:
    """The subject id a case refers to."""
    row = conn.execute(select(T.cases.c.subject_id).where(T.cases.c.ref == case_ref)).first()
    if row is None:
        raise PersonalDataError("unknown_subject", f"no case with reference {case_ref!r}")
    if row.subject_id is None:
        raise PersonalDataError("unknown_subject", f"case {case_ref} has no personal data (no subject)")
    return row.subject_id


def read_personal(db: DbEngine, *, actor: str, purpose: str, case_ref: str | None = None,
                  subject_id: str | None = None, now: datetime | None = None,
                  master: MasterKey | None = None, note: str | None = None,
                  person: str | None = None) -> dict[str, Any]:
    """Read a case's (or a subject's) personal data in a transaction of its own that commits the
    access_log row even when the read is refused, then re-raises. For the CLI and web handlers."""
    if case_ref is None and subject_id is None:
        raise ValueError("name the case (case_ref) or the subject (subject_id)")
    now = as_utc(now or utcnow())
    error: PersonalDataError | None = None
    with db.begin() as conn:
        try:
            sid = subject_id or subject_of_case(conn, case_ref)
            return read_subject(conn, sid, actor=actor, case_ref=case_ref, purpose=purpose, now=now, master=master,
                                note=note, person=person)
        except PersonalDataError as exc:  # commit the refusal's log row, then raise
            error = exc
    raise error


def erase_subject(conn: Connection, subject_id: str, *, actor: str, now: datetime, retention_days: int | None = None,
                  force: bool = False, purpose: str | None = None) -> None:
    """Destroy the subject's data key and overwrite its payload, for good; clear the notes of its
    access log. `purpose` is an optional note (e.g. the court order's number; no IIN).

    Refused (code "retention") while any of its cases is open or less than the retention period
    (QORGAU_RETENTION_DAYS, default 1826 days) has passed since the last one closed (a subject
    without cases: since it was stored), unless `force` (a court order). Logged as `erased`.
    On SQLite, once committed, call `states.db.scrub(engine)` so no old copy stays in the files."""
    code = "erasure_court_order" if force else "erasure_retention"
    note = _check_who(actor, code, purpose, ERASURE_PURPOSES)
    now = as_utc(now)
    days = retention_days_from_settings() if retention_days is None else retention_days
    if days < 0:
        raise PersonalDataError("retention", f"retention_days must be 0 or more, not {days}")
    q = select(T.subjects).where(T.subjects.c.id == subject_id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise PersonalDataError("unknown_subject", f"no subject {subject_id!r}")
    if row.erased_at is not None:
        raise PersonalDataError("erased", f"subject {subject_id} was already erased on {row.erased_at:%Y-%m-%d}")
    cases = conn.execute(select(T.cases.c.ref, T.cases.c.closed_at)
                         .where(T.cases.c.subject_id == subject_id).order_by(T.cases.c.id)).all()
    if not force:
        open_refs = [c.ref for c in cases if c.closed_at is None]
        if open_refs:
            raise PersonalDataError("retention", f"subject {subject_id} has open cases ({', '.join(open_refs)}); "
                                                 "erase after they close and the retention period passes, or with "
                                                 "--force under a court order")
        since = max((c.closed_at for c in cases), default=row.created_at)
        until = since + timedelta(days=days)
        if now < until:
            what = "its last case closed" if cases else "it was stored"
            raise PersonalDataError("retention", f"subject {subject_id} must be kept {days} days after {what} "
                                                 f"({since:%Y-%m-%d}), until {until:%Y-%m-%d}; erase after that, "
                                                 "or with --force under a court order")
    conn.execute(update(T.subject_keys).where(T.subject_keys.c.subject_id == subject_id)
                 .values(wrapped_key=None, destroyed_at=now))
    conn.execute(update(T.subjects).where(T.subjects.c.id == subject_id)
                 .values(payload=dict(ERASED_PAYLOAD), erased_at=now))
    conn.execute(update(T.access_log).where(T.access_log.c.subject_id == subject_id).values(note=None))
    _log(conn, subject_id, None, actor, code, now, "erased", note)


def access_log_for_case(conn: Connection, case_ref: str) -> list[dict[str, Any]]:
    """Every access to personal data through this case, plus subject-wide entries (erasure, reads
    not made through a case) for the case's subject, oldest first."""
    subject_id = conn.execute(select(T.cases.c.subject_id).where(T.cases.c.ref == case_ref)).scalar()
    cond = T.access_log.c.case_ref == case_ref
    if subject_id is not None:
        cond = or_(cond, (T.access_log.c.subject_id == subject_id) & T.access_log.c.case_ref.is_(None))
    rows = conn.execute(select(T.access_log).where(cond).order_by(T.access_log.c.at, T.access_log.c.id))
    return [{"id": r.id, "at": r.at, "actor": r.actor, "case_ref": r.case_ref, "subject_id": r.subject_id,
             "purpose": r.purpose, "note": r.note, "outcome": r.outcome} for r in rows]


def rewrap_all(conn: Connection, old: MasterKey, new: MasterKey) -> int:
    """Key rotation: rewrap every live data key wrapped by `old` under `new`; returns how many.
    Payloads are untouched. Run it in one transaction, then configure `new`."""
    q = select(T.subject_keys).where(T.subject_keys.c.master_key_id == old.key_id,
                                     T.subject_keys.c.wrapped_key.is_not(None))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    n = 0
    for key_row in conn.execute(q).all():
        data_key = _unwrap(old, key_row.subject_id, key_row)
        conn.execute(update(T.subject_keys).where(T.subject_keys.c.subject_id == key_row.subject_id)
                     .values(wrapped_key=_wrap(new, key_row.subject_id, data_key), master_key_id=new.key_id))
        n += 1
    return n
