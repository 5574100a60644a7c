"""The demo case of `qorgau serve`: something to watch escalate within a couple of minutes.

No escalation step can be made short by configuration: deadline overrides change a task's due,
but the urgent ladder still escalates 2 h after it (the standard one, the next working day). So the
demo case is a synthetic physical-violence report launched *back-dated* by 26 h minus a lead time
(default 90 s): its urgent `medical_examination` (24 h) is already overdue when the server starts,
and its escalation to the regional health department (version 2: the line of subordination) falls
due `lead` seconds after start. The history says so honestly — the launch event carries the
back-dated time, and the report says it was detected an hour before that — and the data is synthetic.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from states.access import operator
from states.calendar import to_local
from states.clock import as_utc, utcnow
from states.commands import Launch
from states.handling import Handler

ALGORITHM = "violence-report"
REGION = "KZ-75"
TASK = "medical_examination"
DUE_AFTER = timedelta(hours=24)        # violence-report: medical_examination {hours: 24}, urgent ladder
ESCALATION_AFTER_DUE = timedelta(hours=2)  # urgent ladder: escalation at due + 2 h
DETECTED_BEFORE = timedelta(hours=1)   # the teacher reported within the hour (not late: version 2, V2)


@dataclass(frozen=True)
class DemoCase:
    ref: str
    launched_at: datetime
    due_at: datetime
    escalation_at: datetime

    def describe(self) -> str:
        ago = self.escalation_at - self.launched_at
        h, m = divmod(int(ago.total_seconds()) // 60, 60)
        return (f"demo case {self.ref}: a synthetic physical-violence report, launched back-dated "
                f"({h} h {m:02d} min before its escalation) so its deadlines are already running.\n"
                f"  its medical examination (24 h, urgent ladder) was due {to_local(self.due_at):%H:%M:%S} and is overdue;\n"
                f"  the escalation to the regional health department falls due at {to_local(self.escalation_at):%H:%M:%S} "
                f"Astana time, and its .eml appears at the next sweep after that")


def launch_demo(engine, lead: timedelta = timedelta(seconds=90), now: datetime | None = None) -> DemoCase:
    now = as_utc(now or utcnow())
    escalation_at = now + lead
    launched_at = escalation_at - ESCALATION_AFTER_DUE - DUE_AFTER
    school = engine.svc.directory.schools(REGION)[0]
    out = Handler(engine).handle(Launch(ALGORITHM, REGION, {
        "form": "physical", "channel": "school",
        "summary": "Demo (synthetic): bruises noticed by the class teacher; no real child.",
        "detected_at": to_local(launched_at - DETECTED_BEFORE).replace(microsecond=0).isoformat(), "reporter": "teacher",
    }), operator(school), now=launched_at)
    return DemoCase(out.ref, launched_at, launched_at + DUE_AFTER, escalation_at)
