"""Render a notification template to a subject and a plain-text body, in one language or in both
kk and ru for a body without a preferred language.

Templates live in `templates/<lang>/<name>.txt.j2`; the first line is `Subject: ...`, then a blank
line, then the body (see templates/README.md). A variable missing from the context is an error,
never a blank: the Environment uses StrictUndefined.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

from algorithms.schema import TEMPLATES

LANGUAGES = ("kk", "ru", "en")
# A body without a preferred language gets both official languages (spec: Notifications).
BOTH = ("kk", "ru")
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
SUBJECT_PREFIX = "Subject:"
SEPARATOR = "-" * 40


class TemplateError(ValueError):
    """A template cannot be rendered; `code` is unknown_template, unknown_language,
    missing_variable or bad_template, and the message names the template, language or variable."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Rendered:
    language: str
    subject: str
    body: str


@cache
def environment() -> jinja2.Environment:
    """The one Environment: plain text (no autoescape), strict about undefined variables."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # templates ship with the code: no stat() of the file on every render
    )


def render(template: str, language: str, context: dict) -> Rendered:
    """Render `template` in `language` (kk, ru or en)."""
    if template not in TEMPLATES:
        raise TemplateError("unknown_template", f"unknown template {template!r}; known: {', '.join(TEMPLATES)}")
    if language not in LANGUAGES:
        raise TemplateError("unknown_language",
                            f"unknown language {language!r} for template {template!r}; known: {', '.join(LANGUAGES)}")
    name = f"{language}/{template}.txt.j2"
    try:
        text = environment().get_template(name).render(context)
    except jinja2.UndefinedError as exc:
        raise TemplateError("missing_variable",
                            f"template {name}: missing variable: {exc.message}") from None
    except jinja2.TemplateNotFound:
        raise TemplateError("unknown_template", f"template {name} does not exist") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError("bad_template", f"template {name}, line {exc.lineno}: {exc.message}") from None
    subject, body = _split(text, name)
    return Rendered(language=language, subject=subject, body=body)


def render_for_body(template: str, body_language: str | None, context: dict) -> Rendered:
    """Render for a body: in its preferred language, or kk and ru together when it has none
    (subject `kk / ru`; body kk text, a separator line, ru text). The result's language is `kk+ru`."""
    if body_language is not None:
        return render(template, body_language, context)
    kk, ru = (render(template, lang, context) for lang in BOTH)
    return Rendered(language="+".join(BOTH), subject=f"{kk.subject} / {ru.subject}",
                    body=f"{kk.body}\n\n{SEPARATOR}\n\n{ru.body}")


def _split(text: str, name: str) -> tuple[str, str]:
    first, _, rest = text.lstrip("\n").partition("\n")
    if not first.startswith(SUBJECT_PREFIX):
        raise TemplateError("bad_template", f"template {name}: the first line must start with {SUBJECT_PREFIX!r}")
    subject = " ".join(first[len(SUBJECT_PREFIX):].split())
    lines = [line.rstrip() for line in rest.splitlines()]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    if not subject or not body:
        raise TemplateError("bad_template", f"template {name}: rendered an empty {'subject' if not subject else 'body'}")
    return subject, body
