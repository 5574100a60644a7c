"""Read models over the case store: case lists, one case, a body's inbox, a case's history and its
replay at a moment. Pure SQLAlchemy Core; no web framework. Data only (times are aware UTC datetimes;
`*_local` ones Kazakhstan time): the links to a case and the English durations the HTTP API and the
command line add are `app.presenters`'.

Access is not decided here: a caller passes a `Scope` (which regions and which bound bodies it may
see) and list queries filter on it in SQL, so a page never holds a case outside the scope.
Personal data never appears in any of these models (only `has_personal_data`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Text, and_, bindparam, case, cast, exists, func, select
from sqlalchemy.orm import aliased

from algorithms.definition import Definition
from algorithms.schema import FieldSpec

from . import tables as T
from .calendar import KZ_TZ
from .clock import as_utc, iso, utcnow
from .errors import RuleViolation
from .guards import describe
from .authority import may_fire
from .history import event_documents
from .persons import names_of
from .replay import ESCALATION_LEVEL, replay
from .reporting import missing_reports
from .unit_of_work import CaseRecord

MAX_PAGE = 500


# ---------------------------------------------------------------------------------------------- scope

@dataclass(frozen=True)
class Scope:
    """The cases a reader may see: a case is visible when its region is in `regions` (None: any)
    and one of its bound bodies is in `bodies` (None: any)."""
    regions: frozenset[str] | None = None
    bodies: frozenset[str] | None = None

    def allows(self, region: str, bindings: dict[str, str]) -> bool:
        if self.regions is not None and region not in self.regions:
            return False
        return self.bodies is None or any(b in self.bodies for b in bindings.values())

    def clauses(self, dialect: str) -> list:
        out = []
        if self.regions is not None:
            out.append(T.cases.c.region.in_(sorted(self.regions)))
        if self.bodies is not None:
            if dialect == "postgresql":
                each = func.json_each_text(T.cases.c.bindings).table_valued("key", "value", joins_implicitly=True)
            else:
                each = func.json_each(T.cases.c.bindings).table_valued("value", joins_implicitly=True)
            each = each.alias("bound")
            out.append(exists(select(1).select_from(each).where(each.c.value.in_(sorted(self.bodies)))))
        return out


EVERYTHING = Scope()


# ---------------------------------------------------------------------------------------------- helpers

def local(value: datetime | None) -> datetime | None:
    """The instant on the Kazakhstan wall clock."""
    return value.astimezone(KZ_TZ) if value is not None else None


def _definition(registry, algorithm: str, version: int, overrides) -> Definition:
    return registry.variant(algorithm, version, overrides)


@lru_cache(maxsize=1024)
def _parsed(json_text: str | None) -> Any:
    """A JSON column read as text, parsed once per distinct text (cases share a handful of
    overrides): the caller must not mutate the result."""
    return None if json_text is None else json.loads(json_text)


def _state_title(d: Definition, state: str) -> dict[str, str]:
    spec = d.spec.states.get(state)
    return spec.title.model_dump() if spec else {"kk": state, "ru": state, "en": state}


# Keyed by the definition's content hash, not by the definition: a `Definition` (a dataclass) is
# unhashable, so `functools.lru_cache` cannot key on it.
_TITLES: dict[tuple[str, str, str], dict[str, str]] = {}


def title(d: Definition, what: str, name: str = "") -> dict[str, str]:
    """The kk/ru/en title of the algorithm, a state, a task kind or a trigger, computed once per
    definition (read models return the same dict each time: never mutate it)."""
    key = (d.content_hash, what, name)
    found = _TITLES.get(key)
    if found is None:
        if len(_TITLES) > 20_000:
            _TITLES.clear()
        if what == "algorithm":
            found = d.spec.title.model_dump()
        elif what == "state":
            found = _state_title(d, name)
        elif what == "task":
            found = d.task_title(name)
        else:
            found = d.spec.triggers[name].title.model_dump()
        _TITLES[key] = found
    return found


def _body_name(directory, body_id: str) -> dict[str, str]:
    body = directory.find(body_id)
    return dict(body.name) if body else {"kk": body_id, "ru": body_id, "en": body_id}


_CASE_BY_REF = select(T.cases).where(T.cases.c.ref == bindparam("ref"))


def load_case_row(conn: Connection, ref: str):
    """The case row, or `unknown_case`."""
    row = conn.execute(_CASE_BY_REF, {"ref": ref}).first()
    if row is None:
        raise RuleViolation("unknown_case", f"no case with reference {ref!r}", field="case")
    return row


# ---------------------------------------------------------------------------------------------- case lists

def list_cases(conn: Connection, registry, scope: Scope = EVERYTHING, *, region: str | None = None,
               algorithm: str | None = None, state: str | None = None, overdue: bool | None = None,
               critical: bool | None = None, closed: bool | None = None, limit: int = 50, offset: int = 0,
               now: datetime | None = None) -> dict[str, Any]:
    """A page of cases in the scope matching the filters, most recently changed first:
    `{"total", "limit", "offset", "items": [...]}`. `overdue`: has an open task past its due."""
    now = as_utc(now or utcnow())
    limit = max(1, min(int(limit), MAX_PAGE))
    c, t = T.cases, T.tasks
    where = scope.clauses(conn.dialect.name)
    for column, value in ((c.c.region, region), (c.c.algorithm, algorithm), (c.c.state, state),
                          (c.c.critical, critical)):
        if value is not None:
            where.append(column == value)
    if closed is not None:
        where.append(c.c.closed_at.is_not(None) if closed else c.c.closed_at.is_(None))
    if overdue is not None:
        late = exists(select(1).select_from(t).where(t.c.case_id == c.c.id, t.c.status == "open", t.c.due < now))
        where.append(late if overdue else ~late)
    total = conn.execute(select(func.count()).select_from(c).where(*where)).scalar_one()
    rows = conn.execute(select(c.c.id, c.c.ref, c.c.algorithm, c.c.algorithm_version, c.c.overrides, c.c.region,
                               c.c.state, c.c.version, c.c.critical, c.c.outcome, c.c.created_at, c.c.updated_at,
                               c.c.closed_at)
                        .where(*where).order_by(c.c.updated_at.desc(), c.c.id.desc())
                        .limit(limit).offset(max(0, int(offset)))).all()
    counts: dict[int, tuple[int, int, datetime | None]] = {}
    if rows:
        open_ = t.c.status == "open"
        for r in conn.execute(select(t.c.case_id, func.count(), func.sum(case((t.c.due < now, 1), else_=0)),
                                     func.min(t.c.due))
                              .where(t.c.case_id.in_([r.id for r in rows]), open_).group_by(t.c.case_id)):
            counts[r[0]] = (int(r[1]), int(r[2] or 0), r[3])
    items = []
    for r in rows:
        d = _definition(registry, r.algorithm, r.algorithm_version, r.overrides)
        n_open, n_late, next_due = counts.get(r.id, (0, 0, None))
        items.append({
            "ref": r.ref, "algorithm": r.algorithm, "algorithm_title": title(d, "algorithm"),
            "region": r.region, "state": r.state, "state_title": title(d, "state", r.state), "version": r.version,
            "critical": bool(r.critical), "outcome": r.outcome, "created_at": r.created_at,
            "updated_at": r.updated_at, "closed_at": r.closed_at, "open_tasks": n_open, "overdue_tasks": n_late,
            "next_due": next_due, "next_due_local": local(next_due)})
    return {"total": total, "limit": limit, "offset": max(0, int(offset)), "items": items}


# ---------------------------------------------------------------------------------------------- one case

def _levels(conn: Connection, case_id: int) -> dict[str, int]:
    """Task key -> highest escalation step taken on it (1 overdue, 2 escalation, 3 critical)."""
    e = T.events
    levels: dict[str, int] = {}
    for trigger, data in conn.execute(select(e.c.trigger, e.c.data).where(
            e.c.case_id == case_id, e.c.actor == "system", e.c.trigger.in_(list(ESCALATION_LEVEL)))):
        key = (data or {}).get("task") if isinstance(data, dict) else None
        if key:
            levels[key] = max(levels.get(key, 0), ESCALATION_LEVEL[trigger])
    return levels


def case_detail(conn: Connection, ref: str, registry, directory, *, now: datetime | None = None,
                catalogue=None) -> dict[str, Any]:
    """One case: state, version, bound bodies, tasks with dues and escalation levels, links; for a
    consolidated half-year plan report (given the plan's `catalogue`), the quarterly reports missing."""
    now = as_utc(now or utcnow())
    row = load_case_row(conn, ref)
    c = row._mapping
    d = _definition(registry, c["algorithm"], c["algorithm_version"], c["overrides"])
    levels = _levels(conn, c["id"])
    tasks = []
    for t in conn.execute(select(T.tasks).where(T.tasks.c.case_id == c["id"]).order_by(T.tasks.c.id)):
        is_open = t.status == "open"
        tasks.append({
            "key": t.key, "kind": t.kind, "title": title(d, "task", t.kind), "role": t.role, "body_id": t.body_id,
            "status": t.status, "opened_at": t.opened_at, "due": t.due, "due_local": local(t.due),
            "overdue": is_open and (bool(t.overdue) or t.due < now), "level": levels.get(t.key, 0),
            "serves": t.serves, "closed_at": t.closed_at})
    other = aliased(T.cases)
    links = [{"relation": r.relation, "ref": r.ref} for r in conn.execute(
        select(T.case_links.c.relation, other.c.ref).join(other, other.c.id == T.case_links.c.other_case_id)
        .where(T.case_links.c.case_id == c["id"]).order_by(T.case_links.c.created_at, other.c.ref))]
    open_levels = [t["level"] for t in tasks if t["status"] == "open"]
    state_spec = d.spec.states.get(c["state"])
    return {
        "ref": c["ref"],
        "algorithm": {"id": d.id, "version": d.version, "title": d.spec.title.model_dump()},
        "region": c["region"],
        "state": {"name": c["state"], "title": _state_title(d, c["state"]),
                  "final": bool(state_spec and state_spec.final), "entered_at": c["state_entered_at"]},
        "version": c["version"], "outcome": c["outcome"], "critical": bool(c["critical"]),
        "escalation_level": max(open_levels, default=0),
        "created_at": c["created_at"], "updated_at": c["updated_at"], "closed_at": c["closed_at"],
        "bindings": [{"role": role, "body_id": body_id, "name": _body_name(directory, body_id)}
                     for role, body_id in c["bindings"].items()],
        "data": dict(c["data"] or {}), "has_personal_data": c["subject_id"] is not None,
        "tasks": tasks, "links": links, "missing_reports": _missing_reports(conn, row, catalogue, directory)}


def _missing_reports(conn: Connection, row, catalogue, directory) -> list[dict[str, str]] | None:
    if catalogue is None or "-H" not in str((row.data or {}).get("period", "")):
        return None
    return missing_reports(conn, CaseRecord.from_row(row), catalogue, directory)


# ---------------------------------------------------------------------------------------------- history

def history(conn: Connection, ref: str) -> dict[str, Any]:
    """Every event of the case, oldest first, with its hash chain."""
    row = load_case_row(conn, ref)
    rows = conn.execute(select(T.events).where(T.events.c.case_id == row.id).order_by(T.events.c.seq)).all()
    names = names_of(conn, {e.person for e in rows if e.person})
    events = [{
        "seq": e.seq, "at": e.at, "at_local": local(e.at), "actor": e.actor, "person": e.person,
        "person_name": names.get(e.person) if e.person else None, "trigger": e.trigger,
        "from_state": e.from_state, "to_state": e.to_state, "data": e.data, "effects": e.effects,
        "prev_hash": e.prev_hash, "hash": e.hash}
        for e in rows]
    return {"ref": ref, "algorithm": row.algorithm, "version": row.version, "head_hash": row.head_hash,
            "events": events}


def replay_at(conn: Connection, ref: str, at: datetime) -> dict[str, Any]:
    """The case as its history alone makes it at the moment `at` (dues and bindings as recorded)."""
    row = load_case_row(conn, ref)
    at = as_utc(at)
    rows = conn.execute(select(T.events).where(T.events.c.case_id == row.id).order_by(T.events.c.seq)).all()
    docs = event_documents(rows, row.ref, row.algorithm, row.definition_hash)
    shown = [doc for doc in docs if doc["at"] <= iso(at)]
    if not shown:
        raise RuleViolation("invalid_data", f"{ref} did not exist yet at {iso(at)} "
                                            f"(launched {docs[0]['at'] if docs else 'never'})", field="at")
    state = replay(docs, at=at)
    now_iso = iso(at)
    open_tasks = [{"key": t["key"], "kind": t["kind"], "body_id": t["body"], "due": t["due"],
                   "overdue": t["due"] < now_iso, "level": t.get("level", 0)} for t in state.open_tasks()]
    return {"ref": ref, "at": at, "at_local": local(at), "state": state.state, "outcome": state.outcome,
            "critical": state.critical, "region": state.region, "bindings": state.bindings,
            "version": state.version, "algorithm_version": state.algorithm_version, "head_hash": state.head_hash,
            "escalation_level": max((t["level"] for t in open_tasks), default=0), "open_tasks": open_tasks,
            "events": [{"seq": doc["seq"], "at": doc["at"], "actor": doc["actor"], "trigger": doc["trigger"],
                        "from_state": doc["from"], "to_state": doc["to"]} for doc in shown]}


# ---------------------------------------------------------------------------------------------- inbox

# Keyed by the definition's content hash: a `Definition` is unhashable (see `_TITLES`).
_FIELD_CACHE: dict[tuple[str, str], list[dict[str, Any]]] = {}


def field_schema(name: str, spec: FieldSpec) -> dict[str, Any]:
    """What a form needs to ask for one field."""
    return {"name": name, "type": spec.type, "required": spec.required,
            "title": spec.title.model_dump() if spec.title else None,
            "help": spec.help.model_dump() if spec.help else None,
            "choices": list(spec.values) if spec.values else None, "max_length": spec.max_length,
            "min": spec.min, "max": spec.max, "body_type": spec.body_type,
            "items": [field_schema(n, s) for n, s in spec.items.items()] if spec.items else None,
            "required_when": describe(spec.required_when) if spec.required_when else None,
            "within_past": spec.within_past.rule() if spec.within_past else None}


def trigger_fields(d: Definition, name: str) -> list[dict[str, Any]]:
    key = (d.content_hash, name)
    found = _FIELD_CACHE.get(key)
    if found is None:
        found = _FIELD_CACHE[key] = [field_schema(n, s) for n, s in d.spec.triggers[name].data.items()]
    return found


def _template_match(template: str, kind: str) -> dict[str, str] | None:
    """`plan_action:{data.action_id}` against `plan_action:A1` -> {"action_id": "A1"}."""
    if "{data." not in template:
        return {} if template == kind else None
    parts = re.split(r"\{data\.(\w+)\}", template)
    pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+)" for i, p in enumerate(parts))
    m = re.fullmatch(pattern, kind)
    return dict(m.groupdict()) if m else None


def completing_triggers(d: Definition, kind: str) -> list[tuple[str, dict[str, str]]]:
    """Triggers that complete a task of `kind`, with the data they need prefilled to name it;
    those completing every task (`completes: all`) only when no trigger names the kind."""
    named, general = [], []
    for name, trig in d.spec.triggers.items():
        if trig.completes == "all":
            general.append((name, {}))
            continue
        for template in trig.completes:
            prefill = _template_match(template, kind)
            if prefill is not None:
                named.append((name, prefill))
                break
    return named or general


def task_actions(d: Definition, directory, state: str, kind: str, bindings: dict[str, str],
                 actor: str) -> list[dict[str, Any]]:
    """What body `actor` can fire now to complete a task of `kind`: trigger, title, fields, prefill."""
    out = []
    for name, prefill in completing_triggers(d, kind):
        trig = d.spec.triggers[name]
        if d.edges_from(name, state) and may_fire(directory, trig, bindings, actor, d.spec.subordination):
            out.append({"trigger": name, "title": title(d, "trigger", name), "fields": trigger_fields(d, name),
                        "prefill": prefill})
    return out


_T, _C, _SERVED = T.tasks, T.cases, aliased(T.tasks)
_OPEN_FOR_BODY = (_T.c.body_id == bindparam("body"), _T.c.status == "open")
_LATE = _T.c.due < bindparam("now")


def _count(*where):
    return select(func.count()).select_from(_T).where(*_OPEN_FOR_BODY, *where)


def _inbox_page(*where):
    """A page of a body's open tasks (`where` narrows them), each row carrying the number of tasks
    matched (`total`) and of those overdue (`late`): counts and page from one snapshot. Each filter
    is its own statement so that SQLite counts along the (body, status, due) index."""
    return (select(_count(*where).scalar_subquery().label("total"), _count(_LATE).scalar_subquery().label("late"),
                   _T.c.key, _T.c.kind, _T.c.opened_at, _T.c.due, _T.c.serves, _SERVED.c.kind.label("serves_kind"),
                   _C.c.ref, _C.c.algorithm, _C.c.algorithm_version, cast(_C.c.overrides, Text).label("overrides_text"),
                   _C.c.region, _C.c.state, _C.c.version, _C.c.critical, cast(_C.c.bindings, Text).label("bindings_text"))
            .select_from(_T.join(_C, _C.c.id == _T.c.case_id)
                         .outerjoin(_SERVED, and_(_SERVED.c.case_id == _T.c.case_id, _SERVED.c.key == _T.c.serves)))
            .where(*_OPEN_FOR_BODY, *where).order_by(_T.c.due, _T.c.id)
            .limit(bindparam("n")).offset(bindparam("skip")))


_FILTER = {False: (), True: (_LATE,)}  # by "overdue only"
_INBOX = {late_only: _inbox_page(*where) for late_only, where in _FILTER.items()}
_INBOX_COUNTS = {late_only: select(_count(*where).scalar_subquery(), _count(_LATE).scalar_subquery())
                 for late_only, where in _FILTER.items()}


def inbox(conn: Connection, body_id: str, registry, directory, *, now: datetime | None = None,
          overdue_only: bool = False, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """The open tasks of one body, overdue first then soonest due (ascending due does both), each with
    its case and the triggers that complete it which this body may fire in the case's current state.
    No personal data. `{"body_id", "total", "overdue", "items": [...]}`. One statement (two for a page
    past the end), so it needs no transaction around it (`states.db.single_statements`)."""
    now = as_utc(now or utcnow())
    limit = max(1, min(int(limit), MAX_PAGE))
    params = {"body": body_id, "now": now, "n": limit, "skip": max(0, int(offset))}
    rows = conn.execute(_INBOX[bool(overdue_only)], params).all()  # each row carries the counts
    if rows:
        counts = (rows[0].total, rows[0].late)
    elif params["skip"] == 0:
        counts = (0, 0)
    else:  # a page past the end
        counts = conn.execute(_INBOX_COUNTS[bool(overdue_only)], params).one()
    actions_cache: dict[tuple, list[dict[str, Any]]] = {}
    items = []
    # Rows unpacked by position: a named attribute of a Row costs several times a tuple's item.
    for (_total, _late, key, kind, opened_at, due, serves, serves_kind, ref, algorithm, algorithm_version,
         overrides_text, region, state, version, critical, bindings_text) in rows:
        d = _definition(registry, algorithm, algorithm_version, _parsed(overrides_text))
        work_kind = serves_kind or kind  # ensure_completion: act on the task it serves
        actions_key = (d.content_hash, state, work_kind, bindings_text)
        actions = actions_cache.get(actions_key)
        if actions is None:
            actions = actions_cache[actions_key] = task_actions(d, directory, state, work_kind,
                                                                json.loads(bindings_text), body_id)
        left = (due - now).total_seconds()
        items.append({
            "case": {"ref": ref, "algorithm": algorithm, "algorithm_title": title(d, "algorithm"),
                     "region": region, "state": state, "state_title": title(d, "state", state),
                     "version": version, "critical": bool(critical)},
            "task": {"key": key, "kind": kind, "title": title(d, "task", kind), "serves": serves,
                     "serves_kind": serves_kind, "opened_at": opened_at, "due": due, "due_local": local(due),
                     "overdue": left < 0, "seconds_left": int(left)},
            "actions": actions})
    return {"body_id": body_id, "total": int(counts[0]), "overdue": int(counts[1] or 0), "items": items}


def case_actions(conn: Connection, ref: str, registry, directory, actor: str) -> list[dict[str, Any]]:
    """Every trigger body `actor` may fire on the case in its current state, with its fields."""
    row = load_case_row(conn, ref)
    d = _definition(registry, row.algorithm, row.algorithm_version, row.overrides)
    out = []
    for name, trig in d.spec.triggers.items():
        if "system" in trig.actors and len(trig.actors) == 1:
            continue
        if d.edges_from(name, row.state) and may_fire(directory, trig, row.bindings, actor, d.spec.subordination):
            out.append({"trigger": name, "title": trig.title.model_dump(), "fields": trigger_fields(d, name),
                        "prefill": {}})
    return out


def algorithms(registry) -> list[dict[str, Any]]:
    """Each algorithm's latest version: title, who may launch it, and its launch fields."""
    out = []
    for algorithm_id in registry.ids():
        d = registry.latest(algorithm_id)
        out.append({"id": d.id, "version": d.version, "title": d.spec.title.model_dump(),
                    "reference_prefix": d.spec.reference_prefix, "launch_actors": list(d.spec.launch.actors),
                    "launch_fields": [field_schema(n, s) for n, s in d.spec.launch.data.items()]})
    return out


def descendants(directory, body_id: str) -> frozenset[str]:
    """The body and every body below it in the directory's parent chain."""
    return frozenset([body_id] + [b.id for b in directory.bodies() if directory.is_supervisor(body_id, b.id)])


__all__ = ["Scope", "EVERYTHING", "list_cases", "case_detail", "history", "replay_at", "inbox", "case_actions",
           "algorithms", "may_fire", "task_actions", "completing_triggers", "descendants", "load_case_row"]
