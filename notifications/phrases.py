"""Words that depend on numbers and dates, in kk, ru and en, for the notification context.

Each function returns a `{kk, ru, en}` dict of finished phrases, so templates never decline a noun
or pick a suffix themselves: Russian needs three plural forms, Kazakh a case suffix that follows
vowel harmony, and neither belongs in a template.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from states.calendar import to_local

Phrases = dict[str, str]

# Where a time is shown, the reader is told which clock it is on (spec: show times in KZ time).
_ZONE = {"kk": "Астана уақыты", "ru": "время Астаны", "en": "Astana time"}

# unit -> Kazakh: (noun, dative "late by N", ablative "in N")
_KK = {
    "day": ("күн", "күнге", "күннен"),
    "hour": ("сағат", "сағатқа", "сағаттан"),
    "minute": ("минут", "минутқа", "минуттан"),
    "working_day": ("жұмыс күні", "жұмыс күніне", "жұмыс күнінен"),
}
# unit -> Russian accusative (= nominative for these) forms for 1 / 2-4 / 5+, then genitive for 1 / many
_RU = {
    "day": (("день", "дня", "дней"), ("дня", "дней")),
    "hour": (("час", "часа", "часов"), ("часа", "часов")),
    "minute": (("минуту", "минуты", "минут"), ("минуты", "минут")),
    "working_day": (("рабочий день", "рабочих дня", "рабочих дней"), ("рабочего дня", "рабочих дней")),
}
_EN = {"day": "day", "hour": "hour", "minute": "minute", "working_day": "working day"}


def ru_plural(n: int, forms: tuple[str, str, str]) -> str:
    """The Russian form for `n`: 1 день, 2 дня, 5 дней (11-14 take the third form)."""
    if n % 10 == 1 and n % 100 != 11:
        return forms[0]
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return forms[1]
    return forms[2]


def _ru_genitive(n: int, unit: str) -> str:
    one, many = _RU[unit][1]
    return one if n % 10 == 1 and n % 100 != 11 else many


def _en(n: int, unit: str) -> str:
    return f"{n} {_EN[unit]}" + ("" if n == 1 else "s")


def local_time(instant: datetime) -> Phrases:
    """`09.04.2026 18:00 (время Астаны)`: the instant on the Kazakhstan clock, with the clock named."""
    shown = to_local(instant).strftime("%d.%m.%Y %H:%M")
    return {lang: f"{shown} ({zone})" for lang, zone in _ZONE.items()}


def short_time(instant: datetime) -> str:
    """`09.04.2026 18:00`, Kazakhstan clock, for subjects where the clock name does not fit."""
    return to_local(instant).strftime("%d.%m.%Y %H:%M")


def _span(delta: timedelta) -> tuple[int, str]:
    """A duration in the one unit a reader thinks in: minutes under an hour, hours under a day,
    whole days above (a deadline's exact time is shown next to it)."""
    minutes = max(1, int(delta.total_seconds() // 60))
    if minutes < 60:
        return minutes, "minute"
    if minutes < 24 * 60:
        return minutes // 60, "hour"
    return minutes // (24 * 60), "day"


def amount(delta: timedelta) -> Phrases:
    """The bare duration: `2 күн`, `2 дня`, `2 days`."""
    n, unit = _span(delta)
    return {"kk": f"{n} {_KK[unit][0]}", "ru": f"{n} {ru_plural(n, _RU[unit][0])}", "en": _en(n, unit)}


def lateness(delta: timedelta) -> Phrases:
    """How late a task is: `2 күнге кешікті`, `просрочено на 2 дня`, `2 days overdue`."""
    n, unit = _span(delta)
    return {"kk": f"{n} {_KK[unit][1]} кешікті",
            "ru": f"просрочено на {n} {ru_plural(n, _RU[unit][0])}",
            "en": f"{_en(n, unit)} overdue"}


def time_left(delta: timedelta) -> Phrases:
    """How soon a deadline falls: `3 күннен кейін`, `через 3 дня`, `in 3 days`."""
    n, unit = _span(delta)
    return {"kk": f"{n} {_KK[unit][2]} кейін",
            "ru": f"через {n} {ru_plural(n, _RU[unit][0])}",
            "en": f"in {_en(n, unit)}"}


_RULE_UNITS = {"hours": "hour", "working_days": "working_day", "days": "day"}


def within(rule: dict[str, int]) -> Phrases | None:
    """A deadline rule as a span: `1 жұмыс күні ішінде`, `в течение 1 рабочего дня`,
    `within 1 working day`; None for rules that are not a span (months, day of next month)."""
    if len(rule) != 1:
        return None
    (name, n), = rule.items()
    unit = _RULE_UNITS.get(name)
    if unit is None:
        return None
    return {"kk": f"{n} {_KK[unit][0]} ішінде",
            "ru": f"в течение {n} {_ru_genitive(n, unit)}",
            "en": f"within {_en(n, unit)}"}


_PERIOD = re.compile(r"^(\d{4})-([QH])([1-4])$")
_ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV"}


def period_title(period: str) -> Phrases:
    """A reporting period `2026-Q1` / `2026-H2` in words: `I квартал 2026 года`, `2026 жылғы II
    жартыжылдық`. Raises ValueError for anything else."""
    match = _PERIOD.match(period.strip()) if isinstance(period, str) else None
    if not match or (match[2] == "H" and match[3] not in "12"):
        raise ValueError(f"period {period!r} is not YYYY-Qn (n = 1..4) or YYYY-Hn (n = 1..2)")
    year, kind, n = match[1], match[2], match[3]
    roman = _ROMAN[n]
    if kind == "Q":
        return {"kk": f"{year} жылғы {roman} тоқсан", "ru": f"{roman} квартал {year} года", "en": f"Q{n} {year}"}
    return {"kk": f"{year} жылғы {roman} жартыжылдық", "ru": f"{roman} полугодие {year} года", "en": f"H{n} {year}"}
