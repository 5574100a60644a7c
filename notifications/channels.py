"""Delivery channels: where a rendered message goes.

A body's channels are URLs in the directory (`Body.channels`):

- any URL apprise knows: `mailto://` / `mailtos://` (email over SMTP), `json://` / `jsons://`
  (JSON webhooks), `form://`, `xml://`, `tgram://` (Telegram) and the rest of apprise's services;
- `eml://<folder>`: the folder channel. Each message is written as `<folder>/<key>.eml`, an RFC 5322
  file any mail reader opens. It is the default of the embedded setup (`./var/outbox-eml/`), so a
  newcomer can read what was sent.

A body with no channels gets the deployment's defaults: QORGAU_DEFAULT_CHANNELS (URLs separated by
spaces or commas), else the folder channel on `./var/outbox-eml`.

Every message carries its idempotency key, the same on every attempt: as the Message-ID of a mail
(`<sha256(key)[:32]@QORGAU_MAIL_DOMAIN>`) with the key itself in `X-Qorgau-Idempotency-Key`, and as
the `Idempotency-Key` header of a webhook. The folder channel names the file after the key, so a
resend replaces the file instead of adding one. Services without headers (Telegram, SMS, ...) get
the text only; deduplicate those on the case reference in the text if it matters.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import tempfile
import threading
from dataclasses import dataclass
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Iterable, Protocol

import apprise
from apprise import plugins as apprise_plugins

from . import transport

log = logging.getLogger("qorgau.channels")

DEFAULT_CHANNELS_ENV = "QORGAU_DEFAULT_CHANNELS"
MAIL_DOMAIN_ENV = "QORGAU_MAIL_DOMAIN"
MAIL_FROM_ENV = "QORGAU_MAIL_FROM"
DEFAULT_EML_DIR = "var/outbox-eml"
FOLDER_SCHEME = "eml://"
KEY_HEADER = "X-Qorgau-Idempotency-Key"
HTTP_KEY_HEADER = "Idempotency-Key"
SENDER_HEADER = "X-Qorgau-Sender"  # which worker sent it (QORGAU_WORKER_NAME, else host:pid)


class DeliveryError(Exception):
    """A channel did not take the message. `permanent`: trying again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Letter:
    """One rendered message for one body, ready for its channels."""
    key: str  # the outbox idempotency key: the same on every attempt
    subject: str
    body: str
    language: str  # kk, ru, en or kk+ru
    recipient_id: str
    recipient_name: str
    case_ref: str
    template: str

    @property
    def message_id(self) -> str:
        return message_id(self.key)


def mail_domain() -> str:
    return os.environ.get(MAIL_DOMAIN_ENV) or "qorgau.local"


def message_id(key: str) -> str:
    """The Message-ID of a key: stable across attempts, safe in any mail header."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{mail_domain()}>"


class Channel(Protocol):
    url: str

    def send(self, letter: Letter) -> None:
        """Deliver or raise DeliveryError."""


# --------------------------------------------------------------------------- the folder channel

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_name(key: str) -> str:
    """`VR-75-000001/3/escalation/ministry_health/t2` -> `VR-75-000001_3_escalation_ministry_health_t2.eml`."""
    name = _UNSAFE.sub("_", key).strip("._") or "message"
    if len(name) > 180:
        name = name[:160] + "_" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return name + ".eml"


_READABLE = email_policy.default.clone(utf8=True)


def as_email(letter: Letter) -> EmailMessage:
    """The letter as a mail, in readable UTF-8 (RFC 6532): a newcomer can open the .eml file in any
    text editor as well as in a mail reader."""
    msg = EmailMessage(policy=_READABLE)
    msg["Message-ID"] = letter.message_id
    msg[KEY_HEADER] = letter.key
    msg["X-Qorgau-Case"] = letter.case_ref
    msg["X-Qorgau-Template"] = letter.template
    msg["From"] = Address("Qorgau", addr_spec=os.environ.get(MAIL_FROM_ENV) or f"noreply@{mail_domain()}")
    msg["To"] = Address(letter.recipient_name, addr_spec=f"{_UNSAFE.sub('-', letter.recipient_id)}@{mail_domain()}")
    msg["Subject"] = letter.subject
    msg["Date"] = format_datetime(_now())
    msg["Content-Language"] = letter.language.replace("+", ", ")
    try:
        msg.set_content(letter.body, charset="utf-8", cte="8bit")
    except ValueError:  # a line too long for 8bit mail
        msg.set_content(letter.body, charset="utf-8", cte="quoted-printable")
    return msg


def _now():
    from datetime import datetime, timezone
    return datetime.now(timezone.utc)


class FolderChannel:
    """Writes each message as `<folder>/<key>.eml` (atomically: a reader never sees half a file)."""

    def __init__(self, url: str):
        self.url = url
        self.folder = folder_of(url)

    def send(self, letter: Letter) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            data = as_email(letter).as_bytes()
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".eml")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, self.folder / file_name(letter.key))
        except OSError as exc:
            raise DeliveryError(f"{self.url}: {exc}") from None


def folder_of(url: str) -> Path:
    """`eml://var/outbox-eml` -> ./var/outbox-eml (relative to the working directory);
    `eml:///srv/mail` -> /srv/mail."""
    rest = url[len(FOLDER_SCHEME):]
    return Path(rest).expanduser().resolve() if rest else Path(DEFAULT_EML_DIR).resolve()


# --------------------------------------------------------------------------- apprise channels

class AppriseChannel:
    """Any apprise URL. The URL is parsed once and each delivery thread keeps one plugin instance;
    each message carries its idempotency headers (mail: Message-ID and X-Qorgau-Idempotency-Key;
    HTTP: Idempotency-Key)."""

    def __init__(self, url: str):
        self.url = url
        parsed = apprise_plugins.url_to_dict(url)
        if parsed is None or apprise.Apprise.instantiate(dict(parsed)) is None:
            raise DeliveryError(f"not a channel URL apprise understands: {_private(url)}", permanent=True)
        self._parsed = parsed
        self._mail = parsed.get("schema") in ("mailto", "mailtos")
        self._base_headers = dict(parsed.get("headers") or {})
        self._headers = "headers" in parsed
        self._local = threading.local()

    def _service(self):
        """This thread's plugin instance (built once: parsing and setting one up costs more than a
        webhook); each message sets its own idempotency headers on it before it is sent."""
        service = getattr(self._local, "service", None)
        if service is None:
            service = apprise.Apprise.instantiate(dict(self._parsed))
            if service is None:
                raise DeliveryError(f"{_private(self.url)}: apprise could not set up the service", permanent=True)
            if self._headers and not isinstance(getattr(service, "headers", None), dict):
                self._headers = False  # a plugin that takes no headers
            self._local.service = service
        return service

    def send(self, letter: Letter) -> None:
        service = self._service()
        if self._headers:
            extra = {KEY_HEADER: letter.key, SENDER_HEADER: sender()}
            if not self._mail:
                extra[HTTP_KEY_HEADER] = letter.key
            service.headers = {**self._base_headers, **extra}
        with transport.sending(letter.message_id) as lines:
            try:
                ok = service.notify(body=letter.body, title=letter.subject)
            except Exception as exc:  # a plugin bug must not take the batch down
                raise DeliveryError(f"{_private(self.url)}: {type(exc).__name__}: {exc}") from None
        if not ok:
            detail = "; ".join(lines[-3:]) or "the service refused the message"
            raise DeliveryError(f"{_private(self.url)}: {detail}")


def sender() -> str:
    return os.environ.get("QORGAU_WORKER_NAME") or f"{socket.gethostname()}:{os.getpid()}"


def _private(url: str) -> str:
    """A URL without its password, for logs and the outbox's last_error."""
    return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", url)


# --------------------------------------------------------------------------- choosing channels

_channels_lock = threading.Lock()


_channels: dict[str, Channel] = {}


def channel(url: str) -> Channel:
    """The channel of a URL (built once per process; found without a lock afterwards)."""
    found = _channels.get(url)
    if found is None:
        with _channels_lock:
            found = _channels.get(url)
            if found is None:
                found = FolderChannel(url) if url.startswith(FOLDER_SCHEME) else AppriseChannel(url)
                if len(_channels) < 1024:
                    _channels[url] = found
    return found


def default_channel_urls() -> list[str]:
    raw = os.environ.get(DEFAULT_CHANNELS_ENV)
    if raw and raw.strip():
        return [u for u in re.split(r"[\s,]+", raw.strip()) if u]
    return [FOLDER_SCHEME + DEFAULT_EML_DIR]


def default_eml_folder() -> Path | None:
    """The folder the default channels write .eml files to, if any."""
    for url in default_channel_urls():
        if url.startswith(FOLDER_SCHEME):
            return folder_of(url)
    return None


def urls_for(body) -> list[str]:
    return list(body.channels) or default_channel_urls()


def deliver(letter: Letter, urls: Iterable[str]) -> None:
    """Send a letter over every channel; DeliveryError if any did not take it (permanent only if
    every failure was permanent). Channels that took it will get it again on the retry, with the
    same key."""
    errors: list[DeliveryError] = []
    for url in urls:
        try:
            channel(url).send(letter)
        except DeliveryError as exc:
            errors.append(exc)
    if errors:
        raise DeliveryError("; ".join(str(e) for e in errors), permanent=all(e.permanent for e in errors))
