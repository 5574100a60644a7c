"""`qorgau plan` lists the plan's measures as a table or JSON."""
from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from app.plan_cli import plan_app

runner = CliRunner()


def numbers_in_table(output: str) -> list[str]:
    """Measure numbers from the first column of the table body."""
    lines = output.splitlines()
    body = lines[2 : lines.index("")]
    return [line.split()[0] for line in body]


def test_plan_without_arguments_lists_every_measure() -> None:
    result = runner.invoke(plan_app, [])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].split() == ["№", "Measure", "Executors", "Deadline"]
    numbers = numbers_in_table(result.output)
    assert len(numbers) == 64
    assert numbers[:3] == ["1", "2", "3"] and "23-1" in numbers and numbers[-1] == "53"
    assert result.output.rstrip().endswith("64 measures")


def test_a_row_shows_number_short_title_executors_and_deadline() -> None:
    result = runner.invoke(plan_app, [])
    row = next(line for line in result.output.splitlines() if line.startswith("1 "))
    assert "Разработка интерактивной карты рисков" in row
    assert "…" in row  # the long title is shortened
    assert "МП, КПСиСУ, МТСЗН, МЗ" in row
    assert row.endswith("ноябрь 2023 года")


def test_executor_option_lists_only_that_executors_measures() -> None:
    result = runner.invoke(plan_app, ["--executor", "МНВО"])
    assert result.exit_code == 0, result.output
    assert numbers_in_table(result.output) == ["30", "35", "37-1", "37-4", "47-3", "49"]


def test_executor_code_is_matched_case_insensitively_and_mio_is_not_mior() -> None:
    mio = numbers_in_table(runner.invoke(plan_app, ["-e", "мио"]).output)
    assert "2" in mio and "4" not in mio


def test_section_option_takes_a_number_or_a_heading_fragment() -> None:
    by_number = numbers_in_table(runner.invoke(plan_app, ["--section", "3"]).output)
    by_text = numbers_in_table(runner.invoke(plan_app, ["--section", "благополучия казахстанских"]).output)
    assert by_number == by_text
    assert by_number[0] == "38" and by_number[-1] == "53"


def test_executor_and_section_combine() -> None:
    result = runner.invoke(plan_app, ["--executor", "МЗ", "--section", "2"])
    assert numbers_in_table(result.output) == ["24", "25", "26", "28", "29-1", "37-1", "37-2", "37-3"]


def test_json_prints_full_records() -> None:
    result = runner.invoke(plan_app, ["--json", "--executor", "СА"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert [r["number"] for r in records] == ["13"]
    record = records[0]
    assert record["executors"] == ["МП", "МВД", "ГП", "СА", "МТСЗН", "МЗ"]
    assert record["executor_notes"]["СА"] == "по согласованию"
    assert {"section", "title", "form", "deadline", "financing"} <= set(record)


def test_json_of_everything_has_all_64_measures() -> None:
    records = json.loads(runner.invoke(plan_app, ["--json"]).output)
    assert len(records) == 64


def test_unknown_executor_code_is_a_usage_error_naming_the_known_codes() -> None:
    result = runner.invoke(plan_app, ["--executor", "МИНФИН"])
    assert result.exit_code == 2
    assert "МИНФИН" in result.output and "МП" in result.output


def test_a_known_code_without_measures_says_so() -> None:
    result = runner.invoke(plan_app, ["--executor", "РБ"])  # a budget, in the abbreviation list
    assert result.exit_code == 0
    assert "No measures match." in result.output
    assert json.loads(runner.invoke(plan_app, ["--executor", "РБ", "--json"]).output) == []


def test_list_command_is_the_same_listing() -> None:
    direct = runner.invoke(plan_app, ["--section", "1"]).output
    assert runner.invoke(plan_app, ["list", "--section", "1"]).output == direct
    assert runner.invoke(plan_app, ["--section", "1", "list"]).output == direct


@pytest.mark.parametrize("args", [["plan"], ["plan", "--executor", "МП", "--json"], ["plan", "list", "-s", "2"]])
def test_works_when_registered_under_the_root_cli(args: list[str]) -> None:
    root = typer.Typer()

    @root.command()
    def version() -> None:
        """A second command, so that `plan` is a real sub-command."""

    root.add_typer(plan_app, name="plan")
    result = runner.invoke(root, args)
    assert result.exit_code == 0, result.output
    assert "23-1" in result.output or "24" in result.output
