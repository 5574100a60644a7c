"""Moving running cases to a new version of their algorithm (../shared/spec/migration.md): the
ministry's coordinator (or an admin) picks the selection, reads the plan (counts first, then each
case), applies it and watches it move; auditors read the list of migrations and who ran them.
Also the case timeline's words for a `migrated` event (`migrated_lines`).

The plan and the run go through the API's own two calls (app/api/routes/migrations.py `plan`,
`start`): the same commands, in a worker thread, behind the store's gate.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response
from sqlalchemy import select

from app.api.errors import status_of
from app.api.routes.migrations import plan, read_run, read_runs, start
from states import tables as T
from states.access import Principal, check_migration
from states.errors import RuleViolation
from states.migration import Selection

from .. import i18n
from ..render import local_text, render
from .context import Ctx, Form, PostedForm, SignedIn, one
from .params import InvalidInput

router = APIRouter(include_in_schema=False)
REFRESH_SECONDS = 2  # how often the page of a running migration reloads itself
FIELDS = ("algorithm", "to_version", "region", "state")


def may_migrate(p: Principal) -> bool:
    """An admin or a ministry's coordinator (`states.access.check_migration`)."""
    try:
        check_migration(p)
        return True
    except RuleViolation:
        return False


def may_read(p: Principal) -> bool:
    return p.role == "auditor" or may_migrate(p)


def _run_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 2_000_000_000:
        raise InvalidInput("run_id", "must be a whole number from 1")
    return int(text)


# ------------------------------------------------------------------------------------ words

def _definition(ctx: Ctx, algorithm: str, version: int):
    try:
        return ctx.registry.get(algorithm, version)
    except KeyError:  # no longer loaded
        return None


def _algorithm_title(ctx: Ctx, algorithm: str) -> str:
    return i18n.pick(ctx.registry.latest(algorithm).spec.title, ctx.lang) if algorithm in ctx.registry.ids() \
        else algorithm


def _state_title(ctx: Ctx, d, state: str | None) -> str:
    return ctx.state_title(d, state) if d is not None else (state or "")


def _task_title(ctx: Ctx, d, kind: str) -> str:
    if kind == "ensure_completion":
        return i18n.t("task.ensure_completion", ctx.lang)
    return i18n.pick(d.task_title(kind), ctx.lang) if d is not None else kind


def _versions(ctx: Ctx, from_version: int, to_version: int) -> str:
    return i18n.t("mig.versions", ctx.lang).format(m=from_version, n=to_version)


def _note(ctx: Ctx, algorithm: str, from_version: int, to_version: int) -> str:
    migration = ctx.registry.migration(algorithm, from_version, to_version)
    if migration is None or not migration.note:
        return ""
    return i18n.pick(migration.note, ctx.lang) if isinstance(migration.note, dict) else str(migration.note)


def migrated_lines(ctx: Ctx, d, event: dict[str, Any]) -> list[str]:
    """A `migrated` event on the case timeline: the version it moved to, each task moved to another
    body (its due kept) or kept, the launch data the new version required, the migration's note.
    Tasks cancelled and opened, and notifications, are told as for any event."""
    lang, data, fx = ctx.lang, event["data"] or {}, event["effects"] or {}
    lines = [i18n.t("mig.moved_to_version", lang).format(n=data.get("to_version", "?"),
                                                        m=data.get("from_version", "?"))]
    for t in fx.get("tasks_moved", []):
        lines.append(i18n.t("mig.task_moved", lang).format(
            task=_task_title(ctx, d, t["kind"]), source=ctx.body_name(t["from_body"]), to=ctx.body_name(t["body"]),
            due=local_text(t["due"])))
    for t in fx.get("tasks_kept", []):
        lines.append(i18n.t("mig.task_kept", lang).format(task=_task_title(ctx, d, t["kind"]),
                                                         body=ctx.body_name(t["body"]), due=local_text(t["due"])))
    defaults = fx.get("data_defaults") or {}
    if defaults:
        fields = d.spec.launch.data if d is not None else {}
        names = [i18n.pick(fields[n].title, lang) if n in fields and fields[n].title else n for n in defaults]
        lines.append(f"{i18n.t('mig.data_defaults', lang)}: {', '.join(names)}")
    note = data.get("note")
    if note:
        lines.append(f"{i18n.t('mig.note', lang)}: {i18n.pick(note, lang) if isinstance(note, dict) else note}")
    return lines


# ------------------------------------------------------------------------------------ the list and the form

def _row_view(ctx: Ctx, r: dict[str, Any]) -> dict[str, Any]:
    lang = ctx.lang
    d_from = _definition(ctx, r["algorithm"], r["from_version"])
    role = f"role.{r['role']}"
    return {"id": r["id"], "when": local_text(r["created_at"]), "finished": local_text(r["finished_at"]),
            "who": ctx.body_name(r["actor"]), "role": i18n.t(role, lang) if i18n.t(role, lang) != role else r["role"],
            "algorithm": _algorithm_title(ctx, r["algorithm"]),
            "versions": _versions(ctx, r["from_version"], r["to_version"]),
            "region": ctx.region_name(r["region"]) if r["region"] else i18n.t("cases.all", lang),
            "state": _state_title(ctx, d_from, r["state"]) if r["state"] else i18n.t("cases.all", lang),
            "kind": i18n.t("mig.dry_run" if r["dry_run"] else "mig.run", lang), "dry_run": r["dry_run"],
            "status": r["status"], "status_text": i18n.t(f"mig.status.{r['status']}", lang),
            "total": r["total"], "moved": r["moved"], "skipped": r["skipped"], "failed": r["failed"],
            "not_migratable": r["not_migratable"]}


def _choices(ctx: Ctx) -> dict[str, Any]:
    """What the form offers: the algorithms with a published migration, their target versions, the
    regions, and the states of the versions cases move from."""
    published = sorted(ctx.registry.migrations)
    algorithms = sorted({a for a, _, _ in published})
    states = []
    for algorithm in algorithms:
        sources = [_definition(ctx, algorithm, f) for a, f, _ in published if a == algorithm]
        names: dict[str, str] = {}
        for d in sources:
            for name in d.spec.states:
                names.setdefault(name, ctx.state_title(d, name))
        states.append((_algorithm_title(ctx, algorithm), sorted(names.items(), key=lambda kv: kv[1])))
    return {"algorithms": [(a, _algorithm_title(ctx, a)) for a in algorithms],
            "versions": sorted({t for _, _, t in published}),
            "regions": [(c, ctx.region_name(c)) for c in ctx.directory.regions], "state_groups": states}


async def _list_page(ctx: Ctx, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                     message: str | None = None, status: int = 200) -> Response:
    p = ctx.principal
    if not may_read(p):
        return ctx.forbidden()
    rows = await ctx.read(read_runs, ctx.engine)
    view = {"runs": [_row_view(ctx, r) for r in rows], "may_migrate": may_migrate(p),
            "values": values or {}, "errors": errors or {}, "message": message, **_choices(ctx)}
    if ctx.request.query_params.get("nothing"):
        view["flash"] = i18n.t("mig.nothing", ctx.lang)
    return render("migrations.html", ctx.page(**view), status=status)


@router.get("/migrations")
async def migrations_page(ctx: SignedIn) -> Response:
    return await _list_page(ctx)


def _selection(ctx: Ctx, form: Form) -> tuple[Selection | None, dict[str, str], dict[str, str]]:
    values = {name: one(form, name).strip() for name in FIELDS}
    version = values["to_version"]
    if not (version.isascii() and version.isdigit() and 1 <= int(version) <= 1000):
        return None, values, {"to_version": i18n.t("form.not_int", ctx.lang)}
    return Selection(values["algorithm"], int(version), values["region"] or None, values["state"] or None), values, {}


async def _refused(ctx: Ctx, exc: RuleViolation, values: dict[str, str]) -> Response:
    if exc.code == "invalid_data" and exc.field in FIELDS:
        return await _list_page(ctx, values=values, status=422, message=i18n.t("form.errors", ctx.lang),
                                errors={exc.field: f"{i18n.t('form.invalid', ctx.lang)}: {exc.message}"})
    if exc.code == "forbidden":
        return ctx.forbidden(exc.message)
    return ctx.error(status_of(exc.code), i18n.t("form.rejected", ctx.lang), f"{exc.code}: {exc.message}")


@router.post("/migrations")
async def plan_migration(ctx: SignedIn, form: PostedForm) -> Response:
    """Plan the selection (a dry run, kept) and show it."""
    if not may_migrate(ctx.principal):
        return ctx.error(403, i18n.t("error.read_only", ctx.lang) if ctx.principal.role == "auditor"
                         else i18n.t("error.forbidden", ctx.lang))
    selection, values, errors = _selection(ctx, form)
    if errors:
        return await _list_page(ctx, values=values, errors=errors, status=422,
                                message=i18n.t("form.errors", ctx.lang))
    try:
        run_id, _ = await plan(ctx.request.app, selection, ctx.principal)
    except RuleViolation as exc:
        return await _refused(ctx, exc, values)
    return RedirectResponse(f"/migrations/{run_id}", status_code=303)


# ------------------------------------------------------------------------------------ one migration

def _cancelled_kinds(engine, refs: list[str]) -> dict[tuple[str, str], str]:
    """The kinds of the selected cases' tasks, by (case, task key): a plan names cancelled tasks by key."""
    if not refs:
        return {}
    q = (select(T.cases.c.ref, T.tasks.c.key, T.tasks.c.kind).join(T.tasks, T.tasks.c.case_id == T.cases.c.id)
         .where(T.cases.c.ref.in_(refs)))
    with engine.reader() as conn:
        return {(r.ref, r.key): r.kind for r in conn.execute(q)}


def _case_view(ctx: Ctx, d_from, d_to, c: dict[str, Any], kinds: dict[tuple[str, str], str]) -> dict[str, Any]:
    out = {"ref": c["ref"], "href": f"/cases/{quote(c['ref'])}", "state": _state_title(ctx, d_from, c["state"]),
           "state_after": _state_title(ctx, d_to, c.get("state_after")), "reason": c.get("not_migratable")}
    out["moved"] = [{"task": _task_title(ctx, d_to, t["kind"]), "source": ctx.body_name(t["from_body"]),
                     "to": ctx.body_name(t["body"]), "due": local_text(t["due"])} for t in c.get("tasks_moved", [])]
    out["kept"] = [{"task": _task_title(ctx, d_to, t["kind"]), "body": ctx.body_name(t["body"]),
                    "due": local_text(t["due"])} for t in c.get("tasks_kept", [])]
    out["cancelled"] = [_task_title(ctx, d_from, kinds.get((c["ref"], key), key))
                        for key in c.get("tasks_cancelled", [])]
    out["opened"] = [{"task": _task_title(ctx, d_to, t["kind"]), "body": ctx.body_name(t["body"]),
                      "due": local_text(t["due"])} for t in c.get("tasks_opened", [])]
    return out


def _read_plan(engine, run_id: int) -> tuple[dict | None, dict]:
    row = read_run(engine, run_id)
    if row is None or not row["dry_run"] or not row["report"]:
        return row, {}
    refs = [c["ref"] for c in row["report"].get("cases", []) if c.get("tasks_cancelled")]
    return row, _cancelled_kinds(engine, refs)


@router.get("/migrations/{run_id}")
async def migration_page(ctx: SignedIn, run_id: str) -> Response:
    p, lang = ctx.principal, ctx.lang
    if not may_read(p):
        return ctx.forbidden()
    row, kinds = await ctx.read(_read_plan, ctx.engine, _run_id(run_id))
    if row is None:
        return ctx.not_found()
    view = _row_view(ctx, row)
    view["note"] = _note(ctx, row["algorithm"], row["from_version"], row["to_version"])
    report = row["report"] or {}
    headers = None
    if row["dry_run"]:
        d_from = _definition(ctx, row["algorithm"], row["from_version"])
        d_to = _definition(ctx, row["algorithm"], row["to_version"])
        cases = [_case_view(ctx, d_from, d_to, c, kinds) for c in report.get("cases", [])]
        view.update(counts=report.get("counts", {}), cases=[c for c in cases if not c["reason"]],
                    unmovable=[c for c in cases if c["reason"]], cases_total=report.get("cases_total", len(cases)),
                    cases_shown=len(cases), may_apply=may_migrate(p) and row["status"] == "planned")
    else:
        done = row["moved"] + row["skipped"] + row["failed"] + row["not_migratable"]
        view.update(done=done, running=row["status"] == "running",
                    processed=i18n.t("mig.processed", lang).format(done=done, total=row["total"]),
                    replanned=report.get("replanned", 0),
                    unmovable=report.get("not_migratable", []), failures=report.get("failed", []))
        if row["status"] == "running":
            headers = {"Refresh": str(REFRESH_SECONDS)}
    return render("migration.html", ctx.page(**view), headers=headers)


@router.post("/migrations/{run_id}/apply")
async def apply_migration(ctx: SignedIn, form: PostedForm, run_id: str) -> Response:
    """Start a run of the plan's selection, then watch it."""
    p = ctx.principal
    if not may_migrate(p):
        return ctx.error(403, i18n.t("error.read_only", ctx.lang) if p.role == "auditor"
                         else i18n.t("error.forbidden", ctx.lang))
    row = await ctx.read(read_run, ctx.engine, _run_id(run_id))
    if row is None or not row["dry_run"]:
        return ctx.not_found()
    selection = Selection(row["algorithm"], row["to_version"], row["region"], row["state"])
    try:
        started = await start(ctx.request.app, selection, p)
    except RuleViolation as exc:
        return await _refused(ctx, exc, {})
    if started is None:
        return RedirectResponse("/migrations?nothing=1", status_code=303)
    return RedirectResponse(f"/migrations/{started}", status_code=303)
