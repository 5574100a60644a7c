"""A real RFC 3161 time-stamping authority for the tests: OpenSSL's `openssl ts -reply` behind a
small HTTP endpoint on 127.0.0.1, with a test CA and a TSA certificate made when it is created.

The answer is whatever OpenSSL signs (nothing here builds a time-stamp by hand): the POST body is
written to a query file, `openssl ts -reply` turns it into a reply, and the reply's DER is sent
back as `application/timestamp-reply`. `stop()` closes the port (a TSA that is down) and `start()`
opens the same address again.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

POLICY = "1.3.6.1.4.1.99999.3161.1"  # a test policy OID (a private enterprise arc nobody uses)

CONFIG = """\
[ tsa ]
default_tsa = test_tsa

[ test_tsa ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_digest = sha256
default_policy = {policy}
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def openssl_ts_available() -> bool:
    """Debian's `openssl` with its `ts` subcommand is on the PATH."""
    if shutil.which("openssl") is None:
        return False
    return subprocess.run(["openssl", "ts", "-help"], capture_output=True).returncode == 0


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Qorgau tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(subject: x509.Name, key, issuer: x509.Name, issuer_key, *, ca: bool) -> x509.Certificate:
    now = datetime.now(timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        # RFC 3161 2.3: the TSA's certificate has exactly one, critical, extended key usage
        builder = (builder
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=True, content_commitment=True, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                       encipher_only=False, decipher_only=False), critical=True))
    return builder.sign(issuer_key, hashes.SHA256())


def _write_key(path: Path, key) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


class TestTsa:
    """A time-stamping authority of its own (CA, TSA key and certificate in a temporary directory).

    `url` is where to POST a TimeStampReq; `ca_pem_path` the root certificate to trust;
    `tsa_cert_pem_path` the TSA's own certificate. Use as a context manager, or start()/stop().

    Its replies carry the TSA's certificate only (when the request asks for it), not the CA's:
    OpenSSL writes the SignedData's SET OF certificates unsorted, and rfc3161-client, a strict DER
    parser, refuses two certificates out of DER order (half of the time, by their lengths)."""

    __test__ = False  # not a pytest test class

    def __init__(self, name: str = "Qorgau test TSA"):
        self.dir = Path(tempfile.mkdtemp(prefix="qorgau-tsa-"))
        ca_key, tsa_key = _key(), _key()
        ca_name = _name(f"{name} root CA")
        ca = _certificate(ca_name, ca_key, ca_name, ca_key, ca=True)
        tsa = _certificate(_name(name), tsa_key, ca_name, ca_key, ca=False)
        self.ca_pem_path = self.dir / "ca.pem"
        self.tsa_cert_pem_path = self.dir / "tsa.pem"
        self.ca_pem_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self.tsa_cert_pem_path.write_bytes(tsa.public_bytes(serialization.Encoding.PEM))
        _write_key(self.dir / "tsa.key", tsa_key)
        (self.dir / "serial").write_text("01\n")
        (self.dir / "openssl.cnf").write_text(CONFIG.format(dir=self.dir, policy=POLICY))
        self.port: int | None = None
        # Set to (HTTP status, body) to make the endpoint answer that instead of asking OpenSSL:
        # a TSA that misbehaves (busy, broken, replaying an old answer).
        self.fixed_answer: tuple[int, bytes] | None = None
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the test TSA has not been started yet")
        return f"http://127.0.0.1:{self.port}/"

    def reply(self, query: bytes) -> bytes:
        """`openssl ts -reply` for a DER TimeStampReq: the DER TimeStampResp (a rejection too)."""
        work = Path(tempfile.mkdtemp(dir=self.dir))
        try:
            (work / "query.tsq").write_bytes(query)
            subprocess.run(
                ["openssl", "ts", "-reply", "-config", str(self.dir / "openssl.cnf"),
                 "-queryfile", str(work / "query.tsq"), "-signer", str(self.tsa_cert_pem_path),
                 "-inkey", str(self.dir / "tsa.key"),
                 "-out", str(work / "reply.tsr")],
                check=True, capture_output=True, timeout=30)
            return (work / "reply.tsr").read_bytes()
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def start(self) -> "TestTsa":
        """Listen (again) on 127.0.0.1, on the same port as before if there was one."""
        if self._server is not None:
            return self
        self._server = HTTPServer(("127.0.0.1", self.port or 0), _handler(self))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-tsa", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port: a client's connection is refused until start()."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = self._thread = None

    def close(self) -> None:
        """Stop and remove the keys and certificates."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "TestTsa":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def _handler(tsa: TestTsa) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            query = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if tsa.fixed_answer is not None:
                return self._answer(*tsa.fixed_answer, "application/timestamp-reply")
            if self.headers.get("Content-Type") != "application/timestamp-query":
                return self._answer(415, b"expected application/timestamp-query", "text/plain")
            try:
                body = tsa.reply(query)
            except subprocess.CalledProcessError as e:  # not a TimeStampReq at all
                return self._answer(400, e.stderr, "text/plain")
            self._answer(200, body, "application/timestamp-reply")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # quiet in test output
            pass

    return Handler
