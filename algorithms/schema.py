"""The shape of an algorithm definition (one YAML file per algorithm and version).

These pydantic models check structure and vocabulary; `loader.py` adds the checks that need the
whole definition (unknown states, unreachable states, guards on undeclared fields) and reports every
problem as `file:line: rule`.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEADLINE_UNITS = ("hours", "working_days", "days", "months", "day_of_next_month",
                  "working_day_before_day_of_next_month")
TEMPLATES = (
    "case_opened", "task_assigned", "reminder", "overdue", "escalation",
    "escalation_critical", "decision", "case_transferred", "case_closed", "report_due",
)
BODY_TYPES = (
    "school", "education_department", "guardianship", "police", "health", "psych_center",
    "social_services", "kdn", "consilium", "interagency_group", "hotline", "akimat",
    "ministry_education", "ministry_health", "ministry_interior", "ministry_labour",
    "government_office", "republic_body", "health_department", "social_department",
)
REPUBLIC_TYPES = ("ministry_education", "ministry_health", "ministry_interior", "ministry_labour",
                  "government_office")
FIELD_TYPES = ("string", "text", "bool", "int", "enum", "list", "object_list", "body_id",
               "body_ref", "case_ref", "region", "child", "date", "period", "plan_measure",
               "datetime", "registry_number")
ERROR_CODES = ("unknown_case", "unknown_trigger", "invalid_transition", "forbidden",
               "invalid_data", "guard_failed", "conflict")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Titles(Strict):
    kk: str
    ru: str
    en: str


class Deadline(Strict):
    """Exactly one rule of the spec's deadline table, e.g. `{working_days: 3}`."""
    hours: int | None = Field(None, ge=0)
    working_days: int | None = Field(None, ge=0)
    days: int | None = Field(None, ge=0)
    months: int | None = Field(None, ge=0)
    day_of_next_month: int | None = Field(None, ge=1, le=31)
    # 18:00 of the last working day before day D of the month after the period ("до 10 числа").
    working_day_before_day_of_next_month: int | None = Field(None, ge=1, le=31)
    when: "Guard | None" = None

    @model_validator(mode="after")
    def _exactly_one_rule(self) -> "Deadline":
        set_units = [u for u in DEADLINE_UNITS if getattr(self, u) is not None]
        if len(set_units) != 1:
            raise ValueError(
                f"a deadline needs exactly one of {', '.join(DEADLINE_UNITS)}; got {set_units or 'none'}")
        return self

    @property
    def unit(self) -> str:
        return next(u for u in DEADLINE_UNITS if getattr(self, u) is not None)

    @property
    def amount(self) -> int:
        return getattr(self, self.unit)

    def rule(self) -> dict[str, int]:
        return {self.unit: self.amount}


class Guard(Strict):
    """A declarative condition. One form per guard:
    `{field, equals|not_equals|in|not_in|gt|gte|lt|lte|is_set}`, `{all: [...]}`, `{any: [...]}`,
    `{not: guard}`, `{elapsed_in_state: {at_least|at_most: deadline}}`,
    `{elapsed_since_closed: {...}}`, `{task_open: "kind"}`, `{entered_by: [trigger|launch]}`,
    `{event: {trigger: [...], since: [...]}}` (the case's history holds such an event, after the latest
    `since` event if named), `{elapsed_since_event: {trigger: [...], at_least|at_most: deadline}}` (time
    since the latest event of those triggers).
    `field` is `case.NAME` (case data, or state/outcome/region) or `data.NAME` (the trigger's data)."""
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    field: str | None = None
    equals: Any = None
    not_equals: Any = None
    in_: list[Any] | None = Field(None, alias="in")
    not_in: list[Any] | None = None
    gt: int | float | None = None
    gte: int | float | None = None
    lt: int | float | None = None
    lte: int | float | None = None
    is_set: bool | None = None
    matches: str | None = None  # a regular expression the text value must contain a match of
    all: list["Guard"] | None = None
    any: list["Guard"] | None = None
    not_: "Guard | None" = Field(None, alias="not")
    elapsed_in_state: "Elapsed | None" = None
    elapsed_since_closed: "Elapsed | None" = None
    task_open: str | None = None
    entered_by: list[str] | None = None
    event: "EventFilter | None" = None
    elapsed_since_event: "ElapsedSinceEvent | None" = None
    message: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _remember_equals_none(cls, raw: Any) -> Any:
        # `equals: null` is a legal comparison; remember that it was written.
        if isinstance(raw, dict) and "equals" in raw and raw["equals"] is None:
            raw = {**raw, "is_set": False}
            raw.pop("equals")
        return raw

    @model_validator(mode="after")
    def _one_form(self) -> "Guard":
        ops = [k for k in ("equals", "not_equals", "in_", "not_in", "gt", "gte", "lt", "lte", "is_set", "matches")
               if getattr(self, k) is not None]
        forms = [k for k in ("all", "any", "not_", "elapsed_in_state", "elapsed_since_closed",
                             "task_open", "entered_by", "event", "elapsed_since_event")
                 if getattr(self, k) is not None]
        if self.field is not None:
            if len(ops) != 1 or forms:
                raise ValueError("a field guard needs exactly one comparison "
                                 "(equals, not_equals, in, not_in, gt, gte, lt, lte, is_set, matches)")
            if not (self.field.startswith("case.") or self.field.startswith("data.")):
                raise ValueError(f"guard field {self.field!r} must start with 'case.' or 'data.'")
        elif len(forms) != 1 or ops:
            raise ValueError("a guard needs `field` with one comparison, or exactly one of "
                             "all, any, not, elapsed_in_state, elapsed_since_closed, task_open, entered_by, "
                             "event, elapsed_since_event")
        return self


class Elapsed(Strict):
    at_least: Deadline | None = None
    at_most: Deadline | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> "Elapsed":
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("elapsed needs exactly one of at_least, at_most")
        return self


class EventFilter(Strict):
    """Events of the case's own history: those of `trigger`, after the latest of `since` if given."""
    trigger: list[str] = Field(min_length=1)
    since: list[str] = []


class ElapsedSinceEvent(Elapsed):
    trigger: list[str] = Field(min_length=1)


class FieldSpec(Strict):
    type: Literal[FIELD_TYPES]  # type: ignore[valid-type]
    required: bool = False
    title: Titles | None = None
    help: Titles | None = None
    values: list[str] | None = None
    max_length: int | None = None
    min: int | None = None
    max: int | None = None
    non_empty: bool = False
    body_type: str | None = None
    items: dict[str, "FieldSpec"] | None = None
    # Required only when this guard on the trigger's data holds (e.g. `register` unless no offence).
    required_when: Guard | None = None
    # A date-time that lies in the past, at most this long before the moment of the call.
    within_past: Deadline | None = None
    # A `period` that some plan catalogue's span must cover (plan-reporting, version 2).
    within_plan: bool = False
    source: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "FieldSpec":
        if self.type == "enum" and not self.values:
            raise ValueError("an enum field needs `values`")
        if self.type == "object_list" and not self.items:
            raise ValueError("an object_list field needs `items`")
        if self.within_past is not None and self.type != "datetime":
            raise ValueError("`within_past` applies to a datetime field")
        if self.within_plan and self.type != "period":
            raise ValueError("`within_plan` applies to a period field")
        if self.required_when is not None and self.required:
            raise ValueError("a field is either `required` or `required_when`, not both")
        return self


class TaskSpec(Strict):
    kind: str
    body: str
    deadline: Deadline | list[Deadline]
    ladder: str = "standard"
    persistent: bool = False
    when: Guard | None = None
    source: str | None = None

    def deadlines(self) -> list[Deadline]:
        return self.deadline if isinstance(self.deadline, list) else [self.deadline]


class NotifySpec(Strict):
    template: str
    to: list[str]
    when: Guard | None = None
    source: str | None = None


class TimerSpec(Strict):
    name: str
    after: Deadline
    # The clock runs from the latest event of these triggers (or of a trigger that restarts the
    # timer), not from the entry into the state: leaving and re-entering does not restart it.
    anchor: list[str] = []
    fire: str | None = None
    open_task: TaskSpec | None = None
    source: str | None = None

    @model_validator(mode="after")
    def _one_action(self) -> "TimerSpec":
        if (self.fire is None) == (self.open_task is None):
            raise ValueError("a timer needs exactly one of `fire` (a trigger) or `open_task`")
        return self


class StateSpec(Strict):
    title: Titles
    final: bool = False
    tasks: list[TaskSpec] = []
    timers: list[TimerSpec] = []
    notify: list[NotifySpec] = []
    resets: list[str] = []  # case counters set to 0 on entering this state
    source: str | None = None


class TransitionSpec(Strict):
    """`to` is a state, `same` (internal) or `return`: back to the state from which the case
    entered the one it is in."""
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    from_: str | list[str] = Field(alias="from")
    to: str
    when: Guard | None = None
    outcome: str | None = None
    except_: list[str] = Field([], alias="except")
    source: str | None = None

    def sources(self) -> list[str]:
        return [self.from_] if isinstance(self.from_, str) else list(self.from_)


class SpawnSpec(Strict):
    algorithm: str
    when: Guard | None = None
    data: dict[str, Any] = {}
    copy_: dict[str, str] = Field({}, alias="copy")
    source: str | None = None
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class OpensEach(Strict):
    """One task per item of a list in the trigger's data, e.g. a plan's actions:
    `{items: actions, kind: "plan_action:{id}", body: body_type, deadline_days: days}`."""
    items: str
    kind: str
    body: str
    deadline_days: str
    ladder: str = "standard"
    persistent: bool = False
    source: str | None = None


class TriggerSpec(Strict):
    """`decision`: a legal decision of the body bound in one of `actors`; no supervisor may take it."""
    title: Titles

    def recorded(self) -> dict[str, str]:
        """data field -> case data field, for the fields this trigger keeps in the case."""
        return dict(self.record) if isinstance(self.record, dict) else {f: f for f in self.record}

    actors: list[str]
    data: dict[str, FieldSpec] = {}
    transitions: list[TransitionSpec]
    guard: Guard | None = None
    completes: list[str] | Literal["all"] = []
    cancels: list[str] | Literal["all"] = []
    reopens: list[str] = []
    restarts_timers: list[str] = []
    opens: list[TaskSpec] = []
    opens_each: OpensEach | None = None
    assignee_of: str | None = None  # only the body of this open task (or a supervisor) may fire
    notify: list[NotifySpec] = []
    spawn: list[SpawnSpec] = []
    record: list[str] | dict[str, str] = []  # data fields kept in the case's data (as `field: case_field`)
    count: list[str] = []  # case counters this trigger increments
    effect: Literal["transfer", "link", "missing_reports"] | None = None
    decision: bool = False
    source: str | None = None


class LateSpec(Strict):
    """A launch later than `after` since the moment in launch field `from` is recorded as late
    (case field `record`, true or false; the launch event says by how much)."""
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    from_: str = Field(alias="from")
    after: Deadline
    record: str
    source: str | None = None


class LaunchSpec(Strict):
    actors: list[str]
    data: dict[str, FieldSpec]
    initial: str | None = None
    routes: list[TransitionSpec] = []
    notify: list[NotifySpec] = []
    unique: list[str] = []
    late: LateSpec | None = None

    @model_validator(mode="after")
    def _initial_or_routes(self) -> "LaunchSpec":
        if (self.initial is None) == (not self.routes):
            raise ValueError("launch needs exactly one of `initial` (a state) or `routes`")
        return self


class LadderStep(Strict):
    """`to`: who is told (and, at `escalation`, who gets `ensure_completion`): `assignee`,
    `assignee.parent`, `assignee.top` (the top of its chain), `assignee.line_ministry`, or a body
    type bound to the case such as `akimat`. Without `to`, version 1's recipients."""
    step: Literal["reminder", "overdue", "escalation", "critical"]
    at: Any
    ensure_completion: Deadline | None = None
    to: list[str] | None = None


class LadderSpec(Strict):
    steps: list[LadderStep]
    source: str | None = None


class TaskKindSpec(Strict):
    title: Titles
    description: Titles | None = None


class RoleChoice(Strict):
    body_type: str
    when: Guard | None = None


class RoleSpec(Strict):
    """A role an algorithm binds at launch besides the body types (e.g. plan-reporting's
    `executor`): from a launch field naming a body id or type, or the first matching choice."""
    title: Titles
    from_field: str | None = None
    choose: list[RoleChoice] = []

    @model_validator(mode="after")
    def _one_source(self) -> "RoleSpec":
        if (self.from_field is None) == (not self.choose):
            raise ValueError("a role needs exactly one of `from_field` or `choose`")
        return self


class CommonUse(Strict):
    """How a definition takes the cross-cutting triggers of its common file: `omit` some, `amend`
    the actors (and decision flag) of others."""
    file: str = "common.yaml"
    omit: list[str] = []
    amend: dict[str, "TriggerAmendment"] = {}
    source: str | None = None


class TriggerAmendment(Strict):
    actors: list[str] | None = None
    decision: bool | None = None


class AlgorithmSpec(Strict):
    """One algorithm at one version, as written in its YAML file (plus its common file)."""
    id: str
    version: int = Field(ge=1)
    common: CommonUse | None = None
    # Who answers to whom in escalations: `spec_2023` (the parent types version 1 was written for)
    # or `directory` (the directory's own parents: the line of subordination, version 2 rule C1).
    subordination: Literal["spec_2023", "directory"] = "spec_2023"
    title: Titles
    reference_prefix: str = Field(pattern=r"^[A-Z]{2,4}$")
    sources: list[str] = []
    roles: dict[str, RoleSpec] = {}
    launch: LaunchSpec
    task_kinds: dict[str, TaskKindSpec]
    states: dict[str, StateSpec]
    outcomes: dict[str, Titles] = {}
    triggers: dict[str, TriggerSpec]
    ladders: dict[str, LadderSpec] = {}

    @field_validator("states")
    @classmethod
    def _has_final(cls, states: dict[str, StateSpec]) -> dict[str, StateSpec]:
        if not any(s.final for s in states.values()):
            raise ValueError("an algorithm needs at least one final state")
        return states


CommonUse.model_rebuild()
Guard.model_rebuild()
Deadline.model_rebuild()
FieldSpec.model_rebuild()
