"""Local receivers for tests and benchmarks: a real HTTP webhook sink and a real SMTP server, both
on 127.0.0.1 only. They record what arrived, so a test can check keys, headers and counts.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    payload: dict

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True


class HttpSink:
    """A JSON webhook receiver on 127.0.0.1:`port` (0: any free port). `fail_next(n, status)`
    makes it answer the next n requests with an error; `fail_paths` always fail."""

    def __init__(self, port: int = 0):
        self.hits: list[Hit] = []
        self.refused = 0
        self.connections = 0  # TCP connections accepted (keep-alive clients reuse theirs)
        self._lock = threading.Lock()
        self._fail_budget = 0
        self._fail_status = 503
        self.fail_paths: set[str] = set()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with sink._lock:
                    sink.connections += 1

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status = sink._status_for(self.path)
                if status == 200:
                    try:
                        payload = json.loads(raw or b"{}")
                    except ValueError:
                        payload = {"raw": raw.decode("utf-8", "replace")}
                    with sink._lock:
                        sink.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, payload))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = _Server(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-sink", daemon=True)

    def _status_for(self, path: str) -> int:
        with self._lock:
            if path in self.fail_paths:
                self.refused += 1
                return self._fail_status
            if self._fail_budget > 0:
                self._fail_budget -= 1
                self.refused += 1
                return self._fail_status
        return 200

    def fail_next(self, n: int, status: int = 503) -> None:
        with self._lock:
            self._fail_budget, self._fail_status = n, status

    def url(self, path: str = "/hook") -> str:
        """The apprise URL of this sink."""
        return f"json://127.0.0.1:{self.port}{path}"

    def keys(self) -> list[str | None]:
        with self._lock:
            return [h.key for h in self.hits]

    def __enter__(self) -> "HttpSink":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1; `messages` holds each received mail."""

    def __init__(self, port: int = 0):
        from aiosmtpd.controller import Controller

        self.messages = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
                sink.messages.append(message_from_bytes(envelope.original_content or envelope.content,
                                                        policy=policy.default))
                return "250 OK"

        if port == 0:
            from deployments.ports import free_port
            port = free_port()
        self.port = port
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def url(self, to: str = "dept@example.kz") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=qorgau@example.kz&to={to}"

    def __enter__(self) -> "SmtpSink":
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()
