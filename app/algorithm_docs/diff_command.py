"""`qorgau diff ALGORITHM FROM TO`: what changed between two versions, in Kazakh, Russian or English."""
from __future__ import annotations

import json

import typer

from app.algorithm_docs.diff_words import LANGS


def diff_command(algorithm: str = typer.Argument(..., metavar="ALGORITHM", help="Algorithm id, e.g. violence-report."),
                 from_version: int = typer.Argument(..., metavar="FROM", help="The older version, e.g. 1."),
                 to_version: int = typer.Argument(..., metavar="TO", help="The newer version, e.g. 2."),
                 lang: str = typer.Option("ru", "--lang", help="Language of the text: kk, ru or en."),
                 as_json: bool = typer.Option(False, "--json", help="Print the changes as JSON instead of text.")) -> None:
    """Say what changed between two versions of an algorithm: states, tasks (bodies, deadlines,
    ladders), triggers (actors, decisions, data, moves), ladders, timers, launch data and the line
    of subordination, in words a coordinator reads.

    The versions are read as this deployment runs them (with its deadline overrides, if any);
    docs/algorithms/<id>.diff-1-2.md holds the same for the shipped definitions.

    Exit status: 0 printed, 2 unknown algorithm or version, or a language other than kk, ru, en.

    Example: qorgau diff violence-report 1 2 --lang kk
    """
    from algorithms.loader import DefinitionError
    from algorithms.registry import Registry, UnknownAlgorithm

    from app.algorithm_docs.diff import compare
    from app.algorithm_docs.diff_text import render_text

    if lang not in LANGS:
        typer.echo("--lang must be kk, ru or en", err=True)
        raise typer.Exit(2)
    try:
        registry = Registry.load()
        old, new = registry.get(algorithm, from_version), registry.get(algorithm, to_version)
    except UnknownAlgorithm as exc:
        versions = sorted(d.version for d in registry if d.id == algorithm)
        known = (f"{algorithm} has versions {', '.join(map(str, versions))}" if versions
                 else f"known algorithms: {', '.join(registry.ids())}")
        typer.echo(f"{exc.args[0]} ({known})", err=True)
        raise typer.Exit(2)
    except DefinitionError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2)
    diff = compare(old, new)
    if as_json:
        typer.echo(json.dumps(diff.as_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(render_text(diff, lang), nl=False)
