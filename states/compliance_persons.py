"""The compliance report by person: who closed the tasks each body did.

A part of the compliance report (`states.compliance.compliance_summary`, part ``persons``): per body
of the tasks, the body that acted and the person who acted, the tasks done and how many of them on
time. A reviewer sees who did the work behind a body's figures, and which of it came from a system
with a service token rather than from a person.

Decisions:
- **The same tasks as the task rows**: opened in ``[start, end)``, done by ``now``, in the case's
  region now. So a body's lines here add up to its ``done_on_time`` and ``done_late`` there; a person
  who closed a task in the window that opened before it is counted in the window the task opened in.
- **Who closed it** is the history's word: the event of the task's case written at the task's
  ``closed_at`` (one change writes both) whose effects close this task as ``done``. Its ``person``
  (None: a service token, the local operator or the system acted) and its ``actor``, the body the
  person acted for: usually the task's own body; a supervisor firing in its place, or in version 1
  a body whose closing of the case marked the others' tasks done, shows as another body.
- **Names** come from the persons table (`states.persons.names_of`): the name, or the pseudonymous
  id marked erased once the name is erased. Histories hold only the id.
- One row per task is fetched and reduced here: a task has one candidate event, except when two
  events of its case share an instant (simulations); only then are the events' effects read.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, select

from . import tables as T
from . import tally_reads
from .clock import as_utc
from .persons import names_of
from .tallies import closing_event

PERSON_FIELDS = ("body_id", "acted_for", "person_id", "person", "done", "done_on_time", "done_late",
                 "on_time_share")


@dataclass(frozen=True)
class PersonRow:
    body_id: str              # the body the tasks were given to
    acted_for: str | None     # the body the closing event acted for (None: no closing event found)
    person_id: str | None     # the pseudonymous person (None: a service token, the operator or the system)
    person: str               # the person's name, or the pseudonym once erased ("" without a person)
    done: int                 # tasks of the window done by `now`
    done_on_time: int         # of them, done by their due

    @property
    def done_late(self) -> int:
        return self.done - self.done_on_time

    @property
    def on_time_share(self) -> float | None:
        return self.done_on_time / self.done if self.done else None

    def values(self) -> list:
        """The row as PERSON_FIELDS (the share a fraction to 4 places, None when nothing was done)."""
        share = self.on_time_share
        return [self.body_id, self.acted_for, self.person_id, self.person, self.done, self.done_on_time,
                self.done_late, None if share is None else round(share, 4)]


def persons_report(conn: Connection, *, region: str | None, start: datetime, end: datetime,
                   now: datetime) -> list[PersonRow]:
    """Done tasks opened in ``[start, end)`` per (task body, acting body, person), as of ``now``;
    sorted by body, then acting body, then person (the lines without a person last)."""
    start, end, now = as_utc(start), as_utc(end), as_utc(now)
    months = tally_reads.months_for(conn, start, end, now)
    if months is not None:  # the month tallies (states/tallies.py), as the task rows
        counts = {(r.body_id, *json.loads(r.detail)): [int(r.n1), int(r.n2)]
                  for r in tally_reads.persons(conn, months, region)}
    else:
        counts = _scan(conn, region=region, start=start, end=end, now=now)
    names = names_of(conn, {person for _, _, person in counts if person is not None})
    rows = [PersonRow(body, actor, person, names.get(person, person) if person else "", done, on_time)
            for (body, actor, person), (done, on_time) in counts.items()]
    return sorted(rows, key=lambda p: (p.body_id, p.acted_for or "", p.person_id is None, p.person.casefold(),
                                       p.person_id or ""))


def _scan(conn: Connection, *, region, start, end, now) -> dict[tuple[str, str | None, str | None], list[int]]:
    t, c, e = T.tasks, T.cases, T.events
    closing = and_(e.c.case_id == t.c.case_id, e.c.at == t.c.closed_at)
    q = (select(t.c.id, t.c.key, t.c.body_id, t.c.due, t.c.closed_at, e.c.id.label("event_id"), e.c.actor,
                e.c.person)
         .select_from(t.join(c, c.c.id == t.c.case_id).outerjoin(e, closing))
         .where(t.c.opened_at >= start, t.c.opened_at < end, t.c.opened_at <= now,
                t.c.status == "done", t.c.closed_at <= now))
    if region is not None:
        q = q.where(c.c.region == region)
    candidates: dict[int, list] = {}
    for r in conn.execute(q):
        candidates.setdefault(r.id, []).append(r)
    shared = [r.event_id for rows in candidates.values() if len(rows) > 1 for r in rows]
    effects = {r.id: r.effects for r in conn.execute(select(e.c.id, e.c.effects).where(e.c.id.in_(shared)))} \
        if shared else {}

    counts: dict[tuple[str, str | None, str | None], list[int]] = {}
    for rows in candidates.values():
        r = rows[0] if len(rows) == 1 else closing_event(rows, effects)
        n = counts.setdefault((r.body_id, r.actor, r.person), [0, 0])
        n[0] += 1
        n[1] += int(r.closed_at <= r.due)
    return counts
