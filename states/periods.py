"""Reporting periods of the plan: `YYYY-Qn` (quarter) and `YYYY-Hn` (half-year)."""
from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

PERIOD_RE = re.compile(r"^(\d{4})-(Q[1-4]|H[12])$")


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day of a period; ValueError naming the format for anything else."""
    m = PERIOD_RE.match(period or "")
    if not m:
        raise ValueError(f"period {period!r} must be YYYY-Qn (n = 1..4) or YYYY-Hn (n = 1..2)")
    year, part = int(m.group(1)), m.group(2)
    n = int(part[1])
    months = 3 if part[0] == "Q" else 6
    first_month = (n - 1) * months + 1
    last_month = first_month + months - 1
    return date(year, first_month, 1), date(year, last_month, calendar.monthrange(year, last_month)[1])


def period_end(period: str | None) -> date | None:
    return period_bounds(period)[1] if period else None


def period_start(period: str) -> date:
    """The first day of a period."""
    return period_bounds(period)[0]


def period_of(day: date, kind: str) -> str:
    """The quarter (`kind` "Q") or half-year ("H") holding `day`: 2026-11-25 -> 2026-Q4 / 2026-H2."""
    months = {"Q": 3, "H": 6}[kind]
    return f"{day.year}-{kind}{(day.month - 1) // months + 1}"


def latest_ended_periods(today: date) -> list[str]:
    """The quarter and the half-year that ended most recently before `today`
    (on 2026-11-25: 2026-Q3 and 2026-H1; on 2026-07-01: 2026-Q2 and 2026-H1)."""
    return [period_of(period_start(period_of(today, kind)) - timedelta(days=1), kind) for kind in ("Q", "H")]


def quarters_of(half: str) -> list[str]:
    """`2026-H1` -> [`2026-Q1`, `2026-Q2`]."""
    first, last = period_bounds(half)
    if (last.month - first.month) != 5:
        raise ValueError(f"{half!r} is not a half-year")
    year = first.year
    start_q = (first.month - 1) // 3 + 1
    return [f"{year}-Q{start_q}", f"{year}-Q{start_q + 1}"]
