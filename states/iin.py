"""IIN: the 12-digit individual identification number of Kazakhstan, checked by its check digit.

Layout: digits 1–6 are the birth date YYMMDD; digit 7 is century and sex (1/2: 1800s, 3/4: 1900s,
5/6: 2000s; odd male, even female); digits 8–11 a serial number; digit 12 the check digit.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date

IIN_LENGTH = 12
FIRST_WEIGHTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
CENTURY_BY_DIGIT = {1: 1800, 2: 1800, 3: 1900, 4: 1900, 5: 2000, 6: 2000}


def check_digit(first_eleven: str) -> int | None:
    """The check digit for the first 11 digits, or None if no digit fits (both passes give 10)."""
    digits = [int(d) for d in first_eleven]
    for weights in (FIRST_WEIGHTS, SECOND_WEIGHTS):
        remainder = sum(d * w for d, w in zip(digits, weights)) % 11
        if remainder != 10:
            return remainder
    return None


def validate_iin(value: str) -> str:
    """The IIN as 12 digits (spaces removed), or ValueError naming the rule it breaks."""
    iin = _normalize(value)
    _birth_date(iin)
    expected = check_digit(iin[:11])
    if expected is None:
        raise ValueError("IIN check digit cannot be computed for these digits: no such IIN is issued")
    if int(iin[11]) != expected:
        raise ValueError("IIN check digit does not match")
    return iin


# Twelve digits with nothing but separators, punctuation, symbols or invisible characters between
# them ("15 03 12  50 12 35", "15.03.12.50.12.35", "150312/501235", a zero-width space...).
_IIN_LIKE = re.compile(r"(?<!\d)(?:\d[\W_]*){11}\d(?!\d)")


def looks_like_iin(text: str) -> bool:
    """Whether free text holds twelve digits in a row once it is normalised (Unicode NFKC, so
    full-width and other compatibility digits count; invisible characters dropped) and whatever
    separates digits is ignored: it could be an IIN, which must not enter a history or a log."""
    folded = unicodedata.normalize("NFKC", text)
    folded = "".join(ch for ch in folded if unicodedata.category(ch) not in ("Cf", "Cc", "Cn", "Co", "Cs"))
    return _IIN_LIKE.search(folded) is not None


def sex_from_iin(value: str) -> str:
    """'male' or 'female', from the 7th digit of a valid IIN (odd: male, even: female)."""
    return "male" if int(validate_iin(value)[6]) % 2 else "female"


def birth_date_from_iin(value: str) -> date:
    """The birth date encoded in a valid IIN."""
    return _birth_date(validate_iin(value))


def _normalize(value: str) -> str:
    if not isinstance(value, str):
        raise ValueError("IIN must be a string of 12 digits (a number would lose leading zeros)")
    iin = "".join(value.split())
    if len(iin) != IIN_LENGTH or not (iin.isascii() and iin.isdigit()):
        raise ValueError("IIN must be 12 digits")
    return iin


def _birth_date(iin: str) -> date:
    century = CENTURY_BY_DIGIT.get(int(iin[6]))
    if century is None:
        raise ValueError(f"IIN century digit (7th) must be 1-6, not {iin[6]}")
    year, month, day = century + int(iin[0:2]), int(iin[2:4]), int(iin[4:6])
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"IIN date part {iin[:6]} is not a valid date (YYMMDD)") from None
