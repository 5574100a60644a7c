"""RFC 3161 time-stamps: a time-stamping authority (TSA) signs that some bytes existed at a time.

An anchor's root sent to a TSA comes back as a signed token that a third party can check without
trusting Qorgau's clock or its database. `request_token` asks the TSA and checks the answer;
`verify_token` checks a stored token again at any later time. Requests, parsing and verification
(signature, chain to the trusted root, the TSA certificate's critical timeStamping EKU, the
message imprint, the nonce) are `rfc3161-client`'s; this module adds the HTTP call, the settings
and errors with a code.

What is stored is the whole DER TimeStampResp (status and token), not the bare token:
rfc3161-client verifies responses, and `openssl ts -verify -in FILE -data ...` reads the same file.

The TSA is sent the SHA-256 of `message` (the library hashes; it takes no ready digest), so a token
is checked against the same `message` bytes: for an anchor, its 32-byte Merkle root.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from cryptography import x509
from rfc3161_client import (HashAlgorithm, TimestampRequestBuilder, VerificationError, VerifierBuilder,
                            decode_timestamp_response)

from .clock import as_utc

URL_ENV, CA_ENV, CERT_ENV, TIMEOUT_ENV = "QORGAU_TSA_URL", "QORGAU_TSA_CA", "QORGAU_TSA_CERT", "QORGAU_TSA_TIMEOUT"
QUERY_TYPE = "application/timestamp-query"
RETRY_LATER = {408, 429}  # besides 5xx: the TSA is busy, not saying no


class TimestampError(Exception):
    """A time-stamp could not be obtained or does not verify; `code` says which, the message why."""

    code = "timestamp_error"

    def __init__(self, message: str):
        super().__init__(f"{self.code}: {message}")
        self.message = message


class TsaNotConfigured(TimestampError):
    """The settings are incomplete or their certificate files cannot be read."""

    code = "tsa_not_configured"


class TsaUnavailable(TimestampError):
    """The TSA is down, unreachable, timed out or busy (5xx, 408, 429): ask again later."""

    code = "tsa_unavailable"


class TsaRefused(TimestampError):
    """The TSA answered, but not with a valid grant for this request (a rejection, an answer that
    does not parse or verify, another request's nonce): asking again will likely not help."""

    code = "tsa_refused"


class TokenInvalid(TimestampError):
    """A stored token does not prove the time of these bytes: altered, for other bytes, or not
    signed by a TSA under the trusted root."""

    code = "token_invalid"


@dataclass(frozen=True)
class TsaSettings:
    """Where to ask for time-stamps and whom to trust. `url` None: no time-stamping."""

    url: str | None
    ca_path: Path | None = None  # PEM: the trusted root certificate(s) of the TSA
    cert_path: Path | None = None  # PEM: the TSA's own certificate, for tokens that do not carry it
    timeout: float = 10.0  # seconds, for connecting and for the answer

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TsaSettings:
        """`QORGAU_TSA_URL`, `QORGAU_TSA_CA` (required with a URL), `QORGAU_TSA_CERT`, `QORGAU_TSA_TIMEOUT`."""
        env = os.environ if env is None else env
        url = env.get(URL_ENV) or None
        ca, cert = env.get(CA_ENV) or None, env.get(CERT_ENV) or None
        if url and not ca:
            raise TsaNotConfigured(f"{URL_ENV} is set but {CA_ENV} is not: name the PEM file of the TSA's root "
                                   "certificate, or tokens could not be verified")
        try:
            timeout = float(env.get(TIMEOUT_ENV) or 10)
        except ValueError:
            raise TsaNotConfigured(f"{TIMEOUT_ENV}={env[TIMEOUT_ENV]!r} is not a number of seconds") from None
        return cls(url, Path(ca) if ca else None, Path(cert) if cert else None, timeout)

    @property
    def enabled(self) -> bool:
        return self.url is not None


def request_token(settings: TsaSettings, message: bytes) -> bytes:
    """Ask the TSA to time-stamp `message` (SHA-256, a fresh nonce, its certificate requested) and
    return the DER TimeStampResp once it verifies as `verify_token` would, with this request's nonce.

    Raises TsaUnavailable (try again later), TsaRefused, or TsaNotConfigured."""
    if not settings.url:
        raise TsaNotConfigured(f"no time-stamping authority: {URL_ENV} is not set")
    roots, tsa_cert = _trust(settings)  # before asking: a TSA cannot help a broken configuration
    request = (TimestampRequestBuilder().data(message).hash_algorithm(HashAlgorithm.SHA256)
               .nonce(nonce=True).cert_request(cert_request=True).build())
    try:
        answer = httpx.post(settings.url, content=request.as_bytes(), headers={"Content-Type": QUERY_TYPE},
                            timeout=settings.timeout)
    except httpx.TransportError as exc:  # refused, reset, timed out, DNS
        raise TsaUnavailable(f"{settings.url}: {type(exc).__name__}: {exc}") from None
    if answer.status_code >= 500 or answer.status_code in RETRY_LATER:
        raise TsaUnavailable(f"{settings.url} answered HTTP {answer.status_code}")
    if answer.status_code != 200:
        raise TsaRefused(f"{settings.url} answered HTTP {answer.status_code}")
    try:
        _verified(roots, tsa_cert, answer.content, message, nonce=request.nonce)
    except TokenInvalid as exc:
        raise TsaRefused(f"{settings.url}: {exc.message}") from None
    return answer.content


def verify_token(trust: TsaSettings | str | os.PathLike, token: bytes, message: bytes) -> datetime:
    """The time (aware UTC) at which the TSA saw `message`, once `token` (a DER TimeStampResp)
    verifies: granted, signed by a certificate with the critical timeStamping EKU that chains to the
    trusted root (`trust`: the settings, or the path of a root PEM), over the SHA-256 of `message`.

    The caller compares the time with what it expects (a token older than its anchor is suspect).
    Raises TokenInvalid with the reason, or TsaNotConfigured."""
    settings = trust if isinstance(trust, TsaSettings) else TsaSettings(url=None, ca_path=Path(trust))
    roots, tsa_cert = _trust(settings)
    return _verified(roots, tsa_cert, token, message)


def _verified(roots: list[x509.Certificate], tsa_cert: x509.Certificate | None, token: bytes, message: bytes,
              nonce: int | None = None) -> datetime:
    try:
        response = decode_timestamp_response(token)
    except ValueError as exc:
        raise TokenInvalid(f"not a DER time-stamp response ({exc})") from None
    if response.status != 0:  # PKIStatus granted; the others carry no token
        reason = "; ".join(response.status_string) or "no reason given"
        raise TokenInvalid(f"the TSA did not grant the time-stamp (status {response.status}: {reason})")
    # Checked here first only for a clearer reason; the library checks it again under the signature.
    if response.tst_info.message_imprint.message != hashlib.sha256(message).digest():
        raise TokenInvalid("the token is for other bytes (its message imprint is not their SHA-256)")
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    if tsa_cert is not None:
        builder = builder.tsa_certificate(tsa_cert)
    if nonce is not None:
        builder = builder.nonce(nonce)
    try:
        builder.build().verify(response, hashlib.sha256(message).digest())
    except VerificationError as exc:
        # e.g. altered since signed, signed under another root, no timeStamping EKU, another nonce
        raise TokenInvalid(f"the token does not verify (altered, or not signed by a TSA under the trusted "
                           f"root): {exc}") from None
    return as_utc(response.tst_info.gen_time)


def _trust(settings: TsaSettings) -> tuple[list[x509.Certificate], x509.Certificate | None]:
    if settings.ca_path is None:
        raise TsaNotConfigured(f"no trusted root for time-stamps: set {CA_ENV}")
    roots = _certificates(settings.ca_path, CA_ENV)
    tsa_cert = _certificates(settings.cert_path, CERT_ENV)[0] if settings.cert_path else None
    return roots, tsa_cert


def _certificates(path: Path, env_name: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise TsaNotConfigured(f"{env_name}={path}: not a readable PEM certificate file ({exc})") from None
