"""The template context of one notification: an outbox row's stored context plus the titles and
times a reader needs, looked up in the algorithm registry and the bodies directory.

Only known keys of the stored context are read and every value is rebuilt here, so whatever else
the row holds (by mistake: a child's name, IIN, address) never reaches a template. Every key the
templates use is always present; a key that does not apply is None, and templates branch on it.

The context, where `L` is a dict of one finished phrase per language `{kk, ru, en}`:

    case         {ref, link}
    algorithm    {title: L}
    state        {title: L, final: bool}
    region       {name: L} | None                  the case's region
    recipient    {name: L, is_assignee: bool, in_region: bool | None}  in_region: is it in the
                 case's region (the new one after a transfer); None for a republic-level body
    task         None | {title: L, urgent: bool, assignee: {name: L, supervised: bool} | None,
                         due: L | None, due_short: str | None, due_date: str | None,
                         due_time: str | None, due_today: bool, due_in: L | None,
                         late: L | None, late_by: L | None, ensure_within: L | None}
    outcome      {title: L} | None                 optional stored key `outcome`
    trigger      {title: L} | None                 optional stored key `trigger` (the decision taken)
    period       {title: L} | None                 optional stored key `period`, e.g. 2026-Q1
    from_region  {name: L} | None                  optional stored keys `from_region`, `to_region`
    to_region    {name: L} | None
"""
from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from typing import Any

from algorithms.registry import UnknownAlgorithm
from algorithms.schema import TEMPLATES
from states.calendar import to_local
from states.directory import UnknownBodyError

from . import phrases

BASE_URL_ENV = "QORGAU_BASE_URL"
DEFAULT_BASE_URL = "http://localhost:8000"
LANGUAGES = ("kk", "ru", "en")

# A case reference is letters, digits and dashes (e.g. VR-75-000001): anything else in its place,
# a name for one, is refused rather than sent.
_REFERENCE = re.compile(r"^[A-Z]{2,4}-[A-Z0-9]+(?:-[A-Z0-9]+)*$")
# A late or early by less than this is "now": no "overdue by 0 minutes".
_NOW_TOLERANCE_SECONDS = 60


class ContextError(ValueError):
    """The stored context cannot become a message: a required key is missing or names something
    the registry or the directory does not know. Says which key and value."""


def default_base_url() -> str:
    """The web address links point to: setting QORGAU_BASE_URL, else http://localhost:8000."""
    return os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def build_context(outbox_context: dict, template: str, recipient_id: str, *, registry, directory,
                  base_url: str | None = None, now: datetime | None = None) -> dict:
    """The context for rendering `template` to body `recipient_id` from an outbox row's `context`."""
    if template not in TEMPLATES:
        raise ContextError(f"unknown template {template!r}; known: {', '.join(TEMPLATES)}")
    if not isinstance(outbox_context, dict):
        raise ContextError(f"the outbox context must be a mapping, not {type(outbox_context).__name__}")
    now = now or datetime.now(timezone.utc)
    if now.utcoffset() is None:
        raise ContextError(f"now must be timezone-aware, got {now!r}")

    ref = _required(outbox_context, "case")
    if not isinstance(ref, str) or not _REFERENCE.match(ref):
        raise ContextError(f"case: {ref!r} is not a case reference like VR-75-000001")
    definition = _definition(registry, _required(outbox_context, "algorithm"), outbox_context.get("version"))
    region_code = outbox_context.get("region")
    task = _task(outbox_context.get("task"), definition, directory, now)
    link = f"{(base_url or default_base_url()).rstrip('/')}/cases/{ref}"
    return {
        "case": {"ref": ref, "link": link},
        "algorithm": {"title": _titles(definition.spec.title)},
        "state": _state(definition, _required(outbox_context, "state")),
        "region": _region(directory, region_code, "region"),
        "recipient": _recipient(directory, recipient_id, outbox_context.get("to_region") or region_code,
                                outbox_context.get("task")),
        "task": task,
        "outcome": _outcome(definition, outbox_context.get("outcome")),
        "trigger": _trigger(definition, outbox_context.get("trigger")),
        "period": _period(outbox_context.get("period")),
        "from_region": _region(directory, outbox_context.get("from_region"), "from_region"),
        "to_region": _region(directory, outbox_context.get("to_region"), "to_region"),
    }


# --- lookups -------------------------------------------------------------------------------------

def _required(ctx: dict, key: str) -> Any:
    value = ctx.get(key)
    if value in (None, ""):
        raise ContextError(f"the outbox context has no {key!r}")
    return value


def _titles(titles: Any) -> dict[str, str]:
    """A {kk, ru, en} dict from a Titles model or a names dict; a missing language falls back to
    Russian, then Kazakh (a directory needs only kk and ru names)."""
    raw = titles.model_dump() if hasattr(titles, "model_dump") else dict(titles)
    fallback = raw.get("ru") or raw.get("kk")
    if not fallback:
        raise ContextError(f"no kk or ru title in {raw!r}")
    return {lang: raw.get(lang) or fallback for lang in LANGUAGES}


def _definition(registry, algorithm: str, version: Any):
    try:
        return registry.get(algorithm, version)
    except (UnknownAlgorithm, ValueError, TypeError) as exc:
        raise ContextError(f"algorithm: {exc}") from None


def _state(definition, name: str) -> dict:
    spec = definition.spec.states.get(name)
    if spec is None:
        raise ContextError(f"state: {definition.id} v{definition.version} has no state {name!r}")
    return {"title": _titles(spec.title), "final": spec.final}


def _region(directory, code: str | None, key: str) -> dict | None:
    if code in (None, ""):
        return None
    region = directory.regions.get(str(code).strip().upper())
    if region is None:
        raise ContextError(f"{key}: unknown region {code!r}")
    return {"name": _titles(region.name)}


def _body(directory, body_id: str, key: str):
    try:
        return directory.get(body_id)
    except (UnknownBodyError, KeyError):
        raise ContextError(f"{key}: unknown body {body_id!r}") from None


def _recipient(directory, recipient_id: str, region_code: str | None, stored_task: Any) -> dict:
    body = _body(directory, recipient_id, "recipient")
    assignee = stored_task.get("body") if isinstance(stored_task, dict) else None
    in_region = None
    if body.region is not None and region_code:
        in_region = body.region == str(region_code).strip().upper()
    return {"name": _titles(body.name), "is_assignee": assignee == recipient_id, "in_region": in_region}


def _outcome(definition, name: str | None) -> dict | None:
    if name in (None, ""):
        return None
    titles = definition.spec.outcomes.get(name)
    if titles is None:
        raise ContextError(f"outcome: {definition.id} v{definition.version} has no outcome {name!r}")
    return {"title": _titles(titles)}


def _trigger(definition, name: str | None) -> dict | None:
    # System events (a timer, a ladder step) are not triggers of the definition and have no title
    # to show; the message then only says that the case moved on.
    spec = definition.trigger(name) if name else None
    return {"title": _titles(spec.title)} if spec else None


def _period(period: str | None) -> dict | None:
    if period in (None, ""):
        return None
    try:
        return {"title": phrases.period_title(period)}
    except ValueError as exc:
        raise ContextError(f"period: {exc}") from None


# --- the task ------------------------------------------------------------------------------------

def _task(stored: Any, definition, directory, now: datetime) -> dict | None:
    """The task part, or None when there is none. A stored task without a kind (the engine stores
    only the key of a task that is no longer open) tells a reader nothing, so it counts as none."""
    if not isinstance(stored, dict) or not stored.get("kind"):
        return None
    kind = str(stored["kind"])
    base = kind.split(":", 1)[0] + ":*" if ":" in kind else kind
    if kind not in definition.spec.task_kinds and base not in definition.spec.task_kinds:
        raise ContextError(f"task.kind: {definition.id} v{definition.version} has no task kind {kind!r}")
    ladder = _ladder(definition, kind, base)
    assignee = _body(directory, stored["body"], "task.body") if stored.get("body") else None
    return {
        "title": _titles(definition.task_title(kind)),
        "urgent": ladder == "urgent",
        "assignee": ({"name": _titles(assignee.name), "supervised": assignee.parent is not None}
                     if assignee else None),
        **_due(stored.get("due"), now),
        "ensure_within": _ensure_within(definition, ladder),
    }


def _ladder(definition, kind: str, base: str) -> str | None:
    spec = definition.task_spec(kind)
    if spec is not None:
        return spec.ladder
    for trigger in definition.spec.triggers.values():  # tasks opened one per item, e.g. plan_action:*
        each = trigger.opens_each
        if each is not None and each.kind.split(":", 1)[0] + ":*" == base:
            return each.ladder
    return None


def _ensure_within(definition, ladder: str | None) -> dict | None:
    spec = definition.spec.ladders.get(ladder) if ladder else None
    if spec is None:
        return None
    rule = next((s.ensure_completion for s in spec.steps if s.step == "escalation" and s.ensure_completion), None)
    return phrases.within(rule.rule()) if rule else None


def _due(raw: Any, now: datetime) -> dict:
    none = {"due": None, "due_short": None, "due_date": None, "due_time": None, "due_today": False,
            "due_in": None, "late": None, "late_by": None}
    if raw in (None, ""):
        return none
    try:
        due = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
        local = to_local(due)
    except ValueError as exc:
        raise ContextError(f"task.due: {raw!r} is not a timezone-aware ISO time ({exc})") from None
    seconds = (due - now).total_seconds()
    ahead = seconds > _NOW_TOLERANCE_SECONDS
    behind = -seconds > _NOW_TOLERANCE_SECONDS
    return {
        "due": phrases.local_time(due),
        "due_short": phrases.short_time(due),
        "due_date": local.strftime("%d.%m.%Y"),
        "due_time": local.strftime("%H:%M"),
        "due_today": local.date() == to_local(now).date(),
        "due_in": phrases.time_left(due - now) if ahead else None,
        "late": phrases.lateness(now - due) if behind else None,
        "late_by": phrases.amount(now - due) if behind else None,
    }
