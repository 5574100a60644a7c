"""Notification texts: every template renders in kk, ru and en for every task kind of every loaded
algorithm, tells the reader what is owed, on which case, by when and where to act, names things by
their titles, and never carries a child's personal data."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from algorithms.registry import Registry
from algorithms.schema import TEMPLATES
from notifications.context import ContextError, build_context
from notifications.render import LANGUAGES, SEPARATOR, TEMPLATES_DIR, TemplateError, render, render_for_body

BASE_URL = "https://qorgau.example.kz"
REGION = "KZ-75"
ASSIGNEE = "kz-75.education_department"
SUPERVISOR = "ministry_education"  # the department's parent
DUE = "2026-04-09T13:00:00Z"  # 18:00 in Kazakhstan
DUE_SHOWN = "09.04.2026 18:00"
TWO_DAYS_LATE = datetime(2026, 4, 11, 13, 0, tzinfo=timezone.utc)
MORNING_OF_DUE = datetime(2026, 4, 9, 4, 0, tzinfo=timezone.utc)  # 09:00 in Kazakhstan
ZONE = {"kk": "Астана уақыты", "ru": "время Астаны", "en": "Astana time"}
LATE_2_DAYS = {"kk": "2 күнге кешікті", "ru": "просрочено на 2 дня", "en": "2 days overdue"}
TASK_TEMPLATES = ("task_assigned", "reminder", "overdue", "escalation", "escalation_critical", "report_due")
LATE_TEMPLATES = ("overdue", "escalation", "escalation_critical")
KAZAKH_LETTERS = set("әғқңөұүһіӘҒҚҢӨҰҮҺІ")
REGISTRY = Registry.load()
# A synthetic child, as a careless caller might pass it along: none of it may ever reach a message.
CHILD = {"name": "Айгерім Сапарқызы Тестова", "iin": "880101300505", "birth_date": "2014-03-08",
         "address": "Абай даңғылы, 150, 12-пәтер"}


def sample_kind(kind: str) -> str:
    """A concrete task kind: `plan_action:*` stands for one task per plan action."""
    return kind.replace("*", "sample-7") if kind.endswith(":*") else kind


KINDS = [(d.id, d.version, sample_kind(kind)) for d in REGISTRY for kind in d.spec.task_kinds]


def state_for(definition, kind: str, template: str) -> str:
    if template == "case_closed":
        return sorted(definition.final_states)[0]
    for name, state in definition.spec.states.items():
        if any(t.kind == kind for t in state.tasks) or any(
                t.open_task and t.open_task.kind == kind for t in state.timers):
            return name
    return definition.non_final_states[0]


def outbox_context(definition, kind: str | None, template: str, **extra) -> dict:
    """What the engine stores on an outbox row, plus the optional keys later notifications carry."""
    ctx = {"case": f"{definition.spec.reference_prefix}-75-000001", "algorithm": definition.id,
           "version": definition.version, "state": state_for(definition, kind, template), "region": REGION,
           "task": {"key": "t3", "kind": kind, "due": DUE, "body": ASSIGNEE} if kind else None}
    if template in ("decision", "case_closed") and definition.spec.outcomes:
        ctx["outcome"] = next(iter(definition.spec.outcomes))
    if template == "decision":
        ctx["trigger"] = next((n for n, t in definition.spec.triggers.items()
                               if any(x.template == "decision" for x in t.notify)), next(iter(definition.spec.triggers)))
    if template == "report_due":
        ctx["period"] = "2026-Q1"
    if template == "case_transferred":
        ctx.update(from_region="KZ-71", to_region=REGION)
    ctx.update(extra)
    return ctx


def context_for(outbox: dict, template: str, recipient: str = ASSIGNEE, *, directory,
                now: datetime = TWO_DAYS_LATE) -> dict:
    return build_context(outbox, template, recipient, registry=REGISTRY, directory=directory,
                         base_url=BASE_URL, now=now)


def identifiers(definition, directory) -> set[str]:
    """Names that are for machines: a message must show their titles instead."""
    names = {definition.id, *definition.spec.states, *definition.spec.triggers, *definition.spec.outcomes}
    names |= {k.split(":", 1)[0] for k in definition.spec.task_kinds} | {"sample-7"}
    names |= {b.id for b in directory.bodies()} | {b.type for b in directory.bodies()}
    return {n for n in names if re.search(r"[_\-.:]", n)}


def assert_reads_well(r, lang: str, outbox: dict, definition, directory) -> None:
    ref = outbox["case"]
    assert r.subject.strip() and r.body.strip()
    assert len(r.subject) <= 90, r.subject
    assert len(r.body.splitlines()) <= 12, r.body
    assert ref in r.subject and ref in r.body
    assert f"{BASE_URL}/cases/{ref}" in r.body
    text = f"{r.subject}\n{r.body}"
    for leak in ("None", "True", "False", "{{", "}}", "{%", "%}", "Undefined", "KZ-"):
        assert leak not in text, f"{leak!r} in:\n{text}"
    for name in identifiers(definition, directory):
        assert not re.search(rf"(?<![\w/-]){re.escape(name)}(?![\w-])", text.replace(f"{BASE_URL}/cases/{ref}", "")), \
            f"identifier {name!r} in:\n{text}"
    if lang == "kk":
        assert KAZAKH_LETTERS & set(r.body), r.body


# --- every template, language and task kind ---------------------------------------------------------

@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("algorithm,version,kind", KINDS)
@pytest.mark.parametrize("recipient", [ASSIGNEE, SUPERVISOR])
def test_every_template_renders_in_every_language_for_every_task_kind(
        template, algorithm, version, kind, recipient, directory):
    definition = REGISTRY.get(algorithm, version)
    outbox = outbox_context(definition, kind, template)
    ctx = context_for(outbox, template, recipient, directory=directory)
    region = directory.regions[REGION].name
    for lang in LANGUAGES:
        r = render(template, lang, ctx)
        assert r.language == lang
        assert_reads_well(r, lang, outbox, definition, directory)
        if template in TASK_TEMPLATES:
            assert DUE_SHOWN in r.body and ZONE[lang] in r.body, r.body
            assert definition.task_title(kind)[lang] in r.body
        if template in LATE_TEMPLATES:
            assert LATE_2_DAYS[lang] in r.body, r.body
        if template not in ("report_due",):
            assert (region.get(lang) or region["ru"]) in r.body, r.body


@pytest.mark.parametrize("template", TEMPLATES)
def test_the_bare_engine_context_renders_without_optional_keys(template, directory):
    """Rows the engine writes today carry only case, algorithm, version, state, region and task."""
    definition = REGISTRY.get("violence-report", 1)
    outbox = {"case": "VR-75-000001", "algorithm": "violence-report", "version": 1, "state": "bullying_review",
              "region": REGION, "task": {"key": "t3", "kind": "decide_bullying", "due": DUE, "body": ASSIGNEE}}
    ctx = context_for(outbox, template, directory=directory)
    for key in ("outcome", "trigger", "period", "from_region", "to_region"):
        assert ctx[key] is None
    for lang in LANGUAGES:
        assert_reads_well(render(template, lang, ctx), lang, outbox, definition, directory)


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("task", [None, {"key": "t9"}])
def test_a_notification_without_a_task_still_says_which_case_and_where(template, task, directory):
    """The engine stores only the key of a task that is no longer open: that counts as no task."""
    definition = REGISTRY.get("violence-report", 1)
    outbox = outbox_context(definition, None, template, task=task)
    ctx = context_for(outbox, template, directory=directory)
    assert ctx["task"] is None
    for lang in LANGUAGES:
        assert_reads_well(render(template, lang, ctx), lang, outbox, definition, directory)


# --- what the reader is told ------------------------------------------------------------------------

def test_overdue_in_kazakh_and_russian_says_what_how_late_and_where(directory):
    outbox = outbox_context(REGISTRY.get("violence-report", 1), "decide_bullying", "overdue")
    ctx = context_for(outbox, "overdue", directory=directory)
    kk, ru = render("overdue", "kk", ctx), render("overdue", "ru", ctx)
    assert kk.subject == "Мерзімі өтті (2 күн): Буллинг фактісі бойынша шешім (VR-75-000001)"
    assert ru.subject == "Просрочено на 2 дня: Решение по факту буллинга (VR-75-000001)"
    assert "Мерзімі: 09.04.2026 18:00 (Астана уақыты) — 2 күнге кешікті" in kk.body
    assert "Срок: 09.04.2026 18:00 (время Астаны) — просрочено на 2 дня" in ru.body
    assert "Алматы қаласы" in kk.body and "город Алматы" in ru.body
    assert "Сіздің ұйымыңыз" in kk.body and "Ваша организация" in ru.body


def test_overdue_tells_the_supervisor_whose_task_it_is(directory):
    outbox = outbox_context(REGISTRY.get("violence-report", 1), "decide_bullying", "overdue")
    ru = render("overdue", "ru", context_for(outbox, "overdue", SUPERVISOR, directory=directory))
    assert "Исполнитель: Управление образования города Алматы" in ru.body
    assert "Ваша организация не выполнила" not in ru.body


def test_an_urgent_task_says_so_and_how_soon(directory):
    outbox = outbox_context(REGISTRY.get("violence-report", 1), "ensure_safety", "task_assigned")
    ctx = context_for(outbox, "task_assigned", "kz-75.police", now=MORNING_OF_DUE, directory=directory)
    ru, kk = render("task_assigned", "ru", ctx), render("task_assigned", "kk", ctx)
    assert ru.subject.startswith("Срочная задача: Обеспечить безопасность ребёнка")
    assert "через 9 часов" in ru.body and "9 сағаттан кейін" in kk.body
    assert kk.subject.startswith("Шұғыл тапсырма")


def test_escalation_gives_the_supervisor_the_ladder_time_to_act(directory):
    definition = REGISTRY.get("violence-report", 1)
    standard = context_for(outbox_context(definition, "decide_bullying", "escalation"), "escalation",
                           SUPERVISOR, directory=directory)
    urgent = context_for(outbox_context(definition, "ensure_safety", "escalation"), "escalation",
                         SUPERVISOR, directory=directory)
    assert "в течение 1 рабочего дня" in render("escalation", "ru", standard).body
    assert "1 жұмыс күні ішінде" in render("escalation", "kk", standard).body
    assert "в течение 2 часов" in render("escalation", "ru", urgent).body


def test_the_reminder_on_the_due_date_says_today(directory):
    outbox = outbox_context(REGISTRY.get("violence-report", 1), "decide_bullying", "reminder")
    ctx = context_for(outbox, "reminder", now=MORNING_OF_DUE, directory=directory)
    assert render("reminder", "ru", ctx).subject.startswith("Срок истекает сегодня")
    assert render("reminder", "kk", ctx).subject.startswith("Мерзімі бүгін бітеді")


def test_decision_and_closing_name_the_decision_and_the_outcome(directory):
    definition = REGISTRY.get("violence-report", 1)
    outbox = outbox_context(definition, None, "decision", trigger="bullying_not_recognised",
                            outcome="not_recognised", state="closed")
    ru = render("decision", "ru", context_for(outbox, "decision", directory=directory))
    assert "Буллинг не признан" in ru.subject and "Случай закрыт." in ru.body


def test_a_transfer_tells_old_and_new_bodies_what_changes_for_them(directory):
    definition = REGISTRY.get("violence-report", 1)
    outbox = outbox_context(definition, None, "case_transferred", from_region="KZ-71", to_region="KZ-75")
    new = render("case_transferred", "ru", context_for(outbox, "case_transferred", ASSIGNEE, directory=directory))
    old = render("case_transferred", "ru", context_for(outbox, "case_transferred", "kz-71.education_department",
                                                       directory=directory))
    assert "Из региона: город Астана" in new.body and "В регион: город Алматы" in new.body
    assert "Теперь случай ведёт ваша организация" in new.body
    assert "больше не ведёт" in old.body
    kk = render("case_transferred", "kk", context_for(outbox, "case_transferred", ASSIGNEE, directory=directory))
    assert "Бұрынғы өңір: Астана қаласы" in kk.body and "Жаңа өңір: Алматы қаласы" in kk.body


def test_report_due_names_the_period(directory):
    definition = REGISTRY.get("social-patronage", 1)
    outbox = outbox_context(definition, "assess_family", "report_due", period="2026-H1")
    ctx = context_for(outbox, "report_due", directory=directory)
    assert "I полугодие 2026 года" in render("report_due", "ru", ctx).body
    assert "2026 жылғы I жартыжылдық" in render("report_due", "kk", ctx).body


PLAN_TITLE = {
    "ru": "Комплексного плана по защите детей от насилия, превенции суицида и обеспечению их прав и "
          "благополучия на 2023 – 2025 годы",
    "kk": "Балаларды зорлық-зомбылықтан қорғау, суицидтің алдын алу және олардың құқықтары мен әл-ауқатын "
          "қамтамасыз ету жөніндегі 2023 – 2025 жылдарға арналған кешенді жоспардың",
}


def test_report_due_names_the_plan_by_its_full_official_title(directory):
    definition = REGISTRY.get("plan-reporting", 1)
    kind = sample_kind(next(iter(definition.spec.task_kinds)))
    ctx = context_for(outbox_context(definition, kind, "report_due"), "report_due", directory=directory)
    ru, kk = render("report_due", "ru", ctx), render("report_due", "kk", ctx)
    assert f"Вашей организации необходимо представить информацию о ходе реализации {PLAN_TITLE['ru']}" in ru.body
    assert PLAN_TITLE["kk"] in kk.body and "ұсынуы қажет" in kk.body


def test_escalation_says_the_task_was_not_done_in_time_and_who_hears_of_it_next(directory):
    outbox = outbox_context(REGISTRY.get("violence-report", 1), "decide_bullying", "escalation")
    ctx = context_for(outbox, "escalation", SUPERVISOR, directory=directory)
    ru, kk = render("escalation", "ru", ctx), render("escalation", "kk", ctx)
    assert "не исполнена в установленный срок" in ru.body
    assert "информация будет направлена в акимат области (города)" in ru.body
    assert "белгіленген мерзімде орындалмады" in kk.body and "облыстың (қаланың) әкімдігіне" in kk.body


def test_the_reminder_says_whose_task_is_nearing_its_deadline(directory):
    outbox = outbox_context(REGISTRY.get("violence-report", 1), "decide_bullying", "reminder")
    kk = render("reminder", "kk", context_for(outbox, "reminder", now=MORNING_OF_DUE, directory=directory))
    assert "ұйымыңызға берілген тапсырманың мерзімі аяқталуға жақын" in kk.body


COMMISSION_DECISION = {"kk": "Кәмелетке толмағандардың істері және олардың құқықтарын қорғау жөніндегі комиссияның шешімі",
                       "ru": "Решение комиссии по делам несовершеннолетних и защите их прав",
                       "en": "Decision of the commission on minors' affairs and the protection of their rights"}


@pytest.mark.parametrize("template", ["task_assigned", "reminder", "overdue", "escalation", "escalation_critical"])
def test_a_long_task_title_is_shortened_in_the_subject_and_given_whole_in_the_body(template, directory):
    outbox = outbox_context(REGISTRY.get("violence-report", 1), "decide_bullying", template)
    ctx = context_for(outbox, template, SUPERVISOR, directory=directory)
    ctx["task"]["title"] = COMMISSION_DECISION
    for lang in LANGUAGES:
        r = render(template, lang, ctx)
        assert len(r.subject) <= 90 and "…" in r.subject and r.subject.endswith("(VR-75-000001)"), r.subject
        assert COMMISSION_DECISION[lang] in r.body


@pytest.mark.parametrize("template", ["case_opened", "task_assigned", "reminder", "overdue", "escalation",
                                      "escalation_critical", "case_transferred"])
def test_a_cases_state_is_called_by_one_word_as_in_the_pages(template, directory):
    outbox = outbox_context(REGISTRY.get("violence-report", 1), "decide_bullying", template,
                            **({"from_region": "KZ-71"} if template == "case_transferred" else {}))
    ctx = context_for(outbox, template, directory=directory)
    ru, kk = render(template, "ru", ctx), render(template, "kk", ctx)
    assert re.search(r"(^|; )[Сс]татус: ", ru.body, re.M) and not re.search(r"[Ээ]тап", ru.body)
    assert re.search(r"(^|; )[Кк]үйі: ", kk.body, re.M) and "кезеңі" not in kk.body.lower()


@pytest.mark.parametrize("days,ru", [(1, "1 день"), (2, "2 дня"), (5, "5 дней"), (11, "11 дней"),
                                     (21, "21 день"), (22, "22 дня")])
def test_lateness_is_declined_in_russian(days, ru, directory):
    outbox = outbox_context(REGISTRY.get("violence-report", 1), "decide_bullying", "overdue")
    now = datetime.fromisoformat(DUE) + timedelta(days=days, minutes=5)
    ctx = context_for(outbox, "overdue", now=now, directory=directory)
    assert ctx["task"]["late"]["ru"] == f"просрочено на {ru}"
    assert ctx["task"]["late"]["kk"] == f"{days} күнге кешікті"


def test_the_link_comes_from_the_base_url_setting(monkeypatch, directory):
    monkeypatch.setenv("QORGAU_BASE_URL", "https://qorgau.edu.kz/")
    outbox = outbox_context(REGISTRY.get("violence-report", 1), None, "case_opened")
    ctx = build_context(outbox, "case_opened", ASSIGNEE, registry=REGISTRY, directory=directory, now=TWO_DAYS_LATE)
    assert ctx["case"]["link"] == "https://qorgau.edu.kz/cases/VR-75-000001"
    monkeypatch.delenv("QORGAU_BASE_URL")
    ctx = build_context(outbox, "case_opened", ASSIGNEE, registry=REGISTRY, directory=directory, now=TWO_DAYS_LATE)
    assert ctx["case"]["link"] == "http://localhost:8000/cases/VR-75-000001"


# --- personal data ----------------------------------------------------------------------------------

@pytest.mark.parametrize("template", TEMPLATES)
def test_no_personal_data_of_the_child_reaches_a_message(template, directory):
    """Even when a caller wrongly puts the child into the stored context, nothing of it is forwarded."""
    definition = REGISTRY.get("violence-report", 1)
    outbox = outbox_context(definition, "decide_bullying", template, child=CHILD, child_name=CHILD["name"],
                            iin=CHILD["iin"], address=CHILD["address"], summary=f"{CHILD['name']}, {CHILD['iin']}")
    outbox["task"] = {**outbox["task"], "child": CHILD, "note": CHILD["address"]}
    ctx = context_for(outbox, template, directory=directory)
    assert set(ctx) == {"case", "algorithm", "state", "region", "recipient", "task", "outcome", "trigger",
                        "period", "from_region", "to_region"}
    dumped = json.dumps(ctx, ensure_ascii=False)
    rendered = [render(template, lang, ctx) for lang in LANGUAGES] + [render_for_body(template, None, ctx)]
    for value in [*CHILD.values(), "Айгерім", "Тестова", "880101", "2014-03-08", "08.03.2014"]:
        assert value not in dumped
        for r in rendered:
            assert value not in r.subject and value not in r.body


def test_a_name_in_place_of_the_case_reference_is_refused(directory):
    outbox = outbox_context(REGISTRY.get("violence-report", 1), None, "case_opened", case=CHILD["name"])
    with pytest.raises(ContextError, match="case reference"):
        context_for(outbox, "case_opened", directory=directory)


# --- strictness -------------------------------------------------------------------------------------

def test_a_missing_variable_is_an_error_naming_it(directory):
    outbox = outbox_context(REGISTRY.get("violence-report", 1), "decide_bullying", "overdue")
    ctx = context_for(outbox, "overdue", directory=directory)
    del ctx["case"]
    with pytest.raises(TemplateError, match="'case' is undefined") as info:
        render("overdue", "ru", ctx)
    assert info.value.code == "missing_variable"
    ctx = context_for(outbox, "overdue", directory=directory)
    del ctx["task"]["title"]
    with pytest.raises(TemplateError, match="title"):
        render("overdue", "kk", ctx)


def test_an_unknown_template_or_language_is_an_error_naming_it(directory):
    ctx = context_for(outbox_context(REGISTRY.get("violence-report", 1), None, "case_opened"), "case_opened",
                      directory=directory)
    with pytest.raises(TemplateError, match="case_reopened") as info:
        render("case_reopened", "ru", ctx)
    assert info.value.code == "unknown_template"
    with pytest.raises(TemplateError, match="'de'") as info:
        render("case_opened", "de", ctx)
    assert info.value.code == "unknown_language"


@pytest.mark.parametrize("key,value,message", [
    ("state", "lost", "no state 'lost'"),
    ("region", "KZ-99", "unknown region 'KZ-99'"),
    ("outcome", "vanished", "no outcome 'vanished'"),
    ("period", "2026-Q5", "period"),
    ("algorithm", "no-such-algorithm", "no-such-algorithm"),
    ("task", {"key": "t1", "kind": "fly_to_the_moon", "due": DUE, "body": ASSIGNEE}, "fly_to_the_moon"),
    ("task", {"key": "t1", "kind": "decide_bullying", "due": "2026-04-09T18:00:00", "body": ASSIGNEE}, "task.due"),
])
def test_a_stored_context_naming_the_unknown_is_refused_not_blanked(key, value, message, directory):
    outbox = outbox_context(REGISTRY.get("violence-report", 1), None, "decision", **{key: value})
    with pytest.raises(ContextError, match=re.escape(message)):
        context_for(outbox, "decision", directory=directory)


# --- both languages ---------------------------------------------------------------------------------

def test_a_body_without_a_preferred_language_gets_kazakh_and_russian(directory):
    outbox = outbox_context(REGISTRY.get("violence-report", 1), "decide_bullying", "overdue")
    ctx = context_for(outbox, "overdue", directory=directory)
    kk, ru = render("overdue", "kk", ctx), render("overdue", "ru", ctx)
    both = render_for_body("overdue", None, ctx)
    assert both.subject == f"{kk.subject} / {ru.subject}"
    assert both.body == f"{kk.body}\n\n{SEPARATOR}\n\n{ru.body}"
    assert "Астана уақыты" in both.body and "время Астаны" in both.body
    assert render_for_body("overdue", "ru", ctx) == ru
    assert render_for_body("overdue", "kk", ctx) == kk


def test_every_template_exists_in_every_language():
    found = {p.relative_to(TEMPLATES_DIR).as_posix() for p in Path(TEMPLATES_DIR).rglob("*.txt.j2")}
    assert found == {f"{lang}/{name}.txt.j2" for lang in LANGUAGES for name in TEMPLATES}
    assert (TEMPLATES_DIR / "README.md").is_file()
