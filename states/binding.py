"""Binding a case to bodies: the child's school and the region's body of every other type."""
from __future__ import annotations

from .directory import REGIONAL_TYPES
from .errors import RuleViolation


def bind(directory, region: str, school_id: str | None = None, field: str = "school") -> dict[str, str]:
    """role -> body id for a case in `region` (spec README, "Bodies")."""
    if region not in directory.regions:
        raise RuleViolation("invalid_data", f"unknown region {region!r}; use an ISO 3166-2:KZ code such as KZ-75",
                            field="region" if field == "school" else field.replace("school", "region"))
    bindings: dict[str, str] = {}
    if school_id:
        school = directory.find(school_id)
        if school is None or school.type != "school":
            raise RuleViolation("invalid_data", f"field {field!r}: {school_id!r} is not a school in the directory",
                                field=field)
        if school.region != region:
            raise RuleViolation("invalid_data", f"field {field!r}: school {school_id!r} is in {school.region}, "
                                                f"not in {region}", field=field)
        bindings["school"] = school.id
    else:
        schools = directory.schools(region)
        if schools:
            bindings["school"] = schools[0].id
    for body_type in REGIONAL_TYPES:
        if body_type != "school":
            bindings[body_type] = directory.region_body(region, body_type).id
    return bindings
