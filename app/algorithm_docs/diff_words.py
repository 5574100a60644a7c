"""The parts of a definition in Kazakh, Russian or English, for `qorgau diff`: names (the definitions'
own kk/ru/en titles), bodies (the official terms of `app/web/value_words.py`), deadlines, conditions,
ladder steps and who they reach. English reuses the docs pages' words (words.py); Kazakh and Russian
are written here, with counted nouns in the forms that need no declension."""
from __future__ import annotations

from typing import Any

from algorithms.definition import ANY, NON_FINAL, RETURN, SAME, Definition
from algorithms.schema import Deadline, Guard
from app.web.i18n import pick, t as page_word
from app.web.value_words import BODY_TYPES, VALUES
from notifications.phrases import ru_plural
from states.guards import describe

from app.algorithm_docs import words as en_words


LANGS = ("kk", "ru", "en")
_I = {lang: i for i, lang in enumerate(LANGS)}

# Republic-level body types (value_words names only the regional ones): the directory's names, short.
REPUBLIC_BODIES: dict[str, tuple[str, str, str]] = {
    "ministry_education": ("Оқу-ағарту министрлігі", "Министерство просвещения", "the Ministry of Education"),
    "ministry_health": ("Денсаулық сақтау министрлігі", "Министерство здравоохранения", "the Ministry of Health"),
    "ministry_interior": ("Ішкі істер министрлігі", "Министерство внутренних дел", "the Ministry of Internal Affairs"),
    "ministry_labour": ("Еңбек және халықты әлеуметтік қорғау министрлігі",
                        "Министерство труда и социальной защиты населения",
                        "the Ministry of Labour and Social Protection"),
    "government_office": ("Үкімет Аппараты", "Аппарат Правительства", "the Government Office"),
    "republic_body": ("республикалық мемлекеттік орган", "республиканский государственный орган", "a republic-level body"),
}
RECIPIENTS: dict[str, tuple[str, str]] = {  # kk, ru; English from words.RECIPIENT_WORDS
    "assignee": ("орындаушы", "исполнитель"),
    "assignee.parent": ("орындаушының жоғары тұрған органы", "вышестоящий орган исполнителя"),
    "assignee.top": ("орындаушының бағыну тізбегіндегі ең жоғарғы орган", "верхний орган в цепочке подчинённости исполнителя"),
    "assignee.line_ministry": ("орындаушының салалық министрлігі", "профильное министерство исполнителя"),
    "all_bound": ("іске бекітілген барлық органдар", "все органы, закреплённые за случаем"),
    "system": ("жүйе (таймер)", "система (таймер)"),
    "any_bound": ("іске бекітілген кез келген орган", "любой орган, закреплённый за случаем"),
}
_EN_RECIPIENTS = {**en_words.RECIPIENT_WORDS, "all_bound": "every body bound to the case",
                  **en_words.SPECIAL_ACTORS}
_EN_BODIES = {"health": "the health organisation"}  # value_words' label "Health" names the sector
LADDERS = {"standard": ("қалыпты", "обычная", "standard"), "urgent": ("шұғыл", "срочная", "urgent")}
TEMPLATES = {
    "case_opened": ("іс ашылғаны туралы", "об открытии случая", "case opened"),
    "task_assigned": ("тапсырма берілгені туралы", "о назначении задачи", "task assigned"),
    "reminder": ("мерзім жақындағаны туралы", "о приближении срока", "reminder"),
    "overdue": ("мерзімі өткені туралы", "о просрочке", "overdue"),
    "escalation": ("эскалация туралы", "об эскалации", "escalation"),
    "escalation_critical": ("сыни эскалация туралы", "о критической эскалации", "critical escalation"),
    "decision": ("шешім туралы", "о решении", "decision"),
    "case_transferred": ("іс берілгені туралы", "о передаче случая", "case transferred"),
    "case_closed": ("іс жабылғаны туралы", "о закрытии случая", "case closed"),
    "report_due": ("есеп мерзімі туралы", "о сроке отчёта", "report due"),
}
# unit -> (kk noun, ru forms for 1 / 2-4 / 5+); English from words.deadline_words
_UNITS = {
    "hours": ("сағат", ("час", "часа", "часов")),
    "working_days": ("жұмыс күні", ("рабочий день", "рабочих дня", "рабочих дней")),
    "days": ("күн", ("день", "дня", "дней")),
    "months": ("ай", ("месяц", "месяца", "месяцев")),
}


def _lower(text: str) -> str:
    """A body type's label inside a sentence: "Управление образования" -> "управление образования"."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


class Words:
    """Words of one language for the parts of two versions of one algorithm (titles from the newer
    version, or from the older for what it alone has)."""

    def __init__(self, lang: str, old: Definition, new: Definition):
        if lang not in LANGS:
            raise ValueError(f"language must be kk, ru or en, not {lang!r}")
        self.lang, self.old, self.new = lang, old, new

    def pick(self, kk: str, ru: str, en: str) -> str:
        return (kk, ru, en)[_I[self.lang]]

    def three(self, words: tuple[str, str, str]) -> str:
        return words[_I[self.lang]]

    def quote(self, text: str) -> str:
        return f"“{text}”" if self.lang == "en" else f"«{text}»"

    # --- names: the definitions' own titles -------------------------------------------------------------

    def title(self, titles: Any) -> str:
        return pick(titles, self.lang)

    def _named(self, part: str, name: str) -> str:
        for d in (self.new, self.old):
            found = getattr(d.spec, part).get(name)
            if found is not None:
                titles = found if part == "outcomes" else found.title
                return f"{self.quote(self.title(titles))} (`{name}`)"
        return f"`{name}`"

    def state(self, name: str) -> str:
        return self._named("states", name)

    def task(self, kind: str) -> str:
        return self._named("task_kinds", kind)

    def trigger(self, name: str) -> str:
        return self._named("triggers", name)

    def outcome(self, name: str) -> str:
        return self._named("outcomes", name)

    def role(self, name: str) -> str:
        return self._named("roles", name)

    def field(self, fields: dict, name: str) -> str:
        spec = fields.get(name) or {}
        return f"{self.quote(self.title(spec['title']))} (`{name}`)" if spec.get("title") else f"`{name}`"

    def any_of(self, items: list[str]) -> str:
        return self.pick(" немесе ", " или ", " or ").join(items)

    # --- bodies and who is told ---------------------------------------------------------------------------

    def body(self, body: str) -> str:
        """A body type, or a role the algorithm binds (its title), as it reads inside a sentence."""
        the = "the " if self.lang == "en" else ""
        for d in (self.new, self.old):
            if body in d.spec.roles:
                return the + _lower(self.title(d.spec.roles[body].title))
        if self.lang == "en" and body in _EN_BODIES:
            return _EN_BODIES[body]
        if body in BODY_TYPES:
            return the + _lower(self.three(BODY_TYPES[body]))
        if body in REPUBLIC_BODIES:
            return self.three(REPUBLIC_BODIES[body])
        return f"`{body}`"

    def body_name(self, body: str) -> str:
        """A body type's name as a label, for inside quotes: «Управление образования»."""
        return self.three(BODY_TYPES[body]) if body in BODY_TYPES else self.body(body)

    def bodies(self, bodies: list[str]) -> str:
        return ", ".join(self.recipient(b) for b in bodies)

    def recipient(self, token: str) -> str:
        """Who a ladder step or a notification reaches: `assignee...`, `all_bound`, `X.parent`, a body."""
        if token in RECIPIENTS:
            return _EN_RECIPIENTS[token] if self.lang == "en" else RECIPIENTS[token][_I[self.lang]]
        if token.endswith(".parent"):
            of = token.removesuffix(".parent")
            return self.pick(f"«{self.body_name(of)}» органының жоғары тұрған органы",
                             f"вышестоящий орган для органа «{self.body_name(of)}»", f"the parent body of {self.body(of)}")
        return self.body(token)

    def template(self, name: str) -> str:
        words = TEMPLATES.get(name)
        if words is None:
            return f"`{name}`"
        return self.pick(f"{words[0]} хабарлама (`{name}`)", f"уведомление {words[1]} (`{name}`)",
                         f"the “{words[2]}” notification (`{name}`)")

    def ladder(self, name: str) -> str:
        words = LADDERS.get(name)
        if not words or self.three(words) == name:
            return self.quote(name) if words else f"`{name}`"
        return f"{self.quote(self.three(words))} (`{name}`)"

    def step(self, step: str) -> str:
        return self.quote(page_word(f"step.{step}", self.lang))

    # --- deadlines and times ------------------------------------------------------------------------------

    def deadline(self, rule: Any) -> str:
        """One deadline rule, or a list of rules with conditions, in words."""
        if isinstance(rule, list):
            rules = [Deadline.model_validate(r) for r in rule]
            if self.lang == "en":
                return en_words.deadline_list_words(rules)
            return "; ".join(self._conditional(r, i) for i, r in enumerate(rules))
        d = rule if isinstance(rule, Deadline) else Deadline.model_validate(rule)
        if self.lang == "en":
            return en_words.deadline_words(d)
        n, unit = d.amount, d.unit
        if unit == "working_days" and n == 0:
            return self.pick("сол жұмыс күнінің соңына дейін", "до конца того же рабочего дня", "")
        if unit in _UNITS:
            kk, ru = _UNITS[unit]
            return self.pick(f"{n} {kk}", f"{n} {ru_plural(n, ru)}", "")
        if unit == "day_of_next_month":
            return self.pick(f"кезеңнен кейінгі айдың {n}-күні", f"{n}-е число месяца, следующего за периодом", "")
        return self.pick(f"кезеңнен кейінгі айдың {n}-күніне дейінгі соңғы жұмыс күні",
                         f"последний рабочий день перед {n}-м числом месяца, следующего за периодом", "")

    def _conditional(self, rule: Deadline, index: int) -> str:
        text = self.deadline(rule)
        if rule.when is not None:
            return self.pick(f"{self.guard(rule.when)} болса — {text}", f"{text}, если {self.guard(rule.when)}", "")
        return self.pick(f"әйтпесе {text}", f"иначе {text}", "") if index else text

    def ladder_time(self, at: Any) -> str:
        if self.lang == "en":
            return en_words.ladder_time_words(at)
        if at == "due":
            return self.pick("мерзім біткен сәтте", "в момент истечения срока", "")
        if at == "reminder_0900":
            return self.pick("мерзім күні сағат 09:00-де (тапсырма кемінде бір күн бұрын ашылса)",
                             "в 09:00 в день срока (если задача открыта хотя бы за день)", "")
        if isinstance(at, dict) and "working_day_after" in at:
            n = int(at["working_day_after"])
            return self.pick(f"мерзімнен кейінгі {n}-жұмыс күні сағат 18:00-де",
                             f"в 18:00 {n}-го рабочего дня после срока", "")
        if isinstance(at, dict) and isinstance(at.get("after_due"), dict) and "hours" in at["after_due"]:
            after = self.deadline({"hours": int(at["after_due"]["hours"])})
            return self.pick(f"мерзімнен {after} өткен соң", f"через {after} после срока", "")
        return f"`{at}`"

    # --- conditions ----------------------------------------------------------------------------------------

    def guard(self, guard: Any) -> str:
        """A condition in words; English is the docs pages' own reading (words.guard_words)."""
        g = guard if isinstance(guard, Guard) else Guard.model_validate(guard)
        if self.lang == "en":
            return en_words.guard_words(g)
        if g.field:
            return self._field_guard(g)
        if g.all:
            return self.pick(" және ", " и ", "").join(self.guard(s) for s in g.all)
        if g.any:
            return self.any_of([self.guard(s) for s in g.any])
        if g.not_ is not None:
            return self._negated(g.not_)
        if g.elapsed_in_state is not None:
            return self._elapsed(g.elapsed_in_state, self.pick("іс осы күйге түскеннен бері", "с входа в текущий статус", ""))
        if g.elapsed_since_closed is not None:
            return self._elapsed(g.elapsed_since_closed, self.pick("іс жабылғаннан бері", "с закрытия случая", ""))
        if g.elapsed_since_event is not None:
            e = g.elapsed_since_event
            events = self._events(e.trigger)
            return self._elapsed(e, self.pick(f"соңғы {events} оқиғасынан бері", f"с последнего события {events}", ""))
        if g.task_open:
            return self.pick(f"{self.task(g.task_open)} тапсырмасы ашық", f"открыта задача {self.task(g.task_open)}", "")
        if g.event is not None:
            return self._event(g.event, present=True)
        ways = [self.pick("іске қосу кезінде", "при запуске", "") if t == "launch"
                else self.pick(f"{self.trigger(t)} әрекетімен", f"действием {self.trigger(t)}", "")
                for t in g.entered_by or []]
        return self.pick(f"іс бұл күйге {self.any_of(ways)} түскен", f"случай вошёл в статус {self.any_of(ways)}", "")

    def _field_guard(self, g: Guard) -> str:
        if g.is_set is not None:
            done = self.pick("толтырылған", "заполнено", "") if g.is_set else self.pick("толтырылмаған", "не заполнено", "")
            return f"`{g.field}` {done}"
        if g.matches is not None:
            return self.pick(f"`{g.field}` `{g.matches}` үлгісіне сәйкес", f"`{g.field}` соответствует `{g.matches}`", "")
        return f"`{describe(g.model_copy(update={'message': None}))}`"

    def _events(self, triggers: list[str]) -> str:
        return self.any_of([self.trigger(t) for t in triggers])

    def _event(self, event, present: bool) -> str:
        since = (self.pick(f"соңғы {self._events(event.since)} оқиғасынан кейін ",
                           f" после последнего события {self._events(event.since)}", "") if event.since else "")
        what = self._events(event.trigger)
        if present:
            return self.pick(f"істің тарихында {since}{what} оқиғасы бар", f"в истории случая есть событие {what}{since}", "")
        return self.pick(f"істің тарихында {since}{what} оқиғасы жоқ", f"в истории случая нет события {what}{since}", "")

    def _negated(self, inner: Guard) -> str:
        if inner.event is not None:
            return self._event(inner.event, present=False)
        if inner.task_open:
            return self.pick(f"{self.task(inner.task_open)} тапсырмасы ашық емес",
                             f"задача {self.task(inner.task_open)} не открыта", "")
        return self.pick(f"мына шарт орындалмайды: {self.guard(inner)}", f"не выполняется условие: {self.guard(inner)}", "")

    def _elapsed(self, e, since: str) -> str:
        bound = self.deadline(e.at_least or e.at_most)
        if e.at_least:
            return self.pick(f"{since} кемінде {bound} өткен", f"{since} прошло {bound} или больше", "")
        return self.pick(f"{since} {bound} әлі өтпеген", f"{since} прошло {bound} или меньше", "")

    # --- where a case moves -------------------------------------------------------------------------------

    def states_from(self, sources: list[str], except_: list[str]) -> str:
        names = [self.pick("кез келген аяқталмаған күй", "любой незавершённый статус", "any non-final state")
                 if s == NON_FINAL else self.pick("кез келген күй", "любой статус", "any state") if s == ANY
                 else self.state(s) for s in sources]
        text = ", ".join(names)
        if except_:
            others = ", ".join(self.state(e) for e in except_)
            text += self.pick(f" ({others} қоспағанда)", f", кроме {others}", f" except {others}")
        return text

    def move(self, transition: dict) -> str:
        """One transition: from → to, with its condition and outcome."""
        sources = transition["from"] if isinstance(transition["from"], list) else [transition["from"]]
        start = self.states_from(sources, transition.get("except") or [])
        to = transition["to"]
        if to == SAME:
            text = start + self.pick(": күй өзгермейді", ": статус не меняется", ": the state stays the same")
        elif to == RETURN:
            text = start + " → " + self.pick("іс келген күйге қайта", "обратно в статус, из которого пришёл случай",
                                             "back to the state the case came from")
        else:
            text = f"{start} → {self.state(to)}"
        if transition.get("when"):
            cond = self.guard(transition["when"])
            text += self.pick(f" ({cond} болса)", f", если {cond}", f" {en_words.when_words(Guard.model_validate(transition['when']))}")
        if transition.get("outcome"):
            text += self.pick(", нәтижесі ", ", итог ", ", outcome ") + self.outcome(transition["outcome"])
        return text

    def start(self, start: Any) -> str:
        """Where a launched case starts: one state, or routes with conditions."""
        if isinstance(start, str):
            return self.state(start)
        parts = []
        for i, route in enumerate(start):
            where = self.state(route["to"])
            if route.get("when"):
                cond = self.guard(route["when"])
                parts.append(self.pick(f"{cond} болса — {where}", f"{where}, если {cond}", f"{where} when {cond}"))
            else:
                parts.append(self.pick(f"әйтпесе {where}", f"иначе {where}", f"otherwise {where}") if i else where)
        return "; ".join(parts)

    def values(self, values: list[str] | None) -> str:
        if not values:
            return "—"
        return ", ".join(_lower(self.three(VALUES[v])) if v in VALUES else f"`{v}`" for v in values)
