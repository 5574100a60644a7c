"""Who may see and do what: the caller's role and scope, checked by the command handlers
(states/handling.py) and by the read models' callers, the same for the API and the pages.
The command line in local mode sends its commands as the `operator` (trusted, like the flows'
`system`): only the engine's own rules apply to it.

- **admin**: manages tokens, reads every case, history and report; never launches or fires.
- **auditor**: reads every case, history, replay, verification, report and access log; writes nothing.
- **coordinator**: launches (as its body) and reads the cases of its region; a republic-level
  coordinator (a ministry) every region. Compliance report of its region.
- **agency**: reads the cases bound to its body or to a body below it in the directory's parent
  chain, sees its inbox, fires triggers on those cases and launches (as its body; the engine's
  launch rules decide, e.g. a school reporting violence).
- **Personal data** (need to know): the coordinator of the case's own region, and an agency bound
  to the case itself (not a supervisor) whose type meets the child: school, police, health,
  guardianship, social_services, psych_center, consilium, kdn. Every read is logged.
A case outside the scope is `forbidden`; a case that does not exist, `unknown_case`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .directory import Body
from .errors import RuleViolation
from .queries import EVERYTHING, Scope, descendants

PERSONAL_DATA_TYPES = frozenset({"school", "police", "health", "guardianship", "social_services", "psych_center",
                                 "consilium", "kdn"})
READ_ALL = ("admin", "auditor")
AUDIT = ("admin", "auditor")
LAUNCH = ("coordinator", "agency")
FIRE = ("agency",)
INBOX = ("agency", "coordinator")
COMPLIANCE = ("admin", "auditor", "coordinator")
TOKENS = ("admin",)
MIGRATE = ("admin", "coordinator")  # a coordinator only of a ministry (no region): see check_migration
TRUSTED = ("operator", "system")  # the local command line's operator, the flows and timers


def forbidden(message: str) -> RuleViolation:
    return RuleViolation("forbidden", message)


@dataclass(frozen=True)
class Principal:
    """The caller: a person or a service token, acting for a body in a role; or the trusted
    `operator` (the local command line, acting as a body) or `system` (flows and timers, no body)."""
    token_id: int | None
    prefix: str | None
    role: str
    body: Body | None
    person_id: str | None = None  # a person signed in for the body (OpenID Connect); None for a service token

    @property
    def body_id(self) -> str:
        return self.body.id if self.body is not None else "system"

    @property
    def region(self) -> str | None:
        return self.body.region if self.body is not None else None

    @property
    def trusted(self) -> bool:
        return self.role in TRUSTED


def operator(body: Body) -> Principal:
    """The local command line's operator, acting as `body`."""
    return Principal(token_id=None, prefix=None, role="operator", body=body)


SYSTEM = Principal(token_id=None, prefix=None, role="system", body=None)
OPERATOR = Principal(token_id=None, prefix=None, role="operator", body=None)  # the local CLI, acting as no body


def require_role(principal: Principal, roles: tuple[str, ...], what: str) -> None:
    if principal.trusted:
        return
    if principal.role not in roles:
        raise forbidden(f"{what} needs a {' or '.join(roles)} token; this one is {principal.role} "
                        f"({principal.body_id})")


@lru_cache(maxsize=4096)
def _below(directory, body_id: str) -> frozenset[str]:
    return descendants(directory, body_id)


def scope_for(principal: Principal, directory) -> Scope:
    """The cases the principal may read."""
    if principal.role in READ_ALL or principal.trusted:
        return EVERYTHING
    if principal.role == "coordinator":
        return EVERYTHING if principal.region is None else Scope(regions=frozenset({principal.region}))
    return Scope(bodies=_below(directory, principal.body_id))


def check_case(principal: Principal, directory, ref: str, region: str, bindings: dict[str, str]) -> None:
    """403 unless the case is in the principal's scope."""
    if not scope_for(principal, directory).allows(region, bindings):
        if principal.role == "coordinator":
            raise forbidden(f"case {ref} is in {region}; a coordinator of {principal.region} reads its own region")
        raise forbidden(f"case {ref} is not bound to {principal.body_id} or to a body below it")


def check_launch(principal: Principal, region: str) -> None:
    """A regional coordinator launches in its own region (the engine checks the rest)."""
    if principal.trusted:
        return
    if principal.role == "coordinator" and principal.region is not None and region != principal.region:
        raise forbidden(f"a coordinator of {principal.region} launches cases in its own region, not {region}")


def check_migration(principal: Principal) -> None:
    """Moving cases to another algorithm version is for an administrator or a ministry's coordinator."""
    require_role(principal, MIGRATE, "migrating cases")
    if principal.role == "coordinator" and principal.region is not None:
        raise forbidden(f"migrating cases is for a ministry's coordinator; {principal.body_id} coordinates "
                        f"{principal.region} only")


def check_personal(principal: Principal, ref: str, region: str, bindings: dict[str, str]) -> None:
    """403 unless the principal needs the child's personal data on this case."""
    if principal.trusted:
        return
    if principal.role == "coordinator" and principal.region is not None and principal.region == region:
        return
    if (principal.role == "agency" and principal.body.type in PERSONAL_DATA_TYPES
            and principal.body_id in bindings.values()):
        return
    raise forbidden(f"{principal.body_id} ({principal.role}) does not need the personal data of case {ref}: "
                    "only the coordinator of its region and the school, police, health, guardianship, "
                    "social services, psychological centre, consilium or KDN bound to it may read it")


def compliance_region(principal: Principal, requested: str | None) -> str | None:
    """The region a compliance report covers: a regional coordinator's own, whatever is asked."""
    if principal.role == "coordinator" and principal.region is not None:
        if requested is not None and requested != principal.region:
            raise forbidden(f"a coordinator of {principal.region} reports on its own region, not {requested}")
        return principal.region
    return requested
