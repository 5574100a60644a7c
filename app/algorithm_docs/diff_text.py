"""The changes of `diff.compare` as sentences in Kazakh, Russian or English, as plain text (`qorgau diff`)
and as the Markdown page `docs/algorithms/<id>.diff-<from>-<to>.md` (all three languages)."""
from __future__ import annotations

from algorithms.definition import Definition

from app.algorithm_docs.diff import AlgorithmDiff, compare
from app.algorithm_docs.diff_sentences import sentence
from app.algorithm_docs.diff_words import LANGS, Words
from app.algorithm_docs.markdown import GENERATED, finish


GROUP_TITLES = {
    "states": ("Күйлер", "Статусы", "States"),
    "tasks": ("Тапсырмалар", "Задачи", "Tasks"),
    "triggers": ("Әрекеттер", "Действия", "Actions"),
    "ladders": ("Эскалация шкалалары", "Шкалы эскалации", "Escalation ladders"),
    "timers": ("Таймерлер", "Таймеры", "Timers"),
    "launch": ("Іске қосу", "Запуск случая", "Launching a case"),
    "escalation": ("Бағыну желісі", "Линия подчинённости", "Line of subordination"),
    "outcomes": ("Нәтижелер", "Итоги", "Outcomes"),
}
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


def sentences(diff: AlgorithmDiff, lang: str) -> list[tuple[str, list[str]]]:
    """(group title, sentences) for every group with a change, in one language."""
    w = Words(lang, diff.old, diff.new)
    out = []
    for group, changes in diff.grouped().items():
        lines = [s for c in changes if (s := sentence(w, c))]
        if lines:
            out.append((w.three(GROUP_TITLES[group]), lines))
    return out


def heading(diff: AlgorithmDiff, lang: str) -> str:
    w = Words(lang, diff.old, diff.new)
    a, b, name = diff.old.version, diff.new.version, f"{w.quote(w.title(diff.new.spec.title))} (`{diff.algorithm}`)"
    return w.pick(f"{name}: {a}-нұсқамен салыстырғанда {b}-нұсқада не өзгерді.",
                  f"{name}: что изменилось в версии {b} по сравнению с версией {a}.",
                  f"{name}: what changed from version {a} to version {b}.")


def render_text(diff: AlgorithmDiff, lang: str) -> str:
    """The changes in one language, as `qorgau diff` prints them."""
    out = [heading(diff, lang), ""]
    groups = sentences(diff, lang)
    for title, lines in groups:
        out += [title] + [f"  - {line}" for line in lines] + [""]
    if not groups:
        out.append(Words(lang, diff.old, diff.new).pick("Айырмашылық жоқ.", "Различий нет.", "No differences."))
    return finish(out)


def markdown_section(diff: AlgorithmDiff, lang: str) -> list[str]:
    out = [f"## {LANGUAGE_NAMES[lang]}", "", heading(diff, lang), ""]
    groups = sentences(diff, lang)
    for title, lines in groups:
        out += [f"### {title}", ""] + [f"- {line}" for line in lines] + [""]
    if not groups:
        out += [Words(lang, diff.old, diff.new).pick("Айырмашылық жоқ.", "Различий нет.", "No differences."), ""]
    return out


def diff_page_name(old: Definition, new: Definition) -> str:
    return f"{new.id}.diff-{old.version}-{new.version}.md"


def render_diff_page(old: Definition, new: Definition) -> str:
    """The Markdown page of what changed from `old` to `new`, in Kazakh, Russian and English."""
    diff = compare(old, new)
    t, a, b = new.spec.title, old.version, new.version
    out = [GENERATED, "", f"# {t.kk} / {t.ru} / {t.en}: {a} → {b}", "",
           f"[v{a}]({new.id}.v{a}.md) → [v{b}]({new.id}.v{b}.md) · "
           + " · ".join(f"[{LANGUAGE_NAMES[lang]}](#{LANGUAGE_NAMES[lang].lower()})" for lang in LANGS)
           + f" · `qorgau diff {new.id} {a} {b} --lang kk|ru|en`", ""]
    for lang in LANGS:
        out += markdown_section(diff, lang)
    return finish(out)
