"""The plan catalogue: the measures of the Comprehensive plan (Decree No. 748) as typed data.

The data lives in `algorithms/data/plan_catalogue.yaml` (generated from the decree text by
`algorithms/data/make_plan_catalogue.py`, then committed; the YAML is the source of truth).

Executors are codes exactly as the decree writes them ("МП", "МЗ", "МИО", "КПСиСУ", ...), each one a key
of the decree's abbreviation list (`Catalogue.abbreviations`). One executor, "акимат города Астаны"
(measure 21), is named in full by the decree; it is listed in `Catalogue.named_executors`.

How a code maps to bodies (the mapping itself belongs to the engine; this module only provides codes):

- a ministry or other republic-level code maps to its one republic-level body: МП → `ministry_education`,
  МЗ → `ministry_health`, МВД → `ministry_interior`, МТСЗН → `ministry_labour`; every other code
  (МНВО, МКИ, МТС, МЧС, ГП, КПСиСУ, МИОР, ...) → the `republic_body` for that code;
- `МИО` (local executive bodies) maps to every region's `akimat`, i.e. one executor per region;
- "акимат города Астаны" maps to the `akimat` of Astana only (KZ-71).

МИОР (a ministry) is a different code from МИО. МБ and РБ are in the abbreviation list but are financing
sources, not executors. An executor's parenthetical note, such as "по согласованию" (by agreement, for
bodies outside the Government), is kept in `Measure.executor_notes`.

The plan's span and later plans. A catalogue carries its plan's `span` (first and last day in force): a
reporting period belongs to the plan when one of its days lies in the span. The shipped plan runs from
31.08.2023 (the decree took effect on signing, its item 5) to 31.12.2025 ("на 2023 – 2025 годы"). A
deployment that reports on a later plan adds it as another catalogue file with its own span and names
the file in QORGAU_PLAN_CATALOGUES (paths separated by os.pathsep); `load_plans` gives the shipped plan
followed by those, and refuses spans that overlap (a period belongs to at most one plan).

Reorganised executors. The decree names bodies that the reorganisation of the Government of 1 September
2023 abolished (МИОР, МКС, МИИР). `Catalogue.reorganisations` maps each to its successors from that date:
a period that starts on or after it is reported by the successors (`successors_of`, `executor_codes(on=)`),
and a successor reports on its predecessor's measures (`predecessors_of`).

Callers share the cached default catalogue: treat it as read-only.
"""
from __future__ import annotations

import os
import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "plan_catalogue.yaml"
PLANS_ENV = "QORGAU_PLAN_CATALOGUES"
"""Setting: catalogue files of later plans, os.pathsep-separated; each has its own span."""

LOCAL_EXECUTIVE_BODIES = "МИО"
"""The code of local executive bodies: one executor per region (its `akimat`)."""

_NUMBER_RE = re.compile(r"^(\d+)(?:-(\d+))?$")
_SECTION_NUMBER_RE = re.compile(r"^(\d+)\.?$")


def normalise_number(number: str | int) -> str:
    """A measure number as the catalogue writes it: "3." → "3", " 23-1 " → "23-1"."""
    return str(number).strip().rstrip(".").strip()


class Measure(BaseModel):
    """One measure (row) of the plan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: str
    """"1" … "53", or an inserted number such as "23-1"."""
    section: str
    """The plan's section heading, e.g. "1. Реализация права детей на защиту от насилия, ..."."""
    title: str
    form: str
    """Form of completion (e.g. "приказ", "информация в МП")."""
    deadline: str
    """Deadline as the decree writes it (e.g. "декабрь 2023 года", "декабрь ежегодно")."""
    executors: list[str]
    """Executor codes in the decree's order."""
    financing: str
    """Source and amount as one text: "РБ: 2023 год – 902 млн тенге; ...", or "не требуется"."""
    subsection: str = ""
    """The subsection heading as written, e.g. "1.1. Краткосрочные меры"."""
    executor_notes: dict[str, str] = Field(default_factory=dict)
    """Parenthetical notes per executor, e.g. {"ГП": "по согласованию"}."""
    financing_amount: str = ""
    """The decree's amount column as written ("-" when empty)."""
    financing_source: str = ""
    """The decree's source column as written ("-" when empty)."""

    @model_validator(mode="after")
    def _check(self) -> Measure:
        if not _NUMBER_RE.match(self.number):
            raise ValueError(f"measure number {self.number!r} is not like '12' or '23-1'")
        if not self.executors:
            raise ValueError(f"measure {self.number} has no executors")
        return self

    @property
    def sort_key(self) -> tuple[int, int]:
        """Plan order: 23 < 23-1 < 24."""
        match = _NUMBER_RE.match(self.number)
        assert match is not None  # checked on construction
        return int(match.group(1)), int(match.group(2) or 0)

    @property
    def section_number(self) -> str:
        """The section's number: "1", "2" or "3"."""
        return self.section.split(".", 1)[0].strip()

    def short_title(self, limit: int = 60) -> str:
        """The title cut at a word boundary to at most `limit` characters, with an ellipsis if cut."""
        if len(self.title) <= limit:
            return self.title
        cut = self.title[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
        return cut + "…"


class Span(BaseModel):
    """The days a plan is in force, both included."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: date
    end: date

    @model_validator(mode="after")
    def _check(self) -> Span:
        if self.end < self.start:
            raise ValueError(f"span ends ({self.end}) before it starts ({self.start})")
        return self

    def overlaps(self, first: date, last: date) -> bool:
        """Whether a day from `first` to `last` (both included) is in the span."""
        return first <= self.end and self.start <= last


class Reorganisation(BaseModel):
    """An executor the decree names that no longer exists, and the executors that took over from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    successors: list[str]
    since: date
    """The first day the successors exist; a period starting on or after it is theirs to report."""
    act: str
    """The act that reorganised the executor, as published."""


class Catalogue(BaseModel):
    """All measures of the plan, in the decree's order, and the decree's abbreviation list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    span: Span
    """The days the plan is in force."""
    measures: list[Measure]
    abbreviations: dict[str, str]
    """Code → full Russian name, as in the decree's closing list."""
    named_executors: dict[str, str] = Field(default_factory=dict)
    """Executors the decree names in full rather than by a code (name → name)."""
    source: dict[str, str] = Field(default_factory=dict)
    """Provenance: the decree, its amendment, the text file and its sha256."""
    reorganisations: list[Reorganisation] = Field(default_factory=list)
    """Executors reorganised away, each with its successors and the date."""

    @model_validator(mode="after")
    def _check(self) -> Catalogue:
        seen: set[str] = set()
        for measure in self.measures:
            if measure.number in seen:
                raise ValueError(f"measure {measure.number} appears twice")
            seen.add(measure.number)
            unknown = [c for c in measure.executors if not self.is_known_code(c)]
            if unknown:
                raise ValueError(f"measure {measure.number}: executors {unknown} are not in the abbreviation list")
        reorganised: set[str] = set()
        for r in self.reorganisations:
            unknown = [c for c in (r.code, *r.successors) if not self.is_known_code(c)]
            if unknown or not r.successors or r.code in r.successors or r.code in reorganised:
                raise ValueError(f"reorganisation of {r.code}: needs known successors other than itself, once "
                                 f"(unknown: {unknown})")
            reorganised.add(r.code)
        for r in self.reorganisations:
            self.successors_of(r.code, date.max)  # refuses a circle
        return self

    def is_known_code(self, code: str) -> bool:
        """Whether `code` is an abbreviation of the decree or an executor it names in full."""
        return code in self.abbreviations or code in self.named_executors

    def canonical_code(self, code: str) -> str | None:
        """The catalogue's spelling of an executor code, matched case-insensitively ("мп" → "МП")."""
        wanted = code.strip().casefold()
        for known in (*self.abbreviations, *self.named_executors):
            if known.casefold() == wanted:
                return known
        return None

    def get(self, number: str | int) -> Measure | None:
        """The measure with this number ("3", "3.", 3, "23-1"), or None."""
        wanted = normalise_number(number)
        return next((m for m in self.measures if m.number == wanted), None)

    def by_executor(self, code: str) -> list[Measure]:
        """Measures that name this executor code (case-insensitive; "МИО" does not match "МИОР")."""
        canonical = self.canonical_code(code)
        return [m for m in self.measures if canonical in m.executors] if canonical else []

    def sections(self) -> list[str]:
        """Section headings in the decree's order."""
        return list(dict.fromkeys(m.section for m in self.measures))

    def filter(self, executor: str | None = None, section: str | None = None) -> list[Measure]:
        """Measures matching both criteria; None means any.

        `section` is a section number ("2" or "2.") or else a case-insensitive fragment of the section or
        subsection heading ("суицид", "Среднесрочные").
        """
        measures = self.by_executor(executor) if executor is not None else list(self.measures)
        if section is not None:
            measures = [m for m in measures if _section_matches(m, section)]
        return measures

    def executor_codes(self, on: date | None = None) -> list[str]:
        """Every executor code used by some measure, in order of first appearance; with `on`, those that
        report on that day: a code reorganised by then is replaced by its successors."""
        codes = dict.fromkeys(code for m in self.measures for code in m.executors)
        if on is None:
            return list(codes)
        return list(dict.fromkeys(s for code in codes for s in self.successors_of(code, on)))

    def successors_of(self, code: str, on: date) -> list[str]:
        """The codes that report for `code` on day `on`: `[code]` while it exists, else its successors (and
        theirs, should they have been reorganised in turn)."""
        return self._successors(code, on, ())

    def _successors(self, code: str, on: date, chain: tuple[str, ...]) -> list[str]:
        if code in chain:
            raise ValueError(f"reorganisations run in a circle: {' → '.join((*chain, code))}")
        r = next((r for r in self.reorganisations if r.code == code and r.since <= on), None)
        if r is None:
            return [code]
        chain = (*chain, code)
        return list(dict.fromkeys(s for successor in r.successors for s in self._successors(successor, on, chain)))

    def predecessors_of(self, code: str, on: date | None = None) -> list[str]:
        """The reorganised codes whose measures `code` reports on as their successor (by day `on`, or ever)."""
        return [r.code for r in self.reorganisations
                if (on is None or r.since <= on) and code in self.successors_of(r.code, on or date.max)]

    def executor_name(self, code: str) -> str | None:
        """The full Russian name for an executor code, or None if unknown."""
        return self.abbreviations.get(code) or self.named_executors.get(code)


def _section_matches(measure: Measure, query: str) -> bool:
    query = query.strip()
    number = _SECTION_NUMBER_RE.match(query)
    if number:
        return measure.section_number == number.group(1)
    wanted = " ".join(query.split()).casefold()
    return wanted in measure.section.casefold() or wanted in measure.subsection.casefold()


def parse_catalogue(data: dict[str, Any]) -> Catalogue:
    """A catalogue from already-loaded YAML data (validated)."""
    return Catalogue.model_validate(data)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load and validate a catalogue; without `path`, the shipped one (loaded once, then cached)."""
    if path is None:
        return _default_catalogue()
    return _load(Path(path))


@lru_cache(maxsize=1)
def _default_catalogue() -> Catalogue:
    return _load(DEFAULT_PATH)


def _load(path: Path) -> Catalogue:
    with path.open(encoding="utf-8") as handle:
        return parse_catalogue(yaml.safe_load(handle))


@lru_cache(maxsize=16)
def _later_plan(path: str) -> Catalogue:
    return _load(Path(path))


def load_plans(catalogue: Catalogue | None = None) -> tuple[Catalogue, ...]:
    """The plans reported on: `catalogue` (default: the shipped one), then each catalogue file named in
    QORGAU_PLAN_CATALOGUES, in order (each file read once per process). ValueError if spans overlap."""
    paths = [p.strip() for p in os.environ.get(PLANS_ENV, "").split(os.pathsep) if p.strip()]
    plans = (catalogue or _default_catalogue(), *(_later_plan(str(Path(p).resolve())) for p in paths))
    spans = sorted((plan.span.start, plan.span.end) for plan in plans)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        if start <= end:
            raise ValueError(f"{PLANS_ENV}: plans in force on the same day {start} (their spans overlap)")
    return plans
