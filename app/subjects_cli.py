"""Personal data from the command line: read it (logged), see who read it, erase it.

    qorgau subjects personal VR-75-000001 --actor kz-75.police --purpose interview --note "before the hearing"
    qorgau subjects access-log VR-75-000001
    qorgau subjects erase VR-75-000001 --actor ministry_education          # a case ref or a subject id
    qorgau subjects erase 5f0c... --actor ministry_education --force       # court order: no retention

Each opens the configured store (QORGAU_DATABASE_URL) and the master key (QORGAU_MASTER_KEY or
QORGAU_MASTER_KEY_FILE; see states/personal_data.py). Errors go to stderr with exit status 2.
The root CLI may register `subjects_app` (`app.add_typer(subjects_app, name="subjects")`) and/or
the plain functions as top-level commands (`app.command("erase")(erase_command)`).
"""
from __future__ import annotations

import json
from typing import Optional

import typer

subjects_app = typer.Typer(help="The child's personal data: read it (logged), show the access log, erase it.",
                           no_args_is_help=True)


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def _engine():
    from states.store import open_engine
    return open_engine()


def _operator(engine, actor: str):
    """The local operator acting as body `actor` (trusted: only the engine's own rules apply)."""
    from states.access import operator
    body = engine.svc.directory.find(actor)
    if body is None:
        _fail(f"--actor: unknown body {actor!r}; name the body acting, as in the directory "
              "(e.g. kz-75.police or ministry_education)")
    return operator(body)


def _commands(engine):
    from states.handling import Handler
    return Handler(engine)


def erase_command(
        subject: str = typer.Argument(..., help="Subject id, or the reference of one of its cases."),
        actor: str = typer.Option(..., "--actor", help="The body ordering the erasure (directory id)."),
        force: bool = typer.Option(False, "--force", help="Erase now, ignoring open cases and retention "
                                                          "(a court order); still logged."),
        retention_days: Optional[int] = typer.Option(None, "--retention-days", min=0,
                                                     help="Override QORGAU_RETENTION_DAYS (default 1826)."),
        reason: Optional[str] = typer.Option(None, "--reason", help="A note recorded in the access log, e.g. the "
                                                                    "order's number (no IIN, no name)."),
) -> None:
    """Erase a child's personal data for good: destroy its data key and overwrite the payload.

    Refused while one of the subject's cases is open or within the retention period after the
    last one closed, unless --force. Histories are untouched and still verify.
    """
    from states.commands import ErasePersonalData
    from states.errors import RuleViolation
    from states.personal_data import PersonalDataError
    engine = _engine()
    try:
        erased = _commands(engine).handle(ErasePersonalData(subject, force, retention_days, reason),
                                          _operator(engine, actor))
    except PersonalDataError as exc:
        if exc.code == "unknown_subject":
            _fail(f"no subject or case {subject!r}")
        _fail(exc.message)
    except (ValueError, RuleViolation) as exc:
        _fail(str(exc))
    subject_id, refs = erased.subject_id, erased.refs
    if not erased.scrubbed:
        typer.echo("warning: a reader held the store open; run `qorgau erase` again later to empty the WAL "
                   "of older copies", err=True)
    typer.echo(f"erased subject {subject_id}" + (f" (cases: {', '.join(refs)})" if refs else "")
               + "; its personal data can no longer be read")


def personal_command(
        case_ref: str = typer.Argument(..., help="Case reference, e.g. VR-75-000001."),
        actor: str = typer.Option(..., "--actor", help="The body reading (directory id); recorded."),
        purpose: str = typer.Option(..., "--purpose", help="Why the data is needed, recorded: one of "
                                    "assessment, interview, home_visit, medical_examination, psychological_support, "
                                    "safety_plan, social_support, school_support, legal_proceedings, guardianship, "
                                    "audit."),
        note: Optional[str] = typer.Option(None, "--note", help="A short note beside the purpose (no IIN, no name)."),
        as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Print the case's child's personal data; the read is recorded in the case's access log."""
    from states.errors import RuleViolation
    from states.commands import ReadPersonalData
    from states.personal_data import PersonalDataError
    engine = _engine()
    try:
        data = _commands(engine).handle(ReadPersonalData(case_ref, purpose, note), _operator(engine, actor))
    except PersonalDataError as exc:
        _fail(exc.message)
    except RuleViolation as exc:
        _fail(exc.message)
    except ValueError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key in sorted(data):
        typer.echo(f"{key}: {data[key]}")


def access_log_command(
        case_ref: str = typer.Argument(..., help="Case reference, e.g. VR-75-000001."),
        as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Who read the case's personal data, when and why (Kazakhstan time), and its erasure."""
    from sqlalchemy import select

    from states import tables as T
    from states.calendar import KZ_TZ
    from states.personal_data import access_log_for_case
    engine = _engine()
    with engine.reader() as conn:
        if conn.execute(select(T.cases.c.id).where(T.cases.c.ref == case_ref)).first() is None:
            _fail(f"no case with reference {case_ref!r}")
        rows = access_log_for_case(conn, case_ref)
    if as_json:
        typer.echo(json.dumps([{**r, "at": r["at"].isoformat()} for r in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo(f"{case_ref}: no access to personal data recorded")
        return
    for r in rows:
        typer.echo(f"{r['at'].astimezone(KZ_TZ):%Y-%m-%d %H:%M:%S}  {r['outcome']:<8} {r['actor']:<32} "
                   f"{r['purpose']}" + (f" ({r['note']})" if r["note"] else "")
                   + ("" if r["case_ref"] == case_ref else "  (subject-wide)"))


subjects_app.command("erase")(erase_command)
subjects_app.command("personal")(personal_command)
subjects_app.command("access-log")(access_log_command)
