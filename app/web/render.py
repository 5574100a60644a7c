"""Jinja2 templates and what they share: the page's language, times on the Kazakhstan clock, the
security headers every page carries."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from app.api.transport import NO_STORE, SECURITY_HEADERS
from notifications import phrases
from states.calendar import to_local

from . import i18n

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"

# The security headers themselves are added to every response by app/api/transport.py; a page
# says it must not be stored (it shows case data) whatever path it is served on.
PAGE_HEADERS = {**SECURITY_HEADERS, **NO_STORE}


def local_text(value: datetime | str | None) -> str:
    """`09.04.2026 18:00` on the Kazakhstan clock."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return to_local(value).strftime("%d.%m.%Y %H:%M")


def local_input(value: datetime | None) -> str:
    """The value of a datetime-local input (Kazakhstan clock, seconds kept)."""
    if value is None:
        return ""
    return to_local(value).strftime("%Y-%m-%dT%H:%M:%S")


def left_or_late(due: datetime | str | None, now: datetime, lang: str) -> tuple[str, bool]:
    """('через 3 дня', False) or ('просрочено на 2 дня', True)."""
    if due is None or due == "":
        return "", False
    if isinstance(due, str):
        due = datetime.fromisoformat(due.replace("Z", "+00:00"))
    delta = due - now
    if delta.total_seconds() < 0:
        return phrases.lateness(-delta)[lang], True
    return phrases.time_left(delta)[lang], False


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(LANGUAGES=i18n.LANGUAGES, LANGUAGE_NAMES=i18n.LANGUAGE_NAMES, pick=i18n.pick,
                       value_title=i18n.value_title, body_type_title=i18n.body_type_title)
    env.filters["local"] = local_text
    return env


ENV = _env()


def render(template: str, ctx: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    lang = ctx.get("lang", i18n.DEFAULT_LANGUAGE)
    ctx = {**ctx, "_": lambda key: i18n.t(key, lang)}
    html = ENV.get_template(template).render(**ctx)
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, "Content-Language": lang,
                                                           **(headers or {})})
