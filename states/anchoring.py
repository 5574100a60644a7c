"""Taking anchors: the anchor of this minute (if anything was written), its witness document, and
the RFC 3161 tokens still owed. The `anchor-heads` flow runs `anchor_now` every
QORGAU_ANCHOR_INTERVAL seconds; `qorgau anchor` runs it by hand.

A TSA that is down delays the token, never the anchor: the anchor and its witness document are
written at once, and every later run asks again for the tokens still missing, oldest first.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from . import tables as T
from .anchor import Anchor, make_anchor
from .clock import as_utc, utcnow
from .timestamps import TimestampError, TsaSettings, TsaUnavailable, request_token, verify_token
from .witness import Witnessing

log = logging.getLogger("qorgau.anchoring")
INTERVAL_ENV = "QORGAU_ANCHOR_INTERVAL"
DEFAULT_INTERVAL = 60.0
STAMP_BATCH = 50  # tokens asked for per run (the backlog after an outage drains over a few runs)


def anchor_interval() -> float:
    return float(os.environ.get(INTERVAL_ENV) or DEFAULT_INTERVAL)


@dataclass
class Anchored:
    anchor: Anchor | None
    stamped: int = 0
    unstamped: int = 0  # anchors still waiting for a token
    tsa_error: str | None = None


def anchor_now(engine, now: datetime | None = None, *, force: bool = False, witnessing: Witnessing | None = None,
               tsa: TsaSettings | None = None) -> Anchored:
    now = as_utc(now or utcnow())
    witnessing = witnessing or Witnessing()
    anchor = make_anchor(engine, now, force=force, witness=witnessing)
    tsa = TsaSettings.from_env() if tsa is None else tsa
    out = Anchored(anchor)
    if tsa.enabled:
        stamp_pending(engine, witnessing, tsa, now, out)
    return out


def stamp_pending(engine, witnessing: Witnessing, tsa: TsaSettings, now: datetime, out: Anchored) -> None:
    """Ask the TSA for the tokens still missing, oldest first; stop at the first sign it is down."""
    a = T.anchors.c
    with engine.reader() as conn:
        waiting = conn.execute(select(a.id, a.document).where(a.tsa_token.is_(None), a.document.is_not(None))
                               .order_by(a.id)).all()
    for row in waiting[:STAMP_BATCH]:
        message = row.document.encode("utf-8")
        try:
            token = request_token(tsa, message)  # outside any transaction: a slow TSA blocks no writer
            at = verify_token(tsa, token, message)
        except TsaUnavailable as exc:
            out.tsa_error = exc.message
            log.warning("TSA unavailable; anchor %s waits for its token: %s", row.id, exc.message)
            break
        except TimestampError as exc:
            out.tsa_error = exc.message
            log.error("TSA refused anchor %s: %s", row.id, exc.message)
            break
        with engine.db.begin() as conn:
            witnessing.timestamp(conn, row.id, token, at, now)
        out.stamped += 1
    out.unstamped = len(waiting) - out.stamped
