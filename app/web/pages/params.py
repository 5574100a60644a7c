"""The pages' own query values (offsets, dates, the replay moment): read strictly, and a value that
cannot be read is answered 422 `invalid_data` naming the field (`InvalidInput`), never a 500."""
from __future__ import annotations

from datetime import date, datetime, timezone

from fastapi import Request
from starlette.responses import Response

from states.calendar import KZ_TZ

from .. import i18n
from .context import context

MAX_OFFSET = 1_000_000_000  # as the API's `offset`
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)  # dates a page may ask about


class InvalidInput(Exception):
    """A page's query value that cannot be read: answered 422 `invalid_data` naming the field
    (`invalid_input_page`), never a 500."""

    def __init__(self, field: str, message: str):
        super().__init__(f"field {field!r}: {message}")
        self.field, self.message = field, message


async def invalid_input_page(request: Request, exc: InvalidInput) -> Response:
    ctx = await context(request)
    return ctx.error(422, i18n.t("form.rejected", ctx.lang), f"invalid_data: {exc}")


def whole_number(value: str | None, default: int) -> int:
    """A form's whole number, `default` if it is not one (the form is then judged by the engine)."""
    try:
        return max(0, int(value)) if value not in (None, "") else default
    except ValueError:
        return default


def offset(request: Request) -> int:
    text = request.query_params.get("offset") or ""
    if text == "":
        return 0
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_OFFSET:
        raise InvalidInput("offset", f"must be a whole number from 0 to {MAX_OFFSET}")
    return int(text)


def date_param(request: Request, name: str, default: date) -> date:
    text = request.query_params.get(name) or ""
    if text == "":
        return default
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(name, "must be a date, e.g. 2026-04-01") from None
    if not EARLIEST <= value <= LATEST:
        raise InvalidInput(name, f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return value


def period_params(request: Request, default_start: date, default_end: date) -> tuple[date, date]:
    """`from` and `to` of a report or the map: dates in range, `to` after `from`."""
    start = date_param(request, "from", default_start)
    end = date_param(request, "to", default_end)
    if end <= start:
        raise InvalidInput("to", "must be after 'from'")
    return start, end


def moment(text: str | None) -> datetime | None:
    """A moment from the replay picker: ISO with an offset, or a Kazakhstan wall-clock time."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        value = value.replace(tzinfo=KZ_TZ) if value.tzinfo is None else value
        value.astimezone(timezone.utc)  # 0001-01-01T00:00+23:59 has no UTC instant
    except (ValueError, OverflowError):
        raise InvalidInput("at", "must be a date and time, e.g. 2026-04-10T12:00") from None
    if not EARLIEST <= value.date() <= LATEST:
        raise InvalidInput("at", f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return value
