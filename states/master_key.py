"""The deployment's master key, which wraps each subject's data key (`states.personal_data`).

Master key (see `master_key_from_settings`): `QORGAU_MASTER_KEY` (base64 of 32 bytes, standard or
URL-safe, padding optional) with optional `QORGAU_MASTER_KEY_ID`, or `QORGAU_MASTER_KEY_FILE` (a
file holding that base64). With neither, and only while the store is the embedded SQLite one (no
`QORGAU_DATABASE_URL`, or an sqlite: URL), a development key is created once at `./var/master.key`
(mode 0600) and a warning is logged; with a PostgreSQL store the key must be configured.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import PersonalDataError

log = logging.getLogger("qorgau.personal_data")

MASTER_KEY_ENV = "QORGAU_MASTER_KEY"
MASTER_KEY_ID_ENV = "QORGAU_MASTER_KEY_ID"
MASTER_KEY_FILE_ENV = "QORGAU_MASTER_KEY_FILE"
DEV_KEY_PATH = Path("var") / "master.key"

GENERATE_HINT = ("generate one with: python -c \"import base64, os; "
                 "print(base64.urlsafe_b64encode(os.urandom(32)).decode())\"")


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    key: bytes = field(repr=False)  # 32 bytes; never printed

    def __post_init__(self) -> None:
        if not isinstance(self.key, bytes) or len(self.key) != 32:
            raise PersonalDataError("no_master_key", "a master key must be exactly 32 bytes; " + GENERATE_HINT)
        if not self.key_id or len(self.key_id) > 40:
            raise PersonalDataError("no_master_key", "a master key id must have 1 to 40 characters "
                                                     f"(got {self.key_id!r}); fix {MASTER_KEY_ID_ENV}")

    @classmethod
    def from_bytes(cls, key: bytes, key_id: str | None = None) -> "MasterKey":
        return cls(key_id or default_key_id(key), key)

    @classmethod
    def generate(cls, key_id: str | None = None) -> "MasterKey":
        return cls.from_bytes(AESGCM.generate_key(bit_length=256), key_id)

    def encoded(self) -> str:
        """The key as URL-safe base64, the form QORGAU_MASTER_KEY takes."""
        return base64.urlsafe_b64encode(self.key).decode()


def default_key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


_dev_key_warned = False


def decode_key(text: str, source: str) -> bytes:
    """32 bytes from base64 text, standard or URL-safe, with or without padding."""
    cleaned = "".join(text.split()).replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        raw = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise PersonalDataError("no_master_key", f"{source} is not valid base64; " + GENERATE_HINT) from None
    if len(raw) != 32:
        raise PersonalDataError("no_master_key", f"{source} must be base64 of exactly 32 bytes, "
                                                 f"it decodes to {len(raw)}; " + GENERATE_HINT)
    return raw


def master_key_from_settings(env: Mapping[str, str] | None = None, *,
                             dev_key_path: str | Path = DEV_KEY_PATH) -> MasterKey:
    """The deployment's master key.

    1. `QORGAU_MASTER_KEY`: base64 of 32 bytes; id `QORGAU_MASTER_KEY_ID` or the first 8 hex
       digits of the key's SHA-256;
    2. `QORGAU_MASTER_KEY_FILE`: a file holding that base64 (e.g. a mounted secret);
    3. neither, and the store is the embedded SQLite one: a development key created once at
       `./var/master.key` (0600), with a warning. A PostgreSQL store (production) without a
       configured key is refused, so a deployment never silently encrypts with a stray file.
    Setting both 1 and 2 is refused as ambiguous."""
    env = os.environ if env is None else env
    key_id = env.get(MASTER_KEY_ID_ENV) or None
    inline, path = env.get(MASTER_KEY_ENV), env.get(MASTER_KEY_FILE_ENV)
    if inline and path:
        raise PersonalDataError("no_master_key", f"both {MASTER_KEY_ENV} and {MASTER_KEY_FILE_ENV} are set; "
                                                 "set only one")
    if inline:
        return MasterKey.from_bytes(decode_key(inline, MASTER_KEY_ENV), key_id)
    if path:
        try:
            text = Path(path).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise PersonalDataError("no_master_key", f"{MASTER_KEY_FILE_ENV}={path} cannot be read ({exc}); "
                                                     "point it at a file holding the base64 master key") from None
        return MasterKey.from_bytes(decode_key(text, f"the file {path}"), key_id)
    url = env.get("QORGAU_DATABASE_URL", "")
    if url and not url.startswith("sqlite"):
        raise PersonalDataError("no_master_key", f"no master key: set {MASTER_KEY_ENV} (base64 of 32 bytes) or "
                                                 f"{MASTER_KEY_FILE_ENV}; {GENERATE_HINT}")
    return MasterKey.from_bytes(_dev_key(Path(dev_key_path)), key_id)


def _dev_key(path: Path) -> bytes:
    global _dev_key_warned
    created = False
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode() + "\n")
            created = True
    key = decode_key(path.read_text(encoding="ascii"), f"the development key file {path}")
    if created or not _dev_key_warned:
        log.warning("personal data is encrypted with the development master key %s%s; production must set "
                    "%s (or %s) and keep it outside the database", path, " (just created)" if created else "",
                    MASTER_KEY_ENV, MASTER_KEY_FILE_ENV)
        _dev_key_warned = True
    return key
