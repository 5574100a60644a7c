"""`qorgau person ...`: the people who act for bodies, on the local store as the trusted operator.

    qorgau person create --body kz-75.school-1 --role agency --name "А. Тестова" --position psychologist --account aigul
    qorgau person list [--body kz-75.school-1] [--json]
    qorgau person show p_0123456789abcdef      # sessions and what the person did
    qorgau person deactivate p_0123456789abcdef  # sessions end at once
    qorgau person erase p_0123456789abcdef       # the name goes, the pseudonym stays in the histories
"""
from __future__ import annotations

import json
from typing import Optional

import typer

from states.access import OPERATOR
from states.commands import CreatePerson, DeactivatePerson, ErasePerson
from states.errors import RuleViolation
from states.handling import Handler
from states.persons import Person, activity_of, get_person, list_persons, sessions_of
from states.clock import iso
from states.store import open_engine

from app.audit_cli import local_minute

person_app = typer.Typer(help="People who act for a body (signing in through OpenID Connect): create, list, "
                              "show, deactivate, erase.", no_args_is_help=True)


def _send(command):
    engine = open_engine()
    try:
        return Handler(engine).handle(command, OPERATOR)
    except RuleViolation as exc:
        field = f" (field: {exc.field})" if exc.field else ""
        typer.echo(f"error: {exc.code}: {exc.message}{field}", err=True)
        raise typer.Exit(1)


def _line(p: Person) -> str:
    status = "active" if p.active else (f"erased {p.erased_at:%Y-%m-%d}" if p.erased_at
                                        else f"deactivated {p.deactivated_at:%Y-%m-%d}")
    return (f"  {p.id:<18} {p.role:<11} {p.body_id:<32} {status:<22} {p.shown_name}"
            + (f", {p.position}" if p.position else ""))


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=lambda v: iso(v) if hasattr(v, "tzinfo") else str(v))


def _dict(p: Person) -> dict:
    return {k: getattr(p, k) for k in ("id", "body_id", "role", "position", "name", "source", "active",
                                       "created_at", "deactivated_at", "erased_at", "last_sign_in_at")}


@person_app.command("create")
def create(body: str = typer.Option(..., "--body", help="The body the person acts for, e.g. kz-75.school-1."),
           role: str = typer.Option(..., "--role", help="coordinator, agency, auditor or admin."),
           name: str = typer.Option(..., "--name", help="The person's name (kept only in the persons table)."),
           position: Optional[str] = typer.Option(None, "--position", help="e.g. psychologist."),
           account: Optional[str] = typer.Option(None, "--account", help="The user name they sign in with at the "
                                                                          "identity provider (kept hashed).")) -> None:
    """Create a person (an administrator's act)."""
    person = _send(CreatePerson(body, role, name, position, account))
    typer.echo(f"created {person.id}: {person.shown_name}, {person.role} of {person.body_id}")


@person_app.command("list")
def list_command(body: Optional[str] = typer.Option(None, "--body", help="Only the persons of this body."),
                 as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every person (or a body's), active or not."""
    with open_engine().reader() as conn:
        persons = list_persons(conn, body_id=body)
    if as_json:
        typer.echo(_dumps([_dict(p) for p in persons]))
        return
    for p in persons:
        typer.echo(_line(p))
    typer.echo(f"{len(persons)} persons")


@person_app.command("show")
def show(person_id: str = typer.Argument(..., help="The person's id (p_...)."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """A person: their live sessions and their events across cases (newest first)."""
    with open_engine().reader() as conn:
        person = get_person(conn, person_id)
        if person is None:
            typer.echo(f"error: invalid_data: no person {person_id!r}", err=True)
            raise typer.Exit(1)
        sessions, events = sessions_of(conn, person_id), activity_of(conn, person_id)
    if as_json:
        typer.echo(_dumps({"person": _dict(person), "sessions": sessions, "events": events}))
        return
    typer.echo(_line(person).strip())
    typer.echo(f"  sessions ({len(sessions)}):")
    for s in sessions:
        typer.echo(f"    since {local_minute_dt(s['created_at'])}, ends {local_minute_dt(s['expires_at'])}")
    typer.echo(f"  events ({len(events)}):")
    for e in events:
        typer.echo(f"    {local_minute_dt(e['at'])}  {e['ref']:<14} {e['seq']:>4} {e['trigger']:<22} "
                   f"{e['from_state'] or '-'} → {e['to_state']}  (as {e['actor']})")


def local_minute_dt(value) -> str:
    return local_minute(iso(value))


@person_app.command("deactivate")
def deactivate(person_id: str = typer.Argument(..., help="The person's id (p_...).")) -> None:
    """The person may no longer sign in; every session of theirs ends now."""
    person = _send(DeactivatePerson(person_id))
    typer.echo(f"deactivated {person.id} ({person.shown_name}); their sessions have ended")


@person_app.command("erase")
def erase(person_id: str = typer.Argument(..., help="The person's id (p_...).")) -> None:
    """Erase the person's name, position and provider account; histories keep the pseudonym."""
    person = _send(ErasePerson(person_id))
    typer.echo(f"erased {person.id}: the histories now show only this id")
