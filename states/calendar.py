"""Kazakhstan working-day calendar and the deadline rules of the algorithm definitions.

Time: Kazakhstan has one zone, UTC+05:00, since 1 March 2024. Instants are stored as UTC-aware
datetimes; deadlines are computed on the local (UTC+5) wall clock and returned in UTC. Earlier
instants are also read as UTC+5 (the eastern regions were UTC+6 before the change), which is
good enough for cases opened before the system existed.

Working day: Monday-Friday that is neither a public holiday nor a transferred day off, plus any
Saturday/Sunday made a working day by a transfer. It ends at 18:00 local time.

Where the days come from:
  * Public holidays: the `holidays` package, country "KZ". It already applies the Labour Code
    rule that a holiday falling on a weekend gives the next working day off (e.g. Nauryz
    21-23 March 2026, Sat-Mon, also gives Tue 24 and Wed 25 off), except for Orthodox Christmas
    and Kurban Ait, which are not moved; Kurban Ait of future years is an estimate.
  * Transfers of days off: `algorithms/data/kz_transfers.yaml`, plus deployment files (see
    `Calendar.load`). The `holidays` package also ships the transfers it knows (up to 2025 in
    version 0.109) as "substituted" days off and `weekend_workdays`; we honour both sources.
    Every source only adds members to a set, so a transfer present in both is not counted twice.
    Entries of the data files win over the package, so a deployment can correct it.
"""
from __future__ import annotations

import calendar as _month_calendar
import functools
import os
import threading
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Iterable

import holidays
import yaml

KZ_TZ = timezone(timedelta(hours=5))
DEADLINE_UNITS = ("hours", "working_days", "days", "months", "day_of_next_month",
                  "working_day_before_day_of_next_month")
WORKDAY_END = time(18, 0)
TRANSFERS_ENV = "QORGAU_CALENDAR_TRANSFERS"
# Found next to this package rather than through importlib.resources: `algorithms` may resolve
# as a namespace package under an editable install, which resources cannot read from.
SHIPPED_TRANSFERS = Path(__file__).resolve().parents[1] / "algorithms" / "data" / "kz_transfers.yaml"


def to_local(instant: datetime) -> datetime:
    """The instant on the Kazakhstan wall clock (UTC+5)."""
    if not isinstance(instant, datetime) or instant.utcoffset() is None:
        # A naive value is ambiguous (SQLite hands them back, for one): refuse rather than guess.
        raise ValueError(f"expected a timezone-aware datetime, got {instant!r}")
    return instant.astimezone(KZ_TZ)


def local_date(instant: datetime) -> date:
    """The Kazakhstan calendar date of an instant."""
    return to_local(instant).date()


def _add_months(d: date, months: int, day: int) -> date:
    """Day `day` of the month `months` after d's month, clamped to that month's last day."""
    years, month0 = divmod(d.month - 1 + months, 12)
    year, month = d.year + years, month0 + 1
    return date(year, month, min(day, _month_calendar.monthrange(year, month)[1]))


def _day_of_month(unit: str, n: int) -> int:
    if not 1 <= n <= 31:
        raise ValueError(f"deadline {unit}: expected a day 1..31, got {n}")
    return n


def _as_date(value: object, where: str) -> date:
    # YAML gives `date` for unquoted ISO dates; accept quoted ones too.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{where}: expected a date YYYY-MM-DD, got {value!r}")


def _read_transfers(text: str, name: str) -> tuple[set[date], set[date]]:
    """(days_off, working_days) of one transfers file."""
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a mapping with transfers / days_off / working_days")
    unknown = set(data) - {"transfers", "days_off", "working_days"}
    if unknown:
        raise ValueError(f"{name}: unknown keys {sorted(unknown)}")
    days_off = {_as_date(v, f"{name}: days_off") for v in data.get("days_off") or ()}
    working = {_as_date(v, f"{name}: working_days") for v in data.get("working_days") or ()}
    for i, t in enumerate(data.get("transfers") or ()):
        where = f"{name}: transfers[{i}]"
        # The key is `day_off`, not `off`: YAML 1.1 reads a bare `off` as the boolean false.
        if not isinstance(t, dict) or "working" not in t or "day_off" not in t:
            raise ValueError(f"{where}: expected {{working: <date>, day_off: <date>}}")
        worked, off = _as_date(t["working"], where), _as_date(t["day_off"], where)
        # A typo in a date nearly always lands on the wrong kind of day: catch it here.
        if worked.weekday() < 5 or off.weekday() >= 5:
            raise ValueError(f"{where}: 'working' must be a Saturday/Sunday and 'day_off' a "
                             f"weekday, got working={worked} ({worked:%a}), day_off={off} ({off:%a})")
        working.add(worked)
        days_off.add(off)
    return days_off, working


class Calendar:
    """Working days of Kazakhstan and the deadline rules built on them."""

    def __init__(self, days_off: set[date], working_weekend_days: set[date]):
        clash = set(days_off) & set(working_weekend_days)
        if clash:
            raise ValueError(f"dates both a day off and a working day: {sorted(map(str, clash))}")
        self._days_off = frozenset(days_off)
        self._working = frozenset(working_weekend_days)
        self._holidays = None  # the `holidays` KZ object, built on first use
        # Per calendar, not functools: a cache on the method would key on and keep every Calendar alive.
        self._cache: dict[date, bool] = {}
        self._lock = threading.Lock()  # the engine may call from several threads

    @classmethod
    def load(cls, extra_files: Iterable[Path | str] = ()) -> "Calendar":
        """The shipped transfers, then files named in QORGAU_CALENDAR_TRANSFERS
        (os.pathsep-separated), then `extra_files`; all merged. A missing file is an error."""
        env_paths = [p for p in os.environ.get(TRANSFERS_ENV, "").split(os.pathsep) if p.strip()]
        days_off: set[date] = set()
        working: set[date] = set()
        for path in [SHIPPED_TRANSFERS, *env_paths, *extra_files]:
            off, work = _read_transfers(Path(path).read_text(encoding="utf-8"), str(path))
            days_off |= off
            working |= work
        return cls(days_off, working)

    def is_working_day(self, d: date) -> bool:
        """True if `d` (a local calendar date) is a working day."""
        try:
            return self._cache[d]
        except KeyError:
            pass
        if isinstance(d, datetime) or not isinstance(d, date):
            # A datetime here is almost surely a UTC instant; its date may be the wrong local day.
            raise TypeError(f"is_working_day takes a date (use local_date()), got {d!r}")
        with self._lock:
            result = self._compute(d)
            self._cache[d] = result
        return result

    def prepare(self) -> None:
        """Load Kazakhstan's public holidays now rather than at the first deadline computed (building
        them takes ~0.2 s): a server calls this at start so that no request waits for it."""
        with self._lock:
            self._kz_holidays(date.today().year)

    def _compute(self, d: date) -> bool:
        if d in self._days_off:
            return False
        if d in self._working:
            return True
        kz = self._kz_holidays(d.year)
        if d.weekday() >= 5:
            return d in kz.weekend_workdays
        return d not in kz

    def _kz_holidays(self, year: int):
        if self._holidays is None:
            this_year = date.today().year
            years = range(this_year - 3, this_year + 3)
            self._holidays = holidays.country_holidays("KZ", years=years)
        # A transfer may make a day of the previous year a working day (28 Dec 2013 for
        # 3 Jan 2014), so the next year must be loaded too. Looking up any date loads its whole
        # year (the package's expand=True).
        for y in (year, year + 1):
            if y not in self._holidays.years:
                self._holidays.get(date(y, 1, 1))
        return self._holidays

    def next_working_day_on_or_after(self, d: date) -> date:
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def last_working_day_before(self, d: date) -> date:
        """The last working day strictly before `d`."""
        d -= timedelta(days=1)
        while not self.is_working_day(d):
            d -= timedelta(days=1)
        return d

    def nth_working_day_after(self, d: date, n: int) -> date:
        """The n-th working day strictly after `d` (n >= 1)."""
        if n < 1:
            raise ValueError(f"nth_working_day_after needs n >= 1, got {n}")
        while n:
            d += timedelta(days=1)
            if self.is_working_day(d):
                n -= 1
        return d

    def at_local(self, d: date, hour: int, minute: int = 0) -> datetime:
        """The UTC instant of the local wall time `hour:minute` on date `d`."""
        return datetime.combine(d, time(hour, minute), KZ_TZ).astimezone(timezone.utc)

    def due(self, unit: str, n: int, opened_at: datetime,
            period_end: date | None = None) -> datetime:
        """When a task opened at `opened_at` falls due under the rule `{unit: n}` (UTC-aware).

        `period_end` (last day of the reporting period) is used by the two `..._of_next_month` units
        only; it defaults to the local date of `opened_at`. `day_of_next_month: 10` is "no later than
        the 10th" (decree §2.2): the 10th, moved forward to a working day. `working_day_before_day_of_next_month:
        10` is "before the 10th" (§3, "до 10 числа"): the last working day before the 10th.
        """
        if unit not in DEADLINE_UNITS:
            raise ValueError(
                f"unknown deadline unit {unit!r}; expected one of {', '.join(DEADLINE_UNITS)}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"deadline {unit}: expected a whole number >= 0, got {n!r}")
        local = to_local(opened_at)
        if unit == "hours":
            return (opened_at + timedelta(hours=n)).astimezone(timezone.utc)
        today = local.date()
        if unit == "working_days":
            if n == 0 and local.time() < WORKDAY_END and self.is_working_day(today):
                day = today
            else:
                day = self.nth_working_day_after(today, max(n, 1))
        elif unit == "days":
            day = self.next_working_day_on_or_after(today + timedelta(days=n))
        elif unit == "months":
            day = self.next_working_day_on_or_after(_add_months(today, n, today.day))
        elif unit == "day_of_next_month":
            end = period_end if period_end is not None else today
            day = self.next_working_day_on_or_after(_add_months(end, 1, _day_of_month(unit, n)))
        else:  # working_day_before_day_of_next_month
            end = period_end if period_end is not None else today
            # Counted from the 1st, so "before the 31st" of a 30-day month is on or before its 30th.
            day = self.last_working_day_before(_add_months(end, 1, 1) + timedelta(days=_day_of_month(unit, n) - 1))
        return self.at_local(day, WORKDAY_END.hour, WORKDAY_END.minute)


@functools.cache
def default_calendar() -> Calendar:
    """The process-wide calendar (shipped transfers + QORGAU_CALENDAR_TRANSFERS), loaded once."""
    return Calendar.load()
