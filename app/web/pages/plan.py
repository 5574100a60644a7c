"""The plan's status on the audit page: its measures and, per executor, the state of its report for
a period (a quarter's executors are those of its plan, successors of reorganised ones, rule R2)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from states import tables as T
from states.calendar import KZ_TZ
from states.periods import period_bounds
from states.reporting import codes_of, executor_bodies, reporting_executors

from .. import i18n
from .context import Ctx


def current_quarter(now: datetime, catalogue=None) -> str:
    """This quarter, or the plan's last one once the plan has ended (a page of nobody otherwise)."""
    local = now.astimezone(KZ_TZ).date()
    if catalogue is not None and local > catalogue.span.end:
        local = catalogue.span.end
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def period_or_current(asked: str | None, now: datetime, catalogue) -> str:
    """The period asked for if it is one, else the current quarter."""
    if asked:
        try:
            period_bounds(asked)
            return asked
        except ValueError:
            pass
    return current_quarter(now, catalogue)


def _report_cases(engine, keys: list[str]) -> list:
    with engine.reader() as conn:
        return list(conn.execute(select(T.cases.c.unique_key, T.cases.c.ref, T.cases.c.state, T.cases.c.algorithm,
                                        T.cases.c.algorithm_version, T.cases.c.overrides)
                                 .where(T.cases.c.unique_key.in_(keys))))


async def plan_status(ctx: Ctx, period: str) -> dict[str, Any]:
    """The plan's measures and, per executor, the state of its report for `period`."""
    catalogue = ctx.engine.svc.catalogue
    lang = ctx.lang
    executors = (reporting_executors(period, catalogue, ctx.directory) if "-Q" in period
                 else executor_bodies(catalogue, ctx.directory))
    keys = {f"plan-reporting|period={period}|executor={b.id}": b for b in executors}
    states = {keys[row.unique_key].id: row for row in await ctx.read(_report_cases, ctx.engine, list(keys))}
    by_body = {}
    for b in executors:
        row = states.get(b.id)
        if row is not None:
            d = ctx.definition(row)
            state = ctx.state_title(d, row.state)
            kind = "accepted" if row.state == "accepted" else "open"
        else:
            state, kind = i18n.t("audit.not_launched", lang), "missing"
        by_body[b.id] = {"id": b.id, "name": b.name_in(lang), "state": state, "kind": kind,
                         "ref": row.ref if row is not None else None,
                         "codes": codes_of(b, ctx.directory)}
    measures = []
    for m in catalogue.measures:
        bodies = [v for v in by_body.values() if v["codes"] & set(m.executors)]
        summary = {"accepted": 0, "open": 0, "missing": 0}
        for v in bodies:
            summary[v["kind"]] += 1
        measures.append({"number": m.number, "title": m.short_title(110), "codes": ", ".join(m.executors),
                         "bodies": bodies if len(bodies) <= 4 else [], "summary": summary, "count": len(bodies)})
    counts = {"accepted": 0, "open": 0, "missing": 0}
    for v in by_body.values():
        counts[v["kind"]] += 1
    return {"period": period, "counts": counts,
            "executors": sorted(by_body.values(), key=lambda v: (v["kind"] != "missing", v["name"])),
            "measures": measures}
