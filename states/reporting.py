"""The plan's own control loop (decree §2–3): which plan covers a period, who executes it, what they may
report on, which reports the reporting cycle launches, and which quarterly reports a consolidated half-year
report is still missing.

`catalogue` below is the plan catalogue the engine holds (`Services.catalogue`): one catalogue, consulted
together with the later plans a deployment names in QORGAU_PLAN_CATALOGUES (`algorithms.catalogue.load_plans`),
or a sequence of catalogues, consulted as given. A period belongs to the plan whose span holds one of its days
(version 2, rule R1); an executor reorganised before the period starts is replaced by its successors (R2).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from algorithms.catalogue import Catalogue, load_plans

from . import tables as T
from .errors import RuleViolation
from .periods import latest_ended_periods, period_bounds, period_of, period_start, quarters_of

MINISTRY_OF_EDUCATION_CODE = "МП"
LOCAL_EXECUTIVE_CODE = "МИО"
NAMED_EXECUTORS = {"акимат города Астаны": "kz-71.akimat"}
CONSOLIDATING_BODY = "ministry_education"
"""Who sends the consolidated half-year report (decree §3)."""


def plans_of(catalogue: Catalogue | Sequence[Catalogue]) -> tuple[Catalogue, ...]:
    """The plans to consult: one catalogue and the deployment's later plans, or a sequence as given."""
    return load_plans(catalogue) if isinstance(catalogue, Catalogue) else tuple(catalogue)


def plan_for(period: str, catalogue: Catalogue | Sequence[Catalogue]) -> Catalogue | None:
    """The plan whose span holds a day of `period`, or None (ValueError for a malformed period)."""
    first, last = period_bounds(period)
    return next((plan for plan in plans_of(catalogue) if plan.span.overlaps(first, last)), None)


def check_period_in_plan(period: str, catalogue: Catalogue | Sequence[Catalogue]) -> None:
    """`invalid_data` naming `period` unless the span of a plan holds a day of it (version 2, rule R1)."""
    try:
        period_bounds(period)
    except ValueError as exc:
        raise RuleViolation("invalid_data", f"field 'period': {exc}", field="period") from None
    if plan_for(period, catalogue) is None:  # a deployment's overlapping plans stay a ValueError, not bad data
        spans = "; ".join(_span_words(plan) for plan in plans_of(catalogue))
        raise RuleViolation("invalid_data", f"field 'period': {period} is outside the plan ({spans})", field="period")


def _span_words(plan: Catalogue) -> str:
    start, end = plan.span.start, plan.span.end
    return (f"quarters {period_of(start, 'Q')} … {period_of(end, 'Q')}, "
            f"half-years {period_of(start, 'H')} … {period_of(end, 'H')}")


def codes_of(body, directory) -> set[str]:
    """The decree codes a body reports under (an akimat reports as МИО)."""
    codes = {body.code} if body.code else set()
    if body.type == "akimat":
        codes.add(LOCAL_EXECUTIVE_CODE)
        codes.update(name for name, body_id in NAMED_EXECUTORS.items() if body_id == body.id)
    return codes


def executor_bodies(catalogue: Catalogue, directory, on: date | None = None) -> list:
    """Every body that executes a measure of the plan, once each, in the catalogue's order; with `on`, those
    that report for a period starting that day (a reorganised executor's successors in its place)."""
    seen: dict[str, Any] = {}
    for code in catalogue.executor_codes(on=on):
        if code in NAMED_EXECUTORS:
            bodies = [directory.get(NAMED_EXECUTORS[code])]
        else:
            try:
                bodies = directory.executors(code)
            except KeyError:
                continue  # a code with no body in this deployment's directory
        for body in bodies:
            seen.setdefault(body.id, body)
    return list(seen.values())


def reporting_executors(period: str, catalogue, directory) -> list:
    """Who reports for `period`: for a half-year МП alone (its consolidated report), for a quarter every
    executor of the plan covering it as of its first day; nobody when no plan covers it."""
    plan = plan_for(period, catalogue)
    if plan is None:
        return []
    if "-H" in period:
        return [directory.get(CONSOLIDATING_BODY)]
    return executor_bodies(plan, directory, on=period_start(period))


def cycle_periods(today: date, catalogue) -> list[str]:
    """The periods the reporting cycle launches on `today`: the latest ended quarter and half-year, each only
    if a plan covers it, so the cycle launches nothing before a plan's first period or after its last."""
    return [period for period in latest_ended_periods(today) if plan_for(period, catalogue) is not None]


def check_items(items: list[dict[str, Any]], field: str, sub: str, executor_id: str, catalogue, directory,
                period: str | None = None) -> None:
    """Each reported item is a measure of the plan that this executor executes, itself or as the successor
    of a reorganised executor (МП may report on any). With `period`, the plan and the successions are
    those of that period; without it, the engine's catalogue and every succession."""
    plan = _plan_of(period, catalogue)
    on = period_start(period) if period else None
    executor = directory.get(executor_id)
    codes = codes_of(executor, directory)
    codes |= {old for code in codes for old in plan.predecessors_of(code, on)}
    for i, item in enumerate(items):
        number = str(item.get(sub, ""))
        measure = plan.get(number)
        where = f"{field}.{i}.{sub}"
        if measure is None:
            raise RuleViolation("invalid_data", f"field {where!r}: {number!r} is not a measure of the plan", field=where)
        if MINISTRY_OF_EDUCATION_CODE in codes:
            continue
        if not codes & set(measure.executors):
            raise RuleViolation("invalid_data", f"field {where!r}: measure {number} is executed by "
                                                f"{', '.join(measure.executors)}, not by {executor_id}", field=where)


def _plan_of(period: str | None, catalogue) -> Catalogue:
    """The plan covering `period`, else the engine's own catalogue (a version-1 case may lie outside any)."""
    plan = plan_for(period, catalogue) if period else None
    return plan or (catalogue if isinstance(catalogue, Catalogue) else plans_of(catalogue)[0])


def missing_reports(conn: Connection, case, catalogue, directory) -> list[dict[str, str]]:
    """For a half-year (`YYYY-Hn`) case: each executor's quarterly report in that half not yet accepted
    (the executors of each quarter as the cycle launches them: successors in place of a reorganised one)."""
    period = case.data.get("period", "")
    if "-H" not in period:
        return []
    reporting = {quarter: [b.id for b in executor_bodies(_plan_of(quarter, catalogue), directory,
                                                         on=period_start(quarter))]
                 for quarter in quarters_of(period)}
    keys = {}
    for body_id in dict.fromkeys(b for ids in reporting.values() for b in ids):  # each executor's quarters together
        for quarter, ids in reporting.items():
            if body_id in ids:
                keys[f"{case.algorithm}|period={quarter}|executor={body_id}"] = (body_id, quarter)
    states = dict(conn.execute(select(T.cases.c.unique_key, T.cases.c.state).where(
        T.cases.c.unique_key.in_(list(keys)))).all())
    missing = []
    for key, (body_id, quarter) in keys.items():
        state = states.get(key)
        if state != "accepted":
            missing.append({"executor": body_id, "period": quarter, "state": state or "not_launched"})
    return missing
