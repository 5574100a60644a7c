"""The `qorgau` command line."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Qorgau: interagency child-protection response algorithms as versioned state machines.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


def _registry():
    from algorithms.loader import DefinitionError
    from algorithms.registry import Registry
    try:
        return Registry.load()
    except DefinitionError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2)


@app.command()
def simulate(files: list[Path] = typer.Argument(..., help="Scenario YAML files."),
             as_json: bool = typer.Option(False, "--json", help="Print a machine-readable report.")) -> None:
    """Run scenario files on a virtual clock and check their expectations.

    Exit status: 0 all hold, 1 an expectation failed, 2 a file is malformed.

    Example: qorgau simulate tests/scenarios/*.yaml
    """
    from states.simulation import ScenarioError, run_scenario
    from states.store import open_engine

    registry = _registry()
    from states.calendar import Calendar
    from states.directory import Directory
    directory, calendar = Directory.load(), Calendar.load()

    from states.personal_data import MasterKey
    ephemeral = MasterKey.generate()  # simulated children's data lives only as long as the run

    def factory():
        return open_engine("sqlite://", registry=registry, directory=directory, calendar=calendar,
                           master_key=ephemeral)

    results, malformed = [], []
    for f in files:
        try:
            results.append(run_scenario(f, factory))
        except ScenarioError as exc:
            malformed.append(str(exc))
            if not as_json:
                typer.echo(f"✗ {exc}", err=True)
            continue
        if not as_json:
            _print_result(results[-1])
    failed = [r for r in results if not r.ok]
    if as_json:
        typer.echo(json.dumps({"passed": len(results) - len(failed), "failed": len(failed),
                               "malformed": malformed, "files": [_result_json(r) for r in results]},
                              ensure_ascii=False, indent=2))
    else:
        typer.echo(f"\n{len(results) - len(failed)} passed, {len(failed)} failed"
                   + (f", {len(malformed)} malformed" if malformed else ""))
    raise typer.Exit(2 if malformed else 1 if failed else 0)


def _print_result(result) -> None:
    from states.calendar import KZ_TZ
    mark = "✓" if result.ok else "✗"
    typer.echo(f"{mark} {result.file}: {result.name}" + (f" [{result.ref}]" if result.ref else ""))
    if result.error:
        typer.echo(f"    ✗ {result.error}")
    for step in result.steps:
        typer.echo(f"  {step.at.astimezone(KZ_TZ):%Y-%m-%d %H:%M}  {step.label}")
        for check in step.checks:
            detail = f"  ({check.detail})" if not check.ok and check.detail else ""
            typer.echo(f"      {'✓' if check.ok else '✗'} {check.text}{detail}")


def _result_json(result) -> dict:
    return {"file": result.file, "name": result.name, "ref": result.ref, "ok": result.ok, "error": result.error,
            "steps": [{"at": s.at.isoformat(), "label": s.label,
                       "checks": [{"text": c.text, "ok": c.ok, "detail": c.detail} for c in s.checks]}
                      for s in result.steps]}


@app.command()
def diagram(algorithm: str = typer.Argument(..., help="Algorithm id, e.g. violence-report."),
            version: Optional[int] = typer.Option(None, help="Version (default: latest)."),
            lang: str = typer.Option("en", help="Language of state titles: kk, ru or en.")) -> None:
    """Print the algorithm's Mermaid state diagram.

    Example: qorgau diagram violence-report --lang ru
    """
    from algorithms.registry import UnknownAlgorithm
    from states.machines import mermaid
    try:
        d = _registry().get(algorithm, version)
    except UnknownAlgorithm as exc:
        typer.echo(str(exc.args[0]), err=True)
        raise typer.Exit(2)
    if lang not in ("kk", "ru", "en"):
        typer.echo("--lang must be kk, ru or en", err=True)
        raise typer.Exit(2)
    typer.echo(mermaid(d, lang))


@app.command()
def sweep(batch_size: int = typer.Option(500, help="Steps per transaction.")) -> None:
    """Take every escalation step and timer due by now, once (the deadline flow runs this on a schedule)."""
    from states.store import open_engine
    from states.sweep import sweep as run_sweep
    report = run_sweep(open_engine(), batch_size=batch_size)
    typer.echo(f"processed {report.processed} steps {report.by_kind}" + (f", {len(report.failed)} failed" if report.failed else ""))


def _register_serve() -> None:
    from app.serve_cli import register as register_serve
    register_serve(app)


_register_serve()


def _register_cases() -> None:
    from app.case_cli import register as register_cases
    register_cases(app)


_register_cases()


def _register_audit() -> None:
    from app.audit_cli import register
    from app.subjects_cli import access_log_command, erase_command, personal_command
    register(app)
    app.command("erase")(erase_command)
    app.command("personal")(personal_command)
    app.command("access-log")(access_log_command)


_register_audit()


def _register_docs() -> None:
    from app.algorithm_docs import docs_command
    from app.algorithm_docs.diff_command import diff_command
    app.command("docs", help="Write docs/algorithms/ from the definitions (--check: fail if stale).")(docs_command)
    app.command("diff", help="What changed between two versions of an algorithm (--lang kk|ru|en, --json).")(diff_command)


_register_docs()


def _register_report() -> None:
    from app.report_cli import report_app
    app.add_typer(report_app, name="report", help="Reports: compliance per body and task kind.")


_register_report()


def _register_plan() -> None:
    try:
        from app.plan_cli import plan_app
    except ImportError:  # pragma: no cover
        return
    app.add_typer(plan_app, name="plan", help="The plan's measures (Decree No. 748), by executor and section.")


_register_plan()


def _register_persons() -> None:
    from app.persons_cli import person_app
    app.add_typer(person_app, name="person", help="People who act for a body: create, list, show, deactivate, erase.")


_register_persons()


def _register_migrate() -> None:
    from app.migrate_cli import migrate_app
    app.add_typer(migrate_app, name="migrate", help="Move running cases to another version of their algorithm.")


_register_migrate()


def main() -> None:
    from algorithms.loader import DefinitionError
    from states.errors import DefinitionChanged
    try:
        app()
    except (DefinitionChanged, DefinitionError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
