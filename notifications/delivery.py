"""Turn claimed outbox messages into letters and send them over their bodies' channels, many at a
time. No database writes and no Prefect here: the dispatch flow claims (states/outbox.py), calls
`Courier.deliver`, and records the outcome.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Sequence

from states.outbox import DEAD_LETTER_TEMPLATE, Failure, Message
from states.witness import WITNESS_TEMPLATE

from . import transport
from .channels import DeliveryError, Letter, deliver, urls_for
from .context import ContextError, build_context, default_base_url
from .dead_letter import render_notice
from .render import TemplateError, render_for_body

THREADS_ENV = "QORGAU_DELIVERY_THREADS"


@dataclass
class Outcome:
    sent: list[int] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0


def witness_letter(msg: Message) -> tuple[Letter, list[str]]:
    """An anchor's signed witness document, as it is, to the one witness URL of its row."""
    ctx = msg.context
    if not isinstance(ctx.get("document"), str) or not isinstance(ctx.get("url"), str):
        raise DeliveryError("a witness row without its document or URL", permanent=True)
    letter = Letter(key=msg.idempotency_key, subject=str(ctx.get("subject") or "Qorgau anchor"), body=ctx["document"],
                    language="en", recipient_id="witnesses", recipient_name="witness", case_ref="-",
                    template=msg.template)
    return letter, [ctx["url"]]


class Courier:
    """Renders each message in its body's language and sends it over the body's channels, with a
    pool of threads (sending is waiting on sockets, so threads overlap well)."""

    def __init__(self, registry, directory, *, threads: int | None = None, base_url: str | None = None):
        self.registry, self.directory = registry, directory
        self.base_url = base_url or default_base_url()
        self.threads = threads or int(os.environ.get(THREADS_ENV) or 16)
        self._pool: ThreadPoolExecutor | None = None
        transport.install()  # delivery starts here: apprise is hooked once, before the first send

    def compose(self, msg: Message, now: datetime | None = None) -> tuple[Letter, list[str]]:
        """The letter for a message and the channel URLs it goes to. Raises DeliveryError
        (permanent) when it cannot be rendered."""
        if msg.template == WITNESS_TEMPLATE:
            return witness_letter(msg)
        body = self.directory.find(msg.body_id)
        if body is None:
            raise DeliveryError(f"unknown body {msg.body_id!r} (no longer in the directory)", permanent=True)
        try:
            if msg.template == DEAD_LETTER_TEMPLATE:
                rendered = render_notice(msg.context, body.language, directory=self.directory, base_url=self.base_url)
            else:
                context = build_context(msg.context, msg.template, msg.body_id, registry=self.registry,
                                        directory=self.directory, base_url=self.base_url,
                                        now=now or datetime.now(timezone.utc))
                rendered = render_for_body(msg.template, body.language, context)
        except (ContextError, TemplateError) as exc:
            raise DeliveryError(f"cannot render {msg.template} for {msg.body_id}: {exc}", permanent=True) from None
        letter = Letter(key=msg.idempotency_key, subject=rendered.subject, body=rendered.body,
                        language=rendered.language, recipient_id=body.id, recipient_name=body.name_in("ru"),
                        case_ref=msg.case_ref, template=msg.template)
        return letter, urls_for(body)

    def deliver(self, messages: Sequence[Message], *, max_attempts: int | None = None) -> Outcome:
        """Send every message; each ends up in `sent` or `failures`."""
        started = time.perf_counter()
        out = Outcome()
        if not messages:
            return out
        now = datetime.now(timezone.utc)
        results = self._map(lambda m: self._one(m, now, max_attempts), messages)
        for msg, failure in zip(messages, results):
            if failure is None:
                out.sent.append(msg.id)
            else:
                out.failures.append(failure)
        out.seconds = time.perf_counter() - started
        return out

    def _one(self, msg: Message, now: datetime, max_attempts: int | None) -> Failure | None:
        if max_attempts is not None and msg.attempts > max_attempts:
            # Claimed again after leases ran out with no outcome recorded (a worker died mid-send).
            return Failure(msg.id, f"given up after {msg.attempts - 1} attempts without a recorded outcome",
                           permanent=True)
        try:
            letter, urls = self.compose(msg, now)
            deliver(letter, urls)
        except DeliveryError as exc:
            return Failure(msg.id, str(exc), permanent=exc.permanent)
        except Exception as exc:  # a bug in one message must not lose the others' outcomes
            return Failure(msg.id, f"{type(exc).__name__}: {exc}")
        return None

    def _map(self, fn, items):
        if self.threads <= 1 or len(items) == 1:
            return [fn(i) for i in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="qorgau-delivery")
        return list(self._pool.map(fn, items))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
