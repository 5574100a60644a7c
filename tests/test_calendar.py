"""The Kazakhstan deadline calendar, as a user of the workflow sees it.

All wall times below are Kazakhstan local time (UTC+5) unless a test says UTC. A quiet week
(no holidays) used for the basic examples: Mon 13 April 2026 .. Sun 19 April 2026.
"""
from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta, timezone

import pytest
import yaml

from states import calendar as kzcal
from states.calendar import (
    DEADLINE_UNITS, KZ_TZ, TRANSFERS_ENV, Calendar, default_calendar, local_date, to_local,
)

MON, TUE = date(2026, 4, 13), date(2026, 4, 14)
FRI, SAT, SUN, NEXT_MON = date(2026, 4, 17), date(2026, 4, 18), date(2026, 4, 19), date(2026, 4, 20)


def kz(d: date, hour: int, minute: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=KZ_TZ)


def at_18(d: date) -> datetime:
    """What a user sees as 'due by end of working day d', as a UTC instant."""
    return datetime(d.year, d.month, d.day, 13, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def cal() -> Calendar:
    # The shipped calendar only, whatever the developer's environment says.
    saved = os.environ.pop(TRANSFERS_ENV, None)
    try:
        return Calendar.load()
    finally:
        if saved is not None:
            os.environ[TRANSFERS_ENV] = saved


# --- the examples of the spec (a week without holidays) ---------------------------------------

@pytest.mark.parametrize("opened, due_day", [
    (kz(MON, 10), TUE),
    (kz(FRI, 17), NEXT_MON),
    (kz(SAT, 11), NEXT_MON),
], ids=["opened Mon 10:00 -> Tue", "opened Fri 17:00 -> Mon", "opened Sat 11:00 -> Mon"])
def test_one_working_day_is_the_end_of_the_next_working_day(cal, opened, due_day):
    assert cal.due("working_days", 1, opened) == at_18(due_day)


@pytest.mark.parametrize("opened, due_day", [
    (kz(MON, 10), MON),
    (kz(MON, 19), TUE),
    (kz(SAT, 11), NEXT_MON),
], ids=["opened Mon 10:00 -> Mon", "opened Mon 19:00 -> Tue", "opened Sat 11:00 -> Mon"])
def test_zero_working_days_means_by_the_end_of_this_or_the_next_working_day(cal, opened, due_day):
    assert cal.due("working_days", 0, opened) == at_18(due_day)


def test_same_day_task_opened_exactly_at_18_00_is_due_the_next_working_day(cal):
    assert cal.due("working_days", 0, kz(MON, 17, 59)) == at_18(MON)
    assert cal.due("working_days", 0, kz(MON, 18, 0)) == at_18(TUE)


def test_working_days_skip_the_weekend(cal):
    assert cal.due("working_days", 5, kz(MON, 9)) == at_18(NEXT_MON)


# --- public holidays ---------------------------------------------------------------------------

def test_one_working_day_opened_before_nauryz_is_due_after_the_whole_holiday(cal):
    # 2026: Nauryz 21-23 March is Sat-Mon, so Tue 24 and Wed 25 are days off too.
    assert cal.due("working_days", 1, kz(date(2026, 3, 20), 10)) == at_18(date(2026, 3, 26))


def test_nauryz_days_are_not_working_days(cal):
    for day in range(21, 26):
        assert not cal.is_working_day(date(2026, 3, day)), day
    assert cal.is_working_day(date(2026, 3, 20)) and cal.is_working_day(date(2026, 3, 26))


def test_one_working_day_opened_the_day_before_independence_day_skips_it(cal):
    # 16 December 2026 is a Wednesday.
    assert cal.due("working_days", 1, kz(date(2026, 12, 15), 10)) == at_18(date(2026, 12, 17))


def test_independence_day_on_a_saturday_gives_the_monday_off(cal):
    # 16 December 2023 was a Saturday; Monday 18 December was a day off.
    assert cal.due("working_days", 1, kz(date(2023, 12, 15), 10)) == at_18(date(2023, 12, 19))


def test_orthodox_christmas_on_a_weekend_gives_no_extra_day_off(cal):
    # 7 January 2023 was a Saturday; Monday 9 January was a normal working day.
    assert cal.is_working_day(date(2023, 1, 9))


def test_task_opened_on_new_year_is_due_on_the_first_working_day_after_it(cal):
    # 1-2 January 2026 are Thu-Fri; 3-4 January the weekend; no transfer in 2026.
    assert cal.due("working_days", 0, kz(date(2026, 1, 1), 9)) == at_18(date(2026, 1, 5))


def test_constitution_day_moves_to_15_march_from_2027_so_31_august_2026_is_a_working_day(cal):
    # The new Constitution (in force from 1 July 2026) moves Constitution Day from 30 August to
    # 15 March from 2027; 2026 has none, so Monday 31 August 2026 is not an observed day off.
    import holidays
    assert "Constitution Day" in holidays.KZ(years=[2027], language="en_US").get_list(date(2027, 3, 15))
    assert cal.is_working_day(date(2026, 8, 31))
    assert cal.due("working_days", 1, kz(date(2026, 8, 28), 10)) == at_18(date(2026, 8, 31))
    # 15 March 2027 is a Monday.
    assert not cal.is_working_day(date(2027, 3, 15))
    assert cal.due("working_days", 1, kz(date(2027, 3, 12), 10)) == at_18(date(2027, 3, 16))


def test_shipped_transfers_file_says_31_august_2026_is_worked():
    data = yaml.safe_load(kzcal.SHIPPED_TRANSFERS.read_text("utf-8"))
    assert date(2026, 8, 31) in data["working_days"]
    assert date(2026, 8, 31) not in (data["days_off"] or [])


# --- transfers of days off ---------------------------------------------------------------------

def test_a_working_saturday_declared_by_transfer_counts_as_a_working_day(cal):
    # 2024: day off moved from Saturday 4 May to Wednesday 8 May.
    assert cal.is_working_day(date(2024, 5, 4))
    assert cal.due("working_days", 1, kz(date(2024, 5, 3), 10)) == at_18(date(2024, 5, 4))
    assert cal.due("working_days", 0, kz(date(2024, 5, 4), 10)) == at_18(date(2024, 5, 4))


def test_a_transferred_day_off_does_not_count_as_a_working_day(cal):
    # 7 May holiday, 8 May transferred day off, 9 May Victory Day.
    assert not cal.is_working_day(date(2024, 5, 8))
    assert cal.due("working_days", 1, kz(date(2024, 5, 6), 10)) == at_18(date(2024, 5, 10))


def test_capital_day_bridge_of_2023_is_honoured(cal):
    # 6 July 2023 Capital Day (Thu); Friday 7 July off, Saturday 1 July worked.
    assert cal.is_working_day(date(2023, 7, 1))
    assert cal.due("working_days", 1, kz(date(2023, 7, 5), 10)) == at_18(date(2023, 7, 10))


def test_new_year_bridge_of_2025_makes_sunday_5_january_a_working_day(cal):
    assert not cal.is_working_day(date(2025, 1, 3))
    assert cal.is_working_day(date(2025, 1, 5))
    assert cal.due("working_days", 1, kz(date(2025, 1, 2), 10)) == at_18(date(2025, 1, 5))


def test_shipped_transfers_file_lists_the_known_transfers_of_2023_to_2025():
    text = kzcal.SHIPPED_TRANSFERS.read_text("utf-8")
    data = yaml.safe_load(text)
    pairs = {(t["working"], t["day_off"]) for t in data["transfers"]}
    assert {(date(2023, 7, 1), date(2023, 7, 7)),
            (date(2024, 5, 4), date(2024, 5, 8)),
            (date(2025, 1, 5), date(2025, 1, 3))} <= pairs
    assert "extend" in text.lower() and TRANSFERS_ENV in text


def test_transfers_work_even_without_the_holidays_package_knowing_them():
    # A transfer the `holidays` package has never heard of (a hypothetical future year).
    cal = Calendar(days_off={date(2031, 1, 3)}, working_weekend_days={date(2031, 1, 4)})
    assert not cal.is_working_day(date(2031, 1, 3))
    assert cal.is_working_day(date(2031, 1, 4))


# --- days, months, day of next month -----------------------------------------------------------

def test_calendar_days_ending_on_a_weekend_move_to_monday(cal):
    assert cal.due("days", 5, kz(MON, 10)) == at_18(NEXT_MON)


def test_calendar_days_ending_on_a_holiday_move_to_the_next_working_day(cal):
    assert cal.due("days", 1, kz(date(2026, 12, 15), 10)) == at_18(date(2026, 12, 17))


def test_calendar_days_ending_on_a_working_day_stay_there(cal):
    assert cal.due("days", 3, kz(MON, 23, 30)) == at_18(date(2026, 4, 16))


def test_one_month_from_31_january_is_the_last_day_of_february(cal):
    assert cal.due("months", 1, kz(date(2025, 1, 31), 10)) == at_18(date(2025, 2, 28))
    assert cal.due("months", 1, kz(date(2024, 1, 31), 10)) == at_18(date(2024, 2, 29))


def test_one_month_landing_on_a_weekend_moves_to_the_next_working_day(cal):
    # 28 February 2026 is a Saturday.
    assert cal.due("months", 1, kz(date(2026, 1, 31), 10)) == at_18(date(2026, 3, 2))


def test_one_month_landing_on_a_holiday_moves_past_it(cal):
    # 8 March 2026 is a Sunday, so Monday 9 March is off too.
    assert cal.due("months", 1, kz(date(2026, 2, 8), 10)) == at_18(date(2026, 3, 10))


def test_months_roll_over_the_year_end(cal):
    assert cal.due("months", 2, kz(date(2025, 11, 15), 10)) == at_18(date(2026, 1, 15))


def test_report_due_on_day_d_of_the_month_after_the_reporting_period(cal):
    # Quarter ending 31 March 2026, report by the 10th of the next month.
    opened = kz(date(2026, 3, 1), 9)
    assert cal.due("day_of_next_month", 10, opened, period_end=date(2026, 3, 31)) == at_18(date(2026, 4, 10))


def test_report_day_on_a_holiday_moves_to_the_next_working_day(cal):
    # 9 May 2026 is Victory Day on a Saturday; Monday 11 May is off too.
    assert cal.due("day_of_next_month", 9, kz(date(2026, 4, 1), 9), date(2026, 4, 30)) == at_18(date(2026, 5, 12))


def test_report_without_period_end_uses_the_month_the_task_opened(cal):
    assert cal.due("day_of_next_month", 5, kz(date(2026, 4, 15), 9)) == at_18(date(2026, 5, 5))


def test_report_day_31_in_a_30_day_month_is_its_last_day(cal):
    assert cal.due("day_of_next_month", 31, kz(MON, 9), date(2026, 3, 31)) == at_18(date(2026, 4, 30))


# --- hours and time zones ----------------------------------------------------------------------

def test_hours_run_across_midnight(cal):
    due = cal.due("hours", 3, kz(MON, 22, 30))
    assert to_local(due) == kz(TUE, 1, 30)
    assert due == datetime(2026, 4, 13, 20, 30, tzinfo=timezone.utc)


def test_hours_ignore_weekends_and_holidays(cal):
    assert to_local(cal.due("hours", 24, kz(date(2026, 3, 20), 10))) == kz(date(2026, 3, 21), 10)


def test_every_deadline_is_returned_as_a_utc_instant(cal):
    for unit in DEADLINE_UNITS:
        due = cal.due(unit, 1, kz(MON, 10), period_end=MON)
        assert due.tzinfo is timezone.utc, unit


def test_end_of_working_day_is_13_00_utc(cal):
    assert cal.due("working_days", 0, kz(MON, 10)) == datetime(2026, 4, 13, 13, 0, tzinfo=timezone.utc)


def test_the_kazakhstan_date_decides_not_the_utc_date(cal):
    # Sunday 20:00 UTC is already Monday 01:00 in Kazakhstan: a same-day task is due Monday.
    opened_utc = datetime(2026, 4, 12, 20, 0, tzinfo=timezone.utc)
    assert local_date(opened_utc) == MON
    assert cal.due("working_days", 0, opened_utc) == at_18(MON)


def test_opening_time_in_any_zone_gives_the_same_deadline(cal):
    opened = kz(FRI, 17)
    assert cal.due("working_days", 1, opened) == cal.due("working_days", 1, opened.astimezone(timezone.utc))


# --- helpers used by escalation ladders --------------------------------------------------------

def test_at_local_gives_the_utc_instant_of_a_kazakhstan_wall_time(cal):
    assert cal.at_local(MON, 9, 30) == datetime(2026, 4, 13, 4, 30, tzinfo=timezone.utc)


def test_nth_working_day_after_counts_only_working_days(cal):
    assert cal.nth_working_day_after(FRI, 1) == NEXT_MON
    assert cal.nth_working_day_after(date(2026, 3, 20), 2) == date(2026, 3, 27)
    with pytest.raises(ValueError):
        cal.nth_working_day_after(FRI, 0)


def test_next_working_day_on_or_after_keeps_a_working_day(cal):
    assert cal.next_working_day_on_or_after(MON) == MON
    assert cal.next_working_day_on_or_after(SAT) == NEXT_MON
    assert cal.next_working_day_on_or_after(date(2026, 3, 21)) == date(2026, 3, 26)


def test_to_local_shows_kazakhstan_wall_time():
    local = to_local(datetime(2026, 4, 13, 13, 0, tzinfo=timezone.utc))
    assert (local.hour, local.utcoffset()) == (18, timedelta(hours=5))


def test_is_working_day_refuses_a_datetime(cal):
    with pytest.raises(TypeError):
        cal.is_working_day(datetime(2026, 4, 13, 20, tzinfo=timezone.utc))


# --- a deployment's own transfers --------------------------------------------------------------

def write(path, data) -> str:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_deployment_extra_transfers_file_changes_deadlines(tmp_path, monkeypatch):
    monkeypatch.delenv(TRANSFERS_ENV, raising=False)
    extra = write(tmp_path / "regional.yaml",
                  {"transfers": [{"working": SAT, "day_off": FRI, "source": "test decree"}]})
    cal = Calendar.load(extra_files=[extra])
    assert not cal.is_working_day(FRI) and cal.is_working_day(SAT)
    assert cal.due("working_days", 1, kz(date(2026, 4, 16), 10)) == at_18(SAT)
    # The shipped transfers are still there.
    assert cal.is_working_day(date(2024, 5, 4))


def test_deployment_transfers_can_come_from_the_environment(tmp_path, monkeypatch):
    off = write(tmp_path / "off.yaml", {"days_off": [TUE]})
    work = write(tmp_path / "work.yaml", {"working_days": ["2026-04-19"]})
    monkeypatch.setenv(TRANSFERS_ENV, os.pathsep.join([off, work]))
    cal = Calendar.load()
    assert not cal.is_working_day(TUE) and cal.is_working_day(SUN)
    assert cal.due("working_days", 1, kz(MON, 10)) == at_18(date(2026, 4, 15))


def test_a_date_both_off_and_working_is_rejected(tmp_path, monkeypatch):
    monkeypatch.delenv(TRANSFERS_ENV, raising=False)
    bad = write(tmp_path / "bad.yaml", {"working_days": ["2024-05-08"]})
    with pytest.raises(ValueError, match="2024-05-08"):
        Calendar.load(extra_files=[bad])


def test_a_transfer_with_days_the_wrong_way_round_is_rejected(tmp_path, monkeypatch):
    monkeypatch.delenv(TRANSFERS_ENV, raising=False)
    bad = write(tmp_path / "bad.yaml", {"transfers": [{"working": FRI, "day_off": SAT}]})
    with pytest.raises(ValueError, match="bad.yaml"):
        Calendar.load(extra_files=[bad])


def test_a_missing_transfers_file_is_an_error(tmp_path, monkeypatch):
    monkeypatch.delenv(TRANSFERS_ENV, raising=False)
    with pytest.raises(FileNotFoundError):
        Calendar.load(extra_files=[tmp_path / "nope.yaml"])


# --- mistakes in the rules ---------------------------------------------------------------------

def test_unknown_unit_is_rejected_by_name(cal):
    with pytest.raises(ValueError, match="fortnights"):
        cal.due("fortnights", 1, kz(MON, 10))


def test_negative_amount_is_rejected_naming_the_unit(cal):
    with pytest.raises(ValueError, match="working_days"):
        cal.due("working_days", -1, kz(MON, 10))


def test_day_zero_of_next_month_is_rejected(cal):
    with pytest.raises(ValueError, match="day_of_next_month"):
        cal.due("day_of_next_month", 0, kz(MON, 10))


def test_naive_opening_time_is_rejected(cal):
    with pytest.raises(ValueError):
        cal.due("hours", 1, datetime(2026, 4, 13, 10))
    with pytest.raises(ValueError):
        local_date(datetime(2026, 4, 13, 10))


# --- fit for the engine ------------------------------------------------------------------------

def test_units_match_the_algorithm_definition_schema():
    from algorithms.schema import DEADLINE_UNITS as schema_units
    assert DEADLINE_UNITS == schema_units


def test_default_calendar_is_loaded_once(monkeypatch):
    monkeypatch.delenv(TRANSFERS_ENV, raising=False)
    default_calendar.cache_clear()
    try:
        assert default_calendar() is default_calendar()
    finally:
        default_calendar.cache_clear()


def test_deadlines_are_cheap_to_compute(cal):
    opened = kz(MON, 10)
    cal.due("working_days", 10, opened)  # warm the per-date cache
    start = time.perf_counter()
    for _ in range(5000):
        cal.due("working_days", 10, opened)
    assert time.perf_counter() - start < 1.0


def test_far_years_are_loaded_on_demand(cal):
    # 16 December 2040 is a Sunday: Monday 17 December is off.
    assert not cal.is_working_day(date(2040, 12, 17))
    assert cal.is_working_day(date(2040, 12, 18))


# --- "before the 10th": the half-year consolidated report (decree §3, "до 10 числа") ---------------

def test_a_half_year_report_is_due_on_the_last_working_day_before_the_10th(cal):
    # 2026-H1 ends 30 June; Thursday 9 July 2026 is a working day, the last one before the 10th.
    due = cal.due("working_day_before_day_of_next_month", 10, kz(date(2026, 7, 1), 9), date(2026, 6, 30))
    assert due == at_18(date(2026, 7, 9))


def test_before_the_10th_steps_back_over_a_weekend(cal):
    # 2026-H2: Saturday 9 January 2027, so Friday the 8th (Orthodox Christmas is Thursday the 7th).
    due = cal.due("working_day_before_day_of_next_month", 10, kz(date(2027, 1, 4), 9), date(2026, 12, 31))
    assert due == at_18(date(2027, 1, 8))


def test_before_the_10th_steps_back_over_a_weekend_and_a_holiday(cal):
    # 2027-H2: 9 January 2028 is a Sunday, the 8th a Saturday, Friday the 7th Orthodox Christmas.
    due = cal.due("working_day_before_day_of_next_month", 10, kz(date(2028, 1, 3), 9), date(2027, 12, 31))
    assert due == at_18(date(2028, 1, 6))


def test_no_later_than_the_10th_and_before_the_10th_differ(cal):
    # The quarterly report may come on the 10th itself (moved forward to a working day), the
    # consolidated one must come before it: 2025-Q4 by Monday 12 January 2026, 2025-H2 by Friday the 9th.
    opened = kz(date(2026, 1, 5), 9)
    assert cal.due("day_of_next_month", 10, opened, date(2025, 12, 31)) == at_18(date(2026, 1, 12))
    assert cal.due("working_day_before_day_of_next_month", 10, opened, date(2025, 12, 31)) == at_18(date(2026, 1, 9))


def test_before_a_day_past_the_months_end_is_its_last_working_day(cal):
    # "Before the 31st" of April (30 days) is on or before 30 April 2026, a Thursday.
    due = cal.due("working_day_before_day_of_next_month", 31, kz(MON, 9), date(2026, 3, 31))
    assert due == at_18(date(2026, 4, 30))


def test_before_day_zero_of_next_month_is_rejected(cal):
    with pytest.raises(ValueError, match="working_day_before_day_of_next_month"):
        cal.due("working_day_before_day_of_next_month", 0, kz(MON, 10))


def test_last_working_day_before_skips_days_off(cal):
    assert cal.last_working_day_before(NEXT_MON) == FRI
    assert cal.last_working_day_before(TUE) == MON


def test_the_generated_docs_say_before_the_10th():
    from algorithms.schema import Deadline
    from app.algorithm_docs import deadline_words
    assert (deadline_words(Deadline(working_day_before_day_of_next_month=10))
            == "the last working day before the 10th of the month after the period")
