"""Escalation ladders: when each step of a task falls due (spec README, "Tasks and escalation")."""
from __future__ import annotations

from datetime import datetime, timedelta

from algorithms.schema import LadderSpec

from .calendar import local_date


def ladder_steps(ladder: LadderSpec | None, opened_at: datetime, due: datetime, calendar) -> list[tuple[str, datetime]]:
    """The (step, due_at) pairs of a task's ladder, in time order."""
    if ladder is None:
        return []
    out: list[tuple[str, datetime]] = []
    due_date = calendar_local_date(due)
    for step in ladder.steps:
        at = step.at
        if at == "due":
            when = due
        elif at == "reminder_0900":
            # 09:00 on the due date, only for a task opened at least one day before it.
            if calendar_local_date(opened_at) >= due_date:
                continue
            when = calendar.at_local(due_date, 9)
            if not opened_at < when < due:
                continue
        elif isinstance(at, dict) and "working_day_after" in at:
            when = calendar.at_local(calendar.nth_working_day_after(due_date, int(at["working_day_after"])), 18)
        elif isinstance(at, dict) and "after_due" in at:
            when = due + timedelta(hours=int(at["after_due"]["hours"]))
        else:
            raise ValueError(f"unknown ladder step time {at!r}")
        out.append((step.step, when))
    out.sort(key=lambda s: s[1])
    return out


def calendar_local_date(instant: datetime):
    return local_date(instant)
