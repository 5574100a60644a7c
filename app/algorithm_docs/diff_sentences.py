"""One sentence per change of `diff.compare`, in Kazakh, Russian or English (rendered by diff_text.py).
Kazakh and Russian sentences name bodies and counts in forms that need no declension: "теперь её
выполняет X, а не Y", "енді оны Y емес, X орындайды"."""
from __future__ import annotations

from typing import Callable

from algorithms.definition import Definition

from app.algorithm_docs.diff import Change
from app.algorithm_docs.diff_words import Words


_THINGS = {"states": ("Күй", "Статус", "State"), "tasks": ("Тапсырма", "Задача", "Task"),
           "triggers": ("Әрекет", "Действие", "Action"), "outcomes": ("Нәтиже", "Итог", "Outcome"),
           "launch": ("Алгоритм", "Алгоритм", "Algorithm")}
SUBORDINATION = {
    "directory": ("бағыну желісі бойынша: әр органның анықтамалықтағы өз жоғары тұрған органына",
                  "по линии подчинённости: к вышестоящему органу каждого органа по справочнику органов",
                  "along the line of subordination: to each body's own parent in the directory"),
    "spec_2023": ("2023 жылғы бастапқы ерекшеліктегі жоғары тұрған орган түрлері бойынша",
                  "по типам вышестоящих органов исходной спецификации 2023 года",
                  "along the parent types of the 2023 specification"),
}


def sentence(w: Words, c: Change) -> str:
    """The sentence of one change in the language of `w`; empty where nothing changed in that language."""
    text = _SENTENCES[c.what](w, c) if c.what in _SENTENCES else _GROUP_SENTENCES[c.group](w, c)
    return text[:1].upper() + text[1:] if text else ""


def _keys(c: Change) -> str:
    return ", ".join(f"`{k}`" for k in (c.item or "").split(", ") if k)


def _renamed(w: Words, c: Change) -> str:
    old, new = w.title(c.old), w.title(c.new)
    if old == new:  # renamed in another language only
        return ""
    thing, name = w.three(_THINGS[c.group]), c.subject if c.group != "launch" else w.new.id
    return w.pick(f"{thing} (`{name}`) енді {w.quote(new)} деп аталады (бұрын — {w.quote(old)}).",
                  f"{thing} (`{name}`) теперь называется {w.quote(new)} (было — {w.quote(old)}).",
                  f"{thing} (`{name}`) is now called {w.quote(new)} (was {w.quote(old)}).")


def _cond(w: Words, guard, none: tuple[str, str, str]) -> str:
    return w.three(none) if guard is None else w.guard(guard)


def _notify_context(w: Words, c: Change) -> str:
    if c.group == "states":
        s = w.state(c.subject)
        return w.pick(f"{s} күйіне кіргенде", f"при входе в статус {s}", f"on entering {s},")
    if c.group == "triggers":
        a = w.trigger(c.subject)
        return w.pick(f"{a} әрекетінен кейін", f"после действия {a}", f"after action {a},")
    return w.pick("іс іске қосылғанда", "при запуске случая", "when a case is launched,")


def _notify(w: Words, c: Change) -> str:
    value = c.new if c.what == "notify_added" else c.old
    ctx, tpl, to = _notify_context(w, c), w.template(c.item), w.bodies(value["to"])
    cond = ""
    if value.get("when"):
        g = w.guard(value["when"])
        cond = w.pick(f" ({g} болса)", f", если {g}", f" when {g}")
    if c.what == "notify_added":
        return w.pick(f"{ctx} {tpl} енді мыналарға да жіберіледі: {to}{cond}.",
                      f"{ctx} {tpl} теперь получают также: {to}{cond}.",
                      f"{ctx} {tpl} now also goes to {to}{cond}.")
    return w.pick(f"{ctx} {tpl} енді мыналарға жіберілмейді: {to}{cond}.",
                  f"{ctx} {tpl} больше не получают: {to}{cond}.",
                  f"{ctx} {tpl} no longer goes to {to}{cond}.")


# --- states and outcomes ---

def _state(w: Words, c: Change) -> str:
    s = w.state(c.subject)
    if c.what == "added":
        return w.pick(f"Жаңа күй: {s}.", f"Новый статус {s}.", f"New state {s}.")
    if c.what == "removed":
        return w.pick(f"{s} күйі алынып тасталды.", f"Статус {s} удалён.", f"State {s} is removed.")
    return w.pick(f"{s} күйінің басқа қасиеттері өзгерді ({_keys(c)}).", f"Статус {s}: изменены и другие свойства ({_keys(c)}).",
                  f"State {s}: other properties changed ({_keys(c)}).")


def _outcome(w: Words, c: Change) -> str:
    o = w.outcome(c.subject)
    if c.what == "added":
        return w.pick(f"Жаңа нәтиже: {o}.", f"Новый итог {o}.", f"New outcome {o}.")
    return w.pick(f"{o} нәтижесі алынып тасталды.", f"Итог {o} удалён.", f"Outcome {o} is removed.")


# --- tasks ---

def _task_subject(w: Words, c: Change) -> str:
    t, s = w.task(c.subject), w.state(c.state)
    return w.pick(f"{s} күйіндегі {t} тапсырмасы", f"задача {t} в статусе {s}", f"task {t} in {s}")


def _task_summary(w: Words, task: dict) -> str:
    """Who owes a task, by when, on which ladder, whether it outlives its state, when it is opened."""
    body, due = w.body(task["body"]), w.deadline(task["deadline"])
    ladder = w.ladder(task.get("ladder", "standard"))
    text = w.pick(f"орындаушы — {body}, мерзімі — {due}, эскалация шкаласы — {ladder}",
                  f"исполнитель — {body}, срок — {due}, шкала эскалации {ladder}",
                  f"owed by {body}, deadline {due}, ladder {ladder}")
    if task.get("persistent"):
        text += w.pick("; орындалғанға дейін күй ауысқанда да ашық қалады",
                       "; остаётся открытой после смены статуса, пока не выполнена",
                       "; stays open when the case moves on, until done")
    if task.get("when"):
        g = w.guard(task["when"])
        text += w.pick(f"; {g} болса ғана беріледі", f"; ставится, только если {g}", f"; opened only when {g}")
    return text


def _task(w: Words, c: Change) -> str:
    subject, old, new = _task_subject(w, c), c.old, c.new
    if c.what == "added":
        t, s = w.task(c.subject), w.state(c.state)
        return w.pick(f"Жаңа тапсырма: {s} күйіндегі {t}; {_task_summary(w, new)}.",
                      f"Новая задача {t} в статусе {s}: {_task_summary(w, new)}.",
                      f"New task {t} in {s}: {_task_summary(w, new)}.")
    if c.what == "removed":
        return w.pick(f"{subject} енді берілмейді.", f"{subject} больше не ставится.", f"{subject} is no longer opened.")
    if c.what == "body":
        return w.pick(f"{subject}: енді оны {w.body(old)} емес, {w.body(new)} орындайды.",
                      f"{subject}: теперь её выполняет {w.body(new)}, а не {w.body(old)}.",
                      f"{subject}: now owed by {w.body(new)}, no longer by {w.body(old)}.")
    if c.what == "deadline":
        return w.pick(f"{subject}: мерзімі — {w.deadline(new)} (бұрын — {w.deadline(old)}).",
                      f"{subject}: срок — {w.deadline(new)} (было — {w.deadline(old)}).",
                      f"{subject}: deadline {w.deadline(new)} (was {w.deadline(old)}).")
    if c.what == "ladder":
        return w.pick(f"{subject}: эскалация шкаласы — {w.ladder(new)} (бұрын — {w.ladder(old)}).",
                      f"{subject}: шкала эскалации {w.ladder(new)} (была {w.ladder(old)}).",
                      f"{subject}: ladder {w.ladder(new)} (was {w.ladder(old)}).")
    if c.what == "persistent":
        if new:
            return w.pick(f"{subject}: енді орындалғанға дейін күй ауысқанда да ашық қалады.",
                          f"{subject}: теперь остаётся открытой после смены статуса, пока не будет выполнена.",
                          f"{subject}: now stays open when the case moves on, until it is done.")
        return w.pick(f"{subject}: енді күй ауысқанда жабылады.", f"{subject}: больше не остаётся открытой после смены статуса.",
                      f"{subject}: no longer stays open when the case moves on.")
    if c.what == "when":
        none = ("шартсыз", "без условий", "always")
        return w.pick(f"{subject}: берілу шарты — {_cond(w, new, none)} (бұрын — {_cond(w, old, none)}).",
                      f"{subject}: условие постановки — {_cond(w, new, none)} (было — {_cond(w, old, none)}).",
                      f"{subject}: opened when {_cond(w, new, none)} (was: {_cond(w, old, none)}).")
    return w.pick(f"{subject}: басқа қасиеттері де өзгерді ({_keys(c)}).", f"{subject}: изменены и другие свойства ({_keys(c)}).",
                  f"{subject}: other properties changed ({_keys(c)}).")


# --- triggers and data fields ---

def _trigger_subject(w: Words, c: Change) -> str:
    a = w.trigger(c.subject)
    return w.pick(f"{a} әрекеті", f"действие {a}", f"action {a}")


def _requirement(w: Words, req: dict) -> str:
    if req.get("required"):
        return w.pick("міндетті", "обязательное", "required")
    if req.get("required_when"):
        g = w.guard(req["required_when"])
        return w.pick(f"{g} болса, міндетті", f"обязательное, если {g}", f"required when {g}")
    return w.pick("міндетті емес", "необязательное", "optional")


def _field_parts(w: Words, c: Change, fields: dict) -> tuple[str, str, str, str]:
    """(who holds the field, "field", the field with its possessive in Kazakh, the field's name)."""
    f = w.field(fields, c.item)
    if c.group == "launch":
        return "", w.pick("іске қосу өрісі", "поле запуска", "launch field"), w.pick(f"{f} іске қосу өрісі", "", ""), f
    return f"{_trigger_subject(w, c)}: ", w.pick("өріс", "поле", "field"), w.pick(f"{f} өрісі", "", ""), f


def _fields_of(w: Words, c: Change) -> dict:
    """The data fields the changed field belongs to, newer version first (for its title)."""
    def of(d: Definition) -> dict:
        if c.group == "launch":
            return d.raw.get("launch", {}).get("data") or {}
        return (d.raw.get("triggers", {}).get(c.subject) or {}).get("data") or {}
    return {**of(w.old), **of(w.new)}


def _field(w: Words, c: Change) -> str:
    holder, noun, kk_field, f = _field_parts(w, c, _fields_of(w, c))
    if c.what == "field_added":
        req = _requirement(w, c.new) + "".join(f"; {_field_detail(w, k, c.new[k])}" for k in _DETAILS if c.new.get(k))
        return w.pick(f"{holder}жаңа {noun}: {f} — {req}.", f"{holder}новое {noun} {f} — {req}.",
                      f"{holder}new {noun} {f}, {req}.")
    if c.what == "field_removed":
        return w.pick(f"{holder}{kk_field} алынып тасталды.", f"{holder}{noun} {f} удалено.", f"{holder}{noun} {f} is removed.")
    if c.what == "field_required":
        new, old = _requirement(w, c.new), _requirement(w, c.old)
        return w.pick(f"{holder}{kk_field} енді {new} (бұрын — {old}).", f"{holder}{noun} {f} теперь {new} (было — {old}).",
                      f"{holder}{noun} {f} is now {new} (was {old}).")
    if c.what == "field_values":
        new, old = w.values(c.new), w.values(c.old)
        return w.pick(f"{holder}{kk_field}: мәндері — {new} (бұрын — {old}).", f"{holder}{noun} {f}: значения — {new} (было — {old}).",
                      f"{holder}{noun} {f}: values {new} (was {old}).")
    details = "; ".join(_field_detail(w, k, c.new.get(k)) for k in c.new)
    return w.pick(f"{holder}{kk_field}: {details}.", f"{holder}{noun} {f}: {details}.", f"{holder}{noun} {f}: {details}.")


_DETAILS = ("values", "within_past", "within_plan")  # said of a new field besides whether it is required


def _field_detail(w: Words, key: str, value) -> str:
    if key == "values":
        return f"{w.pick('мәндері', 'значения', 'values')}: {w.values(value)}"
    if key == "within_plan":
        if value:
            return w.pick("кезең каталогтағы жоспардың қолданылу мерзіміне кіруі тиіс (әйтпесе бас тартылады)",
                          "период должен входить в срок действия плана из каталога (иначе отказ)",
                          "the period must lie inside a plan's span in the catalogue (otherwise it is refused)")
        return w.pick("жоспар мерзімі енді тексерілмейді", "срок действия плана больше не проверяется",
                      "the plan's span is no longer checked")
    if key == "within_past" and value:
        d = w.deadline(value)
        return w.pick(f"болашақ уақыт емес және енгізуден {d} бұрыннан ерте емес",
                      f"не в будущем и не раньше чем за {d} до ввода",
                      f"not in the future and at most {d} before it is entered")
    return w.pick(f"`{key}` өзгерді", f"изменено `{key}`", f"`{key}` changed")


def _completes_words(w: Words, value) -> str:
    if value == "all":
        return w.pick("барлық ашық тапсырмалар", "все открытые задачи", "every open task")
    return ", ".join(w.task(k) for k in value) if value else w.pick("ештеңе", "ничего", "nothing")


def _closes(d: Definition, trigger: str) -> bool:
    tr = d.spec.triggers.get(trigger)
    return bool(tr) and any(t.to in d.final_states for t in tr.transitions)


def _trigger(w: Words, c: Change) -> str:
    a, subject = w.trigger(c.subject), _trigger_subject(w, c)
    if c.what == "added":
        return _trigger_added(w, c)
    if c.what == "removed":
        return w.pick(f"{a} әрекеті енді жоқ.", f"Действие {a} больше недоступно.", f"Action {a} is no longer available.")
    if c.what == "actors":
        new, old = w.bodies(c.new), w.bodies(c.old)
        return w.pick(f"{subject}: орындайтын — {new} (бұрын — {old}).", f"{subject}: выполняет {new} (было — {old}).",
                      f"{subject}: taken by {new} (was {old}).")
    if c.what == "decision":
        actors = w.bodies(w.new.spec.triggers[c.subject].actors)
        if c.new:
            return w.pick(f"{subject}: енді бұл шешім — оны тек іске бекітілген орган ({actors}) қабылдайды; "
                          "жоғары тұрған орган оның орнына қабылдай алмайды.",
                          f"{subject}: теперь это решение — его принимает только орган, закреплённый за случаем ({actors}); "
                          "вышестоящий орган не может принять его вместо него.",
                          f"{subject}: now a decision — only the body bound to the case ({actors}) takes it; "
                          "a supervisor may not take it in its place.")
        return w.pick(f"{subject}: енді шешім емес; оны жоғары тұрған орган да орындай алады.",
                      f"{subject}: больше не решение; его может выполнить и вышестоящий орган.",
                      f"{subject}: no longer a decision; a supervisor may also take it.")
    if c.what in ("transition_added", "transition_removed"):
        move = w.move(c.new or c.old)
        if c.what == "transition_added":
            return w.pick(f"{subject}: жаңа өту — {move}.", f"{subject}: новый переход {move}.", f"{subject}: new move {move}.")
        return w.pick(f"{subject}: {move} өтуі алынып тасталды.", f"{subject}: переход {move} удалён.",
                      f"{subject}: move {move} is removed.")
    if c.what == "completes":
        note = ""
        if c.new != "all" and _closes(w.new, c.subject):
            note = w.pick("; қалған ашық тапсырмалар іс жабылғанда тоқтатылады",
                          "; остальные открытые задачи при закрытии отменяются",
                          "; every other open task is cancelled on closing")
        new, old = _completes_words(w, c.new), _completes_words(w, c.old)
        return w.pick(f"{subject}: орындалды деп белгілейтіні — {new} (бұрын — {old}){note}.",
                      f"{subject}: отмечает выполненными {new} (было — {old}){note}.",
                      f"{subject}: marks as done {new} (was {old}){note}.")
    if c.what == "guard":
        none = ("жоқ", "нет", "none")
        return w.pick(f"{subject}: шарты — {_cond(w, c.new, none)} (бұрын — {_cond(w, c.old, none)}).",
                      f"{subject}: условие — {_cond(w, c.new, none)} (было — {_cond(w, c.old, none)}).",
                      f"{subject}: condition {_cond(w, c.new, none)} (was: {_cond(w, c.old, none)}).")
    return w.pick(f"{subject}: өзгергені — {_rules(w, c)}.", f"{subject}: изменено — {_rules(w, c)}.",
                  f"{subject}: changed — {_rules(w, c)}.")


_RULE_WORDS = {
    "spawn": ("ол іске қосатын байланысты іс", "запускаемый им связанный случай", "the case it launches"),
    "record": ("іс деректерінде сақталатыны", "что сохраняется в данных случая", "what it keeps in the case's data"),
    "cancels": ("тоқтататын тапсырмалары", "какие задачи оно прекращает", "which tasks it cancels"),
    "opens": ("ашатын тапсырмалары", "какие задачи оно открывает", "which tasks it opens"),
    "reopens": ("қайта ашатын тапсырмалары", "какие задачи оно открывает заново", "which tasks it reopens"),
    "restarts_timers": ("қайта бастайтын таймерлері", "какие таймеры оно перезапускает", "which timers it restarts"),
}


def _rules(w: Words, c: Change) -> str:
    """A trigger's other changed rules: in words where there are words for them, always with the key."""
    keys = [k for k in (c.item or "").split(", ") if k]
    return ", ".join(f"{w.three(_RULE_WORDS[k])} (`{k}`)" if k in _RULE_WORDS else f"`{k}`" for k in keys)


def _trigger_added(w: Words, c: Change) -> str:
    tr, a = c.new, w.trigger(c.subject)
    actors = w.bodies(tr["actors"])
    moves = "; ".join(w.move(t) for t in tr["transitions"])
    fields = ", ".join(f"{w.field(tr.get('data') or {}, n)} — {_requirement(w, {'required': f.get('required'), 'required_when': f.get('required_when')})}"
                       for n, f in (tr.get("data") or {}).items())
    extra = (w.pick("; деректері: ", "; данные: ", "; data: ") + fields) if fields else ""
    if tr.get("decision"):
        extra += w.pick("; бұл шешім — оны тек іске бекітілген орган қабылдайды",
                        "; это решение — его принимает только орган, закреплённый за случаем",
                        "; a decision, taken only by the body bound to the case")
    return w.pick(f"Жаңа әрекет: {a}; орындайтын — {actors}; {moves}{extra}.",
                  f"Новое действие {a}: выполняет {actors}; {moves}{extra}.",
                  f"New action {a}: taken by {actors}; {moves}{extra}.")


# --- ladders, timers, launch, subordination ---

def _ladder(w: Words, c: Change) -> str:
    ladder = w.ladder(c.subject)
    if c.what == "added":
        return w.pick(f"Жаңа эскалация шкаласы: {ladder}.", f"Новая шкала эскалации {ladder}.", f"New ladder {ladder}.")
    if c.what == "removed":
        return w.pick(f"{ladder} эскалация шкаласы алынып тасталды.", f"Шкала эскалации {ladder} удалена.",
                      f"Ladder {ladder} is removed.")
    step = w.step(c.item)
    at = w.pick(f"{ladder} эскалация шкаласы, {step} қадамы", f"шкала эскалации {ladder}, шаг {step}",
                f"ladder {ladder}, step {step}")
    if c.what == "step_to":
        new, old = w.bodies(c.new), w.bodies(c.old)
        return w.pick(f"{at}: хабарлама алатындар — {new} (бұрын — {old}).", f"{at}: получают {new} (было — {old}).",
                      f"{at}: goes to {new} (was {old}).")
    if c.what == "step_at":
        new, old = w.ladder_time(c.new), w.ladder_time(c.old)
        return w.pick(f"{at}: {new} басталады (бұрын — {old}).", f"{at}: наступает {new} (было — {old}).",
                      f"{at}: falls {new} (was {old}).")
    if c.what == "step_ensure":
        task = w.task("ensure_completion")
        new, old = (w.deadline(v) if v else "—" for v in (c.new, c.old))
        return w.pick(f"{at}: {task} мерзімі — {new} (бұрын — {old}).", f"{at}: срок задачи {task} — {new} (было — {old}).",
                      f"{at}: {task} deadline {new} (was {old}).")
    if c.what == "step_added":
        when, to = w.ladder_time(c.new["at"]), w.bodies(c.new.get("to") or [])
        return w.pick(f"{at}: жаңа қадам, {when}; хабарлама алатындар — {to}.", f"{at}: новый шаг, {when}; получают {to}.",
                      f"{at}: new step, {when}; goes to {to}.")
    return w.pick(f"{at}: қадам алынып тасталды.", f"{at}: шаг удалён.", f"{at}: the step is removed.")


def _timer_action(w: Words, timer: dict) -> str:
    if timer.get("open_task"):
        task = timer["open_task"]
        t, body, due = w.task(task["kind"]), w.body(task["body"]), w.deadline(task["deadline"])
        return w.pick(f"{t} тапсырмасын ашады (орындаушы — {body}, мерзімі — {due})",
                      f"открывает задачу {t} (исполнитель — {body}, срок — {due})",
                      f"opens task {t} (owed by {body}, deadline {due})")
    a = w.trigger(timer["fire"])
    return w.pick(f"{a} әрекетін орындайды", f"выполняет действие {a}", f"fires action {a}")


def _anchor(w: Words, anchor: list, state: str) -> str:
    if not anchor:
        s = w.state(state)
        return w.pick(f"{s} күйіне кірген сәттен", f"от входа в статус {s}", f"from the entry into {s}")
    events = w.any_of([w.trigger(t) for t in anchor])
    return w.pick(f"соңғы {events} оқиғасынан", f"от последнего события {events}", f"from the latest {events} event")


def _timer(w: Words, c: Change) -> str:
    s, name = w.state(c.state), f"(`{c.subject}`)"
    subject = w.pick(f"{s} күйіндегі таймер {name}", f"таймер {name} в статусе {s}", f"timer {name} in {s}")
    if c.what == "added":
        t = c.new
        after, action, anchor = w.deadline(t["after"]), _timer_action(w, t), _anchor(w, t.get("anchor") or [], c.state)
        return w.pick(f"Жаңа таймер: {subject}; {after} өткен соң {action}; уақыт есебі — {anchor}.",
                      f"Новый {subject}: через {after} {action}; отсчёт — {anchor}.",
                      f"New {subject}: after {after} it {action}; counted {anchor}.")
    if c.what == "removed":
        return w.pick(f"{subject} алынып тасталды.", f"{subject} удалён.", f"{subject} is removed.")
    if c.what == "after":
        new, old = w.deadline(c.new), w.deadline(c.old)
        return w.pick(f"{subject}: {new} өткен соң іске қосылады (бұрын — {old}).",
                      f"{subject}: срабатывает через {new} (было — через {old}).",
                      f"{subject}: goes off after {new} (was {old}).")
    if c.what == "anchor":
        new, old = _anchor(w, c.new, c.state), _anchor(w, c.old, c.state)
        keep = w.pick("; күйге қайта кіру оны қайта бастамайды", "; повторный вход в статус его не перезапускает",
                      "; re-entering the state does not restart it") if c.new else ""
        return w.pick(f"{subject}: уақыт {new} есептеледі (бұрын — {old}){keep}.",
                      f"{subject}: время отсчитывается {new} (было — {old}){keep}.",
                      f"{subject}: counted {new} (was {old}){keep}.")
    if c.what in ("open_task", "fire"):
        new, old = (_timer_action(w, {c.what: v}) if v else "—" for v in (c.new, c.old))
        return w.pick(f"{subject}: {new} (бұрын — {old}).", f"{subject}: {new} (было — {old}).", f"{subject}: {new} (was {old}).")
    return w.pick(f"{subject}: басқа қасиеттері де өзгерді ({_keys(c)}).", f"{subject}: изменены и другие свойства ({_keys(c)}).",
                  f"{subject}: other properties changed ({_keys(c)}).")


def _launch(w: Words, c: Change) -> str:
    if c.what == "start":
        new, old = w.start(c.new), w.start(c.old)
        return w.pick(f"Істің бастапқы күйі: {new} (бұрын — {old}).", f"Начальный статус случая: {new} (было — {old}).",
                      f"A case starts in {new} (was {old}).")
    if c.what == "late":
        if c.new is None:
            return w.pick("Кешігіп хабарлау ережесі алынып тасталды.", "Правило об опоздании с сообщением удалено.",
                          "The late-report rule is removed.")
        late = c.new
        f, after = w.field(w.new.raw["launch"]["data"], late["from"]), w.deadline(late["after"])
        head = w.pick("Жаңа ереже", "Новое правило", "New rule") if c.old is None else w.pick("Ереже өзгерді", "Правило изменено", "Changed rule")
        return w.pick(f"{head}: {f} өрісіндегі сәттен бастап {after} өткеннен кейін іске қосылған іс кешігіп хабарланған "
                      f"деп белгіленеді (`{late['record']}`).",
                      f"{head}: случай, запущенный позже чем через {after} после момента из поля {f}, отмечается как "
                      f"поданный с опозданием (`{late['record']}`).",
                      f"{head}: a case launched more than {after} after {f} is recorded as reported late (`{late['record']}`).")
    if c.what == "actors":
        new, old = w.bodies(c.new), w.bodies(c.old)
        return w.pick(f"Істі іске қоса алатындар: {new} (бұрын — {old}).", f"Запускать случай могут: {new} (было — {old}).",
                      f"Cases may be launched by {new} (was {old}).")
    if c.what in ("added", "removed", "role"):
        role = w.role(c.subject)
        verb = {"added": ("жаңа рөл", "новая роль", "new role"), "removed": ("алынып тасталған рөл", "удалена роль", "removed role"),
                "role": ("өзгерген рөл", "изменена роль", "changed role")}[c.what]
        return f"{w.three(verb).capitalize()}: {role}."
    return w.pick(f"Іске қосудың басқа баптаулары өзгерді ({_keys(c)}).", f"Изменены и другие настройки запуска ({_keys(c)}).",
                  f"Other launch settings changed ({_keys(c)}).")


def _escalation(w: Words, c: Change) -> str:
    if c.what == "subordination":
        new, old = w.three(SUBORDINATION[c.new]), w.three(SUBORDINATION[c.old])
        return w.pick(f"Эскалация енді {new} жүреді (бұрын — {old}).", f"Эскалация теперь идёт {new} (было — {old}).",
                      f"Escalation now goes {new} (was {old}).")
    body = w.body_name(c.subject)
    new, old = (w.body(v) if v else w.pick("жоқ", "нет", "none") for v in (c.new, c.old))
    return w.pick(f"«{body}» органының жоғары тұрған органы: {new} (бұрын — {old}).",
                  f"Вышестоящий орган для органа «{body}»: {new} (было — {old}).",
                  f"The parent body of {w.body(c.subject)}: {new} (was {old}).")


_SENTENCES: dict[str, Callable[[Words, Change], str]] = {
    "renamed": _renamed, "notify_added": _notify, "notify_removed": _notify,
    **{k: _field for k in ("field_added", "field_removed", "field_required", "field_values", "field_other")},
}
_GROUP_SENTENCES: dict[str, Callable[[Words, Change], str]] = {
    "states": _state, "tasks": _task, "triggers": _trigger, "ladders": _ladder, "timers": _timer,
    "launch": _launch, "escalation": _escalation, "outcomes": _outcome,
}
