"""Evaluate the declarative guards of a definition. Pure: no I/O, no Python from strings."""
from __future__ import annotations

import calendar as _cal
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from algorithms.schema import Deadline, Elapsed, Guard

from .calendar import KZ_TZ


@dataclass
class GuardContext:
    case: dict[str, Any]          # case data plus state, outcome, region, critical
    data: dict[str, Any]          # the trigger's (validated) data
    now: datetime
    state_entered_at: datetime | None = None
    closed_at: datetime | None = None
    open_kinds: frozenset[str] = frozenset()
    entered_by: str | None = None
    working_days_due: Callable[[int, datetime], datetime] | None = None
    # The case's own history, for the guards that read it (None: a case with no history yet).
    history: "CaseHistory | None" = None
    failures: list[str] = field(default_factory=list)


class CaseHistory:
    """What guards may ask of a case's past events; the store answers (see unit_of_work)."""

    def last_at(self, triggers: list[str]) -> datetime | None:  # pragma: no cover - interface
        raise NotImplementedError

    def occurred_since(self, triggers: list[str], since: list[str]) -> bool:  # pragma: no cover
        raise NotImplementedError

    def entered_from(self) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError


_MISSING = object()


def _lookup(ref: str, ctx: GuardContext) -> Any:
    scope, _, name = ref.partition(".")
    source = ctx.case if scope == "case" else ctx.data
    return source.get(name, _MISSING)


def _fmt(value: Any) -> str:
    return "unset" if value is _MISSING else repr(value)


def describe(guard: Guard) -> str:
    """A short human reading of a guard, used in `guard_failed` messages."""
    if guard.message:
        return guard.message
    if guard.field:
        for op, sym in (("equals", "="), ("not_equals", "≠"), ("in_", "∈"), ("not_in", "∉"),
                        ("gt", ">"), ("gte", "≥"), ("lt", "<"), ("lte", "≤")):
            value = getattr(guard, op)
            if value is not None:
                return f"{guard.field} {sym} {value!r}"
        if guard.matches is not None:
            return f"{guard.field} matches {guard.matches!r}"
        return f"{guard.field} is {'set' if guard.is_set else 'unset'}"
    if guard.all:
        return " and ".join(f"({describe(g)})" for g in guard.all)
    if guard.any:
        return " or ".join(f"({describe(g)})" for g in guard.any)
    if guard.not_:
        return f"not ({describe(guard.not_)})"
    if guard.elapsed_in_state:
        return f"time in state {_describe_elapsed(guard.elapsed_in_state)}"
    if guard.elapsed_since_closed:
        return f"time since closing {_describe_elapsed(guard.elapsed_since_closed)}"
    if guard.task_open:
        return f"task {guard.task_open!r} is open"
    if guard.event:
        since = f" since the last {' or '.join(guard.event.since)}" if guard.event.since else ""
        return f"a {' or '.join(guard.event.trigger)} event{since}"
    if guard.elapsed_since_event:
        return (f"time since the last {' or '.join(guard.elapsed_since_event.trigger)} "
                f"{_describe_elapsed(guard.elapsed_since_event)}")
    return f"entered the state by {guard.entered_by}"


def _describe_elapsed(e: Elapsed) -> str:
    bound = e.at_least or e.at_most
    word = "at least" if e.at_least else "at most"
    return f"{word} {bound.amount} {bound.unit.replace('_', ' ')}"


def holds(guard: Guard | None, ctx: GuardContext) -> bool:
    """True when the guard holds; on failure the outermost failing guard is described in ctx.failures."""
    if guard is None:
        return True
    ok = _eval(guard, ctx)
    if not ok:
        ctx.failures.append(_failing_part(guard, ctx))
    return ok


def _failing_part(guard: Guard, ctx: GuardContext) -> str:
    """The condition that actually failed: the first failing member of an `all`."""
    if guard.message is None and guard.all:
        for sub in guard.all:
            if not _eval(sub, ctx):
                return _failing_part(sub, ctx)
    return describe(guard)


def _eval(g: Guard, ctx: GuardContext) -> bool:
    if g.field:
        value = _lookup(g.field, ctx)
        if g.is_set is not None:
            return (value is not _MISSING and value is not None) == g.is_set
        if value is _MISSING:
            value = None
        if g.equals is not None:
            return value == g.equals
        if g.not_equals is not None:
            return value != g.not_equals
        if g.in_ is not None:
            return value in g.in_
        if g.not_in is not None:
            return value not in g.not_in
        if g.matches is not None:
            return isinstance(value, str) and re.search(g.matches, value) is not None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        return ((g.gt is None or value > g.gt) and (g.gte is None or value >= g.gte)
                and (g.lt is None or value < g.lt) and (g.lte is None or value <= g.lte))
    if g.all is not None:
        return all(_eval(sub, ctx) for sub in g.all)
    if g.any is not None:
        return any(_eval(sub, ctx) for sub in g.any)
    if g.not_ is not None:
        return not _eval(g.not_, ctx)
    if g.elapsed_in_state is not None:
        return _elapsed(ctx.state_entered_at, g.elapsed_in_state, ctx)
    if g.elapsed_since_closed is not None:
        return _elapsed(ctx.closed_at, g.elapsed_since_closed, ctx)
    if g.task_open is not None:
        kind = g.task_open.format(data=_Attr(ctx.data), case=_Attr(ctx.case))
        return kind in ctx.open_kinds
    if g.entered_by is not None:
        return ctx.entered_by in g.entered_by
    if g.event is not None:
        return ctx.history is not None and ctx.history.occurred_since(g.event.trigger, g.event.since)
    if g.elapsed_since_event is not None:
        last = ctx.history.last_at(g.elapsed_since_event.trigger) if ctx.history is not None else None
        return _elapsed(last, g.elapsed_since_event, ctx)
    raise AssertionError(f"unhandled guard {g!r}")


class _Attr:
    """Lets `{data.action_id}` in a guard template read a dict key, and nothing else."""

    def __init__(self, values: dict[str, Any]):
        self._values = values

    def __getattr__(self, name: str) -> Any:
        return self._values.get(name, "")


def _elapsed(since: datetime | None, e: Elapsed, ctx: GuardContext) -> bool:
    if since is None:
        return False
    bound: Deadline = e.at_least or e.at_most
    threshold = shift(since, bound, ctx.working_days_due)
    return ctx.now >= threshold if e.at_least else ctx.now <= threshold


def shift(instant: datetime, rule: Deadline, working_days_due=None) -> datetime:
    """`instant` moved forward by a plain period, counted on the Kazakhstan wall clock (months
    clamp to the month's last day)."""
    if rule.hours is not None:
        return instant + timedelta(hours=rule.hours)
    local = instant.astimezone(KZ_TZ)
    if rule.days is not None:
        return (local + timedelta(days=rule.days)).astimezone(instant.tzinfo)
    if rule.months is not None:
        return add_months(local, rule.months).astimezone(instant.tzinfo)
    if rule.working_days is not None and working_days_due is not None:
        return working_days_due(rule.working_days, instant)
    raise ValueError(f"cannot measure elapsed time in {rule.unit}")


def add_months(instant: datetime, months: int) -> datetime:
    month0 = instant.month - 1 + months
    year, month = instant.year + month0 // 12, month0 % 12 + 1
    day = min(instant.day, _cal.monthrange(year, month)[1])
    return instant.replace(year=year, month=month, day=day)
