"""The bodies directory: who receives tasks, where, and who supervises whom.

Loaded once per process from YAML (the shipped synthetic `algorithms/data/directory.yaml`, or the file
named by `QORGAU_DIRECTORY`) and checked as a whole; every broken rule is reported as
`file: body 'id': rule`. Pure Python: no database, no Prefect.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "algorithms" / "data" / "directory.yaml"
ENV_VAR = "QORGAU_DIRECTORY"

REGIONAL_TYPES: tuple[str, ...] = (
    "school", "education_department", "guardianship", "police", "health", "psych_center",
    "social_services", "kdn", "consilium", "interagency_group", "hotline", "akimat",
    "health_department", "social_department",
)
REPUBLIC_TYPES: tuple[str, ...] = (
    "ministry_education", "ministry_health", "ministry_interior", "ministry_labour",
    "government_office", "republic_body",
)
BODY_TYPES: frozenset[str] = frozenset(REGIONAL_TYPES + REPUBLIC_TYPES)
# Who answers to whom (version 2 of the algorithms, rule C1: the line of subordination).
PARENT_TYPE: dict[str, str | None] = {
    "school": "education_department",
    "education_department": "ministry_education",
    "guardianship": "education_department",
    "police": "ministry_interior",
    "health": "health_department",
    "psych_center": "education_department",
    "social_services": "social_department",
    "kdn": "akimat",
    "consilium": "education_department",
    "interagency_group": "akimat",
    "hotline": "ministry_education",
    "akimat": "government_office",
    "health_department": "ministry_health",
    "social_department": "ministry_labour",
    "ministry_education": None,
    "ministry_health": None,
    "ministry_interior": None,
    "ministry_labour": None,
    "government_office": None,
    "republic_body": None,
}
# The parent types that version 1 of the algorithms was written for (spec README, "Bodies"). Cases
# pinned to version 1 keep escalating along this chain (algorithms declare `subordination`).
PARENT_TYPE_V1: dict[str, str | None] = {
    **PARENT_TYPE,
    "guardianship": "akimat",
    "health": "ministry_health",
    "social_services": "ministry_labour",
}
# Each body type's line ministry (version 2, rule C1): step 3 of a ladder reaches it.
LINE_MINISTRY: dict[str, str | None] = {
    **{t: "ministry_education" for t in ("school", "education_department", "psych_center", "consilium",
                                          "hotline", "guardianship", "kdn", "interagency_group",
                                          "ministry_education")},
    "health": "ministry_health", "health_department": "ministry_health", "ministry_health": "ministry_health",
    "police": "ministry_interior", "ministry_interior": "ministry_interior",
    "social_services": "ministry_labour", "social_department": "ministry_labour",
    "ministry_labour": "ministry_labour",
    "akimat": "government_office", "government_office": "government_office",
    "republic_body": None,
}
# Republic types of which a directory holds exactly one body; `republic_body` has one per decree code.
SINGLE_REPUBLIC_TYPES: tuple[str, ...] = tuple(t for t in REPUBLIC_TYPES if t != "republic_body")
LANGUAGES: tuple[str, ...] = ("kk", "ru")
# Decree code for "local executive bodies": one akimat per region, not a republic body.
LOCAL_EXECUTIVE_CODE = "МИО"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DirectoryError(ValueError):
    """The directory broke a rule, or a lookup asked for something it does not hold."""

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def __str__(self) -> str:
        return "\n".join(self.problems)


class UnknownBodyError(DirectoryError, KeyError):
    """A lookup by id, code, region or type found no body; also catchable as `KeyError`."""


@dataclass(frozen=True)
class Region:
    """A first-level administrative unit, by ISO 3166-2:KZ code, e.g. `KZ-75`."""

    code: str
    name: dict[str, str]

    def __hash__(self) -> int:
        return hash(self.code)


@dataclass(frozen=True)
class Body:
    """An organisation that receives tasks."""

    id: str
    type: str
    region: str | None
    parent: str | None
    name: dict[str, str]
    language: str | None
    channels: tuple[str, ...]
    code: str | None = None

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def is_republic(self) -> bool:
        return self.type in REPUBLIC_TYPES

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages its notifications go out in: the preferred one, or both kk and ru if none is set."""
        return (self.language,) if self.language else LANGUAGES

    def name_in(self, language: str) -> str:
        """Its name in `language`, falling back to Russian, then Kazakh."""
        return self.name.get(language) or self.name.get("ru") or self.name["kk"]


def _as_id(body: Body | str) -> str:
    return body.id if isinstance(body, Body) else body


class Directory:
    """All bodies and regions, with the lookups the workflow needs. Build it with `Directory.load`."""

    def __init__(self, regions: dict[str, Region], bodies: Iterable[Body], source: str = "<memory>"):
        self.source = source
        self.regions = regions
        self._bodies: dict[str, Body] = {}
        for body in bodies:
            self._bodies.setdefault(body.id, body)
        self._by_region_type: dict[tuple[str | None, str], list[Body]] = {}
        self._by_code: dict[str, Body] = {}
        for body in self._bodies.values():
            self._by_region_type.setdefault((body.region, body.type), []).append(body)
            if body.code:
                self._by_code.setdefault(body.code, body)

    @classmethod
    def load(cls, path: Path | str | None = None) -> "Directory":
        """Read and check a directory file: `path`, else `$QORGAU_DIRECTORY`, else the shipped one."""
        path = Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH)
        try:
            with path.open(encoding="utf-8") as stream:
                raw = yaml.load(stream, Loader=_Loader)
        except OSError as exc:
            raise DirectoryError(f"{path}: cannot read the directory: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise DirectoryError(f"{path}: not valid YAML: {exc}") from exc
        return cls.from_data(raw, source=str(path))

    @classmethod
    def from_data(cls, raw: Any, source: str = "<memory>") -> "Directory":
        """Build and check a directory from already parsed data (the YAML file's shape)."""
        problems: list[str] = []
        regions, bodies = _parse(raw, source, problems)
        if not problems:
            directory = cls(regions, bodies, source)
            problems = _check(directory, bodies, source)
        if problems:
            raise DirectoryError(problems)
        return directory

    # --- lookups -------------------------------------------------------------------------------

    def get(self, body_id: str) -> Body:
        """The body with this id; `UnknownBodyError` (a `KeyError`) if there is none."""
        body = self._bodies.get(body_id)
        if body is None:
            raise UnknownBodyError(f"{self.source}: body '{body_id}': unknown body id")
        return body

    def find(self, body_id: str) -> Body | None:
        return self._bodies.get(body_id)

    def bodies(self) -> Iterator[Body]:
        """Every body, in file order."""
        return iter(self._bodies.values())

    def __contains__(self, body_id: object) -> bool:
        return body_id in self._bodies

    def __len__(self) -> int:
        return len(self._bodies)

    def region_body(self, region: str, body_type: str) -> Body:
        """The region's (first) body of `body_type`; for a republic type the region is ignored."""
        if body_type in REPUBLIC_TYPES:
            return self.republic(body_type)
        if body_type not in BODY_TYPES:
            raise UnknownBodyError(f"{self.source}: unknown body type '{body_type}'")
        found = self._by_region_type.get((self._region_code(region), body_type))
        if not found:
            raise UnknownBodyError(f"{self.source}: region '{region}' has no body of type '{body_type}'")
        return found[0]

    def schools(self, region: str) -> list[Body]:
        """The region's schools, in file order (the first is the default school of a case)."""
        return list(self._by_region_type.get((self._region_code(region), "school"), ()))

    def republic(self, body_type: str) -> Body:
        """The one republic body of a type: a ministry or the Government Office."""
        if body_type == "republic_body":
            raise UnknownBodyError(f"{self.source}: there is one 'republic_body' per decree code; use by_code")
        found = self._by_region_type.get((None, body_type))
        if body_type not in SINGLE_REPUBLIC_TYPES or not found:
            raise UnknownBodyError(f"{self.source}: no republic body of type '{body_type}'")
        return found[0]

    def by_code(self, decree_code: str) -> Body:
        """The republic body with this decree code, e.g. `МП` → `ministry_education`, `МЧС` → its body."""
        code = decree_code.strip()
        body = self._by_code.get(code)
        if body is not None:
            return body
        if code == LOCAL_EXECUTIVE_CODE:
            raise UnknownBodyError(
                f"{self.source}: code '{code}' means every region's akimat, not one body; use executors")
        raise UnknownBodyError(f"{self.source}: no body has decree code '{code}'")

    def executors(self, decree_code: str) -> list[Body]:
        """The bodies an executor code of the plan stands for: `МИО` is every region's akimat."""
        if decree_code.strip() == LOCAL_EXECUTIVE_CODE:
            return [self.region_body(region, "akimat") for region in self.regions]
        return [self.by_code(decree_code)]

    # --- hierarchy -----------------------------------------------------------------------------

    def parent(self, body: Body | str) -> Body | None:
        """The body's supervisor for escalations, or None at the republic level."""
        parent_id = self.get(_as_id(body)).parent
        return self._bodies[parent_id] if parent_id else None

    def chain(self, body: Body | str) -> list[Body]:
        """The body's supervisors, nearest first, up to the republic level (the body itself excluded)."""
        ancestors: list[Body] = []
        current = self.parent(body)
        while current is not None:
            ancestors.append(current)
            current = self.parent(current)
        return ancestors

    def top_of_chain(self, body: Body | str) -> Body:
        """The republic body at the top of the chain (a ministry or the Government Office)."""
        chain = self.chain(body)
        return chain[-1] if chain else self.get(_as_id(body))

    def is_supervisor(self, supervisor: Body | str, body: Body | str) -> bool:
        """True if `supervisor` is above `body` at any level (a body does not supervise itself)."""
        supervisor_id = _as_id(supervisor)
        return any(ancestor.id == supervisor_id for ancestor in self.chain(body))

    def _region_code(self, region: str) -> str:
        code = region.strip().upper()
        if code not in self.regions:
            raise UnknownBodyError(f"{self.source}: unknown region '{region}'")
        return code


@cache
def default_directory() -> Directory:
    """The process-wide directory (`$QORGAU_DIRECTORY` or the shipped file), loaded once."""
    return Directory.load()


# --- parsing: shape of the file --------------------------------------------------------------------

def _parse(raw: Any, source: str, problems: list[str]) -> tuple[dict[str, Region], list[Body]]:
    if not isinstance(raw, dict):
        problems.append(f"{source}: the directory must be a mapping with 'regions' and 'bodies'")
        return {}, []
    regions = _parse_regions(raw.get("regions"), source, problems)
    raw_bodies = raw.get("bodies")
    if not isinstance(raw_bodies, list) or not raw_bodies:
        problems.append(f"{source}: 'bodies' must be a non-empty list")
        return regions, []
    bodies = [_parse_body(item, n, source, problems) for n, item in enumerate(raw_bodies, 1)]
    return regions, [body for body in bodies if body is not None]


def _parse_regions(raw: Any, source: str, problems: list[str]) -> dict[str, Region]:
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{source}: 'regions' must be a non-empty mapping of ISO 3166-2:KZ code to names")
        return {}
    regions = {}
    for code, name in raw.items():
        where = f"{source}: region '{code}'"
        if not isinstance(code, str) or not code.startswith("KZ-"):
            problems.append(f"{where}: region code must be an ISO 3166-2:KZ code like 'KZ-75'")
        name_problem = _name_problem(name)
        if name_problem:
            problems.append(f"{where}: {name_problem}")
        regions[str(code)] = Region(code=str(code), name=dict(name) if isinstance(name, dict) else {})
    return regions


_BODY_KEYS = {"id", "type", "region", "parent", "name", "language", "channels", "code"}


def _parse_body(item: Any, number: int, source: str, problems: list[str]) -> Body | None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
        problems.append(f"{source}: body #{number}: every body needs a non-empty string 'id'")
        return None
    where = f"{source}: body '{item['id']}'"
    before = len(problems)
    unknown = sorted(set(item) - _BODY_KEYS)
    if unknown:
        problems.append(f"{where}: unknown field(s) {', '.join(map(str, unknown))}")
    for key in ("type", "region", "parent", "code"):
        if item.get(key) is not None and not isinstance(item[key], str):
            problems.append(f"{where}: '{key}' must be a string")
    name_problem = _name_problem(item.get("name"))
    if name_problem:
        problems.append(f"{where}: {name_problem}")
    if item.get("language") not in (*LANGUAGES, None):
        problems.append(f"{where}: language must be kk, ru or null (both), not {item.get('language')!r}")
    channels = item.get("channels", [])
    if not isinstance(channels, list) or not all(isinstance(c, str) and c for c in channels):
        problems.append(f"{where}: channels must be a list of non-empty strings")
    if len(problems) > before:
        return None
    return Body(id=item["id"], type=item.get("type"), region=item.get("region"),
                parent=item.get("parent"), name=dict(item["name"]), language=item.get("language"),
                channels=tuple(channels), code=item.get("code"))


def _name_problem(name: Any) -> str | None:
    if not isinstance(name, dict) or not all(isinstance(name.get(lang), str) and name[lang]
                                            for lang in LANGUAGES):
        return "name must give non-empty kk and ru names"
    return None


# --- checking: rules across bodies -----------------------------------------------------------------

def _check(directory: Directory, bodies: list[Body], source: str) -> list[str]:
    problems: list[str] = []
    problems += _duplicates(bodies, source)
    for body in directory.bodies():
        problems += _body_rules(directory, body, source)
    problems += _cycles(directory, source)
    problems += _coverage(directory, source)
    return problems


def _duplicates(bodies: list[Body], source: str) -> list[str]:
    problems, seen_ids, seen_codes = [], set(), {}
    for body in bodies:
        if body.id in seen_ids:
            problems.append(f"{source}: body '{body.id}': duplicate body id")
        seen_ids.add(body.id)
        if body.code and body.code in seen_codes and seen_codes[body.code] != body.id:
            problems.append(f"{source}: body '{body.id}': decree code '{body.code}' is already used by "
                            f"'{seen_codes[body.code]}'")
        seen_codes.setdefault(body.code, body.id)
    return problems


def _body_rules(directory: Directory, body: Body, source: str) -> list[str]:
    where = f"{source}: body '{body.id}'"
    if body.type not in BODY_TYPES:
        return [f"{where}: unknown body type '{body.type}'"]
    if body.type in REPUBLIC_TYPES:
        return _republic_rules(body, where)
    if body.region is None:
        return [f"{where}: a body of regional type '{body.type}' needs a region"]
    if body.region not in directory.regions:
        return [f"{where}: unknown region '{body.region}'"]
    return _parent_rules(directory, body, where)


def _republic_rules(body: Body, where: str) -> list[str]:
    problems = []
    if body.region is not None:
        problems.append(f"{where}: a republic-level body ('{body.type}') has no region")
    if body.parent is not None:
        problems.append(f"{where}: a republic-level body ('{body.type}') has no parent")
    if body.type == "republic_body" and not body.code:
        problems.append(f"{where}: a 'republic_body' needs its decree code in 'code'")
    return problems


def _parent_rules(directory: Directory, body: Body, where: str) -> list[str]:
    expected = PARENT_TYPE[body.type]
    if body.parent is None:
        return [f"{where}: a '{body.type}' needs a parent of type '{expected}'"]
    parent = directory.find(body.parent)
    if parent is None:
        return [f"{where}: unknown parent id '{body.parent}'"]
    if parent.type != expected:
        return [f"{where}: parent '{parent.id}' is a '{parent.type}', but a '{body.type}' answers to "
                f"a '{expected}'"]
    if expected in REGIONAL_TYPES and parent.region != body.region:
        return [f"{where}: parent '{parent.id}' must be the '{expected}' of the same region "
                f"'{body.region}', not of '{parent.region}'"]
    return []


def _cycles(directory: Directory, source: str) -> list[str]:
    """Bodies whose parent links loop back; type rules make this impossible, but a loop must never hang."""
    problems, safe = [], set()
    for body in directory.bodies():
        path: list[str] = []
        current: Body | None = body
        while current is not None and current.id not in safe:
            if current.id in path:
                loop = path[path.index(current.id):] + [current.id]
                problems.append(f"{source}: body '{current.id}': parent links form a cycle: "
                                f"{' → '.join(loop)}")
                break
            path.append(current.id)
            current = directory.find(current.parent) if current.parent else None
        safe.update(path)
    return sorted(set(problems))


def _coverage(directory: Directory, source: str) -> list[str]:
    problems = []
    for region in directory.regions:
        for body_type in REGIONAL_TYPES:
            if not directory._by_region_type.get((region, body_type)):
                problems.append(f"{source}: region '{region}': no body of regional type '{body_type}'")
    for body_type in SINGLE_REPUBLIC_TYPES:
        found = directory._by_region_type.get((None, body_type), [])
        if len(found) != 1:
            problems.append(f"{source}: republic type '{body_type}': expected exactly one body, "
                            f"found {len(found)}")
    return problems
