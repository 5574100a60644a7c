"""Witnesses: copies of every anchor kept outside Qorgau's database, and the checks against them.

Each anchor becomes a small signed JSON document (`qorgau-anchor/1`): its number, time, root, the
number of cases, the hash of the previous document (`prev`), and the heads that changed since the
previous anchor (`leaves`: [ref, seq, hash]; the first witnessed anchor lists every head, `full`); signed with the deployment's anchor key (Ed25519,
`QORGAU_ANCHOR_KEY_FILE`, default `./var/anchor.key`, made on first use). The documents chain, and
the leaves of all of them give every head of every anchor, so a witness's copies alone let anyone
recompute each root. When an RFC 3161 time-stamping authority signs the document's hash, a second
document (`qorgau-anchor-timestamp/1`) carries the token.

Both go to the witnesses (`QORGAU_ANCHOR_WITNESSES`: apprise URLs such as `mailto://` or `json://`,
an `eml://folder`, comma or space separated) through the outbox and the notification channels, as
every message does: retried, never lost, deduplicated by key.

`check_witness_copies` reads a folder (or a file) of such copies and checks each against the store:
its signature, its chain, its root against its leaves, its TSA token, and that every head it
witnessed is still in the store with the same hash; it names the cases whose heads no longer match.
"""
from __future__ import annotations

import base64
import email
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from email import policy as email_policy
from pathlib import Path
from typing import Any, Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, insert, select, update

from . import tables as T
from .anchor import Anchor, root_of_heads
from .clock import as_utc, iso, utcnow

FORMAT = "qorgau-anchor/1"
TIMESTAMP_FORMAT = "qorgau-anchor-timestamp/1"
WITNESS_TEMPLATE = "anchor_witness"  # outbox rows for the witnesses (no case)
KEY_FILE_ENV = "QORGAU_ANCHOR_KEY_FILE"
DEFAULT_KEY_FILE = Path("var") / "anchor.key"
WITNESSES_ENV = "QORGAU_ANCHOR_WITNESSES"
DEFAULT_WITNESSES = "eml://var/anchor-witness"


def canonical(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def doc_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------ the anchor key

def signing_key(path: str | Path | None = None) -> Ed25519PrivateKey:
    """The deployment's anchor key (made once, 0600, like the session key)."""
    path = Path(path or os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE)
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return key


def public_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


def envelope(document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """What a witness receives: the document, its signature and the public key that made it."""
    text = canonical(document)
    return {"document": document, "signature": base64.b64encode(key.sign(text.encode("utf-8"))).decode(),
            "public_key": base64.b64encode(public_raw(key)).decode()}


# ------------------------------------------------------------------------------ writing

def witness_urls() -> list[str]:
    raw = os.environ.get(WITNESSES_ENV)
    raw = DEFAULT_WITNESSES if raw is None else raw
    return [u for u in raw.replace(",", " ").split() if u]


class Witnessing:
    """`make_anchor(..., witness=Witnessing())`: signs each anchor's document and queues it."""

    def __init__(self, key: Ed25519PrivateKey | None = None, urls: list[str] | None = None):
        self.key = key or signing_key()
        self.urls = witness_urls() if urls is None else urls

    def __call__(self, conn: Connection, anchor: Anchor, changed: list[tuple[str, int, str]], heads) -> None:
        prev = conn.execute(select(T.anchors.c.doc_hash).where(T.anchors.c.id < anchor.id)
                            .order_by(T.anchors.c.id.desc()).limit(1)).scalar()
        # The first witnessed anchor (of a new store, or of one anchored before witnesses) lists every
        # head, so that the witnesses' copies alone give each root from there on.
        full = prev is None
        leaves = sorted((ref, seq, digest) for ref, (seq, digest) in heads().items()) if full else changed
        document = {"format": FORMAT, "anchor": anchor.id, "at": iso(anchor.at), "root": anchor.root,
                    "cases": anchor.cases, "prev": prev, "full": full, "key": key_id(public_raw(self.key)),
                    "leaves": [[ref, seq, digest] for ref, seq, digest in leaves]}
        sealed = envelope(document, self.key)
        text = canonical(document)
        conn.execute(update(T.anchors).where(T.anchors.c.id == anchor.id).values(
            document=text, doc_hash=doc_hash(text), signature=sealed["signature"]))
        queue(conn, f"anchor-{anchor.id}", f"Qorgau anchor {anchor.id} {anchor.root[:16]}", sealed, self.urls,
              anchor.at)

    def timestamp(self, conn: Connection, anchor_id: int, token: bytes, at: datetime, now: datetime) -> None:
        """Keep a token the TSA gave for anchor `anchor_id` and send it to the witnesses."""
        row = conn.execute(select(T.anchors.c.doc_hash).where(T.anchors.c.id == anchor_id)).one()
        encoded = base64.b64encode(token).decode()
        conn.execute(update(T.anchors).where(T.anchors.c.id == anchor_id).values(tsa_token=encoded, tsa_time=at))
        document = {"format": TIMESTAMP_FORMAT, "anchor": anchor_id, "doc_hash": row.doc_hash, "token": encoded,
                    "time": iso(at), "key": key_id(public_raw(self.key))}
        queue(conn, f"anchor-{anchor_id}-timestamp", f"Qorgau anchor {anchor_id} time-stamp",
              envelope(document, self.key), self.urls, now)


def queue(conn: Connection, key: str, subject: str, sealed: dict[str, Any], urls: list[str], now: datetime) -> None:
    """One outbox row per witness URL (no case): delivered, retried and dead-lettered as any message."""
    text = json.dumps(sealed, ensure_ascii=False, indent=1, sort_keys=True)
    rows = [{"case_id": None, "event_seq": None, "template": WITNESS_TEMPLATE, "body_id": "witnesses",
             "task_key": None, "context": {"subject": subject, "document": text, "url": url},
             "idempotency_key": f"{key}/{i}", "status": "pending", "attempts": 0, "created_at": now}
            for i, url in enumerate(urls)]
    if rows:
        conn.execute(insert(T.outbox), rows)


# ------------------------------------------------------------------------------ reading copies

@dataclass
class Copies:
    anchors: dict[int, dict[str, Any]] = field(default_factory=dict)      # anchor -> envelope
    timestamps: dict[int, dict[str, Any]] = field(default_factory=dict)   # anchor -> envelope
    problems: list[str] = field(default_factory=list)
    files: int = 0


def _documents(text: str) -> Iterable[dict[str, Any]]:
    text = text.strip()
    if not text:
        return []
    try:
        value = json.loads(text)
        return value if isinstance(value, list) else [value]
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]  # JSON lines


def _text_of(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix == ".eml":
        message = email.message_from_bytes(raw, policy=email_policy.default)
        part = message.get_body(preferencelist=("plain",)) or message
        return part.get_content()
    return raw.decode("utf-8")


def read_copies(path: str | Path) -> Copies:
    """Every witness document under `path` (a folder: .json, .jsonl, .eml files; or one file)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl", ".eml")) if path.is_dir() else [path]
    copies = Copies()
    for file in files:
        copies.files += 1
        try:
            docs = _documents(_text_of(file))
        except (ValueError, UnicodeDecodeError) as exc:
            copies.problems.append(f"{file}: not a witness document ({exc})")
            continue
        for sealed in docs:
            _add(copies, file, sealed)
    return copies


def _add(copies: Copies, file: Path, sealed: Any) -> None:
    doc = sealed.get("document") if isinstance(sealed, dict) else None
    if not isinstance(doc, dict) or doc.get("format") not in (FORMAT, TIMESTAMP_FORMAT):
        copies.problems.append(f"{file}: not a Qorgau anchor document")
        return
    target = copies.anchors if doc["format"] == FORMAT else copies.timestamps
    number = doc.get("anchor")
    earlier = target.get(number)
    if earlier is not None and canonical(earlier["document"]) != canonical(doc):
        copies.problems.append(f"anchor {number}: two witness copies differ ({file})")
        return
    target[number] = sealed


def signature_problem(sealed: dict[str, Any], trusted: set[str] | None) -> str | None:
    try:
        public = base64.b64decode(sealed["public_key"])
        Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(sealed["signature"]),
                                                          canonical(sealed["document"]).encode("utf-8"))
    except (KeyError, ValueError, InvalidSignature):
        return "its signature does not verify"
    if trusted is not None and key_id(public) not in trusted:
        return f"it is signed by key {key_id(public)}, not by the deployment's anchor key"
    return None


def now_utc() -> datetime:
    return as_utc(utcnow())
