"""RFC 3161 time-stamps against a real TSA on this machine (OpenSSL's `ts -reply` behind HTTP,
tests/support/tsa.py): a token proves when the TSA saw an anchor's root, and nothing else passes."""
from __future__ import annotations

import hashlib
import subprocess
from datetime import timedelta

import pytest

from states.clock import utcnow
from states.timestamps import (TokenInvalid, TsaNotConfigured, TsaRefused, TsaSettings, TsaUnavailable,
                               request_token, verify_token)
from support.tsa import TestTsa, openssl_ts_available

pytestmark = pytest.mark.skipif(not openssl_ts_available(), reason="needs Debian's openssl with `openssl ts`")

ROOT = hashlib.sha256(b"anchor 1 root").digest()  # what the anchor code sends: a 32-byte Merkle root
OTHER_ROOT = hashlib.sha256(b"anchor 2 root").digest()


@pytest.fixture(scope="module")
def tsa():
    with TestTsa() as tsa:
        yield tsa


@pytest.fixture(scope="module")
def other_tsa():
    """A TSA under another root: its tokens are well formed, and worthless to the first's trust."""
    with TestTsa("Other test TSA") as tsa:
        yield tsa


@pytest.fixture
def settings(tsa) -> TsaSettings:
    return TsaSettings.from_env({"QORGAU_TSA_URL": tsa.url, "QORGAU_TSA_CA": str(tsa.ca_pem_path),
                                 "QORGAU_TSA_TIMEOUT": "5"})


@pytest.fixture(scope="module")
def token(tsa) -> bytes:
    return request_token(TsaSettings(tsa.url, tsa.ca_pem_path), ROOT)


def flip(data: bytes, at: int) -> bytes:
    """`data` with one bit of one byte changed (a digit stays a digit: 0<->1, ..., 8<->9)."""
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def test_a_token_proves_when_the_tsa_saw_the_root(settings, token):
    at = verify_token(settings, token, ROOT)
    assert at.utcoffset() == timedelta(0)
    assert abs(utcnow() - at) < timedelta(minutes=1)


def test_an_auditor_needs_only_the_tsa_root_certificate(tsa, token):
    assert verify_token(tsa.ca_pem_path, token, ROOT) == verify_token(str(tsa.ca_pem_path), token, ROOT)


def test_a_pinned_tsa_certificate_accepts_its_tokens(tsa, token):
    assert verify_token(TsaSettings(None, tsa.ca_pem_path, cert_path=tsa.tsa_cert_pem_path), token, ROOT)


def test_openssl_verifies_the_stored_token_too(tsa, token, tmp_path):
    """What is stored is a plain TimeStampResp: checkable without Qorgau."""
    (tmp_path / "token.tsr").write_bytes(token)
    (tmp_path / "root.bin").write_bytes(ROOT)
    out = subprocess.run(["openssl", "ts", "-verify", "-in", tmp_path / "token.tsr", "-data", tmp_path / "root.bin",
                          "-CAfile", tsa.ca_pem_path], capture_output=True, text=True)
    assert "Verification: OK" in out.stdout, out.stderr


def test_a_token_for_another_root_is_refused(settings, token):
    with pytest.raises(TokenInvalid, match="other bytes"):
        verify_token(settings, token, OTHER_ROOT)


def test_a_token_altered_to_claim_another_root_is_refused(settings, token):
    imprint = hashlib.sha256(ROOT).digest()
    with pytest.raises(TokenInvalid):
        verify_token(settings, flip(token, token.index(imprint)), ROOT)


def _gen_time(token: bytes) -> int:
    """Where the last digit of the TSTInfo's genTime (GeneralizedTime, 15 bytes) is."""
    return token.index(b"\x18\x0f" + str(utcnow().year).encode()) + 2 + 13


def _serial(token: bytes) -> int:
    """Where the TSTInfo's serial number (right after the 32-byte imprint) is."""
    return token.index(hashlib.sha256(ROOT).digest()) + 32 + 2


@pytest.mark.parametrize("where", [_gen_time, _serial, lambda token: len(token) - 5],
                         ids=["its time", "its serial", "its signature"])
def test_a_token_altered_by_one_byte_is_refused(settings, token, where):
    with pytest.raises(TokenInvalid, match="does not verify"):
        verify_token(settings, flip(token, where(token)), ROOT)


def test_bytes_that_are_no_time_stamp_response_are_refused(settings):
    with pytest.raises(TokenInvalid, match="not a DER time-stamp response"):
        verify_token(settings, b"\x30\x03\x02\x01\x00", ROOT)


def test_a_token_from_a_tsa_under_another_root_is_refused(tsa, other_tsa):
    forged = request_token(TsaSettings(other_tsa.url, other_tsa.ca_pem_path), ROOT)
    assert verify_token(other_tsa.ca_pem_path, forged, ROOT)  # a good token, under its own root
    with pytest.raises(TokenInvalid, match="does not verify"):
        verify_token(tsa.ca_pem_path, forged, ROOT)


def test_a_tsa_under_another_root_is_refused_when_asked(tsa, other_tsa):
    with pytest.raises(TsaRefused, match="does not verify"):
        request_token(TsaSettings(other_tsa.url, tsa.ca_pem_path), ROOT)


def test_a_tsa_that_is_down_delays_the_token_until_it_is_back(settings, tsa):
    tsa.stop()
    try:
        with pytest.raises(TsaUnavailable):
            request_token(settings, ROOT)
    finally:
        tsa.start()
    assert abs(verify_token(settings, request_token(settings, ROOT), ROOT) - utcnow()) < timedelta(minutes=1)


@pytest.mark.parametrize("status", [503, 500, 429])
def test_a_busy_or_broken_tsa_is_asked_again_later(settings, tsa, status):
    tsa.fixed_answer = (status, b"")
    try:
        with pytest.raises(TsaUnavailable, match=str(status)):
            request_token(settings, ROOT)
    finally:
        tsa.fixed_answer = None


def _sha1_query(tmp_path) -> bytes:
    (tmp_path / "data").write_bytes(ROOT)
    subprocess.run(["openssl", "ts", "-query", "-data", tmp_path / "data", "-sha1", "-cert",
                    "-out", tmp_path / "query.tsq"], check=True, capture_output=True)
    return (tmp_path / "query.tsq").read_bytes()


@pytest.mark.parametrize("answer", ["replayed", "rejection", "garbage", "http 400"])
def test_an_answer_that_is_not_a_grant_for_this_request_is_refused(settings, tsa, token, tmp_path, answer):
    fixed = {"replayed": lambda: (200, token),  # a good token, for another request's nonce
             "rejection": lambda: (200, tsa.reply(_sha1_query(tmp_path))),  # OpenSSL's, for SHA-1
             "garbage": lambda: (200, b"<html>maintenance</html>"),
             "http 400": lambda: (400, b"")}[answer]()
    tsa.fixed_answer = fixed
    try:
        with pytest.raises(TsaRefused, match={"replayed": "Nonce mismatch", "rejection": "did not grant",
                                              "garbage": "not a DER", "http 400": "400"}[answer]):
            request_token(settings, ROOT)
    finally:
        tsa.fixed_answer = None


def test_without_a_url_there_is_no_time_stamping():
    settings = TsaSettings.from_env({})
    assert not settings.enabled
    with pytest.raises(TsaNotConfigured):
        request_token(settings, ROOT)


def test_a_url_without_a_trusted_root_is_a_configuration_error(tsa):
    with pytest.raises(TsaNotConfigured, match="QORGAU_TSA_CA"):
        TsaSettings.from_env({"QORGAU_TSA_URL": tsa.url})
    with pytest.raises(TsaNotConfigured, match="not a readable PEM"):
        verify_token("/nonexistent/ca.pem", b"", ROOT)
