"""Auditor commands: replay a case at a moment, verify histories, anchors."""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from states.calendar import KZ_TZ


def parse_moment(text: str, option: str = "--at") -> datetime:
    """An ISO time; without an offset it is read as Kazakhstan time."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO time such as 2026-04-09T18:00 (Kazakhstan time) "
                                 f"or 2026-04-09T13:00:00Z", param_hint=option)
    return value.replace(tzinfo=KZ_TZ) if value.tzinfo is None else value


def local_minute(iso_text: str) -> str:
    from states.clock import parse_iso
    return parse_iso(iso_text).astimezone(KZ_TZ).strftime("%Y-%m-%d %H:%M")


def replay_command(ref: str = typer.Argument(..., help="Case reference, e.g. VR-75-000001."),
                   at: Optional[str] = typer.Option(None, "--at", help="The moment (ISO; Kazakhstan time if no offset). Default: now."),
                   as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show a case as it stood at a moment, from its history alone.

    Dues and bindings come from what the history recorded, never from today's calendar or directory.

    Example: qorgau replay VR-75-000001 --at 2026-04-10T12:00
    """
    from sqlalchemy import select

    from states import tables as T
    from states.clock import iso, utcnow
    from states.history import event_documents
    from states.replay import replay
    from states.store import open_engine

    moment = parse_moment(at) if at else utcnow()
    engine = open_engine()
    with engine.reader() as conn:
        case = conn.execute(select(T.cases).where(T.cases.c.ref == ref)).first()
        if case is None:
            typer.echo(f"no case {ref}", err=True)
            raise typer.Exit(1)
        rows = conn.execute(select(T.events).where(T.events.c.case_id == case.id).order_by(T.events.c.seq)).all()
    docs = event_documents(rows, case.ref, case.algorithm, case.definition_hash)
    shown = [d for d in docs if d["at"] <= iso(moment)]
    if not shown:
        typer.echo(f"{ref} did not exist yet at {moment.astimezone(KZ_TZ):%Y-%m-%d %H:%M} (launched {local_minute(docs[0]['at'])})", err=True)
        raise typer.Exit(1)
    state = replay(docs, at=moment)
    now_iso = iso(moment)
    open_tasks = [dict(t, overdue=t["due"] < now_iso) for t in state.open_tasks()]
    out = {"ref": ref, "at": moment.astimezone(KZ_TZ).isoformat(), "algorithm": case.algorithm,
           "algorithm_version": state.algorithm_version, "state": state.state, "outcome": state.outcome,
           "critical": state.critical, "region": state.region, "bindings": state.bindings,
           "escalation_level": max((t.get("level", 0) for t in open_tasks), default=0),
           "open_tasks": [{"key": t["key"], "kind": t["kind"], "body": t["body"], "due": t["due"],
                           "overdue": t["overdue"], "level": t.get("level", 0)} for t in open_tasks],
           "events": [{"seq": d["seq"], "at": d["at"], "actor": d["actor"], "trigger": d["trigger"],
                       "from": d["from"], "to": d["to"]} for d in shown]}
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    typer.echo(f"{ref} as of {moment.astimezone(KZ_TZ):%Y-%m-%d %H:%M} (Kazakhstan time), "
               f"{case.algorithm} version {state.algorithm_version}")
    typer.echo(f"  state: {state.state}" + (f"  outcome: {state.outcome}" if state.outcome else "")
               + ("  CRITICAL" if state.critical else "") + f"  region: {state.region}"
               + f"  escalation level: {out['escalation_level']}")
    typer.echo("  bound bodies: " + ", ".join(f"{k}={v}" for k, v in state.bindings.items()))
    typer.echo(f"  open tasks ({len(open_tasks)}):")
    for t in out["open_tasks"]:
        typer.echo(f"    {t['key']:>4} {t['kind']:<26} {t['body']:<32} due {local_minute(t['due'])}"
                   + ("  OVERDUE" if t["overdue"] else "") + (f"  level {t['level']}" if t["level"] else ""))
    typer.echo(f"  events ({len(shown)} of {len(docs)}):")
    for d in out["events"]:
        typer.echo(f"    {d['seq']:>4} {local_minute(d['at'])}  {d['actor']:<28} {d['trigger']:<22} {d['from'] or '-'} → {d['to']}")


def verify_command(refs: list[str] = typer.Argument(None, help="Case references (or use --all)."),
                   all_cases: bool = typer.Option(False, "--all", help="Verify every case in the store."),
                   workers: int = typer.Option(os.cpu_count() or 1, help="Processes checking cases in parallel (--all)."),
                   anchors: Optional[Path] = typer.Option(None, "--anchors", help="A folder (or file) of the "
                                                          "witnesses' anchor copies to check against the store."),
                   as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Re-execute histories and check them: hash chain, legal transitions, stored case = replay,
    escalation steps taken on time, and every published anchor. Exit 1 if any case fails.
    With --anchors PATH: check the witnesses' copies of the anchors against the store and name the
    cases whose heads no longer match (also with --all: both).

    Examples: qorgau verify --all;  qorgau verify --anchors /mnt/witness/anchors
    """
    from states.store import open_engine
    from states.verify import verify_all
    if anchors is not None:
        from app.anchor_cli import verify_witnesses
        witnessed_ok = verify_witnesses(anchors, as_json)
        if not refs and not all_cases:
            raise typer.Exit(0 if witnessed_ok else 1)
        if not witnessed_ok:
            raise typer.Exit(1)
    if not refs and not all_cases:
        typer.echo("name case references or pass --all", err=True)
        raise typer.Exit(2)
    engine = open_engine()
    progress = progress_bar() if (all_cases and not as_json and sys.stderr.isatty()) else None
    with engine.reader() as conn:
        report = verify_all(conn, engine.registry, None if all_cases else list(refs), progress=progress,
                            workers=workers)
    if as_json:
        typer.echo(json.dumps({"ok": report.ok, "cases": report.cases, "events": report.events,
                               "failures": [{"ref": f.ref, "first_bad_event": f.first_bad_seq, "problems": f.problems}
                                            for f in report.failures],
                               "anchor_problems": report.anchor_problems}, ensure_ascii=False, indent=2))
    else:
        for f in report.failures:
            where = f" (first bad event: {f.first_bad_seq})" if f.first_bad_seq else ""
            typer.echo(f"✗ {f.ref}{where}: {f.first_divergence}")
        for problem in report.anchor_problems:
            typer.echo(f"✗ {problem}")
        typer.echo(f"{report.cases} cases, {report.events} events: "
                   + ("all verify" if report.ok else f"{len(report.failures)} cases fail"
                      + (f", {len(report.anchor_problems)} anchor problems" if report.anchor_problems else "")))
    raise typer.Exit(0 if report.ok else 1)


def progress_bar(label: str = "verifying"):
    """A one-line progress bar on stderr: `label [####....] done/total cases`."""
    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} cases")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)
    app.command("verify")(verify_command)
    from app.anchor_cli import anchor_command, proof_command
    app.command("anchor")(anchor_command)
    app.command("proof")(proof_command)
