"""Request and response bodies of the HTTP API (pydantic only: the command line reuses them to
print exactly what the API returns). Times are ISO 8601: `*_local` fields in Kazakhstan time
(UTC+05:00), the others in UTC."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

Role = Literal["coordinator", "agency", "auditor", "admin"]
# Why personal data is read (states.personal_data.PURPOSES; a test keeps the two the same).
Purpose = Literal["assessment", "interview", "home_visit", "medical_examination", "psychological_support",
                  "safety_plan", "social_support", "school_support", "legal_proceedings", "guardianship", "audit"]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class _Model(BaseModel):
    """A request body: unknown fields are refused, and so is a NUL character anywhere in it."""
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("must not contain a NUL character")
        return value


class Titles(BaseModel):
    """One text per language."""
    kk: str
    ru: str
    en: Optional[str] = None


class ErrorBody(BaseModel):
    """Every error: a spec code (unknown_case, unknown_trigger, invalid_transition, forbidden,
    invalid_data, guard_failed, conflict) or a transport code (unauthenticated, not_found,
    method_not_allowed, erased, no_personal_data, personal_data_unavailable), a message naming the
    rule, and for invalid_data the field."""
    code: str
    message: str
    field: Optional[str] = None

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"code": "invalid_data", "message": "field 'perpetrator': required field is missing",
         "field": "perpetrator"}]})


# ------------------------------------------------------------------------------------------ requests

def _example_detected_at() -> str:
    """`detected_at` of the launch example: the last full hour at least an hour ago, Kazakhstan time
    (violence-report version 2 needs a date-time with its offset, not after now, within 12 months)."""
    moment = datetime.now(timezone.utc).astimezone(timezone(timedelta(hours=5))) - timedelta(hours=1)
    return moment.replace(minute=0, second=0, microsecond=0).isoformat()


LAUNCH_EXAMPLE = {"algorithm": "violence-report", "region": "KZ-75",
                  "data": {"form": "bullying", "channel": "school", "school": "kz-75.school-1",
                           "summary": "Repeated name-calling in class 5B (synthetic example)",
                           "detected_at": _example_detected_at(), "reporter": "teacher"}}
FIRE_EXAMPLE = {"trigger": "assess", "version": 1, "data": {"immediate_danger": False, "perpetrator": "peer"}}


class LaunchRequest(_Model):
    """Open a case as the token's body. `data` follows the algorithm's launch fields
    (GET /api/v1/algorithms); a `child` object holds the personal data, stored encrypted."""
    algorithm: str = Field(min_length=1, max_length=60, description="Algorithm id, e.g. violence-report.")
    region: str = Field(min_length=1, max_length=8, description="ISO 3166-2:KZ code, e.g. KZ-75.")
    data: dict[str, Any] = Field(default_factory=dict, description="Launch data of the algorithm.")
    algorithm_version: Optional[StrictInt] = Field(None, ge=1, le=1000, description="Default: the latest version.")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [LAUNCH_EXAMPLE]})


class FireRequest(_Model):
    """Fire a trigger as the token's body on the case at the `version` the caller read
    (optimistic concurrency: `conflict` if the case moved since)."""
    trigger: str = Field(min_length=1, max_length=60, description="Trigger name, e.g. assess.")
    data: dict[str, Any] = Field(default_factory=dict, description="The trigger's fields.")
    version: StrictInt = Field(ge=0, le=2_000_000_000, description="The case version read (GET the case or the inbox).")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [FIRE_EXAMPLE]})


class TokenCreate(_Model):
    """A new API token for a body and a role."""
    body: str = Field(min_length=1, max_length=80, description="Body id of the directory, e.g. kz-75.police.")
    role: Role
    label: Optional[str] = Field(None, max_length=200)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"body": "kz-75.police", "role": "agency", "label": "juvenile inspectors, Almaty"}]})


# ------------------------------------------------------------------------------------------ responses

class Me(BaseModel):
    token_id: Optional[int] = Field(None, description="The service token's id (None for a person).")
    prefix: Optional[str] = Field(None, description="The service token's prefix (None for a person).")
    person_id: Optional[str] = Field(None, description="The person's pseudonymous id (a provider access token).")
    role: Role
    body_id: str
    body_type: str
    body_name: dict[str, str]
    region: Optional[str]


class Outcome(BaseModel):
    """A launch or fire that succeeded."""
    ref: str
    state: str
    version: int
    outcome: Optional[str] = None
    spawned: list[str] = []
    link: str


class CaseSummary(BaseModel):
    ref: str
    algorithm: str
    algorithm_title: Titles
    region: str
    state: str
    state_title: Titles
    version: int
    critical: bool
    outcome: Optional[str]
    created_at: datetime
    updated_at: datetime
    closed_at: Optional[datetime]
    open_tasks: int
    overdue_tasks: int
    next_due: Optional[datetime]
    next_due_local: Optional[datetime]
    link: str


class CasePage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[CaseSummary]


class AlgorithmRef(BaseModel):
    id: str
    version: int
    title: Titles


class StateView(BaseModel):
    name: str
    title: Titles
    final: bool
    entered_at: datetime


class BoundBody(BaseModel):
    role: str
    body_id: str
    name: dict[str, str]


class TaskView(BaseModel):
    key: str
    kind: str
    title: Titles
    role: str
    body_id: str
    status: Literal["open", "done", "cancelled"]
    opened_at: datetime
    due: datetime
    due_local: datetime
    overdue: bool
    level: int = Field(description="Escalation steps taken: 0 none, 1 overdue, 2 escalated, 3 critical.")
    serves: Optional[str]
    closed_at: Optional[datetime]


class LinkView(BaseModel):
    relation: str
    ref: str


class CaseDetail(BaseModel):
    ref: str
    link: str
    algorithm: AlgorithmRef
    region: str
    state: StateView
    version: int
    outcome: Optional[str]
    critical: bool
    escalation_level: int
    created_at: datetime
    updated_at: datetime
    closed_at: Optional[datetime]
    bindings: list[BoundBody]
    data: dict[str, Any] = Field(description="Non-personal case data (personal data: GET .../personal).")
    has_personal_data: bool
    tasks: list[TaskView]
    links: list[LinkView]
    missing_reports: Optional[list[dict[str, str]]] = Field(
        None, description="Consolidated half-year plan report: quarterly reports not yet accepted.")


class FieldView(BaseModel):
    """One field a trigger or launch needs."""
    name: str
    type: str
    required: bool
    title: Optional[Titles]
    help: Optional[Titles]
    choices: Optional[list[str]]
    max_length: Optional[int]
    min: Optional[int]
    max: Optional[int]
    body_type: Optional[str]
    items: Optional[list["FieldView"]]
    required_when: Optional[str] = Field(None, description="Required when this condition on the data holds.",
                                         examples=["data.outcome ≠ 'no_offence'"])
    within_past: Optional[dict[str, int]] = Field(None, description="A date-time at most this long before now.",
                                                  examples=[{"months": 12}])


class ActionView(BaseModel):
    """A trigger the body may fire now, with its fields (and values that must name the task)."""
    trigger: str
    title: Titles
    fields: list[FieldView]
    prefill: dict[str, str]


class InboxCase(BaseModel):
    ref: str
    algorithm: str
    algorithm_title: Titles
    region: str
    state: str
    state_title: Titles
    version: int
    critical: bool
    link: str


class InboxTask(BaseModel):
    key: str
    kind: str
    title: Titles
    serves: Optional[str]
    serves_kind: Optional[str]
    opened_at: datetime
    due: datetime
    due_local: datetime
    overdue: bool
    seconds_left: int = Field(description="Negative when late.")
    late_by: Optional[str]
    time_left: Optional[str]


class InboxItem(BaseModel):
    case: InboxCase
    task: InboxTask
    actions: list[ActionView]


class Inbox(BaseModel):
    body_id: str
    total: int
    overdue: int
    items: list[InboxItem]


class EventView(BaseModel):
    seq: int
    at: datetime
    at_local: datetime
    actor: str
    person: Optional[str] = Field(None, description="The person who acted for the body (a pseudonymous id), if one did.")
    person_name: Optional[str] = Field(None, description="That person's name (or the id once the name is erased).")
    trigger: str
    from_state: Optional[str]
    to_state: str
    data: dict[str, Any]
    effects: dict[str, Any]
    prev_hash: str
    hash: str


class History(BaseModel):
    ref: str
    algorithm: str
    version: int
    head_hash: str
    events: list[EventView]


class ReplayTask(BaseModel):
    key: str
    kind: str
    body_id: str
    due: str
    overdue: bool
    level: int


class ReplayEvent(BaseModel):
    seq: int
    at: str
    actor: str
    trigger: str
    from_state: Optional[str]
    to_state: str


class Replay(BaseModel):
    ref: str
    at: datetime
    at_local: datetime
    state: Optional[str]
    outcome: Optional[str]
    critical: bool
    region: Optional[str]
    bindings: dict[str, str]
    version: int
    head_hash: str
    escalation_level: int
    open_tasks: list[ReplayTask]
    events: list[ReplayEvent]


class VerifyFailure(BaseModel):
    ref: str
    first_bad_event: Optional[int]
    problems: list[str]


class VerifyResult(BaseModel):
    ok: bool
    cases: int
    events: int
    failures: list[VerifyFailure]
    anchor_problems: list[str]


class ComplianceRowView(BaseModel):
    body_id: str
    body_type: str
    task_kind: str
    algorithm_version: int = Field(description="The version of the algorithm these tasks' cases ran; a window "
                                               "that spans versions has one row per version.")
    opened: int
    done_on_time: int
    done_late: int
    median_delay_h: Optional[float]
    worst_delay_h: Optional[float]
    still_overdue: int
    cancelled: int = Field(description="Cancelled when the case closed (version 2): neither done nor on time.")
    cancelled_past_due: int = Field(description="Of the cancelled, those already past due when cancelled.")
    escalations: dict[str, int]


class ComplianceVersionView(BaseModel):
    algorithm: str
    algorithm_version: int
    cases: int = Field(description="Cases with tasks opened in the window that ran this version.")
    tasks: int


class LateReportView(BaseModel):
    region: str
    body_id: str = Field(description="The reporting body (the launch's actor); '*' when by body type.")
    body_type: str
    launched: int = Field(description="Violence reports (version 2) launched in the window.")
    reported_late: int = Field(description="Of them, launched more than 24 hours after detected_at.")
    late_share: Optional[float]


class Compliance(BaseModel):
    region: Optional[str]
    start: datetime
    end: datetime
    now: datetime
    by: Literal["body", "body_type"]
    rows: list[ComplianceRowView]
    versions: list[ComplianceVersionView] = []
    reported_late: list[LateReportView] = []


class PersonalData(BaseModel):
    ref: str
    data: dict[str, Any]
    logged: bool = Field(True, description="The read was recorded in the case's access log.")


class AccessLogEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    case_ref: Optional[str]
    purpose: str = Field(description="A purpose code, or erasure_retention / erasure_court_order.")
    note: Optional[str] = None
    outcome: str


class TokenView(BaseModel):
    id: int
    prefix: str
    body_id: str
    role: Role
    label: Optional[str]
    created_at: datetime
    revoked_at: Optional[datetime]
    last_used_at: Optional[datetime]


class TokenCreated(TokenView):
    token: str = Field(description="The secret: shown this once, stored only as its SHA-256.")


class AlgorithmView(BaseModel):
    id: str
    version: int
    title: Titles
    reference_prefix: str
    launch_actors: list[str]
    launch_fields: list[FieldView]


class Health(BaseModel):
    status: Literal["ok"]
    algorithms: list[str]
