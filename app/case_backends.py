"""Where the case commands of the command line act: the local store as the trusted operator
(`Local`), or a running API as a token's body (`Remote`); both answer in the API's JSON shapes."""
from __future__ import annotations

from typing import Any, Callable, Optional

import typer
from pydantic import TypeAdapter

from states.access import operator
from states.commands import Fire, Launch
from states.errors import RuleViolation
from states.handling import Handler
from states.queries import history
from states.store import open_engine
from states.tokens import TokenError

from app.client import ApiError, Client
from app.presenters import case_detail, case_link, inbox, list_cases


def as_api(model_name: str, value: Any) -> Any:
    """A local result in the exact JSON shape the API gives (through the same response model)."""
    # Imported here, not at the top: app.api loads FastAPI and every route (~0.9 s), which every
    # `qorgau` command would pay at start-up; only the local backend's reads need the models.
    from app.api import models
    model = getattr(models, model_name)
    if isinstance(value, list):
        return TypeAdapter(list[model]).dump_python(TypeAdapter(list[model]).validate_python(value), mode="json")
    return model.model_validate(value).model_dump(mode="json")


class Local:
    """The local store, as the operator (trusted): `actor` names the acting body."""

    def __init__(self):
        self.engine = open_engine()
        self.directory = self.engine.svc.directory
        self.commands = Handler(self.engine)

    def _operator(self, body_id: Optional[str], option: str):
        return operator(self.directory.get(self._body(body_id, option)))

    def _body(self, body_id: Optional[str], option: str) -> str:
        if not body_id:
            raise typer.BadParameter("name the acting body (local mode trusts the operator), or use --api and "
                                     "--token to act as a token's body", param_hint=option)
        if self.directory.find(body_id) is None:
            raise typer.BadParameter(f"unknown body {body_id!r}; use a directory id such as kz-75.police",
                                     param_hint=option)
        return body_id

    def launch(self, algorithm, region, data, algorithm_version, actor) -> dict:
        r = self.commands.handle(Launch(algorithm, region, data, algorithm_version), self._operator(actor, "--actor"))
        return as_api("Outcome", {"ref": r.ref, "state": r.state, "version": r.version, "outcome": r.outcome,
                                  "spawned": list(r.spawned), "link": case_link(None, r.ref)})

    def fire(self, ref, trigger, data, version, actor) -> dict:
        r = self.commands.handle(Fire(ref, trigger, data, version), self._operator(actor, "--actor"))
        return as_api("Outcome", {"ref": r.ref, "state": r.state, "version": r.version, "outcome": r.outcome,
                                  "spawned": list(r.spawned), "link": case_link(None, r.ref)})

    def inbox(self, body, overdue, limit, offset) -> dict:
        body = self._body(body, "--body")
        with self.engine.reader() as conn:
            return as_api("Inbox", inbox(conn, body, self.engine.registry, self.directory, overdue_only=overdue,
                                         limit=limit, offset=offset))

    def cases(self, **filters) -> dict:
        with self.engine.reader() as conn:
            return as_api("CasePage", list_cases(conn, self.engine.registry, **filters))

    def case(self, ref) -> dict:
        with self.engine.reader() as conn:
            return as_api("CaseDetail", case_detail(conn, ref, self.engine.registry, self.directory,
                                                    catalogue=self.engine.svc.catalogue))

    def history(self, ref) -> dict:
        with self.engine.reader() as conn:
            return as_api("History", history(conn, ref))


class Remote:
    """A running API, as the token's body (`--actor`/`--body` are not needed and are ignored)."""

    def __init__(self, url: str, token: Optional[str]):
        if not token:
            raise typer.BadParameter("--api needs --token (or QORGAU_TOKEN)", param_hint="--token")
        self.api = Client(url, token)

    def launch(self, algorithm, region, data, algorithm_version, actor) -> dict:
        return self.api.launch(algorithm, region, data, algorithm_version)

    def fire(self, ref, trigger, data, version, actor) -> dict:
        if version is None:  # the API always checks the version: fire against the one just read
            version = self.api.case(ref)["version"]
        return self.api.fire(ref, trigger, data, version=version)

    def inbox(self, body, overdue, limit, offset) -> dict:
        return self.api.inbox(overdue=overdue, limit=limit, offset=offset)

    def cases(self, **filters) -> dict:
        return self.api.cases(**filters)

    def case(self, ref) -> dict:
        return self.api.case(ref)

    def history(self, ref) -> dict:
        return self.api.history(ref)


def backend_for(api: Optional[str], token: Optional[str]):
    return Remote(api, token) if api else Local()


def run(action: Callable[[], Any]) -> Any:
    """Run an action; a rejection prints `error: CODE: message` and exits 1."""
    try:
        return action()
    except (RuleViolation, ApiError) as exc:
        field = f" (field: {exc.field})" if getattr(exc, "field", None) else ""
        typer.echo(f"error: {exc.code}: {exc.message}{field}", err=True)
        raise typer.Exit(1)
    except TokenError as exc:
        typer.echo(f"error: {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1)
