"""Pydantic models built from a definition's field declarations, one per trigger and one for launch.
A payload that fails them is rejected with `invalid_data` naming the field and the rule."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt,
                      ValidationError, ValidationInfo, create_model, field_validator)

from algorithms.schema import FieldSpec

from .errors import RuleViolation
from .guards import GuardContext, describe, holds
from .iin import birth_date_from_iin, looks_like_iin, sex_from_iin, validate_iin
from .periods import period_bounds


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
    def _iin_check_digit(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A valid IIN whose encoded birth date and sex are the child's (fields validated above it)."""
        if value is None:
            return None
        iin = validate_iin(value)
        born, sex = info.data.get("birth_date"), info.data.get("sex")
        if born is not None and birth_date_from_iin(iin) != born:
            raise ValueError(f"the IIN encodes the birth date {birth_date_from_iin(iin).isoformat()}, "
                             f"not birth_date {born.isoformat()}")
        if sex is not None and sex_from_iin(iin) != sex:
            raise ValueError(f"the IIN encodes the sex {sex_from_iin(iin)}, not sex {sex}")
        return iin


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def no_iin(value: str) -> str:
    """`value`, or ValueError if it holds something that looks like an IIN (states.iin.looks_like_iin)."""
    if looks_like_iin(value):
        raise ValueError("must not contain personal data (a 12-digit number looks like an IIN)")
    return value


def _free_text(required: bool):
    def check(value: str) -> str:
        value = no_iin(value.strip())
        if required and not value:
            raise ValueError("must not be blank")
        return value
    return check


def _free_text_items(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    cleaned = [no_iin(item.strip()) for item in value]
    if any(not item for item in cleaned):
        raise ValueError("items must not be blank")
    return cleaned


def _annotation(name: str, spec: FieldSpec) -> tuple[Any, Any]:
    t = spec.type
    # Strict: JSON `true` is not the number 1, and the text "no" is not false.
    if t == "bool":
        ann: Any = StrictBool
        kw: dict[str, Any] = {}
    elif t == "int":
        ann, kw = StrictInt, {"ge": spec.min, "le": spec.max}
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
    nul = _nul_at(data or {})
    if nul is not None:
        raise RuleViolation("invalid_data", f"field {nul!r}: must not contain a NUL character", field=nul)
    model = _model_cache(definition_key, scope, fields)
    try:
        obj = model.model_validate(data or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "data"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown field (allowed: {', '.join(_allowed_at(fields, err['loc'][:-1])) or 'none'})"
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


def _nul_at(value: Any, path: str = "") -> str | None:
    """The dotted path of the first NUL character in `value` (a key or a text), or None."""
    if isinstance(value, str):
        return (path or "data") if "\x00" in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        here = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and "\x00" in key:
            return path or "data"
        found = _nul_at(item, here)
        if found is not None:
            return found
    return None


def _allowed_at(fields: dict[str, FieldSpec], loc: tuple) -> list[str]:
    """The field names allowed at `loc` (the path of the object holding an unknown field)."""
    names: list[str] = list(fields)
    for part in loc:
        if isinstance(part, int):
            continue
        spec = fields.get(part)
        if spec is None:
            break
        if spec.type == "child":
            return list(ChildData.model_fields)
        fields = spec.items or {}
        names = list(fields)
    return names


# Not functools.lru_cache: `fields` (a dict) is unhashable; the key (definition, scope) names them.
_MODELS: dict[tuple, type[BaseModel]] = {}


def _model_cache(key: tuple, scope: str, fields: dict[str, FieldSpec]) -> type[BaseModel]:
    cache_key = (key, scope)
    model = _MODELS.get(cache_key)
    if model is None:
        model = _MODELS[cache_key] = build_model(f"{key[0]}_{scope}".replace("-", "_"), fields)
    return model
