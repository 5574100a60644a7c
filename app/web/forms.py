"""Forms generated from a definition's field declarations (a trigger's `data` or `launch.data`),
and the parsing of what the browser sends back into the payload the engine validates.

Field names are prefixed `d.` (`d.perpetrator`, `d.child.birth_date`, `d.items.0.status`) so they
never clash with the form's own `csrf`, `version` and `trigger`. The engine stays the judge of
validity; here we only catch what a browser form cannot express (a blank required field, a word in
a number) so the message can be in the page's language.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from algorithms.schema import FieldSpec
from states.reporting import executor_bodies

from .i18n import pick, t, value_title

PREFIX = "d."
OBJECT_ROWS = 3  # empty rows offered for a list of objects (plan report items)
CHILD_FIELDS = ("birth_date", "sex", "iin", "given_name", "family_name", "address")
# A `datetime` field is entered on the Kazakhstan wall clock (UTC+05:00, no daylight saving) and
# sent to the engine as ISO 8601 with that offset.
KZ = timezone(timedelta(hours=5))
REGISTRY_NUMBER_PATTERN = r"[0-9][0-9\-]*"


@dataclass
class Field:
    name: str                 # dotted path inside the payload, e.g. "child.birth_date"
    label: str
    widget: str               # text textarea number select radio-bool date datetime list fieldset rows
    required: bool = False
    help: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    groups: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)  # optgroups
    value: Any = None
    error: str | None = None
    max_length: int | None = None
    min: int | None = None
    max: int | None = None
    pattern: str | None = None
    placeholder: str = ""
    children: list["Field"] = field(default_factory=list)
    rows: list[list["Field"]] = field(default_factory=list)

    @property
    def input_name(self) -> str:
        return PREFIX + self.name

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("_", "-")

    @property
    def error_id(self) -> str:
        return self.id + "-error"

    @property
    def help_id(self) -> str:
        return self.id + "-help"


@dataclass
class Choices:
    """What pickers offer: bodies of a type, regions, executors, plan measures."""
    bodies: Callable[[str | None], list[tuple[str, list[tuple[str, str]]]]]  # body_type -> optgroups
    regions: list[tuple[str, str]]
    executors: list[tuple[str, str]]
    measures: list[tuple[str, str]]


def choices(directory, catalogue, lang: str, region: str | None) -> Choices:
    """The pickers of a form for a case in `region` (every region's bodies when None): bodies by
    region, regions, and, only if a form asks for them, the plan's executors and measures."""
    def region_name(code: str) -> str:
        return pick(directory.regions[code].name, lang)

    def bodies(body_type: str | None):
        groups = []
        for code in [region] if region else list(directory.regions):
            options = [(b.id, b.name_in(lang)) for b in directory.bodies()
                       if b.region == code and (body_type is None or b.type == body_type)]
            if options:
                groups.append((region_name(code) if code in directory.regions else code, options))
        return groups

    def executors():
        return [(b.id, b.name_in(lang)) for b in executor_bodies(catalogue, directory)]

    def measures():
        return [(m.number, f"{m.number}. {m.short_title(90)}") for m in catalogue.measures]

    return Choices(bodies=bodies, regions=[(code, region_name(code)) for code in directory.regions],
                   executors=_Lazy(executors), measures=_Lazy(measures))


class _Lazy:
    """A list computed only if a form iterates it."""

    def __init__(self, make):
        self._make, self._items = make, None

    def __iter__(self):
        if self._items is None:
            self._items = self._make()
        return iter(self._items)


def build_fields(specs: Mapping[str, FieldSpec], lang: str, choices: Choices, values: Mapping[str, Any] | None = None,
                 errors: Mapping[str, str] | None = None, base: str = "") -> list[Field]:
    values, errors = values or {}, errors or {}
    out = []
    for name, spec in specs.items():
        path = f"{base}{name}"
        f = Field(name=path, label=pick(spec.title, lang) or name, widget="text", required=spec.required,
                  help=pick(spec.help, lang) if spec.help else "", value=values.get(path), error=errors.get(path),
                  max_length=spec.max_length)
        kind = spec.type
        if kind == "text":
            f.widget, f.max_length = "textarea", spec.max_length or 2000
        elif kind == "string":
            f.max_length = spec.max_length or 500
        elif kind == "bool":
            f.widget = "radio-bool"
            f.options = [("true", t("form.yes", lang)), ("false", t("form.no", lang))]
        elif kind == "int":
            f.widget, f.min, f.max = "number", spec.min, spec.max
        elif kind == "enum":
            f.widget = "select"
            f.options = [(v, value_title(v, lang)) for v in spec.values or []]
        elif kind == "list":
            f.widget = "list"
            f.help = (f.help + " " if f.help else "") + t("form.list_help", lang)
        elif kind == "date":
            f.widget = "date"
        elif kind == "datetime":
            f.widget = "datetime"
            f.value = local_datetime_value(f.value)
            f.help = (f.help + " " if f.help else "") + t("form.datetime_help", lang)
        elif kind == "registry_number":
            f.pattern, f.max_length = REGISTRY_NUMBER_PATTERN, spec.max_length or 30
        elif kind == "period":
            f.pattern, f.placeholder = r"\d{4}-(Q[1-4]|H[12])", "2026-Q2"
        elif kind == "case_ref":
            f.pattern, f.placeholder = r"[A-Z]{2,4}-[0-9]{2}-[0-9]+", "VR-75-000001"
        elif kind == "region":
            f.widget, f.options = "select", list(choices.regions)
        elif kind == "body_id":
            f.widget, f.groups = "select", choices.bodies(spec.body_type)
        elif kind == "body_ref":
            f.widget, f.options = "select", list(choices.executors)
        elif kind == "plan_measure":
            f.widget, f.options = "select", list(choices.measures)
        elif kind == "child":
            f.widget = "fieldset"
            f.label = t("form.child", lang)
            f.children = _child_fields(path, lang, values, errors)
        elif kind == "object_list":
            f.widget = "rows"
            count = max(OBJECT_ROWS, 1 + max((int(k.split(".")[1]) for k in values
                                              if k.startswith(path + ".") and k.split(".")[1].isdigit()), default=-1))
            f.rows = [build_fields(spec.items or {}, lang, choices, values, errors, base=f"{path}.{i}.")
                      for i in range(count)]
            for i, row in enumerate(f.rows):
                for cell in row:
                    cell.required = False  # a row left blank is skipped; a started row is checked by the engine
        out.append(f)
    return out


def _child_fields(path: str, lang: str, values, errors) -> list[Field]:
    out = []
    for name in CHILD_FIELDS:
        p = f"{path}.{name}"
        f = Field(name=p, label=t(f"child.{name}", lang), widget="text", value=values.get(p), error=errors.get(p))
        if name == "birth_date":
            f.widget = "date"
        elif name == "sex":
            f.widget = "select"
            f.options = [("female", t("child.sex.female", lang)), ("male", t("child.sex.male", lang))]
        elif name == "iin":
            f.pattern, f.max_length = r"[0-9 \-]{12,14}", 14
        else:
            f.max_length = 300 if name == "address" else 100
        out.append(f)
    return out


def flat_values(form: Mapping[str, list[str]]) -> dict[str, str]:
    """The submitted `d.` fields as path -> text (the last value of each), to redisplay a form."""
    return {k[len(PREFIX):]: v[-1] for k, v in form.items() if k.startswith(PREFIX) and v}


def parse(specs: Mapping[str, FieldSpec], form: Mapping[str, list[str]], lang: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(payload, errors by field path) from the submitted form."""
    raw = flat_values(form)
    payload: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, spec in specs.items():
        value = _parse_one(name, spec, raw, lang, errors)
        if value is not None:
            payload[name] = value
        elif spec.required and name not in errors:
            errors[name] = t("form.required_missing", lang)
    return payload, errors


def _parse_one(path: str, spec: FieldSpec, raw: dict[str, str], lang: str, errors: dict[str, str]) -> Any:
    kind = spec.type
    if kind == "child":
        child = {n: raw.get(f"{path}.{n}", "").strip() for n in CHILD_FIELDS}
        child = {k: v for k, v in child.items() if v}
        return child or None
    if kind == "object_list":
        rows = sorted({int(k.split(".")[1]) for k in raw if k.startswith(path + ".") and k.split(".")[1].isdigit()})
        items = []
        for i in rows:
            item = {}
            for sub, sub_spec in (spec.items or {}).items():
                v = _parse_one(f"{path}.{i}.{sub}", sub_spec, raw, lang, errors)
                if v is not None:
                    item[sub] = v
            if item:
                items.append(item)
        return items or None
    text = raw.get(path, "")
    text = text.strip() if kind not in ("text", "string") else text
    if kind in ("text", "string"):
        return text if text.strip() else None
    if text == "":
        return None
    if kind == "bool":
        return {"true": True, "false": False}.get(text)
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            errors[path] = t("form.not_int", lang)
            return None
    if kind == "list":
        items = [line.strip() for line in text.splitlines() if line.strip()]
        return items or None
    if kind == "datetime":
        moment = parse_local_datetime(text)
        if moment is None:
            errors[path] = t("form.not_datetime", lang)
        return moment
    return text


def parse_local_datetime(text: str) -> str | None:
    """What an <input type=datetime-local> sends ('2026-04-06T09:00', maybe with seconds) read as
    Kazakhstan time, as ISO 8601 with its offset ('2026-04-06T09:00:00+05:00'); a value that already
    carries an offset keeps it. None for anything else."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=KZ)
    return moment.isoformat()


def local_datetime_value(value: Any) -> Any:
    """A stored or submitted date-time as the datetime-local input shows it: 'YYYY-MM-DDTHH:MM' on the
    Kazakhstan clock. Text that is not a date-time is left as entered (shown with its error)."""
    if not value:
        return value
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(KZ)
    return moment.strftime("%Y-%m-%dT%H:%M")
