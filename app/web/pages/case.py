"""The case page: its state, tasks, timeline and diagram, whether its history verifies, and (for an
auditor) the case replayed as it stood at a chosen moment."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from states.access import AUDIT, FIRE, Principal, check_case, check_personal
from states.clock import utcnow
from states.errors import RuleViolation
from states.machines import mermaid
from states.migration_plan import TRIGGER
from states.queries import case_detail, history, load_case_row, replay_at
from states.verify import verify_case

from app.reports import plan_document
from app.reports.words import word

from .. import i18n
from ..render import left_or_late, local_input, local_text, render
from .context import Ctx, SignedIn
from .migrations import migrated_lines
from .params import moment

router = APIRouter(include_in_schema=False)

SYSTEM_STEPS = ("launch", "reminder", "overdue", "escalation", "critical", "timer", "linked", "migrated")
_EDGE = re.compile(r"^(\s*\S+ --> \S+): (\w+)$", re.M)


def _read_case(engine, principal: Principal, ref: str, now: datetime, at: datetime | None) -> dict[str, Any]:
    """What the page shows of the case, read in one go; `refused` if the caller may not see it."""
    with engine.reader() as conn:
        try:
            row = load_case_row(conn, ref)
        except RuleViolation:
            return {"missing": True}
        try:
            check_case(principal, engine.svc.directory, row.ref, row.region, row.bindings)
        except RuleViolation as exc:
            return {"refused": exc.message}
        replayed = None
        if at is not None:
            try:
                replayed = replay_at(conn, ref, at)
            except RuleViolation:
                replayed = None
        return {"row": row, "detail": case_detail(conn, ref, engine.registry, engine.svc.directory, now=now),
                "events": history(conn, ref)["events"], "verification": verify_case(conn, ref, engine.registry),
                "replayed": replayed}


@router.get("/cases/{ref}")
async def case_page(ctx: SignedIn, ref: str) -> Response:
    p, lang, now, q = ctx.principal, ctx.lang, utcnow(), ctx.request.query_params
    may_replay = p.role in AUDIT
    at = moment(q.get("at")) if may_replay else None
    found = await ctx.read(_read_case, ctx.engine, p, ref, now, at)
    if "missing" in found:
        return ctx.not_found()
    if "refused" in found:
        return ctx.forbidden(found["refused"])
    row, detail, events, replayed = found["row"], found["detail"], found["events"], found["replayed"]
    verification = found["verification"]
    d = ctx.definition(row)
    kinds = {}
    for ev in events:
        for t in (ev["effects"] or {}).get("tasks_opened", []):
            kinds[t["key"]] = t["kind"]
    if replayed is not None:
        shown_events = [ev for ev in events if ev["seq"] <= replayed["version"]]
        state = replayed["state"]
        open_tasks = [{"title": _task_title(ctx, d, t["kind"]), "body": ctx.body_name(t["body_id"]),
                       "due": local_text(t["due"]), "overdue": t["overdue"], "level": t["level"],
                       "left": left_or_late(t["due"], replayed["at"], lang)[0], "key": t["key"], "act": False}
                      for t in replayed["open_tasks"]]
        closed = _closed_from_events(shown_events)
        done_tasks = [{"title": _task_title(ctx, d, kinds.get(k, k)), "status": i18n.t(f"fx.{s}", lang),
                       "when": local_text(when), "due": "", "body": ""} for k, (s, when) in closed.items()]
        bindings = replayed["bindings"]
        critical, level, version = replayed["critical"], replayed["escalation_level"], replayed["version"]
        outcome, region = replayed["outcome"], replayed["region"]
    else:
        shown_events = events
        state = detail["state"]["name"]
        open_tasks, done_tasks = [], []
        for t in detail["tasks"]:
            title = _task_title(ctx, d, t["kind"])
            if t["status"] == "open":
                open_tasks.append({"title": title, "body": ctx.body_name(t["body_id"]), "due": local_text(t["due"]),
                                   "overdue": t["overdue"], "level": t["level"], "key": t["key"],
                                   "left": left_or_late(t["due"], now, lang)[0],
                                   "act": p.role in FIRE and _concerns(ctx, t["body_id"])})
            else:
                done_tasks.append({"title": title, "status": i18n.t(f"fx.{t['status']}", lang),
                                   "when": local_text(t["closed_at"]), "body": ctx.body_name(t["body_id"]),
                                   "due": local_text(t["due"])})
        bindings = {b["role"]: b["body_id"] for b in detail["bindings"]}
        critical, level, version = detail["critical"], detail["escalation_level"], detail["version"]
        outcome, region = detail["outcome"], detail["region"]
    timeline = [{"seq": ev["seq"], "when": local_text(ev["at"]),
                 "who": ctx.body_name(ev["actor"]) + (f" — {ev['person_name']}" if ev.get("person_name") else ""),
                 "trigger": _trigger_title(ctx, d, ev["trigger"]),
                 "from": ctx.state_title(d, ev["from_state"]), "to": ctx.state_title(d, ev["to_state"]),
                 "effects": (migrated_lines(ctx, d, ev) if ev["trigger"] == TRIGGER else [])
                 + _effects_text(ctx, d, ev["effects"] or {}, kinds)} for ev in shown_events]
    moments = [{"value": local_input(ev["at"]), "label": f"{ev['seq']}. {local_text(ev['at'])} — "
                f"{_trigger_title(ctx, d, ev['trigger'])}", "seq": ev["seq"]} for ev in events]
    flash = None
    if q.get("fired") and replayed is None:
        flash = f"{i18n.t('fired', lang)} {ctx.state_title(d, state)}"
    elif q.get("launched") and replayed is None:
        flash = f"{i18n.t('launched', lang)} {ref} — {ctx.state_title(d, state)}"
    outcome_titles = d.spec.outcomes.get(outcome) if outcome else None
    view = {
        "ref": ref, "algorithm": i18n.pick(d.spec.title, lang),
        "algorithm_version": replayed["algorithm_version"] if replayed is not None else d.version,
        "state": ctx.state_title(d, state), "state_name": state,
        "outcome": i18n.pick(outcome_titles, lang) if outcome_titles else outcome,
        "region": ctx.region_name(region), "version": version, "critical": critical, "level": level,
        "bound": [{"role": i18n.body_type_title(role, lang) if role in i18n.body_types() else
                   (i18n.pick(d.spec.roles[role].title, lang) if role in d.spec.roles else role),
                   "name": ctx.body_name(body_id)} for role, body_id in bindings.items()],
        "open_tasks": open_tasks, "done_tasks": done_tasks, "timeline": list(reversed(timeline)),
        "diagram": _diagram(d, lang, state),
        "states": [{"title": i18n.pick(s.title, lang), "current": n == state, "final": s.final}
                   for n, s in d.spec.states.items()],
        "verified": verification.ok, "divergence": verification.first_divergence,
        "may_replay": may_replay, "moments": moments, "replay_at": local_text(replayed["at"]) if replayed else None,
        "replay_value": local_input(replayed["at"]) if replayed else "",
        "links": detail["links"], "has_personal_data": detail["has_personal_data"],
        "may_read_personal": _may_read_personal(p, row), "flash": flash,
        "report_links": _report_links(ref, row, lang),
    }
    return render("case.html", ctx.page(**view))


def _report_links(ref: str, row, lang: str) -> dict[str, Any] | None:
    """A plan-reporting case's report as documents: Word and Excel, in the page's language (Russian
    when the page is in English: the documents are filed in Russian or Kazakh)."""
    if row.algorithm != "plan-reporting":
        return None
    doc_lang = lang if lang in ("ru", "kk") else "ru"
    return {"title": word("links", doc_lang),
            "files": [{"href": f"/cases/{ref}/report.{fmt}?lang={code}", "label": f"{word('link.' + fmt, code)} — {code}",
                       "id": f"report-{fmt}-{code}"}
                      for code in (doc_lang, "kk" if doc_lang == "ru" else "ru") for fmt in ("docx", "xlsx")]}


async def _report_download(ctx: Ctx, ref: str, fmt: str) -> Response:
    lang = ctx.request.query_params.get("lang") or ("kk" if ctx.lang == "kk" else "ru")
    try:
        document = await ctx.read(plan_document, ctx.engine, ctx.principal, ref, fmt, lang)
    except RuleViolation as exc:
        if exc.code == "unknown_case":
            return ctx.not_found()
        if exc.code == "forbidden":
            return ctx.forbidden(exc.message)
        return ctx.error(422, exc.message)
    return Response(document.content, media_type=document.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{document.filename}"',
                             "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.get("/cases/{ref}/report.docx")
async def report_docx(ctx: SignedIn, ref: str) -> Response:
    """The plan report of the case as a Word document (`?lang=ru|kk`)."""
    return await _report_download(ctx, ref, "docx")


@router.get("/cases/{ref}/report.xlsx")
async def report_xlsx(ctx: SignedIn, ref: str) -> Response:
    """The plan report of the case as an Excel workbook (`?lang=ru|kk`)."""
    return await _report_download(ctx, ref, "xlsx")


def _effects_text(ctx: Ctx, d, fx: dict[str, Any], kinds: dict[str, str]) -> list[str]:
    lang, out = ctx.lang, []
    for t in fx.get("tasks_opened", []):
        title = i18n.pick(d.task_title(t["kind"]), lang) if t["kind"] != "ensure_completion" else \
            i18n.t("task.ensure_completion", lang)
        out.append(f"{title} — {ctx.body_name(t['body'])}: {i18n.t('fx.opened', lang)}, "
                   f"{i18n.t('col.due', lang).lower()} {local_text(t['due'])}")
    for t in fx.get("tasks_closed", []):
        kind = kinds.get(t["key"], t["key"])
        title = i18n.pick(d.task_title(kind), lang) if kind != "ensure_completion" else \
            i18n.t("task.ensure_completion", lang)
        out.append(f"{title}: {i18n.t('fx.' + t['status'], lang) if t['status'] in ('done', 'cancelled') else t['status']}")
    for key in fx.get("overdue", []):
        kind = kinds.get(key, key)
        out.append(f"{i18n.pick(d.task_title(kind), lang)}: {i18n.t('fx.overdue', lang)}")
    if fx.get("critical"):
        out.append(i18n.t("fx.critical", lang))
    if fx.get("outcome"):
        titles = d.spec.outcomes.get(fx["outcome"])
        out.append(f"{i18n.t('fx.outcome', lang)}: {i18n.pick(titles, lang) if titles else fx['outcome']}")
    moved = fx.get("transferred")
    if moved:
        out.append(f"{i18n.t('fx.transferred', lang)} {ctx.region_name(moved.get('region'))}")
    for s in fx.get("spawned", []):
        out.append(f"{i18n.t('fx.spawned', lang)}: {s['ref']}")
    if fx.get("linked"):
        out.append(f"{i18n.t('case.linked', lang)}: {fx['linked']}")
    notes = fx.get("notifications") or []
    if notes:
        out.append(f"{i18n.t('fx.notified', lang)}: {len(notes)}")
    return out


def _trigger_title(ctx: Ctx, d, trigger: str) -> str:
    spec = d.trigger(trigger)
    if spec is not None:
        return i18n.pick(spec.title, ctx.lang)
    if trigger in SYSTEM_STEPS:
        return i18n.t(f"step.{trigger}", ctx.lang)
    return trigger


def _diagram(d, lang: str, state: str | None) -> str:
    """The definition's Mermaid diagram with trigger titles on its edges and the current state in a
    strong, high-contrast highlight."""
    text = mermaid(d, lang, current=state)

    def title(m: re.Match) -> str:
        spec = d.trigger(m.group(2))
        label = i18n.pick(spec.title, lang) if spec else m.group(2)
        return f"{m.group(1)}: {re.sub(r'[:;#{}<>]', ' ', label)}"

    text = _EDGE.sub(title, text)
    return re.sub(r"^(\s*)classDef s_active .*$", r"\1classDef s_active fill:#8a2a12,color:#ffffff,stroke:#1b1f24,stroke-width:3px",
                  text, flags=re.M)


def _concerns(ctx: Ctx, body_id: str) -> bool:
    p = ctx.principal
    return body_id == p.body_id or ctx.directory.is_supervisor(p.body_id, body_id)


def _may_read_personal(p: Principal, row) -> bool:
    try:
        check_personal(p, row.ref, row.region, row.bindings)
        return True
    except RuleViolation:
        return False


def _task_title(ctx: Ctx, d, kind: str) -> str:
    if kind == "ensure_completion":
        return i18n.t("task.ensure_completion", ctx.lang)
    if kind == "accept_transfer" and kind not in d.spec.task_kinds:
        return i18n.t("task.accept_transfer", ctx.lang)
    return i18n.pick(d.task_title(kind), ctx.lang)


def _closed_from_events(events: list[dict]) -> dict[str, tuple[str, Any]]:
    closed: dict[str, tuple[str, Any]] = {}
    for ev in events:
        for t in (ev["effects"] or {}).get("tasks_closed", []):
            closed[t["key"]] = (t["status"], ev["at"])
    return closed
