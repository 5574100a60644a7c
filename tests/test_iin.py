"""IIN validation: the 12-digit individual identification number, checked by its check digit.

All IINs here are synthetic: built by `make_iin` below from the published algorithm, not taken from people.
"""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, strategies as st

from states.iin import birth_date_from_iin, validate_iin

CENTURY_DIGIT = {(1800, "m"): 1, (1800, "f"): 2, (1900, "m"): 3, (1900, "f"): 4,
                 (2000, "m"): 5, (2000, "f"): 6}


def make_iin(born: date, sex: str = "f", serial: int = 1) -> str | None:
    """A synthetic IIN for a birth date, sex and 4-digit serial; None where no check digit exists."""
    century = born.year // 100 * 100
    head = f"{born:%y%m%d}{CENTURY_DIGIT[century, sex]}{serial:04d}"
    total = sum(int(d) * w for d, w in zip(head, range(1, 12))) % 11
    if total == 10:
        total = sum(int(d) * w for d, w in zip(head, (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2))) % 11
    return None if total == 10 else head + str(total)


def with_wrong_check_digit(iin: str) -> str:
    return iin[:11] + str((int(iin[11]) + 1) % 10)


# --- valid IINs ---------------------------------------------------------------------------------------

def test_a_hand_computed_iin_passes_on_the_first_pass():
    # 0·1 + 5·2 + 0·3 + 3·4 + 1·5 + 5·6 + 5·7 + 0·8 + 0·9 + 1·10 + 2·11 = 124; 124 mod 11 = 3
    assert validate_iin("050315500123") == "050315500123"


def test_a_hand_computed_iin_needs_the_second_pass():
    # first pass: 142 mod 11 = 10; second pass (weights 3..11, 1, 2): 135 mod 11 = 3
    assert validate_iin("050315500503") == "050315500503"


def test_digits_for_which_both_passes_give_ten_are_never_a_valid_iin():
    # first pass 241 mod 11 = 10, second pass 153 mod 11 = 10: no check digit exists
    for last in "0123456789":
        with pytest.raises(ValueError, match="check digit"):
            validate_iin("05031550059" + last)


def test_spaces_are_removed_from_the_normalized_iin():
    assert validate_iin(" 050315 500123\n") == "050315500123"


@pytest.mark.parametrize("born, sex", [
    (date(1899, 12, 31), "m"), (date(1900, 1, 1), "f"), (date(1988, 12, 31), "m"),
    (date(2000, 2, 29), "f"), (date(2012, 9, 2), "m"), (date(2024, 2, 29), "f"),
])
def test_synthetic_iins_of_every_century_and_sex_are_valid(born, sex):
    iin = make_iin(born, sex)
    assert validate_iin(iin) == iin
    assert birth_date_from_iin(iin) == born


@given(born=st.dates(min_value=date(1800, 1, 1), max_value=date(2099, 12, 31)),
       sex=st.sampled_from("mf"), serial=st.integers(0, 9999))
def test_any_generated_iin_is_valid_and_any_other_last_digit_is_not(born, sex, serial):
    iin = make_iin(born, sex, serial)
    if iin is None:
        with pytest.raises(ValueError, match="check digit"):
            validate_iin(f"{born:%y%m%d}{CENTURY_DIGIT[born.year // 100 * 100, sex]}{serial:04d}0")
        return
    assert validate_iin(iin) == iin
    assert birth_date_from_iin(iin) == born
    for last in "0123456789":
        if last != iin[11]:
            with pytest.raises(ValueError, match="IIN check digit does not match"):
                validate_iin(iin[:11] + last)


# --- invalid IINs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["", "05031550012", "0503155001234", "05031550012a", "ИИН050315500",
                                   "0503-1550-0123", "０５０３１５５００１２３"])
def test_anything_but_twelve_digits_is_rejected(value):
    with pytest.raises(ValueError, match="IIN must be 12 digits"):
        validate_iin(value)


def test_a_number_is_rejected_because_it_would_lose_leading_zeros():
    with pytest.raises(ValueError, match="12 digits"):
        validate_iin(50315500123)  # type: ignore[arg-type]


def test_a_wrong_check_digit_is_rejected():
    iin = make_iin(date(2015, 6, 1), "m", 42)
    with pytest.raises(ValueError, match="IIN check digit does not match"):
        validate_iin(with_wrong_check_digit(iin))


def test_swapped_digits_are_caught_by_the_check_digit():
    iin = make_iin(date(2011, 4, 17), "f", 123)  # serial digits 0,1,2,3: swapping 1 and 2 changes the sum
    swapped = iin[:8] + iin[9] + iin[8] + iin[10:]
    with pytest.raises(ValueError, match="check digit"):
        validate_iin(swapped)


@pytest.mark.parametrize("yymmdd", ["051315", "050000", "050230", "230229", "050431", "050100"])
def test_an_impossible_birth_date_is_rejected(yymmdd):
    head = yymmdd + "50001"
    iins = [head + d for d in "0123456789"]  # whatever the check digit, the date is wrong
    for iin in iins:
        with pytest.raises(ValueError, match="date part .* is not a valid date"):
            validate_iin(iin)


def test_a_leap_day_depends_on_the_century_digit():
    # 00-02-29 exists in 2000 (digit 5/6) but not in 1900 (digit 3/4)
    assert birth_date_from_iin(make_iin(date(2000, 2, 29), "m")) == date(2000, 2, 29)
    with pytest.raises(ValueError, match="not a valid date"):
        validate_iin("000229300010")


@pytest.mark.parametrize("digit", "0789")
def test_a_century_digit_outside_one_to_six_is_rejected(digit):
    with pytest.raises(ValueError, match="century digit"):
        validate_iin(f"050315{digit}00123")


def test_birth_date_from_an_invalid_iin_raises():
    with pytest.raises(ValueError):
        birth_date_from_iin("050315500124")
