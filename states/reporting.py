"""The plan's own control loop (decree §2–3): who executes the plan, what they may report on, and
which quarterly reports a consolidated half-year report is still missing."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from . import tables as T
from .errors import RuleViolation
from .periods import quarters_of

MINISTRY_OF_EDUCATION_CODE = "МП"
LOCAL_EXECUTIVE_CODE = "МИО"
NAMED_EXECUTORS = {"акимат города Астаны": "kz-71.akimat"}


def codes_of(body, directory) -> set[str]:
    """The decree codes a body reports under (an akimat reports as МИО)."""
    codes = {body.code} if body.code else set()
    if body.type == "akimat":
        codes.add(LOCAL_EXECUTIVE_CODE)
        codes.update(name for name, body_id in NAMED_EXECUTORS.items() if body_id == body.id)
    return codes


def executor_bodies(catalogue, directory) -> list:
    """Every body that executes a measure of the plan, once each, in the catalogue's order."""
    seen: dict[str, Any] = {}
    for code in catalogue.executor_codes():
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


def check_items(items: list[dict[str, Any]], field: str, sub: str, executor_id: str, catalogue, directory) -> None:
    """Each reported item is a measure of the plan that this executor executes (МП may report on any)."""
    executor = directory.get(executor_id)
    codes = codes_of(executor, directory)
    for i, item in enumerate(items):
        number = str(item.get(sub, ""))
        measure = catalogue.get(number)
        where = f"{field}.{i}.{sub}"
        if measure is None:
            raise RuleViolation("invalid_data", f"field {where!r}: {number!r} is not a measure of the plan", field=where)
        if MINISTRY_OF_EDUCATION_CODE in codes:
            continue
        if not codes & set(measure.executors):
            raise RuleViolation("invalid_data", f"field {where!r}: measure {number} is executed by "
                                                f"{', '.join(measure.executors)}, not by {executor_id}", field=where)


def missing_reports(conn: Connection, case, catalogue, directory) -> list[dict[str, str]]:
    """For a half-year (`YYYY-Hn`) case: each executor's quarterly report in that half not yet accepted."""
    period = case.data.get("period", "")
    if "-H" not in period:
        return []
    quarters = quarters_of(period)
    keys = {}
    for body in executor_bodies(catalogue, directory):
        for quarter in quarters:
            keys[f"{case.algorithm}|period={quarter}|executor={body.id}"] = (body.id, quarter)
    states = dict(conn.execute(select(T.cases.c.unique_key, T.cases.c.state).where(
        T.cases.c.unique_key.in_(list(keys)))).all())
    missing = []
    for key, (body_id, quarter) in keys.items():
        state = states.get(key)
        if state != "accepted":
            missing.append({"executor": body_id, "period": quarter, "state": state or "not_launched"})
    return missing
