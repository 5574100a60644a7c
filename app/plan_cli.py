"""`qorgau plan`: list the plan's measures from the catalogue.

    qorgau plan                      # every measure
    qorgau plan --executor МЗ        # measures naming an executor code (case-insensitive)
    qorgau plan --section 2          # a section by number, or a fragment of its heading
    qorgau plan --json               # full records as JSON
    qorgau plan list [...]           # the same, as an explicit command

The root CLI registers this sub-app with `app.add_typer(plan_app, name="plan")`.
"""
from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from algorithms.catalogue import Catalogue, Measure, load_catalogue

TITLE_WIDTH = 60
HEADERS = ("№", "Measure", "Executors", "Deadline")

plan_app = typer.Typer(help="The measures of the Comprehensive plan (Decree No. 748).")

ExecutorOption = Annotated[
    Optional[str],
    typer.Option("--executor", "-e", help="Executor code as in the decree (МП, МЗ, МИО, ...)."),
]
SectionOption = Annotated[
    Optional[str],
    typer.Option("--section", "-s", help="Section number (1, 2, 3) or a fragment of a section heading."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print full records as JSON.")]


@plan_app.callback(invoke_without_command=True)
def plan(
    ctx: typer.Context,
    executor: ExecutorOption = None,
    section: SectionOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the plan's measures (all of them unless filtered)."""
    if ctx.invoked_subcommand is None:
        show(executor, section, as_json)


@plan_app.command("list")
def list_measures(
    ctx: typer.Context,
    executor: ExecutorOption = None,
    section: SectionOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the plan's measures; options given before `list` apply too."""
    parent = ctx.parent.params if ctx.parent is not None else {}
    show(
        executor if executor is not None else parent.get("executor"),
        section if section is not None else parent.get("section"),
        as_json or bool(parent.get("as_json")),
    )


def show(executor: str | None, section: str | None, as_json: bool) -> None:
    """Select measures and print them as a table or JSON."""
    catalogue = load_catalogue()
    measures = select(catalogue, executor, section)
    if as_json:
        typer.echo(json.dumps([m.model_dump() for m in measures], ensure_ascii=False, indent=2))
    elif measures:
        typer.echo(render_table(measures))
    else:
        typer.echo("No measures match.")


def select(catalogue: Catalogue, executor: str | None, section: str | None) -> list[Measure]:
    """The filtered measures; an executor code the decree does not know is a usage error."""
    if executor is not None and catalogue.canonical_code(executor) is None:
        known = ", ".join(catalogue.executor_codes())
        raise typer.BadParameter(f"unknown executor code {executor!r}; known: {known}", param_hint="--executor")
    return catalogue.filter(executor=executor, section=section)


def render_table(measures: list[Measure]) -> str:
    """A plain-text table: number, short title, executors, deadline; then a count."""
    rows = [(m.number, m.short_title(TITLE_WIDTH), ", ".join(m.executors), m.deadline) for m in measures]
    widths = [max(len(row[i]) for row in [HEADERS, *rows]) for i in range(len(HEADERS) - 1)]

    def line(cells: tuple[str, ...]) -> str:
        head = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths))
        return f"{head}  {cells[-1]}".rstrip()

    rule = tuple("-" * w for w in widths) + ("-" * len(HEADERS[-1]),)
    count = f"{len(measures)} measure" + ("" if len(measures) == 1 else "s")
    return "\n".join([line(HEADERS), line(rule), *(line(row) for row in rows), "", count])
