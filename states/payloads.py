"""Pydantic models built from a definition's field declarations, one per trigger and one for launch.
A payload that fails them is rejected with `invalid_data` naming the field and the rule."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, create_model,
                      field_validator)

from algorithms.schema import FieldSpec

from .errors import RuleViolation
from .guards import GuardContext, describe, holds

# Twelve digits, possibly grouped with spaces or dashes: it looks like an IIN.
_IIN_LIKE = re.compile(r"(?<!\d)(?:\d[\s-]?){11}\d(?!\d)")


class ChildData(BaseModel):
    """The child's personal data: kept in the subject store, never in a history or a message."""
    model_config = ConfigDict(extra="forbid")
    birth_date: date
    sex: Literal["female", "male"]
    iin: str | None = None
    given_name: str | None = Field(None, max_length=100)
    family_name: str | None = Field(None, max_length=100)
    address: str | None = Field(None, max_length=300)

    @field_validator("iin")
    @classmethod
    def _iin_check_digit(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from .iin import validate_iin
        return validate_iin(value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _no_iin(value: str) -> str:
    if _IIN_LIKE.search(value):
        raise ValueError("must not contain personal data (a 12-digit number looks like an IIN)")
    return value


def _free_text(required: bool):
    def check(value: str) -> str:
        value = _no_iin(value.strip())
        if required and not value:
            raise ValueError("must not be blank")
        return value
    return check


def _free_text_items(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    cleaned = [_no_iin(item.strip()) for item in value]
    if any(not item for item in cleaned):
        raise ValueError("items must not be blank")
    return cleaned


def _annotation(name: str, spec: FieldSpec) -> tuple[Any, Any]:
    t = spec.type
    if t == "bool":
        ann: Any = bool
        kw: dict[str, Any] = {}
    elif t == "int":
        ann, kw = int, {"ge": spec.min, "le": spec.max}
    elif t == "enum":
        ann, kw = Literal[tuple(spec.values)], {}  # type: ignore[misc]
    elif t == "list":
        ann, kw = list[str], {"min_length": 1 if spec.non_empty else None}
    elif t == "object_list":
        item = build_model(f"{name}_item", spec.items or {})
        ann, kw = list[item], {"min_length": 1 if spec.non_empty else None}  # type: ignore[valid-type]
    elif t == "child":
        ann, kw = ChildData, {}
    elif t == "date":
        ann, kw = date, {}
    elif t == "datetime":  # with its offset: an instant, never a wall time of unknown zone
        ann, kw = AwareDatetime, {}
    elif t == "registry_number":
        # A typed registry field (e.g. ЕРДР/КУИ number): digits and dashes only, so it is exempt
        # from the free-text refusal of 12-digit numbers.
        ann, kw = str, {"pattern": r"^[0-9][0-9-]*$", "max_length": spec.max_length or 30, "min_length": 1}
    elif t == "period":
        ann, kw = Annotated[str, AfterValidator(_period)], {}
    else:  # string, text, body_id, case_ref, region
        ann = str
        kw = {"max_length": spec.max_length or (2000 if t == "text" else 500),
              "min_length": 1 if spec.required else None}
    kw = {k: v for k, v in kw.items() if v is not None}
    if _attribute(name) != name:
        kw["alias"] = name
    if spec.required:
        return ann, Field(..., **kw)
    return ann | None, Field(None, **kw)


def _period(value: str) -> str:
    from .periods import period_bounds
    period_bounds(value)  # raises ValueError naming the format
    return value


def _attribute(fname: str) -> str:
    """The model attribute for a data field: its own name, unless the model class already has an
    attribute of that name (e.g. `register`), then a prefixed one aliased to the field's name."""
    return f"field_{fname}" if hasattr(BaseModel, fname) else fname


def build_model(name: str, fields: dict[str, FieldSpec]) -> type[BaseModel]:
    definitions = {}
    for fname, spec in fields.items():
        definitions[_attribute(fname)] = _annotation(fname, spec)
    validators = {}
    for fname, spec in fields.items():
        if spec.type in ("string", "text"):
            validators[f"_clean_{fname}"] = field_validator(_attribute(fname))(_free_text(spec.required))
        elif spec.type == "list":
            validators[f"_clean_{fname}"] = field_validator(_attribute(fname))(_free_text_items)
    return create_model(name, __base__=_Strict, __validators__=validators, **definitions)


def validate_payload(definition_key: tuple[str, int, str], scope: str,
                     fields: dict[str, FieldSpec], data: dict[str, Any] | None) -> dict[str, Any]:
    """Validate `data` for a trigger (scope = trigger name) or launch; returns JSON-ready values."""
    if data is not None and not isinstance(data, dict):
        raise RuleViolation("invalid_data", "data must be a mapping of field names to values", field="data")
    model = _model_cache(definition_key, scope, fields)
    try:
        obj = model.model_validate(data or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "data"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown field (allowed: {', '.join(fields) or 'none'})"
        elif err["type"] == "missing":
            msg = "required field is missing"
        raise RuleViolation("invalid_data", f"field {loc!r}: {msg}", field=loc) from None
    values = obj.model_dump(mode="json", exclude_none=True, by_alias=True)
    for fname, spec in fields.items():
        if spec.required_when is not None and fname not in values:
            ctx = GuardContext(case={}, data=values, now=_EPOCH)
            if holds(spec.required_when, ctx):
                raise RuleViolation("invalid_data", f"field {fname!r}: required field is missing "
                                                    f"(required when {describe(spec.required_when)})", field=fname)
    return values


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # required_when reads data only, never the time


_MODELS: dict[tuple, type[BaseModel]] = {}


def _model_cache(key: tuple, scope: str, fields: dict[str, FieldSpec]) -> type[BaseModel]:
    cache_key = (key, scope)
    model = _MODELS.get(cache_key)
    if model is None:
        model = _MODELS[cache_key] = build_model(f"{key[0]}_{scope}".replace("-", "_"), fields)
    return model
