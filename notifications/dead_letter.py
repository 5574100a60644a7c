"""The notice a region's coordinator (its education department) gets when a message could not be
delivered after every retry: which case, which message, to whom, how often it was tried, the last
error. It names the case by reference only, like every other message.

This is an operational notice, not one of the spec's case templates, so its text lives here rather
than in templates/ (if the templates' owner adds `delivery_failed.txt.j2`, use that instead).
"""
from __future__ import annotations

from notifications.render import BOTH, SEPARATOR, Rendered

TEXTS = {
    "kk": {
        "subject": "Хабарлама жеткізілмеді: іс {ref}",
        "body": ("№ {ref} іс бойынша хабарлама {attempts} әрекеттен кейін де жеткізілмеді.\n"
                 "Хабарлама түрі: {template}\nАлушы: {to}\nСоңғы қате: {error}\n\n"
                 "Алушының байланыс арналарын тексеріп, оған басқа жолмен хабарлаңыз.\n\n"
                 "Іске өту: {link}"),
    },
    "ru": {
        "subject": "Сообщение не доставлено: случай {ref}",
        "body": ("Сообщение по случаю № {ref} не доставлено после {attempts} попыток.\n"
                 "Вид сообщения: {template}\nПолучатель: {to}\nПоследняя ошибка: {error}\n\n"
                 "Проверьте каналы связи получателя и сообщите ему другим способом.\n\n"
                 "Открыть случай: {link}"),
    },
    "en": {
        "subject": "Message not delivered: case {ref}",
        "body": ("A message on case No. {ref} could not be delivered after {attempts} attempts.\n"
                 "Message: {template}\nRecipient: {to}\nLast error: {error}\n\n"
                 "Check the recipient's channels and tell them another way.\n\n"
                 "Open the case: {link}"),
    },
}


def render_notice(context: dict, language: str | None, *, directory, base_url: str) -> Rendered:
    """The notice in the recipient's language, or kk and ru together when it has none."""
    if language is not None:
        return _render(context, language, directory, base_url)
    kk, ru = (_render(context, lang, directory, base_url) for lang in BOTH)
    return Rendered(language="+".join(BOTH), subject=f"{kk.subject} / {ru.subject}",
                    body=f"{kk.body}\n\n{SEPARATOR}\n\n{ru.body}")


def _render(context: dict, language: str, directory, base_url: str) -> Rendered:
    failed = context.get("failed") or {}
    ref = context.get("case") or "?"
    to = failed.get("to") or "?"
    body = directory.find(to)
    text = TEXTS[language]
    values = {
        "ref": ref, "attempts": failed.get("attempts", "?"), "template": failed.get("template", "?"),
        "to": f"{body.name_in(language)} ({to})" if body else to,
        "error": (failed.get("error") or "-").splitlines()[0][:300],
        "link": f"{base_url.rstrip('/')}/cases/{ref}",
    }
    return Rendered(language=language, subject=text["subject"].format(**values), body=text["body"].format(**values))
