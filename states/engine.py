"""The engine: `launch` a case and `fire` a trigger on it, each in one database transaction.

Checks run in this order, and the first that fails rejects the call with its spec error code and
writes nothing: unknown_case, conflict (stale version), unknown_trigger, invalid_transition,
forbidden, invalid_data, guard_failed.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import Connection, Engine as DbEngine, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from algorithms.definition import Definition
from algorithms.registry import Registry, UnknownAlgorithm
from algorithms.schema import BODY_TYPES, REPUBLIC_TYPES, TriggerSpec

from . import tables as T
from .authority import bound_actors, may_fire
from .binding import bind
from .clock import as_utc, utcnow
from .db import reading
from .errors import DefinitionChanged, RuleViolation
from .firing import FiringCase
from .guards import GuardContext, holds, shift
from .machines import run
from .payloads import validate_payload
from .personal_data import store_subject
from .reporting import check_items, check_period_in_plan
from .subordination import subordination
from .unit_of_work import CaseChange, CaseRecord, Services

log = logging.getLogger("qorgau.engine")


@dataclass(frozen=True)
class Outcome:
    """What a successful launch or fire returns."""
    ref: str
    state: str
    version: int
    outcome: str | None = None
    spawned: tuple[str, ...] = ()


_CASE = select(T.cases).where(T.cases.c.ref == bindparam("ref"))
_CASE_FOR_UPDATE = _CASE.with_for_update()


class Engine:
    def __init__(self, db: DbEngine, services: Services):
        self.db, self.svc = db, services
        # Called with the case reference after each commit (best effort, never fails a transition):
        # the Prefect runtime hooks delivery in here.
        self.after_commit: list[Callable[[str], None]] = []

    @property
    def registry(self) -> Registry:
        return self.svc.registry

    # ------------------------------------------------------------------ definitions
    def pin_definitions(self, now: datetime | None = None) -> None:
        """Record each definition's content hash on first use; a changed one under a used version
        is refused (publish it as a new version instead)."""
        now = as_utc(now or utcnow())
        with self.db.begin() as conn:
            pinned = {(r.algorithm, r.version): r.content_hash for r in conn.execute(select(T.definitions))}
            for d in self.registry:
                known = pinned.get(d.key)
                if known is None:
                    conn.execute(insert(T.definitions).values(algorithm=d.id, version=d.version,
                                                              content_hash=d.base_hash, first_used_at=now))
                elif known != d.base_hash:
                    raise DefinitionChanged(
                        f"{d.file}: {d.id} version {d.version} differs from the definition already in use "
                        f"(pinned {known[:12]}, loaded {d.base_hash[:12]}); publish the change as version "
                        f"{d.version + 1}")

    def definition_for(self, case: CaseRecord) -> Definition:
        d = self.registry.variant(case.algorithm, case.algorithm_version, case.overrides)
        if d.content_hash != case.definition_hash:
            raise DefinitionChanged(f"case {case.ref} is pinned to {case.algorithm} v{case.algorithm_version} "
                                    f"with hash {case.definition_hash[:12]}, but the loaded one is {d.content_hash[:12]}")
        return d

    # ------------------------------------------------------------------ reading
    def load_case(self, conn: Connection, ref: str, *, lock: bool = False) -> CaseRecord:
        q = _CASE_FOR_UPDATE if lock and conn.dialect.name == "postgresql" else _CASE
        row = conn.execute(q, {"ref": ref}).first()
        if row is None:
            raise RuleViolation("unknown_case", f"no case with reference {ref!r}", field="case")
        return CaseRecord.from_row(row)

    def reader(self) -> Connection:
        """A read-only connection (on SQLite it never waits for or blocks a writer)."""
        return reading(self.db)

    def case(self, ref: str) -> CaseRecord:
        with self.reader() as conn:
            return self.load_case(conn, ref)

    # ------------------------------------------------------------------ launch
    def launch(self, algorithm: str, region: str, actor: str, data: dict[str, Any] | None = None, *,
               now: datetime | None = None, version: int | None = None, person: str | None = None) -> Outcome:
        """Open a new case as body `actor` (and, if given, the person acting for it)."""
        now = as_utc(now or utcnow())
        with self.db.begin() as conn:
            result = self._launch(conn, algorithm, region, actor, data or {}, now, version, person=person)
        self.announce(result.ref)
        return result

    def _launch(self, conn: Connection, algorithm: str, region: str, actor: str, data: dict[str, Any],
                now: datetime, version: int | None, spawned_from: CaseRecord | None = None,
                subject_id: str | None = None, person: str | None = None) -> Outcome:
        try:
            d = self.registry.get(algorithm, version)
        except UnknownAlgorithm as exc:
            raise RuleViolation("invalid_data", str(exc.args[0]), field="algorithm") from None
        spec = d.spec
        if region not in self.svc.directory.regions:
            raise RuleViolation("invalid_data", f"unknown region {region!r}; use an ISO 3166-2:KZ code such as KZ-75",
                                field="region")
        if spawned_from is None:
            self._authorize_launch(d, region, actor)
        payload = validate_payload((d.id, d.version, d.content_hash), "launch", spec.launch.data, data)
        self._check_references(conn, spec.launch.data, payload, now=now)
        child = payload.pop("child", None)
        school = payload.pop("school", None)
        bindings = bind(self.svc.directory, region, school)
        bindings.update(self._role_bindings(d, region, payload))
        if child is not None:
            subject_id = store_subject(conn, child, now, self.svc.master_key)
        unique_key = None
        if spec.launch.unique:
            unique_key = d.id + "|" + "|".join(f"{k}={bindings.get(k, payload.get(k))}" for k in spec.launch.unique)
            if conn.execute(select(T.cases.c.ref).where(T.cases.c.unique_key == unique_key)).first():
                raise RuleViolation("conflict", f"a {d.id} case for {', '.join(spec.launch.unique)} already exists")
        record = CaseRecord(
            id=None, ref="", algorithm=d.id, algorithm_version=d.version, definition_hash=d.content_hash,
            overrides=d.overrides or None, region=region, state="", state_entered_at=now, entered_by="launch", outcome=None, critical=False,
            version=0, task_seq=0, subject_id=subject_id, data=payload, bindings=bindings, unique_key=unique_key,
            created_at=now, updated_at=now, closed_at=None, head_hash="")
        change = CaseChange(conn, self.svc, d, record, now, loaded_version=0)
        change.person = person
        if spec.launch.late is not None:
            self._record_lateness(d, change, payload, now)
        first = self._launch_state(d, change)
        try:
            record.id = conn.execute(insert(T.cases).values(
                ref=f"tmp-{uuid.uuid4()}", algorithm=d.id, algorithm_version=d.version,
                definition_hash=d.content_hash, overrides=d.overrides or None, region=region, state=first, state_entered_at=now,
                entered_by="launch", outcome=None, critical=False, version=0, task_seq=0, subject_id=subject_id,
                data=record.data, bindings=bindings, unique_key=unique_key, created_at=now, updated_at=now,
                head_hash="")).inserted_primary_key[0]
        except IntegrityError:
            raise RuleViolation("conflict", f"a {d.id} case for {', '.join(spec.launch.unique)} already exists") from None
        record.ref = f"{spec.reference_prefix}-{region.split('-')[1]}-{record.id:06d}"
        conn.execute(T.cases.update().where(T.cases.c.id == record.id).values(ref=record.ref))
        change.enter_state(first, "launch")
        for n in spec.launch.notify:
            if n.when is None or holds(n.when, change.guard_context(payload)):
                change.notify(n.template, n.to)
        change.effects["bindings"] = bindings
        if subject_id:
            change.effects["subject"] = subject_id
        if spawned_from is not None:
            change.effects["spawned_from"] = spawned_from.ref
        change.write_event(actor, "launch", {"region": region, **payload}, None)
        return Outcome(record.ref, record.state, record.version)

    @staticmethod
    def _record_lateness(d: Definition, change: CaseChange, payload: dict[str, Any], now: datetime) -> None:
        """Duty to report (rule V2): a launch later than the threshold after the detection is late;
        the case keeps true/false, the launch event says by how many hours."""
        late = d.spec.launch.late
        detected = payload.get(late.from_)
        if detected is None:
            return
        detected_at = as_utc(datetime.fromisoformat(detected))
        is_late = now > shift(detected_at, late.after)
        change.case.data = {**change.case.data, late.record: is_late}
        change.effects[late.record] = {"late": is_late, "after": late.after.rule(),
                                       "hours": round((now - detected_at).total_seconds() / 3600, 1)}

    def _launch_state(self, d: Definition, change: CaseChange) -> str:
        if d.spec.launch.initial:
            return d.spec.launch.initial
        ctx = change.guard_context(change.case.data)
        for route in d.spec.launch.routes:
            if holds(route.when, ctx):
                return route.to
        raise RuleViolation("guard_failed", "no launch route matches: " + "; ".join(ctx.failures))

    def _role_bindings(self, d: Definition, region: str, payload: dict[str, Any]) -> dict[str, str]:
        """Algorithm-declared roles (e.g. plan-reporting's `executor`) bound from launch data."""
        out: dict[str, str] = {}
        for name, role in d.spec.roles.items():
            if role.from_field:
                value = payload.get(role.from_field)
                out[name] = self._body_from_ref(region, value, role.from_field)
                continue
            ctx = GuardContext(case=payload, data=payload, now=utcnow())
            choice = next((c for c in role.choose if holds(c.when, ctx)), None)
            body_id = self._body_from_ref(region, choice.body_type, name) if choice is not None else None
            if body_id is None:
                raise RuleViolation("invalid_data", f"no body can act as {name!r} for this launch", field=name)
            out[name] = body_id
        return out

    def _body_from_ref(self, region: str, value: Any, field: str) -> str:
        """A body id, or a body type resolved in the case's region (republic types: the ministry)."""
        directory = self.svc.directory
        if not isinstance(value, str) or not value:
            raise RuleViolation("invalid_data", f"field {field!r}: a body id or body type is required", field=field)
        body = directory.find(value)
        if body is not None:
            return body.id
        if value in REPUBLIC_TYPES:
            return directory.republic(value).id
        if value in BODY_TYPES and value != "republic_body":
            return directory.region_body(region, value).id
        raise RuleViolation("invalid_data", f"field {field!r}: {value!r} is neither a body id nor a body type",
                            field=field)

    def may_launch(self, d: Definition, region: str, actor: str) -> bool:
        """Whether body `actor` may launch `d` in `region` (what a launch form offers)."""
        try:
            self._authorize_launch(d, region, actor)
        except RuleViolation:
            return False
        return True

    def _authorize_launch(self, d: Definition, region: str, actor: str) -> None:
        allowed = d.spec.launch.actors
        if actor == "system":
            if "system" in allowed:
                return
            raise RuleViolation("forbidden", f"{d.id} cannot be launched by the system")
        body = self.svc.directory.find(actor)
        if body is None:
            raise RuleViolation("forbidden", f"unknown body {actor!r}", field="actor")
        if body.type in allowed and (body.region in (None, region)):
            return
        directory = self.svc.directory
        for body_type in allowed:
            if body_type in ("system",) or body_type in d.spec.roles:
                continue
            try:
                target = directory.region_body(region, body_type)
            except Exception:
                continue
            if subordination(directory, d.spec.subordination).is_supervisor(body.id, target.id):
                return
        raise RuleViolation("forbidden", f"{body.id} ({body.type}) may not launch {d.id} in {region}; "
                                         f"allowed: {', '.join(allowed)} of that region or their supervisors")

    # ------------------------------------------------------------------ fire
    def fire(self, ref: str, trigger: str, actor: str, data: dict[str, Any] | None = None, *,
             now: datetime | None = None, expected_version: int | None = None,
             check: Callable[[CaseRecord], None] | None = None, person: str | None = None) -> Outcome:
        """Fire `trigger` on case `ref` as body `actor`; all or nothing. `check(case)`, if given, runs
        on the case as loaded for the write, before anything else, and may refuse by raising (the
        API's scope check: one read of the case instead of two). It runs on every other case the
        trigger names too (a `link`), where a refusal answers like a reference that does not exist."""
        now = as_utc(now or utcnow())
        with self.db.begin() as conn:
            case = self.load_case(conn, ref, lock=True)
            if check is not None:
                check(case)
            if expected_version is not None and case.version != expected_version:
                raise RuleViolation("conflict", f"case {ref} is at version {case.version}, "
                                                f"not {expected_version}; read it again")
            result = self.apply_trigger(conn, case, trigger, actor, data, now, check=check, person=person)
        self.announce(ref)
        return result

    def apply_trigger(self, conn: Connection, case: CaseRecord, trigger: str, actor: str,
                      data: dict[str, Any] | None, now: datetime, extra_effects: dict | None = None,
                      check: Callable[[CaseRecord], None] | None = None, person: str | None = None) -> Outcome:
        """Fire `trigger` on `case` inside the caller's transaction: the definition's machine moves
        the case (states/machines.py, states/firing.py); this writes the one history event."""
        d = self.definition_for(case)
        trig = d.trigger(trigger)
        if trig is None:
            raise RuleViolation("unknown_trigger", f"{d.id} has no trigger {trigger!r}", field="trigger")
        firing = FiringCase(self, conn, d, case, trigger, trig, actor, data, now, extra_effects, check, person)
        if not run(d, firing, trigger):
            raise RuleViolation("guard_failed", f"no transition of {trigger!r} applies: " + "; ".join(firing.ctx.failures))
        firing.change.write_event(actor, trigger, firing.payload, firing.from_state)
        return Outcome(case.ref, case.state, case.version, case.outcome, tuple(firing.spawned))

    # ------------------------------------------------------------------ checks
    def _authorize(self, d: Definition, trig: TriggerSpec, case: CaseRecord, actor: str, trigger: str) -> None:
        directory = self.svc.directory
        if actor == "system":
            if "system" in trig.actors:
                return
            raise RuleViolation("forbidden", f"{trigger!r} cannot be fired by the system", field="actor")
        body = directory.find(actor)
        if body is None:
            raise RuleViolation("forbidden", f"unknown body {actor!r}", field="actor")
        if may_fire(directory, trig, case.bindings, actor, d.spec.subordination):
            return
        if trig.decision:
            owners = ", ".join(bound_actors(directory, trig, case.bindings))
            raise RuleViolation("forbidden", f"{trigger!r} is a decision of {owners} alone; {actor} ({body.type}) "
                                             "may not take it in its place", field="actor")
        raise RuleViolation("forbidden", f"{actor} ({body.type}) may not fire {trigger!r} on {case.ref}: allowed are "
                                         f"the case's {', '.join(trig.actors)} and their supervisors", field="actor")

    def _authorize_assignee(self, change: CaseChange, kind: str, actor: str, trigger: str) -> None:
        task = next((t for t in change.open_tasks().values() if t.kind == kind), None)
        if task is None:
            raise RuleViolation("guard_failed", f"{trigger!r} requires the open task {kind!r}")
        if actor != task.body_id and not change.chain.is_supervisor(actor, task.body_id):
            raise RuleViolation("forbidden", f"only {task.body_id} (or a supervisor) may fire {trigger!r} "
                                             f"for {kind!r}", field="actor")

    def _check_references(self, conn: Connection, fields, payload: dict[str, Any], case: CaseRecord | None = None,
                          actor: str = "system", check: Callable[[CaseRecord], None] | None = None,
                          now: datetime | None = None) -> dict[str, CaseRecord]:
        """Fields that name a body, a region, a case or a plan period must name one that exists; a
        case named must also be one the actor may touch (returned by reference, loaded for the
        write); a date-time `within_past` lies in that window before now."""
        directory = self.svc.directory
        others: dict[str, CaseRecord] = {}
        for name, spec in fields.items():
            value = payload.get(name)
            if value is None:
                continue
            if spec.within_past is not None and now is not None:
                moment = as_utc(datetime.fromisoformat(value))
                if moment > now:
                    raise RuleViolation("invalid_data", f"field {name!r}: {value} is later than now", field=name)
                if shift(moment, spec.within_past) < now:
                    raise RuleViolation("invalid_data", f"field {name!r}: {value} is more than "
                                                        f"{spec.within_past.amount} {spec.within_past.unit} ago",
                                        field=name)
            if spec.within_plan:
                check_period_in_plan(value, self.svc.catalogue)
            if spec.type == "region" and value not in directory.regions:
                raise RuleViolation("invalid_data", f"field {name!r}: unknown region {value!r}", field=name)
            if spec.type == "body_id":
                body = directory.find(value)
                if body is None or (spec.body_type and body.type != spec.body_type):
                    raise RuleViolation("invalid_data", f"field {name!r}: {value!r} is not a "
                                                        f"{spec.body_type or 'body'} in the directory", field=name)
            if spec.type == "object_list" and spec.items:
                measure_fields = [k for k, f in spec.items.items() if f.type == "plan_measure"]
                if measure_fields and case is not None and "executor" in case.bindings:
                    for sub in measure_fields:
                        check_items(value, name, sub, case.bindings["executor"], self.svc.catalogue, directory,
                                    period=case.data.get("period"))
            if spec.type == "case_ref":
                if case is not None and value == case.ref:
                    raise RuleViolation("invalid_data", f"field {name!r}: a case cannot refer to itself", field=name)
                others[value] = self._other_case(conn, name, value, actor, check)
        return others

    def _other_case(self, conn: Connection, field: str, ref: str, actor: str,
                    check: Callable[[CaseRecord], None] | None) -> CaseRecord:
        """Another case a command names, if the actor may touch it: bound to it (or above a body
        bound to it) and, when the caller brought a scope check, in that scope. A case that exists
        but is out of reach answers exactly like one that does not, so references cannot be probed."""
        unknown = RuleViolation("invalid_data", f"field {field!r}: no case {ref!r} that you may refer to",
                                field=field)
        try:
            other = self.load_case(conn, ref, lock=True)
        except RuleViolation:
            raise unknown from None
        directory = self.svc.directory
        if actor != "system" and not any(b == actor or directory.is_supervisor(actor, b)
                                         for b in other.bindings.values()):
            raise unknown
        if check is not None:
            try:
                check(other)
            except Exception:  # the caller's refusal, whatever its type: answered as unknown
                raise unknown from None
        return other

    def announce(self, ref: str) -> None:
        for hook in self.after_commit:
            try:
                hook(ref)
            except Exception:  # best effort: delivery has its own schedule as a safety net
                log.warning("after-commit hook failed for %s", ref, exc_info=True)
