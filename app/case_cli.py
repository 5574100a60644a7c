"""Case commands of the `qorgau` command line: launch, fire, inbox, cases, show, history, and API
tokens (`qorgau token create/list/revoke`).

Each works on the local store (QORGAU_DATABASE_URL) or, with `--api URL --token T` (or the settings
QORGAU_API_URL and QORGAU_TOKEN), against a running API as the token's body. Locally the operator
is trusted: `--actor` names the acting body and every case is readable. Read commands take
`--json` (the API's JSON, the same in both modes). Errors print `error: CODE: message` and exit 1;
usage errors exit 2.

The root CLI registers these with `register(app)`.
"""
from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Optional

import typer
import yaml

from states.access import OPERATOR
from states.calendar import KZ_TZ
from states.clock import iso
from states.commands import CreateToken, RevokeToken
from states.handling import Handler
from states.store import open_engine
from states.tokens import ROLES, list_tokens

from app.case_backends import Remote, backend_for, run
from app.presenters import iter_pages

API_HELP = "Base URL of a running Qorgau API (env QORGAU_API_URL); without it, the local store is used."
TOKEN_HELP = "API token (env QORGAU_TOKEN); the API acts as the token's body."
ApiOpt = typer.Option(None, "--api", envvar="QORGAU_API_URL", help=API_HELP, show_default=False)
TokenOpt = typer.Option(None, "--token", envvar="QORGAU_TOKEN", help=TOKEN_HELP, show_default=False)
JsonOpt = typer.Option(False, "--json", help="Print the API's JSON.")

token_app = typer.Typer(help="API tokens: each bound to one body and one role (coordinator, agency, auditor, "
                             "admin); the secret is shown once and stored hashed.", no_args_is_help=True)


# ------------------------------------------------------------------------------------------ helpers

def parse_data(text: Optional[str], option: str = "--data") -> dict:
    """`--data '{"k": 1}'` or `--data @file.json` (or a .yaml file): a mapping of field to value."""
    if not text:
        return {}
    source = text
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {path}: {exc.strerror or exc}", param_hint=option) from None
    try:
        if text.startswith("@") and text.endswith((".yaml", ".yml")):
            value = _plain(yaml.safe_load(source))
        else:
            value = json.loads(source)
    except ValueError as exc:
        raise typer.BadParameter(f"not valid JSON: {exc}", param_hint=option) from None
    if not isinstance(value, dict):
        raise typer.BadParameter('must be an object, e.g. {"perpetrator": "peer"}', param_hint=option)
    return value


def _plain(value):
    """YAML reads `detected_at: 2026-04-06T09:00:00+05:00` and `birth_date: 2014-03-15` as date-times
    and dates; the engine and the API take them as ISO text (a date-time keeps its offset, and one
    written without an offset stays without, to be refused as such)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _when(iso_text: Optional[str]) -> str:
    """An ISO instant as 'YYYY-MM-DD HH:MM' Kazakhstan time."""
    if not iso_text:
        return "-"
    return datetime.fromisoformat(iso_text.replace("Z", "+00:00")).astimezone(KZ_TZ).strftime("%Y-%m-%d %H:%M")


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _progress(label: str) -> Callable[[int, int], None]:
    """A one-line progress counter on stderr (only on a terminal)."""
    def show(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{label}: {done}/{total}" + ("\n" if done >= total else ""))
            sys.stderr.flush()
    return show


def _all_pages(fetch: Callable[[int, int], dict], label: str, limit: int, every: bool) -> dict:
    """One page, or (`every`) every page with a progress counter, merged."""
    if not every:
        return fetch(limit, 0)
    merged: dict = {}
    show = _progress(label)
    for page in iter_pages(fetch, page_size=200):
        if not merged:
            merged = dict(page, items=list(page["items"]))
        else:
            merged["items"].extend(page["items"])
        show(len(merged["items"]), page["total"])
    merged["limit"], merged["offset"] = len(merged.get("items", [])), 0
    return merged


def _fields_hint(action: dict) -> str:
    parts = []
    for f in action["fields"]:
        text = f["name"] + ("*" if f["required"] else "")
        if f.get("choices"):
            text += "=" + "|".join(f["choices"])
        parts.append(text)
    prefill = ", ".join(f"{k}={v}" for k, v in action.get("prefill", {}).items())
    return f"{action['trigger']}(" + ", ".join(parts) + ")" + (f" with {prefill}" if prefill else "")


# ------------------------------------------------------------------------------------------ commands

def launch_command(
        algorithm: str = typer.Argument(..., help="Algorithm id: violence-report, suicide-response, social-patronage, "
                                                  "plan-reporting."),
        region: str = typer.Option(..., "--region", "-r", help="ISO 3166-2:KZ code, e.g. KZ-75."),
        data: Optional[str] = typer.Option(None, "--data", "-d", help="Launch data: JSON, or @file (.json/.yaml)."),
        actor: Optional[str] = typer.Option(None, "--actor", help="Local mode: the launching body (trusted)."),
        algorithm_version: Optional[int] = typer.Option(None, "--algorithm-version", help="Default: the latest."),
        as_json: bool = JsonOpt, api: Optional[str] = ApiOpt, token: Optional[str] = TokenOpt) -> None:
    """Launch a case; prints its reference, first state and version.

    Examples:

        qorgau launch violence-report --region KZ-75 --actor kz-75.school-1 \\
            --data '{"form": "bullying", "channel": "school", "summary": "name-calling in 5B",
                     "detected_at": "2026-04-06T09:00:00+05:00", "reporter": "teacher"}'

        qorgau launch violence-report -r KZ-75 --data @report.json --api http://localhost:8000 --token $T
    """
    payload = parse_data(data)
    backend = backend_for(api, token)
    out = run(lambda: backend.launch(algorithm, region, payload, algorithm_version, actor))
    if as_json:
        _print_json(out)
        return
    typer.echo(f"launched {out['ref']}: state {out['state']}, version {out['version']}")
    typer.echo(f"  {out['link']}")


def fire_command(
        ref: str = typer.Argument(..., help="Case reference, e.g. VR-75-000001."),
        trigger: str = typer.Argument(..., help="Trigger, e.g. assess (see `qorgau inbox` for what a task needs)."),
        data: Optional[str] = typer.Option(None, "--data", "-d", help="Trigger data: JSON, or @file (.json/.yaml)."),
        version: Optional[int] = typer.Option(None, "--version", "-v",
                                              help="The case version you read: refused with `conflict` if the case "
                                                   "moved since. Default: the current one."),
        actor: Optional[str] = typer.Option(None, "--actor", help="Local mode: the firing body (trusted)."),
        as_json: bool = JsonOpt, api: Optional[str] = ApiOpt, token: Optional[str] = TokenOpt) -> None:
    """Fire a trigger on a case; prints the new state and version.

    Examples:

        qorgau fire VR-75-000001 assess --actor kz-75.school-1 --version 1 \\
            --data '{"immediate_danger": false, "perpetrator": "peer"}'

        qorgau fire VR-75-000001 police_check_done --api $URL --token $T \\
            -d '{"outcome": "criminal_case", "register": "erdr", "registry_number": "261500031000123"}'
    """
    payload = parse_data(data)
    backend = backend_for(api, token)
    out = run(lambda: backend.fire(ref, trigger, payload, version, actor))
    if as_json:
        _print_json(out)
        return
    typer.echo(f"{out['ref']}: {trigger} → {out['state']}" + (f" (outcome: {out['outcome']})" if out["outcome"] else "")
               + f", version {out['version']}")
    for spawned in out.get("spawned", []):
        typer.echo(f"  spawned {spawned}")


def inbox_command(
        body: Optional[str] = typer.Option(None, "--body", "-b", help="Local mode: whose inbox (a body id)."),
        overdue: bool = typer.Option(False, "--overdue", help="Only tasks past their due."),
        limit: int = typer.Option(50, "--limit", min=1, max=500, help="Tasks per page."),
        every: bool = typer.Option(False, "--all", help="Every open task (all pages, with progress)."),
        as_json: bool = JsonOpt, api: Optional[str] = ApiOpt, token: Optional[str] = TokenOpt) -> None:
    """A body's open tasks, overdue first then soonest due, with the trigger that completes each.

    Examples:

        qorgau inbox --body kz-75.school-1

        qorgau inbox --overdue --json --api http://localhost:8000 --token $T
    """
    backend = backend_for(api, token)
    out = run(lambda: _all_pages(lambda n, o: backend.inbox(body, overdue, n, o), "tasks", limit, every))
    if as_json:
        _print_json(out)
        return
    typer.echo(f"{out['body_id']}: {out['total']} open tasks, {out['overdue']} overdue")
    for item in out["items"]:
        c, t = item["case"], item["task"]
        when = f"LATE {t['late_by']}" if t["overdue"] else f"in {t['time_left']}"
        typer.echo(f"  {c['ref']:<14} v{c['version']:<3} {t['kind']:<26} due {_when(t['due'])}  {when}"
                   + ("  CRITICAL" if c["critical"] else ""))
        for action in item["actions"]:
            typer.echo(f"      → {_fields_hint(action)}")
    if len(out["items"]) < out["total"]:
        typer.echo(f"  ... {out['total'] - len(out['items'])} more (--all)")


def cases_command(
        region: Optional[str] = typer.Option(None, "--region", "-r", help="ISO 3166-2:KZ code, e.g. KZ-75."),
        algorithm: Optional[str] = typer.Option(None, "--algorithm", "-a", help="e.g. violence-report."),
        state: Optional[str] = typer.Option(None, "--state", help="e.g. bullying_review."),
        overdue: bool = typer.Option(False, "--overdue", help="Only cases with an open task past its due."),
        critical: bool = typer.Option(False, "--critical", help="Only cases flagged critical."),
        open_only: bool = typer.Option(False, "--open", help="Only cases not closed."),
        limit: int = typer.Option(50, "--limit", min=1, max=500, help="Cases per page."),
        every: bool = typer.Option(False, "--all", help="Every matching case (all pages, with progress)."),
        as_json: bool = JsonOpt, api: Optional[str] = ApiOpt, token: Optional[str] = TokenOpt) -> None:
    """Cases, most recently changed first (through the API: those the token may read).

    Examples:

        qorgau cases --region KZ-75 --overdue

        qorgau cases --critical --json --api http://localhost:8000 --token $T
    """
    backend = backend_for(api, token)
    filters = {"region": region, "algorithm": algorithm, "state": state, "overdue": True if overdue else None,
               "critical": True if critical else None, "closed": False if open_only else None}
    out = run(lambda: _all_pages(lambda n, o: backend.cases(limit=n, offset=o, **filters), "cases", limit, every))
    if as_json:
        _print_json(out)
        return
    typer.echo(f"{out['total']} cases")
    for c in out["items"]:
        typer.echo(f"  {c['ref']:<14} {c['algorithm']:<17} {c['region']:<6} {c['state']:<22} v{c['version']:<3} "
                   f"open {c['open_tasks']}, overdue {c['overdue_tasks']}, next due {_when(c['next_due'])}"
                   + ("  CRITICAL" if c["critical"] else "") + (f"  outcome: {c['outcome']}" if c["outcome"] else ""))
    if len(out["items"]) < out["total"]:
        typer.echo(f"  ... {out['total'] - len(out['items'])} more (--all)")


def show_command(ref: str = typer.Argument(..., help="Case reference, e.g. VR-75-000001."),
                 as_json: bool = JsonOpt, api: Optional[str] = ApiOpt, token: Optional[str] = TokenOpt) -> None:
    """A case: state, version, bound bodies, tasks with dues (Kazakhstan time), escalation, links.

    Examples:

        qorgau show VR-75-000001

        qorgau show VR-75-000001 --json --api http://localhost:8000 --token $T
    """
    backend = backend_for(api, token)
    c = run(lambda: backend.case(ref))
    if as_json:
        _print_json(c)
        return
    a = c["algorithm"]
    typer.echo(f"{c['ref']}  {a['id']} v{a['version']}  {c['region']}  state: {c['state']['name']}  "
               f"version {c['version']}" + (f"  outcome: {c['outcome']}" if c["outcome"] else "")
               + ("  CRITICAL" if c["critical"] else "")
               + (f"  escalation level {c['escalation_level']}" if c["escalation_level"] else ""))
    typer.echo(f"  {c['link']}")
    typer.echo("  bound: " + ", ".join(f"{b['role']}={b['body_id']}" for b in c["bindings"]))
    for t in c["tasks"]:
        late = "  overdue" if t["overdue"] else ""
        level = f"  level {t['level']}" if t["level"] else ""
        typer.echo(f"  {t['key']:>4} {t['status']:<9} {t['kind']:<26} {t['body_id']:<32} due {_when(t['due'])}"
                   f"{late}{level}")
    for link in c["links"]:
        typer.echo(f"  {link['relation']}: {link['ref']}")
    if c.get("missing_reports") is not None:
        typer.echo(f"quarterly reports not yet accepted: {len(c['missing_reports'])}")
        for m in c["missing_reports"]:
            typer.echo(f"  {m['period']}  {m['executor']:<32} {m['state']}")


def history_command(ref: str = typer.Argument(..., help="Case reference, e.g. VR-75-000001."),
                    as_json: bool = JsonOpt, api: Optional[str] = ApiOpt, token: Optional[str] = TokenOpt) -> None:
    """A case's history: every event (Kazakhstan time), who fired what, from which state to which.

    Examples:

        qorgau history VR-75-000001

        qorgau history VR-75-000001 --json --api http://localhost:8000 --token $T
    """
    backend = backend_for(api, token)
    h = run(lambda: backend.history(ref))
    if as_json:
        _print_json(h)
        return
    typer.echo(f"{h['ref']}  {h['algorithm']}  {len(h['events'])} events, head {h['head_hash'][:12]}")
    for e in h["events"]:
        who = e["actor"] + (f" ({e['person_name'] or e['person']})" if e.get("person") else "")
        typer.echo(f"  {e['seq']:>4} {_when(e['at'])}  {who:<32} {e['trigger']:<22} "
                   f"{e['from_state'] or '-'} → {e['to_state']}")


# ------------------------------------------------------------------------------------------ tokens

def _token_line(t: dict) -> str:
    status = f"revoked {_when(t['revoked_at'])}" if t["revoked_at"] else "active"
    used = f", last used {_when(t['last_used_at'])}" if t["last_used_at"] else ""
    return (f"  {t['id']:>4} {t['prefix']:<12} {t['role']:<11} {t['body_id']:<32} {status}{used}"
            + (f"  {t['label']}" if t["label"] else ""))


def _token_dict(token) -> dict:
    return {"id": token.id, "prefix": token.prefix, "body_id": token.body_id, "role": token.role, "label": token.label,
            "created_at": iso(token.created_at), "revoked_at": token.revoked_at and iso(token.revoked_at),
            "last_used_at": token.last_used_at and iso(token.last_used_at)}


@token_app.command("create")
def token_create(body: str = typer.Option(..., "--body", "-b", help="The body the token acts as, e.g. kz-75.police."),
                 role: str = typer.Option(..., "--role", help="coordinator, agency, auditor or admin."),
                 label: Optional[str] = typer.Option(None, "--label", help="Who holds it, to tell tokens apart."),
                 as_json: bool = JsonOpt, api: Optional[str] = ApiOpt, token: Optional[str] = TokenOpt) -> None:
    """Create a token; its secret is printed this once (only its SHA-256 is stored).

    Examples:

        qorgau token create --body kz-75.school-1 --role agency --label "school 1 psychologist"

        qorgau token create --body kz-75.education_department --role coordinator
    """
    if role not in ROLES:
        raise typer.BadParameter(f"must be one of {', '.join(ROLES)}", param_hint="--role")
    if api:
        out = run(lambda: Remote(api, token).api.create_token(body, role, label))
    else:
        engine = open_engine()
        secret, created = run(lambda: Handler(engine).handle(CreateToken(body, role, label), OPERATOR))
        out = {**_token_dict(created), "token": secret}
    if as_json:
        _print_json(out)
        return
    typer.echo(out["token"])
    typer.echo(f"token {out['id']} ({out['prefix']}…): {out['role']} for {out['body_id']}. Keep the secret above: "
               "it is not shown again.", err=True)


@token_app.command("list")
def token_list(as_json: bool = JsonOpt, api: Optional[str] = ApiOpt, token: Optional[str] = TokenOpt) -> None:
    """Every token: id, prefix, role, body, whether revoked, when last used (never the secret).

    Example: qorgau token list
    """
    if api:
        out = run(lambda: Remote(api, token).api.tokens())
    else:
        engine = open_engine()
        with engine.reader() as conn:
            out = [_token_dict(t) for t in list_tokens(conn)]
    if as_json:
        _print_json(out)
        return
    typer.echo(f"{len(out)} tokens")
    for t in out:
        typer.echo(_token_line(t))


@token_app.command("revoke")
def token_revoke(which: str = typer.Argument(..., help="The token's id or prefix (see `qorgau token list`)."),
                 as_json: bool = JsonOpt, api: Optional[str] = ApiOpt, token: Optional[str] = TokenOpt) -> None:
    """Revoke a token: refused (401) from its next request on.

    Example: qorgau token revoke qg_AbCdEfGh
    """
    if api:
        if not which.isdigit():
            raise typer.BadParameter("through the API, revoke by id (see `qorgau token list`)", param_hint="WHICH")
        out = run(lambda: Remote(api, token).api.revoke_token(int(which)))
    else:
        engine = open_engine()
        out = _token_dict(run(lambda: Handler(engine).handle(RevokeToken(which), OPERATOR)))
    if as_json:
        _print_json(out)
        return
    typer.echo(f"revoked token {out['id']} ({out['prefix']}…) of {out['body_id']}")


def register(app: typer.Typer) -> None:
    """Add launch, fire, inbox, cases, show, history and the `token` group to the root CLI."""
    app.command("launch")(launch_command)
    app.command("fire")(fire_command)
    app.command("inbox")(inbox_command)
    app.command("cases")(cases_command)
    app.command("show")(show_command)
    app.command("history")(history_command)
    app.add_typer(token_app, name="token")
