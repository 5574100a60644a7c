"""`qorgau migrate plan|apply`: move running cases to another version of their algorithm
(../shared/spec/migration.md), on the local store, as the trusted operator (or `--actor BODY`).

`plan` prints what would happen to each selected case and writes nothing; `apply` moves them, one
transaction per case, with a progress bar; it is safe to interrupt and run again.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any, Optional

import typer

from states.access import OPERATOR, operator
from states.commands import PlanMigration
from states.errors import RuleViolation
from states.handling import Handler
from states.migration import Selection, describe
from states.migration_runs import run_migration
from states.store import open_engine

from app.audit_cli import local_minute, progress_bar

migrate_app = typer.Typer(help="Move running cases to another version of their algorithm: `plan` shows what "
                               "changes case by case, `apply` moves them.", no_args_is_help=True)

AlgorithmArg = typer.Argument(..., help="Algorithm id, e.g. violence-report.")
ToOpt = typer.Option(..., "--to", help="The version to move to, e.g. 2.")
RegionOpt = typer.Option(None, "--region", help="Only cases of this region (ISO 3166-2:KZ, e.g. KZ-75).")
StateOpt = typer.Option(None, "--state", help="Only cases in this state.")
ActorOpt = typer.Option(None, "--actor", help="The body recorded as moving the cases (default: system).")


def _caller(engine, actor: str | None):
    if actor is None:
        return OPERATOR
    body = engine.svc.directory.find(actor)
    if body is None:
        raise typer.BadParameter(f"unknown body {actor!r}", param_hint="--actor")
    return operator(body)


def _fail(exc: RuleViolation) -> None:
    typer.echo(f"error: {exc.code}: {exc.message}", err=True)
    raise typer.Exit(1)


@migrate_app.command("plan")
def plan_command(algorithm: str = AlgorithmArg, to: int = ToOpt, region: Optional[str] = RegionOpt,
                 state: Optional[str] = StateOpt, actor: Optional[str] = ActorOpt,
                 as_json: bool = typer.Option(False, "--json", help="Print JSON."),
                 as_csv: bool = typer.Option(False, "--csv", help="Print CSV: one row per task change.")) -> None:
    """Show, case by case, what moving to version TO changes; write nothing.

    Example: qorgau migrate plan violence-report --to 2 --region KZ-75
    """
    engine = open_engine()
    try:
        _, plan = Handler(engine).handle(PlanMigration(algorithm, to, region, state), _caller(engine, actor))
    except RuleViolation as exc:
        _fail(exc)
    cases = [describe(p) for p, _ in plan.plans]
    if as_json:
        typer.echo(json.dumps({"selection": {"algorithm": algorithm, "to_version": to, "region": region,
                                             "state": state},
                               "note": plan.migration.note if plan.migration else None,
                               "counts": plan.counts(), "cases": cases}, ensure_ascii=False, indent=2))
        return
    if as_csv:
        typer.echo(plan_csv(cases), nl=False)
        return
    for line in plan_lines(plan, cases):
        typer.echo(line)


@migrate_app.command("apply")
def apply_command(algorithm: str = AlgorithmArg, to: int = ToOpt, region: Optional[str] = RegionOpt,
                  state: Optional[str] = StateOpt, actor: Optional[str] = ActorOpt) -> None:
    """Move the selected cases to version TO, one transaction each (safe to interrupt and rerun).

    Example: qorgau migrate apply violence-report --to 2 --region KZ-75
    """
    engine = open_engine()
    caller = _caller(engine, actor)
    handler = Handler(engine)
    progress = progress_bar("migrating") if sys.stderr.isatty() else None
    try:
        out = run_migration(lambda command: handler.handle(command, caller), Selection(algorithm, to, region, state),
                            progress=progress)
    except RuleViolation as exc:
        _fail(exc)
    for item in out.not_migratable:
        typer.echo(f"not migratable  {item['ref']}: {item['reason']}")
    for item in out.failed:
        typer.echo(f"failed          {item['ref']}: {item['reason']}")
    if out.run_id is None:
        typer.echo(f"no running {algorithm} case to move to version {to}" + (f" in {region}" if region else "")
                   + (f" in state {state}" if state else ""))
        raise typer.Exit(0)
    typer.echo(f"run {out.run_id}: {out.total} cases: {out.moved} moved, {out.skipped} skipped (already moved), "
               f"{len(out.not_migratable)} not migratable, {len(out.failed)} failed"
               + (f"; {out.replanned} planned again (fired since the plan)" if out.replanned else ""))
    raise typer.Exit(1 if out.failed else 0)


def _due(text: str) -> str:
    return local_minute(text)


def plan_lines(plan, cases: list[dict[str, Any]]) -> list[str]:
    counts = plan.counts()
    lines = []
    if plan.migration is not None:
        lines.append(f"{plan.selection.algorithm} {plan.selection.to_version - 1} → {plan.selection.to_version}: "
                     f"{plan.migration.note_text}")
    for case in cases:
        if "not_migratable" in case:
            continue
        lines.append(f"{case['ref']}  {case['state']} → {case['state_after']}")
        if case.get("data_defaults"):
            lines.append("   data       " + ", ".join(f"{k} = {v}" for k, v in case["data_defaults"].items()))
        for t in case["tasks_kept"]:
            lines.append(f"   kept       {t['key']:>4} {t['kind']:<26} {t['body']}, due {_due(t['due'])}")
        for t in case["tasks_moved"]:
            lines.append(f"   moved      {t['key']:>4} {t['kind']:<26} {t['from_body']} → {t['body']}, "
                         f"due {_due(t['due'])} (kept)")
        for key in case["tasks_cancelled"]:
            lines.append(f"   cancelled  {key:>4}")
        for t in case["tasks_opened"]:
            lines.append(f"   opened     {t['key']:>4} {t['kind']:<26} {t['body']}, due {_due(t['due'])}")
        for t in case["timers"]:
            lines.append(f"   timer      {t['name']} at {_due(t['at'])}")
    unmovable = [c for c in cases if "not_migratable" in c]
    if unmovable:
        lines.append(f"not migratable ({len(unmovable)}):")
        lines.extend(f"   {c['ref']}  ({c['state']}): {c['not_migratable']}" for c in unmovable)
    lines.append(f"{counts['cases']} cases: {counts['migratable']} would move, {counts['not_migratable']} not "
                 f"migratable; tasks kept {counts['tasks_kept']}, moved {counts['tasks_moved']}, cancelled "
                 f"{counts['tasks_cancelled']}, opened {counts['tasks_opened']}")
    return lines


CSV_COLUMNS = ["ref", "state", "state_after", "change", "task", "kind", "from_body", "body", "due", "reason"]


def plan_csv(cases: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for c in cases:
        base = {"ref": c["ref"], "state": c["state"], "state_after": c.get("state_after") or ""}
        if "not_migratable" in c:
            w.writerow({**base, "change": "not_migratable", "reason": c["not_migratable"]})
            continue
        for t in c["tasks_kept"]:
            w.writerow({**base, "change": "kept", "task": t["key"], "kind": t["kind"], "body": t["body"], "due": t["due"]})
        for t in c["tasks_moved"]:
            w.writerow({**base, "change": "moved", "task": t["key"], "kind": t["kind"], "from_body": t["from_body"],
                        "body": t["body"], "due": t["due"]})
        for key in c["tasks_cancelled"]:
            w.writerow({**base, "change": "cancelled", "task": key})
        for t in c["tasks_opened"]:
            w.writerow({**base, "change": "opened", "task": t["key"], "kind": t["kind"], "body": t["body"],
                        "due": t["due"]})
        for t in c["timers"]:
            w.writerow({**base, "change": "timer", "kind": t["name"], "due": t["at"]})
        if not (c["tasks_kept"] or c["tasks_moved"] or c["tasks_cancelled"] or c["tasks_opened"] or c["timers"]):
            w.writerow({**base, "change": "state_only"})
    return out.getvalue()

