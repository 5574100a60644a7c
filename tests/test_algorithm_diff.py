"""`qorgau diff ALGORITHM FROM TO`: what a coordinator notices between two versions, in kk, ru and en,
and the generated `docs/algorithms/<id>.diff-1-2.md` pages."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.algorithm_docs import shipped_registry
from app.algorithm_docs.diff import compare
from app.algorithm_docs.diff_text import render_diff_page, render_text
from app.cli import app

OUT = Path(__file__).resolve().parents[1] / "docs" / "algorithms"
ALGORITHMS = ("violence-report", "suicide-response", "social-patronage", "plan-reporting")


@pytest.fixture(scope="module")
def shipped():
    return shipped_registry()


@pytest.fixture(scope="module")
def texts(shipped):
    """(algorithm, lang) -> the text `qorgau diff ALGORITHM 1 2 --lang LANG` prints."""
    return {(alg, lang): render_text(compare(shipped.get(alg, 1), shipped.get(alg, 2)), lang)
            for alg in ALGORITHMS for lang in ("kk", "ru", "en")}


def _line(text: str, *needles: str) -> str:
    """The one line of `text` holding every needle."""
    found = [line for line in text.splitlines() if all(n in line for n in needles)]
    assert len(found) == 1, f"{needles} in {len(found)} lines:\n" + "\n".join(found)
    return found[0]


def test_decide_bullying_moves_from_the_education_department_to_the_school(texts):
    ru = _line(texts["violence-report", "ru"], "`decide_bullying`", "в статусе")
    assert "«Решение по факту буллинга»" in ru
    assert "теперь её выполняет организация образования, а не управление образования" in ru
    kk = _line(texts["violence-report", "kk"], "`decide_bullying`", "күйіндегі")
    assert "«Буллинг фактісі бойынша шешім»" in kk
    assert "енді оны білім басқармасы емес, білім беру ұйымы орындайды" in kk
    en = _line(texts["violence-report", "en"], "`decide_bullying`", " in ")
    assert "now owed by the school, no longer by the education department" in en
    # and the school takes the decisions, which a supervisor may no longer take in its place
    ru_decision = _line(texts["violence-report", "ru"], "`bullying_recognised`", "теперь это решение")
    assert "(организация образования)" in ru_decision and "вышестоящий орган не может" in ru_decision


def test_the_appeal_to_the_higher_body_appears(texts):
    ru, kk = texts["violence-report", "ru"], texts["violence-report", "kk"]
    assert "Новый статус «Рассмотрение жалобы вышестоящим органом» (`appeal_higher`)." in ru
    assert "Жаңа күй: «Шағымды жоғары тұрған органда қарау» (`appeal_higher`)." in kk
    task = _line(ru, "Новая задача", "`review_appeal_higher`")
    assert "исполнитель — управление образования" in task and "срок — 20 рабочих дней" in task
    assert "орындаушы — білім басқармасы, мерзімі — 20 жұмыс күні" in _line(kk, "`review_appeal_higher`", "Жаңа тапсырма")
    assert "Новое действие «Жалоба направлена в вышестоящий орган» (`appeal_forwarded`)" in ru


def test_the_kdn_referral_clock_runs_from_the_approved_plan(texts):
    ru = _line(texts["violence-report", "ru"], "`kdn_referral`")
    assert "от последнего события «План утверждён» (`plan_approved`)" in ru
    assert "(было — от входа в статус «Мониторинг» (`monitoring`))" in ru
    assert "повторный вход в статус его не перезапускает" in ru
    kk = _line(texts["violence-report", "kk"], "`kdn_referral`")
    assert "соңғы «Жоспар бекітілді» (`plan_approved`)" in kk and "күйіне кірген сәттен" in kk


def test_the_new_launch_fields_of_the_duty_to_report(texts):
    ru, kk = texts["violence-report", "ru"], texts["violence-report", "kk"]
    assert "Новое поле запуска «Когда выявлено» (`detected_at`) — обязательное; не в будущем и не раньше чем за 12 месяцев" in ru
    reporter = _line(ru, "Новое поле запуска", "`reporter`")
    assert "обязательное" in reporter and "медицинский работник" in reporter
    assert "Жаңа іске қосу өрісі: «Анықталған уақыты» (`detected_at`) — міндетті" in kk
    assert "Жаңа іске қосу өрісі: «Кім хабарлады» (`reporter`) — міндетті" in kk
    assert "отмечается как поданный с опозданием (`reported_late`)" in _line(ru, "позже чем через 24 часа")


def test_risk_screening_is_due_in_24_hours_not_at_the_end_of_the_working_day(texts):
    ru = _line(texts["suicide-response", "ru"], "`risk_screening`", "срок")
    assert "срок — 24 часа (было — до конца того же рабочего дня)" in ru
    kk = _line(texts["suicide-response", "kk"], "`risk_screening`", "мерзімі")
    assert "мерзімі — 24 сағат (бұрын — сол жұмыс күнінің соңына дейін)" in kk
    en = _line(texts["suicide-response", "en"], "`risk_screening`", "deadline")
    assert "deadline 24 hours (was end of the same working day)" in en
    assert "Новый статус «Рассмотрение в КДН» (`kdn_review`)." in texts["suicide-response", "ru"]
    task = _line(texts["suicide-response", "ru"], "Новая задача", "`kdn_decision`")
    assert "срок — 15 рабочих дней" in task


def test_escalation_follows_the_line_of_subordination(texts):
    ru = texts["violence-report", "ru"]
    assert "Вышестоящий орган для органа «Орган опеки и попечительства»: управление образования (было — акимат)." in ru
    critical = _line(ru, "шкала эскалации «обычная»".capitalize(), "Критическая эскалация")
    assert "получают акимат, профильное министерство исполнителя" in critical
    # closing now cancels other bodies' work (C3)
    assert "остальные открытые задачи при закрытии отменяются" in _line(ru, "`resolved`", "отмечает выполненными")


def test_kazakh_and_russian_texts_hold_no_english(texts):
    """Every word outside `identifiers` is Kazakh or Russian; the English text's words are not there."""
    for alg in ALGORITHMS:
        for lang in ("kk", "ru"):
            prose = re.sub(r"`[^`]*`", "", texts[alg, lang])
            assert re.findall(r"[A-Za-z]{2,}", prose) == [], f"{alg} {lang}"
    kk, ru = texts["violence-report", "kk"], texts["violence-report", "ru"]
    for english in ("education department", "working days", "New state", "deadline", "school", "Action", "ladder"):
        assert english in texts["violence-report", "en"] or english in texts["suicide-response", "en"]
        assert english not in kk and english not in ru


def test_the_json_holds_the_same_changes(shipped):
    result = CliRunner().invoke(app, ["diff", "violence-report", "1", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["algorithm"], data["from"], data["to"]) == ("violence-report", 1, 2)
    body = [c for c in data["changes"]["tasks"] if c["subject"] == "decide_bullying" and c["what"] == "body"]
    assert body == [{"group": "tasks", "what": "body", "subject": "decide_bullying", "state": "bullying_review",
                     "item": None, "old": "education_department", "new": "school"}]
    anchor = [c for c in data["changes"]["timers"] if c["subject"] == "kdn_referral"]
    assert [(c["what"], c["old"], c["new"]) for c in anchor] == [("anchor", [], ["plan_approved", "kdn_decided"])]
    launch = {c["item"] for c in data["changes"]["launch"] if c["what"] == "field_added"}
    assert {"detected_at", "reporter", "immediate_danger"} <= launch
    assert {"appeal_higher"} <= {c["subject"] for c in data["changes"]["states"] if c["what"] == "added"}


def test_cli_exit_codes():
    runner = CliRunner()
    result = runner.invoke(app, ["diff", "violence-report", "1", "2"])
    assert result.exit_code == 0 and "что изменилось в версии 2 по сравнению с версией 1" in result.output
    result = runner.invoke(app, ["diff", "violence-report", "1", "2", "--lang", "kk"])
    assert result.exit_code == 0 and "2-нұсқада не өзгерді" in result.output
    result = runner.invoke(app, ["diff", "no-such-algorithm", "1", "2"])
    assert result.exit_code == 2 and "no-such-algorithm" in result.output
    result = runner.invoke(app, ["diff", "violence-report", "1", "9"])
    assert result.exit_code == 2 and "violence-report has versions 1, 2" in result.output
    assert runner.invoke(app, ["diff", "violence-report", "1", "2", "--lang", "de"]).exit_code == 2


def test_a_version_against_itself_has_no_differences(shipped):
    d = shipped.get("violence-report", 2)
    assert compare(d, d).changes == ()
    assert "Различий нет." in render_text(compare(d, d), "ru")


def test_the_generated_pages_hold_all_three_languages(shipped):
    for alg in ALGORITHMS:
        page = (OUT / f"{alg}.diff-1-2.md").read_text(encoding="utf-8")
        assert page == render_diff_page(shipped.get(alg, 1), shipped.get(alg, 2))
        for heading in ("## Қазақша", "## Русский", "## English"):
            assert heading in page
        assert f"[1 → 2]({alg}.diff-1-2.md)" in (OUT / "README.md").read_text(encoding="utf-8")
