"""Instants: always timezone-aware UTC inside the engine; ISO strings in histories."""
from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: instants must carry a timezone")
    return value.astimezone(timezone.utc)


def iso(value: datetime) -> str:
    """Canonical text of an instant, e.g. 2026-04-06T05:00:00Z (microseconds only when present)."""
    value = as_utc(value)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if value.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return value.strftime(fmt)


def parse_iso(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
