"""`qorgau docs`: write docs/algorithms/, or with --check fail when it is stale."""
from __future__ import annotations

import typer

from algorithms.loader import DefinitionError

from app.algorithm_docs.writer import DOCS_DIR, shipped_registry, shown_path, stale_with_reasons, write_docs


def docs_command(check: bool = typer.Option(False, "--check", help="Fail if docs/algorithms is stale instead of writing it.")) -> None:
    """Generate the algorithm reference pages into docs/algorithms/ (from the definitions only).

    With --check nothing is written; exit status 1 lists the stale pages.

    Example: qorgau docs --check
    """
    try:
        registry = shipped_registry()
        stale = stale_with_reasons(DOCS_DIR, registry)
    except DefinitionError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2)
    shown = shown_path(DOCS_DIR)
    if check:
        if stale:
            typer.echo(f"{shown} is stale; run `qorgau docs` and commit the result:", err=True)
            for name, why in stale:
                typer.echo(f"  {name} ({why})", err=True)
            raise typer.Exit(1)
        typer.echo(f"{shown} is current")
        return
    written = write_docs(DOCS_DIR, registry)
    for name, why in stale:
        typer.echo(f"{'removed' if why == 'no longer generated' else 'wrote'} {shown}/{name}")
    typer.echo(f"{shown}: {len(written)} pages, {len(stale)} changed")
