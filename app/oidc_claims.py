"""Which body and role a person signing in at the identity provider gets: a mapping from the
provider's claims, configured by the deployment (`QORGAU_OIDC_CLAIMS`: a YAML or JSON file).
Nothing is granted by default: claims that no rule matches give no body and no role.

```yaml
name_claim: name                    # the claim shown as the person's name (default: name)
account_claim: preferred_username   # the user name an administrator may create a person for
rules:                              # the first rule that matches wins
  - claim: groups                   # a group (or any claim value) names body and role
    value: /qorgau/kz-75/school-1/psychologists
    body: kz-75.school-1
    role: agency
  - claim: qorgau_body              # or the provider carries them as attributes of the user
    body_from: qorgau_body
    role_from: qorgau_role
```
A rule's body must be in the directory and its role one of coordinator, agency, auditor, admin;
the file is checked when it is loaded (`file: rule N: ...`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from states.tokens import ROLES


class ClaimMappingError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    claim: str
    value: str | None = None
    body: str | None = None
    role: str | None = None
    body_from: str | None = None
    role_from: str | None = None


@dataclass(frozen=True)
class ClaimMapping:
    rules: tuple[Rule, ...] = ()
    name_claim: str = "name"
    account_claim: str = "preferred_username"
    source: str = "(none)"

    def grant(self, claims: dict[str, Any], directory) -> tuple[str, str] | None:
        """(body id, role) for these claims, or None: the first matching rule naming a body of the
        directory and a known role."""
        for rule in self.rules:
            found = claims.get(rule.claim)
            values = [str(v) for v in found] if isinstance(found, list) else ([] if found is None else [str(found)])
            if not values or (rule.value is not None and rule.value not in values):
                continue
            body = rule.body if rule.body_from is None else _one(claims.get(rule.body_from))
            role = rule.role if rule.role_from is None else _one(claims.get(rule.role_from))
            if body and role in ROLES and directory.find(body) is not None:
                return body, role
        return None

    def name(self, claims: dict[str, Any]) -> str | None:
        value = claims.get(self.name_claim)
        return str(value)[:200] if value else None

    def account(self, claims: dict[str, Any]) -> str | None:
        value = claims.get(self.account_claim)
        return str(value) if value else None


def _one(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    return str(value) if value else None


def load_mapping(path: str | None) -> ClaimMapping:
    """The mapping in `path` (YAML or JSON); no path: a mapping that grants nothing."""
    if not path:
        return ClaimMapping()
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = yaml.safe_load(text) if not path.endswith(".json") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ClaimMappingError(f"{path}: cannot read the claim mapping: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules", []), list):
        raise ClaimMappingError(f"{path}: a mapping with a list of `rules`")
    rules = []
    for i, raw in enumerate(data.get("rules") or [], start=1):
        where = f"{path}: rule {i}"
        if not isinstance(raw, dict) or not raw.get("claim"):
            raise ClaimMappingError(f"{where}: each rule names a `claim`")
        unknown = set(raw) - {"claim", "value", "body", "role", "body_from", "role_from"}
        if unknown:
            raise ClaimMappingError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        if not (raw.get("body") or raw.get("body_from")) or not (raw.get("role") or raw.get("role_from")):
            raise ClaimMappingError(f"{where}: give `body` or `body_from`, and `role` or `role_from`")
        if raw.get("role") and raw["role"] not in ROLES:
            raise ClaimMappingError(f"{where}: role must be one of {', '.join(ROLES)}")
        rules.append(Rule(**{k: (str(v) if v is not None else None) for k, v in raw.items()}))
    return ClaimMapping(tuple(rules), str(data.get("name_claim") or "name"),
                        str(data.get("account_claim") or "preferred_username"), path)



