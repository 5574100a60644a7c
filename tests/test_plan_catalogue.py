"""The plan catalogue says what the decree says.

The decree text is parsed here on its own (a regex over the flattened table, independent of
`algorithms/data/make_plan_catalogue.py`), and the committed catalogue is checked against it.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import yaml

from algorithms.catalogue import PLANS_ENV, Catalogue, Measure, load_catalogue, load_plans

DECREE_NAME = "000_b8f31f13fc127bbd.txt"
REPO = Path(__file__).resolve().parents[1]


def _decree_path() -> Path | None:
    candidates = [REPO / "docs" / "decree" / DECREE_NAME, REPO.parent / "shared" / "decree" / DECREE_NAME]
    if os.environ.get("QORGAU_DECREE_TEXT"):
        candidates.insert(0, Path(os.environ["QORGAU_DECREE_TEXT"]))
    return next((p for p in candidates if p.is_file()), None)


EXPECTED_NUMBERS = (
    [str(n) for n in range(1, 24)]
    + ["23-1"]
    + [str(n) for n in range(24, 30)]
    + ["29-1", "29-2", "29-3"]
    + [str(n) for n in range(30, 38)]
    + ["37-1", "37-2", "37-3", "37-4"]
    + [str(n) for n in range(38, 48)]
    + ["47-1", "47-2", "47-3"]
    + [str(n) for n in range(48, 54)]
)

# The one executor the decree names in full instead of by an abbreviation.
NAMED_IN_FULL = {"21": "акимат города Астаны"}


# --- an independent reading of the decree ---------------------------------------------------------

CELL = r"\n\t\n"
ROW_RE = re.compile(
    CELL + r"(?P<number>\d+(?:-\d+)?)\.?[ ]*"
    + CELL + r"(?P<title>.*?)"
    + CELL + r"(?P<form>.*?)"
    + CELL + r"(?P<deadline>.*?)"
    + CELL + r"(?P<executors>.*?)"
    + CELL + r"(?P<amount>.*?)"
    + CELL + r"(?P<source>.*?)(?=" + CELL + r"|\n\s*Примечание)",
    re.DOTALL,
)
SECTION_RE = re.compile(CELL + r"(?P<heading>[123]\. [^\n]+)")
ABBREVIATION_LINE_RE = re.compile(r"^\s*(?P<code>[^\s–]+) – (?P<name>.+?)[;.]?\s*$", re.MULTILINE)


def squash(text: str) -> str:
    """Whitespace (no-break spaces included) collapsed to single spaces."""
    return " ".join(text.replace("\xa0", " ").split())


@dataclass
class DecreeRow:
    number: str
    section: str
    title: str
    form: str
    deadline: str
    executors: list[str]
    amount: str
    source: str


@dataclass
class Decree:
    rows: list[DecreeRow]
    abbreviations: dict[str, str]


def read_abbreviations(text: str) -> dict[str, str]:
    tail = text[text.index("расшифровка аббревиатур") :]
    return {m["code"]: squash(m["name"]) for m in ABBREVIATION_LINE_RE.finditer(tail.replace("\xa0", " "))}


def read_executors(cell: str, codes: list[str]) -> list[str]:
    """Codes in order of appearance; any other text between them is an executor named in full."""
    code_re = re.compile(r"(?<!\w)(?:" + "|".join(sorted(map(re.escape, codes), key=len, reverse=True)) + r")(?!\w)")
    text = re.sub(r"\([^)]*\)", " ", squash(cell))
    found: list[str] = []
    position = 0
    for match in code_re.finditer(text):
        gap = text[position : match.start()].strip(" ,")
        if gap:
            found.append(gap)
        found.append(match.group(0))
        position = match.end()
    if gap := text[position:].strip(" ,"):
        found.append(gap)
    return found


def read_decree(text: str) -> Decree:
    text = text.replace("\r\n", "\n")
    abbreviations = read_abbreviations(text)
    codes = list(abbreviations)
    table_start = text.index("Ожидаемые результаты:")
    headings = [(m.start(), squash(m["heading"])) for m in SECTION_RE.finditer(text, table_start)]
    rows = []
    for match in ROW_RE.finditer(text, table_start):
        section = [heading for start, heading in headings if start < match.start()][-1]
        rows.append(
            DecreeRow(
                number=match["number"],
                section=section,
                title=squash(match["title"]),
                form=squash(match["form"]),
                deadline=squash(match["deadline"]),
                executors=read_executors(match["executors"], codes),
                amount=squash(match["amount"]),
                source=squash(match["source"]),
            )
        )
    return Decree(rows=rows, abbreviations=abbreviations)


@pytest.fixture(scope="module")
def decree() -> Decree:
    path = _decree_path()
    if path is None:
        pytest.skip(f"decree text {DECREE_NAME} not found (set QORGAU_DECREE_TEXT)")
    return read_decree(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="module")
def rows_by_number(decree: Decree) -> dict[str, DecreeRow]:
    return {row.number: row for row in decree.rows}


# --- the catalogue against the decree -------------------------------------------------------------


def test_the_independent_reading_finds_the_plans_numbering(decree: Decree) -> None:
    assert [row.number for row in decree.rows] == EXPECTED_NUMBERS


def test_catalogue_numbers_are_1_to_53_with_the_inserted_measures_in_plan_order(catalogue: Catalogue) -> None:
    assert [m.number for m in catalogue.measures] == EXPECTED_NUMBERS
    assert len(catalogue.measures) == 64


def test_catalogue_has_every_measure_of_the_decree(catalogue: Catalogue, decree: Decree) -> None:
    assert {m.number for m in catalogue.measures} == {row.number for row in decree.rows}


def test_each_measure_has_the_decrees_executors_in_the_decrees_order(
    catalogue: Catalogue, rows_by_number: dict[str, DecreeRow]
) -> None:
    mismatches = {
        m.number: (m.executors, rows_by_number[m.number].executors)
        for m in catalogue.measures
        if m.executors != rows_by_number[m.number].executors
    }
    assert mismatches == {}


def test_every_executor_is_a_code_of_the_decrees_abbreviation_list(catalogue: Catalogue, decree: Decree) -> None:
    not_codes = {
        m.number: code for m in catalogue.measures for code in m.executors if code not in decree.abbreviations
    }
    assert not_codes == NAMED_IN_FULL
    assert set(catalogue.named_executors) == set(NAMED_IN_FULL.values())


def test_abbreviation_list_is_the_decrees(catalogue: Catalogue, decree: Decree) -> None:
    assert len(decree.abbreviations) == 22
    assert catalogue.abbreviations == decree.abbreviations
    assert catalogue.abbreviations["МИО"] == "местные исполнительные органы"


def test_titles_forms_and_deadlines_are_the_decrees_text(
    catalogue: Catalogue, rows_by_number: dict[str, DecreeRow]
) -> None:
    def loose(text: str) -> str:  # the catalogue may separate two deadlines with "; "
        return re.sub(r"[\s;]+", " ", text).strip()

    for m in catalogue.measures:
        row = rows_by_number[m.number]
        assert m.title == row.title, m.number
        assert m.form == row.form, m.number
        assert loose(m.deadline) == loose(row.deadline), m.number


def test_financing_keeps_the_decrees_amount_and_source(
    catalogue: Catalogue, rows_by_number: dict[str, DecreeRow]
) -> None:
    for m in catalogue.measures:
        row = rows_by_number[m.number]
        assert (m.financing_amount, m.financing_source) == (row.amount, row.source), m.number
        for column in (row.amount, row.source):
            if column != "-":
                assert column in m.financing, m.number


def test_each_measure_sits_under_its_section_heading(
    catalogue: Catalogue, rows_by_number: dict[str, DecreeRow]
) -> None:
    assert {m.number: m.section for m in catalogue.measures} == {
        n: row.section for n, row in rows_by_number.items()
    }
    assert [s.split(".")[0] for s in catalogue.sections()] == ["1", "2", "3"]


def test_texts_have_normalised_whitespace(catalogue: Catalogue) -> None:
    for m in catalogue.measures:
        for text in (m.title, m.form, m.deadline, m.financing, m.section, m.subsection):
            assert text == squash(text), m.number
            assert "\t" not in text and "\xa0" not in text


# --- the catalogue API ----------------------------------------------------------------------------


def test_get_accepts_the_number_as_written(catalogue: Catalogue) -> None:
    assert catalogue.get("3").number == "3"
    assert catalogue.get("3.").number == "3"
    assert catalogue.get(3).number == "3"
    assert catalogue.get("23-1").title.startswith("Законодательное закрепление нормы")
    assert catalogue.get("54") is None


def test_by_executor_matches_whole_codes_only(catalogue: Catalogue) -> None:
    mio = {m.number for m in catalogue.by_executor("МИО")}
    mior = {m.number for m in catalogue.by_executor("МИОР")}
    assert "2" in mio and "4" not in mio
    assert mior == {"4", "7", "9", "15", "19", "48", "50"}
    assert {m.number for m in catalogue.by_executor("мз")} == {m.number for m in catalogue.by_executor("МЗ")}
    assert catalogue.by_executor("НЕТ") == []


def test_parenthetical_notes_are_kept_apart_from_the_codes(catalogue: Catalogue) -> None:
    assert catalogue.get("1").executors == ["МП", "КПСиСУ", "МТСЗН", "МЗ"]
    assert catalogue.get("1").executor_notes == {"КПСиСУ": "по согласованию"}
    assert catalogue.get("13").executor_notes == {"ГП": "по согласованию", "СА": "по согласованию"}


def test_filter_by_executor_and_section(catalogue: Catalogue) -> None:
    section_two = catalogue.filter(section="2")
    assert [m.number for m in section_two][:2] == ["24", "25"] and section_two[-1].number == "37-4"
    assert catalogue.filter(section="2.") == section_two
    assert catalogue.filter(section="суицидального") == section_two
    assert [m.number for m in catalogue.filter(executor="МНВО", section="2")] == ["30", "35", "37-1", "37-4"]
    assert catalogue.filter() == catalogue.measures
    assert all(m.subsection.endswith("Среднесрочные меры") for m in catalogue.filter(section="среднесрочные"))


def test_executor_codes_are_those_used_by_measures(catalogue: Catalogue) -> None:
    codes = catalogue.executor_codes()
    assert codes[0] == "МП" and len(codes) == len(set(codes))
    assert {"МП", "МЗ", "МВД", "МТСЗН", "МИО", "КПСиСУ"} <= set(codes)
    assert "МБ" not in codes and "РБ" not in codes  # financing sources, not executors
    assert all(catalogue.executor_name(code) for code in codes)


def test_default_catalogue_is_loaded_once(catalogue: Catalogue) -> None:
    assert load_catalogue() is load_catalogue()


def test_a_catalogue_naming_an_unknown_executor_is_rejected(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "algorithms" / "data" / "plan_catalogue.yaml").read_text(encoding="utf-8"))
    data["measures"][0]["executors"].append("МИНФИН")
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="МИНФИН"):
        load_catalogue(path)


def test_measure_numbers_sort_in_plan_order(catalogue: Catalogue) -> None:
    shuffled: list[Measure] = sorted(catalogue.measures, key=lambda m: m.number)
    assert [m.number for m in sorted(shuffled, key=lambda m: m.sort_key)] == EXPECTED_NUMBERS


# --- the plan's span and the reorganised executors (version 2, R1 and R2) -------------------------

def test_the_plan_is_in_force_from_its_signing_to_the_end_of_2025(catalogue: Catalogue, decree: Decree) -> None:
    assert (catalogue.span.start, catalogue.span.end) == (date(2023, 8, 31), date(2025, 12, 31))
    text = _decree_path().read_text(encoding="utf-8")  # the decree fixture skips when there is no text
    assert "от 31 августа 2023 года № 748" in text and "вводится в действие со дня его подписания" in text
    assert "на 2023 – 2025 годы" in text


def test_reorganised_executors_are_reported_by_their_successors_from_1_september_2023(catalogue: Catalogue) -> None:
    before, after = date(2023, 8, 31), date(2023, 9, 1)
    assert catalogue.successors_of("МКС", before) == ["МКС"]
    assert catalogue.successors_of("МКС", after) == ["МТС", "МКИ"]
    assert catalogue.successors_of("МИОР", after) == ["МКИ"]
    assert catalogue.successors_of("МИИР", after) == ["МПС", "МТ"]
    assert catalogue.successors_of("МЗ", after) == ["МЗ"]
    codes = catalogue.executor_codes(on=after)
    assert not {"МИОР", "МКС", "МИИР"} & set(codes) and {"МКИ", "МТС", "МПС", "МТ"} <= set(codes)
    assert {"МИОР", "МКС", "МИИР"} <= set(catalogue.executor_codes(on=before))
    assert catalogue.executor_codes() == catalogue.executor_codes(on=before)  # every code the measures name


def test_a_successor_takes_over_its_predecessors_measures(catalogue: Catalogue) -> None:
    assert catalogue.predecessors_of("МКИ") == ["МИОР", "МКС"]
    assert catalogue.predecessors_of("МТС") == ["МКС"]
    assert catalogue.predecessors_of("МТ") == ["МИИР"] and catalogue.predecessors_of("МПС") == ["МИИР"]
    assert catalogue.predecessors_of("МКИ", date(2023, 8, 31)) == []
    assert catalogue.predecessors_of("МЗ") == []


def test_reorganisations_cite_the_act_and_name_codes_of_the_decree(catalogue: Catalogue) -> None:
    assert {r.code for r in catalogue.reorganisations} == {"МИОР", "МКС", "МИИР"}
    for r in catalogue.reorganisations:
        assert r.since == date(2023, 9, 1) and "Указ Президента Республики Казахстан от 1 сентября 2023 года" in r.act
        assert all(code in catalogue.abbreviations for code in (r.code, *r.successors))


def _catalogue_data() -> dict:
    return yaml.safe_load((REPO / "algorithms" / "data" / "plan_catalogue.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("successors", [["МИНФИН"], [], ["МИОР"]])
def test_a_reorganisation_into_an_unknown_empty_or_same_executor_is_rejected(tmp_path: Path, successors) -> None:
    data = _catalogue_data()
    data["reorganisations"][0]["successors"] = successors
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="reorganisation of МИОР"):
        load_catalogue(path)


def test_a_catalogue_without_a_span_is_rejected(tmp_path: Path) -> None:
    data = _catalogue_data()
    del data["span"]
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="span"):
        load_catalogue(path)


def _later_plan(tmp_path: Path, start: date, end: date) -> Path:
    data = _catalogue_data()
    data["span"] = {"start": start, "end": end}
    path = tmp_path / f"plan-{start.year}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_deployment_adds_a_later_plan_by_naming_its_catalogue(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(PLANS_ENV, raising=False)
    assert load_plans() == (load_catalogue(),)
    later = _later_plan(tmp_path, date(2026, 1, 1), date(2028, 12, 31))
    monkeypatch.setenv(PLANS_ENV, str(later))
    plans = load_plans()
    assert plans[0] is load_catalogue() and plans[1].span.start == date(2026, 1, 1)


def test_plans_in_force_on_the_same_day_are_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(PLANS_ENV, str(_later_plan(tmp_path, date(2025, 12, 31), date(2028, 12, 31))))
    with pytest.raises(ValueError, match="overlap"):
        load_plans()


def test_the_generator_writes_the_committed_catalogue(tmp_path: Path, decree: Decree) -> None:
    out = tmp_path / "plan_catalogue.yaml"
    script = REPO / "algorithms" / "data" / "make_plan_catalogue.py"
    subprocess.run([sys.executable, str(script), str(_decree_path()), "-o", str(out)], check=True, capture_output=True)
    committed = (REPO / "algorithms" / "data" / "plan_catalogue.yaml").read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == committed
