"""Commands: what an entrypoint asks the domain to do, as small typed objects.

The API, the pages, the command line and the flows build one of these and hand it, with the
caller (`states.access.Principal`), to `states.handling.Handler`, which owns the transaction, the
caller's authority and scope, and the error. Nothing else writes a case.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Launch:
    """Open a case of `algorithm` in `region` with its launch data (latest version unless named)."""
    algorithm: str
    region: str
    data: dict[str, Any] = field(default_factory=dict)
    version: int | None = None


@dataclass(frozen=True)
class Fire:
    """Fire `trigger` on case `ref`, at the case version the caller read (if given)."""
    ref: str
    trigger: str
    data: dict[str, Any] = field(default_factory=dict)
    expected_version: int | None = None


@dataclass(frozen=True)
class Transfer:
    """Move case `ref` to another region (the cross-cutting `transfer` trigger)."""
    ref: str
    to_region: str
    to_school: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True)
class ReadPersonalData:
    """Read the child's personal data of case `ref` for a stated purpose (a code); logged."""
    ref: str
    purpose: str
    note: str | None = None


@dataclass(frozen=True)
class ErasePersonalData:
    """Erase a child's personal data for good: `subject` is a subject id or one of its cases' refs."""
    subject: str
    force: bool = False
    retention_days: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class CreateToken:
    """A token for `body_id` acting as `role` (the secret is returned once, only its hash kept)."""
    body_id: str
    role: str
    label: str | None = None


@dataclass(frozen=True)
class RevokeToken:
    """Revoke the token with this id or prefix; refused from its next request on."""
    token: str


@dataclass(frozen=True)
class PlanMigration:
    """What moving the running cases of `algorithm` (optionally of one region and state) to version
    `to_version` would do, case by case; writes no case. `record` keeps the plan as a dry run that
    `GET /api/v1/migrations/{id}` and the auditors' list show."""
    algorithm: str
    to_version: int
    region: str | None = None
    state: str | None = None
    record: bool = False


@dataclass(frozen=True)
class StartMigration:
    """Open a migration run for this selection (its row counts the cases as they move)."""
    algorithm: str
    to_version: int
    region: str | None = None
    state: str | None = None
    total: int = 0


@dataclass(frozen=True)
class MigrateCase:
    """Move case `ref` to `to_version` of its algorithm, one transaction; counted on run `run_id`."""
    ref: str
    algorithm: str
    to_version: int
    run_id: int | None = None
    expected_version: int | None = None


@dataclass(frozen=True)
class FinishMigration:
    """Close run `run_id` with its outcome (`report`: the cases skipped or failed, with reasons)."""
    run_id: int
    report: dict[str, Any] = field(default_factory=dict)
    failed: bool = False


@dataclass(frozen=True)
class CreatePerson:
    """A person acting for `body_id` as `role` (an administrator's command); `account` is the user
    name they will sign in with at the identity provider (kept only as a hash)."""
    body_id: str
    role: str
    name: str
    position: str | None = None
    account: str | None = None


@dataclass(frozen=True)
class DeactivatePerson:
    """The person may no longer sign in; their sessions end at once."""
    person_id: str


@dataclass(frozen=True)
class ErasePerson:
    """Erase what identifies the person (name, position, provider account); the pseudonym stays."""
    person_id: str


@dataclass(frozen=True)
class SignInPerson:
    """A person signed in at the identity provider: `subject` is the hash of their provider account,
    `account` the hash of their user name; `body_id` / `role` what the configured claim mapping gave
    (None: it gave nothing). An admin-created person waiting for this account is bound to it; a new
    one is provisioned from the mapping; a deactivated or erased one, or claims that map to nothing
    for a provisioned person, are refused."""
    subject: str
    account: str | None
    body_id: str | None
    role: str | None
    name: str | None = None


Command = (Launch | Fire | Transfer | ReadPersonalData | ErasePersonalData | CreateToken | RevokeToken
           | PlanMigration | StartMigration | MigrateCase | FinishMigration
           | CreatePerson | DeactivatePerson | ErasePerson | SignInPerson)
