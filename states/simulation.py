"""Run scenario files (../shared/spec/scenarios.md) on a virtual clock.

Each file gets a fresh in-memory store, the shipped directory and calendar; the clock stops at
every escalation step and timer on its way to each step, exactly as the production sweep would.
Nothing is delivered: notifications are only recorded in the outbox.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, select

from algorithms.yaml_lines import LocatedYaml, YamlSyntaxError, load_located

from . import tables as T
from .access import SYSTEM, Principal, operator
from .calendar import KZ_TZ
from .clock import as_utc
from .commands import Fire, Launch, MigrateCase
from .errors import ERROR_CODES, RuleViolation
from .handling import Handler
from .verify import verify_case
from .sweep import next_due, sweep

OFFSET_RE = re.compile(r"^\+(\d+)([mhd])$")


class ScenarioError(ValueError):
    """A malformed scenario file: `file:line: reason`."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskExpect(_Strict):
    kind: str
    body: str
    due: datetime | None = None


class NotificationExpect(_Strict):
    template: str
    to: str


class Expect(_Strict):
    state: str | None = None
    outcome: str | None = None
    open_tasks: list[TaskExpect] | None = None
    no_open_tasks: list[str] | None = None
    overdue: list[str] | None = None
    done_tasks: list[str] | None = None
    cancelled_tasks: list[str] | None = None  # version 2 rule C3: cancelled at least once, none open
    notifications: list[NotificationExpect] | None = None
    no_notifications: list[NotificationExpect] | None = None
    critical: bool | None = None
    spawned: list[str] | None = None
    error: str | None = None
    history_verifies: bool | None = None

    @field_validator("error")
    @classmethod
    def _known_code(cls, v: str | None) -> str | None:
        if v is not None and v not in ERROR_CODES:
            raise ValueError(f"unknown error code {v!r}; one of {', '.join(ERROR_CODES)}")
        return v


class MigrateTo(_Strict):
    to: int


class Step(_Strict):
    at: Any
    actor: str | None = None
    fire: str | None = None
    migrate: MigrateTo | None = None
    data: dict[str, Any] | None = None
    expect: Expect | None = None

    @model_validator(mode="after")
    def _one_action(self) -> "Step":
        if self.fire and self.migrate:
            raise ValueError("a step either fires a trigger or migrates the case, not both")
        if self.migrate and self.data:
            raise ValueError("a `migrate` step takes no `data`")
        return self


class Scenario(_Strict):
    name: str
    algorithm: str
    version: int | None = None
    start: datetime
    region: str
    actor: str
    data: dict[str, Any] = Field(default_factory=dict)
    steps: list[Step] = Field(default_factory=list)


@dataclass
class Check:
    text: str
    ok: bool
    detail: str = ""


@dataclass
class StepResult:
    at: datetime
    label: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass
class ScenarioResult:
    file: str
    name: str
    ref: str | None = None
    steps: list[StepResult] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(s.ok for s in self.steps)


# ---------------------------------------------------------------------------- parsing

def parse_scenario(path: str | Path) -> tuple[Scenario, list[datetime], LocatedYaml]:
    try:
        doc = load_located(path)
    except YamlSyntaxError as exc:
        raise ScenarioError(str(exc)) from None
    if not isinstance(doc.data, dict):
        raise ScenarioError(f"{doc.file}:1: a scenario must be a mapping")
    try:
        scenario = Scenario.model_validate(doc.data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        raise ScenarioError(f"{doc.where(loc)}: {'.'.join(map(str, loc))}: {err['msg']}") from None
    if scenario.start.tzinfo is None:
        raise ScenarioError(f"{doc.where(('start',))}: start needs a timezone offset, e.g. +05:00")
    times: list[datetime] = []
    previous = as_utc(scenario.start)
    for i, step in enumerate(scenario.steps):
        where = doc.where(("steps", i, "at"))
        when = _parse_at(step.at, scenario.start, where)
        if when < previous:
            raise ScenarioError(f"{where}: `at` goes backwards ({_local(when)} is before {_local(previous)}, "
                                f"Kazakhstan time)")
        if step.fire and not step.actor:
            raise ScenarioError(f"{doc.where(('steps', i))}: a step that fires needs an `actor`")
        if not (step.fire or step.migrate) and step.expect is None:
            raise ScenarioError(f"{doc.where(('steps', i))}: a step needs `fire`, `migrate` or `expect`")
        if step.expect and step.expect.error and not (step.fire or step.migrate):
            raise ScenarioError(f"{doc.where(('steps', i, 'expect', 'error'))}: `error` expects a `fire` or a "
                                "`migrate` in the same step")
        previous = when
        times.append(when)
    return scenario, times, doc


def _parse_at(value: Any, start: datetime, where: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ScenarioError(f"{where}: an ISO time in `at` needs a timezone offset")
        return as_utc(value)
    if isinstance(value, str):
        m = OFFSET_RE.match(value.strip())
        if m:
            n, unit = int(m.group(1)), m.group(2)
            delta = {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}[unit]
            return as_utc(start) + delta
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return as_utc(parsed)
    raise ScenarioError(f"{where}: `at` must be +Nm, +Nh, +Nd or an ISO time with offset; got {value!r}")


# ---------------------------------------------------------------------------- running

def run_scenario(path: str | Path, engine_factory) -> ScenarioResult:
    """Run one file on a fresh engine from `engine_factory()`; raises ScenarioError if malformed."""
    scenario, times, doc = parse_scenario(path)
    result = ScenarioResult(file=str(path), name=scenario.name)
    engine = engine_factory()
    try:
        _run(engine, scenario, times, result)
    finally:
        engine.db.dispose()
    return result


def _run(engine, scenario: Scenario, times: list[datetime], result: ScenarioResult) -> None:
    directory = engine.svc.directory
    commands = Handler(engine)  # a scenario's steps are the commands an agency's pages would send
    start = as_utc(scenario.start)
    try:
        actor = _launch_actor(directory, scenario)
        launched = commands.handle(Launch(scenario.algorithm, scenario.region, scenario.data, scenario.version),
                                   _as_operator(directory, actor), now=start)
    except (RuleViolation, KeyError, ValueError) as exc:
        result.error = f"launch rejected: {exc}"
        return
    ref = result.ref = launched.ref
    result.steps.append(StepResult(start, f"{scenario.actor} launches {scenario.algorithm} in {scenario.region}"
                                          f" → {ref} ({launched.state})"))
    watermark = _outbox_watermark(engine, 0)
    notes_from = 0
    for step, when in zip(scenario.steps, times):
        _advance(engine, when)
        label = "check"
        error: RuleViolation | None = None
        version_before = engine.case(ref).version
        if step.fire:
            body = _resolve_actor(engine, ref, step.actor)
            try:
                out = commands.handle(Fire(ref, step.fire, step.data), _as_operator(directory, body), now=when)
                label = f"{step.actor} fires {step.fire} → {out.state}"
            except RuleViolation as exc:
                error = exc
                label = f"{step.actor} fires {step.fire} ✗ {exc.code}: {exc.message}"
        elif step.migrate:
            who = step.actor or "system"
            body = _resolve_actor(engine, ref, who)
            algorithm = engine.case(ref).algorithm
            try:
                moved = commands.handle(MigrateCase(ref, algorithm, step.migrate.to), _as_operator(directory, body),
                                        now=when)
                label = f"{who} migrates the case to version {step.migrate.to} → {moved.plan.state_to}"
            except RuleViolation as exc:
                error = exc
                label = f"{who} migrates the case to version {step.migrate.to} ✗ {exc.code}: {exc.message}"
        step_result = StepResult(when, label)
        if step.expect is not None:
            step_result.checks = _check(engine, ref, step.expect, when, error, version_before, notes_from)
            notes_from = watermark = _outbox_watermark(engine, watermark)
        elif error is not None:
            what = f"fire {step.fire}" if step.fire else f"migrate to version {step.migrate.to}"
            step_result.checks = [Check(what, False, f"rejected with {error.code}: {error.message}")]
        result.steps.append(step_result)


def _advance(engine, target: datetime) -> None:
    """Move the virtual clock to `target`, stopping at every step that falls due on the way."""
    while True:
        due = next_due(engine)
        if due is None or due > target:
            return
        sweep(engine, now=due)


def _as_operator(directory, body_id: str) -> Principal:
    """The scenario's actor as the trusted operator (the engine's rules decide, as for a pages user)."""
    return SYSTEM if body_id == "system" else operator(directory.get(body_id))


def _launch_actor(directory, scenario: Scenario) -> str:
    if scenario.actor == "system" or directory.find(scenario.actor):
        return scenario.actor
    if scenario.actor == "school" and scenario.data.get("school"):
        return scenario.data["school"]
    return _directory_body(directory, scenario.region, scenario.actor)


def _directory_body(directory, region: str, body_type: str) -> str:
    try:
        return directory.region_body(region, body_type).id
    except Exception:
        return directory.republic(body_type).id


def _resolve_actor(engine, ref: str, actor: str) -> str:
    """A body type resolves to the body bound to the case (after a transfer, the new one)."""
    if actor == "system" or engine.svc.directory.find(actor):
        return actor
    case = engine.case(ref)
    if actor in case.bindings:
        return case.bindings[actor]
    return _directory_body(engine.svc.directory, case.region, actor)


def _outbox_watermark(engine, _previous: int) -> int:
    with engine.reader() as conn:
        return conn.execute(select(func.coalesce(func.max(T.outbox.c.id), 0))).scalar()


def _body_type(engine, body_id: str) -> str:
    body = engine.svc.directory.find(body_id)
    return body.type if body else body_id


def _check(engine, ref: str, ex: Expect, now: datetime, error: RuleViolation | None,
           version_before: int, notes_from: int) -> list[Check]:
    checks: list[Check] = []
    case = engine.case(ref)
    with engine.reader() as conn:
        tasks = conn.execute(select(T.tasks).where(T.tasks.c.case_id == case.id)).all()
        notes = conn.execute(select(T.outbox.c.template, T.outbox.c.body_id).where(
            T.outbox.c.case_id == case.id, T.outbox.c.id > notes_from)).all()
        spawned = conn.execute(select(T.cases.c.algorithm).join(
            T.case_links, T.case_links.c.other_case_id == T.cases.c.id).where(
            T.case_links.c.case_id == case.id, T.case_links.c.relation == "spawned")).scalars().all()
        verification = verify_case(conn, ref, engine.registry) if ex.history_verifies is not None else None
    open_tasks = [t for t in tasks if t.status == "open"]
    describe_open = ", ".join(f"{t.kind}@{_body_type(engine, t.body_id)} due {_local(t.due)}" for t in open_tasks) or "none"

    if ex.error is not None:
        got = error.code if error else "accepted"
        checks.append(Check(f"error {ex.error}", error is not None and error.code == ex.error, f"got {got}"))
        checks.append(Check("history did not grow", case.version == version_before,
                            f"version {version_before} → {case.version}"))
    elif error is not None:
        checks.append(Check("fire accepted", False, f"rejected with {error.code}: {error.message}"))
    if ex.state is not None:
        checks.append(Check(f"state = {ex.state}", case.state == ex.state, f"is {case.state}"))
    if ex.outcome is not None:
        checks.append(Check(f"outcome = {ex.outcome}", case.outcome == ex.outcome, f"is {case.outcome}"))
    for want in ex.open_tasks or []:
        match = [t for t in open_tasks if t.kind == want.kind and _body_type(engine, t.body_id) == want.body]
        text = f"open task {want.kind} for {want.body}" + (f" due {_local(as_utc(want.due))}" if want.due else "")
        if want.due is not None:
            ok = any(t.due == as_utc(want.due) for t in match)
        else:
            ok = bool(match)
        checks.append(Check(text, ok, f"open: {describe_open}"))
    for kind in ex.no_open_tasks or []:
        checks.append(Check(f"no open {kind}", not any(t.kind == kind for t in open_tasks), f"open: {describe_open}"))
    for kind in ex.overdue or []:
        ok = any(t.kind == kind and t.due < now for t in open_tasks)
        checks.append(Check(f"{kind} overdue", ok, f"open: {describe_open}"))
    for kind in ex.done_tasks or []:
        checks.append(Check(f"{kind} done", any(t.kind == kind and t.status == "done" for t in tasks),
                            "done: " + (", ".join(t.kind for t in tasks if t.status == "done") or "none")))
    for kind in ex.cancelled_tasks or []:
        ok = (any(t.kind == kind and t.status == "cancelled" for t in tasks)
              and not any(t.kind == kind for t in open_tasks))
        checks.append(Check(f"{kind} cancelled", ok, "cancelled: " + (
            ", ".join(t.kind for t in tasks if t.status == "cancelled") or "none") + f"; open: {describe_open}"))
    got_notes = {(tpl, _body_type(engine, body)) for tpl, body in notes}
    seen = ", ".join(sorted(f"{t}→{b}" for t, b in got_notes)) or "none"
    for n in ex.notifications or []:
        checks.append(Check(f"notified {n.template} to {n.to}", (n.template, n.to) in got_notes, f"sent: {seen}"))
    for n in ex.no_notifications or []:
        checks.append(Check(f"not notified {n.template} to {n.to}", (n.template, n.to) not in got_notes, f"sent: {seen}"))
    if ex.critical is not None:
        checks.append(Check(f"critical = {str(ex.critical).lower()}", bool(case.critical) == ex.critical,
                            f"is {str(bool(case.critical)).lower()}"))
    for algorithm in ex.spawned or []:
        checks.append(Check(f"spawned {algorithm}", algorithm in spawned, f"spawned: {', '.join(spawned) or 'none'}"))
    if verification is not None:
        checks.append(Check("history verifies" if ex.history_verifies else "history does not verify",
                            verification.ok == ex.history_verifies, "; ".join(verification.problems[:3])))
    return checks


def _local(instant: datetime) -> str:
    return instant.astimezone(KZ_TZ).strftime("%Y-%m-%d %H:%M")
