"""Valid launch and trigger data for the CURRENT version of the algorithms (version 2), shared by the
tests of generic engine behaviour. A test about a rule version 2 changed pins `version=1` itself and
says so in its name; every other test launches the latest version through these helpers.

    engine.launch("violence-report", "KZ-75", school, violence_report_data(now=T0), now=T0)
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

KZ = timezone(timedelta(hours=5))


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(timezone.utc)


def detected_at(now: datetime | None = None, **before) -> str:
    """An ISO date-time with the Kazakhstan offset, `before` (timedelta keywords; default an hour)
    before `now` (default: the wall clock)."""
    delta = timedelta(**before) if before else timedelta(hours=1)
    return (_now(now) - delta).astimezone(KZ).isoformat()


def violence_report_data(now: datetime | None = None, **overrides: Any) -> dict[str, Any]:
    """violence-report v2 launch data: form, channel, summary, and the duty-to-report fields
    (`detected_at` an hour before `now`, `reporter`). `overrides` replace or add fields; a value of
    None drops the field."""
    data: dict[str, Any] = {"form": "bullying", "channel": "school", "summary": "repeated name-calling in class 5B",
                            "detected_at": detected_at(now), "reporter": "teacher"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def police_check_data(outcome: str = "criminal_case", **overrides: Any) -> dict[str, Any]:
    """violence-report v2 `police_check_done` data: with `register` and
    `registry_number` unless the outcome is `no_offence`."""
    data: dict[str, Any] = {"outcome": outcome}
    if outcome != "no_offence":
        data.update(register="erdr", registry_number="261500031000123")
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}
