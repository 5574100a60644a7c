"""The "Changes from version N-1" section: the rules of version-2.md traced to the definition's
`source:` strings, and every other difference between two versions."""
from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from algorithms.definition import Definition
from algorithms.schema import FIELD_TYPES, Deadline, FieldSpec, Guard

from app.algorithm_docs.markdown import code, or_list
from app.algorithm_docs.words import (RECIPIENT_WORDS, SUBORDINATION_WORDS, deadline_list_words, deadline_words,
                                      field_words, from_words, guard_words, recipient_words, when_words)


# The rules of version-2.md (title, what changed in a coordinator's words); C1-C5 apply to every
# algorithm, the others to the algorithm of their letter.
RULES: dict[str, tuple[str, str]] = {
    "C1": ("Escalation follows the line of subordination",
           "a task escalates to its owner's own parent in the directory (health → the regional health "
           "department, social services → the regional department of employment and social programmes, "
           "guardianship → the education department); the critical step reaches the region's akimat and "
           "the assignee's line ministry."),
    "C2": ("Decisions are taken only by the body that owns them",
           "a decision may be taken only by a body bound to the case in one of the trigger's actor types; "
           "a supervisor may not take it in its place (`forbidden`). Supervisors may still fire every "
           "other trigger."),
    "C3": ("Closing cancels other bodies' work; it never marks it done",
           "a closing trigger completes only the tasks it names (the closing body's own); every other open "
           "task is cancelled, whichever body owns it. Compliance figures count cancelled tasks apart and "
           "never as on time."),
    "C4": ("Transfer and withdraw per algorithm",
           "`transfer` applies to violence-report, suicide-response and social-patronage, not to "
           "plan-reporting; in plan-reporting only `ministry_education` may withdraw a case, as its decision."),
    "C5": ("Texts of spawned cases",
           "a spawned case's summary and reasons are written in Kazakh and Russian (\"kk text / ru text\"), "
           "never in English."),
    "V1": ("Immediate danger at launch",
           "launch field `immediate_danger`: when true the case starts in `emergency_protection` with that "
           "state's tasks plus the police check and, for physical or sexual violence, the medical "
           "examination; `case_opened` also goes to guardianship."),
    "V2": ("Duty to report",
           "launch fields `detected_at` (not in the future, at most a year back) and `reporter`; a case "
           "launched more than 24 hours after the detection is recorded as reported late (suggested "
           "default). A violence report launched by another case takes the launching event's time and "
           "reporter `other`."),
    "V3": ("Police registration",
           "`police_check_done` gains `register` (ЕРДР or КУИ; required unless there was no offence) and "
           "`registry_number` (required with a register; digits and dashes, at most 30 characters)."),
    "V4": ("Placement is guardianship's decision",
           "`child_safe` completes only `ensure_safety`; `placement_decision` stays open until guardianship "
           "takes its decision `placement_decided` (family, relatives, foster family, crisis centre or "
           "hospital)."),
    "V5": ("Bullying is reviewed by the school's prevention council",
           "`decide_bullying` is owed by the school (3 working days); the school takes the decisions "
           "`bullying_recognised` and `bullying_not_recognised`, and `decision` goes to the education "
           "department and the school."),
    "V6": ("Appeal under АППК",
           "an appeal may be filed within 3 months of the original decision not to recognise bullying, once "
           "per decision. The school reviews it (3 working days, АППК art. 91(4)) and grants or forwards it; "
           "the education department then upholds or rejects it (20 working days, АППК art. 100)."),
    "V7": ("The 6-month КДН clock runs from the approved plan",
           "the timer that opens `decide_kdn_referral` runs from `plan_approved`, not from the last entry "
           "into `monitoring`: a consilium round trip does not restart it; `continue_monitoring` does."),
    "V8": ("A consilium returns the case where it came from",
           "`consilium_done` moves the case back to the state from which it was referred (`support_plan` "
           "or `monitoring`)."),
    "V9": ("Closing", "`resolved` completes `monitoring_review` and cancels every other open task (C3)."),
    "V10": ("Intra-school registration ends",
            "new trigger `deregistered` (school, in `monitoring`, a reason required), allowed when the "
            "approved plan put the child on the intra-school register and the child has not been "
            "deregistered since."),
    "S1": ("No working-day wait for a child at risk",
           "`risk_screening` is due within 24 hours on the urgent ladder, not at the end of a working day; "
           "`case_opened` for signs also goes to the education department."),
    "S2": ("Obstruction goes to the КДН",
           "new state `kdn_review` (`kdn_decision`, 15 working days); `refer_to_kdn` from `support_plan` or "
           "`follow_up`; the commission's decision `kdn_decided` returns the case to the state it was "
           "referred from."),
    "S3": ("Closing", "`close` completes `follow_up_contact` and cancels every other open task (C3)."),
    "P1": ("Unknown is unknown",
           "`children_count` is optional (absent = unknown); a patronage case launched by a violence report "
           "carries no `children_count` and `category_hint: unknown`."),
    "P2": ("Closing", "`exit_completed` completes `exit_review` and cancels every other open task (C3)."),
    "R1": ("The plan has a span",
           "cases are launched only for quarters and half-years inside a plan's span (the decree's: 2023-Q3 "
           "to 2025-Q4, 2023-H2 to 2025-H2); a period covered by no plan is refused (`invalid_data` naming "
           "`period`)."),
    "R2": ("Executors that no longer exist",
           "the plan catalogue maps an executor reorganised in 2023 to its successors from the date of the "
           "reorganisation; a period that starts after it is reported by the successors."),
    "R3": ("Due dates as written",
           "quarterly reports are due at 18:00 on the 10th of the next month (moved to a working day); the "
           "half-year consolidated report at 18:00 on the last working day before the 10th."),
    "R4": ("No transfer; withdraw by the Ministry of Education only",
           "plan reports cannot be transferred; only `ministry_education` may withdraw one, as its decision "
           "(C4)."),
}
RULE_LETTER = {"violence-report": "V", "suicide-response": "S", "social-patronage": "P", "plan-reporting": "R"}
_RULE_REF = re.compile(r"version-2\.md\s+([^:;(]*)")
_RULE_ID = re.compile(r"\b([CVSPR]\d{1,2})\b")


def rules_for(algorithm_id: str) -> list[str]:
    """The rule ids of version-2.md that apply to an algorithm: C1-C5 and those of its letter."""
    letter = RULE_LETTER.get(algorithm_id)
    return [r for r in RULES if r.startswith("C") or (letter and r.startswith(letter))]


def rule_ids(source: str) -> list[str]:
    """`"version-2.md C2, V3 (plan item 16)"` -> ["C2", "V3"]."""
    return [r for m in _RULE_REF.finditer(source) for r in _RULE_ID.findall(m.group(1))]


@dataclass
class _Element:
    label: str
    value: Any  # the element's YAML content without `source` strings
    sources: list[str]

    @property
    def rules(self) -> list[str]:
        return [r for src in self.sources for r in rule_ids(src)]


def _strip_sources(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_sources(v) for k, v in value.items() if k != "source"}
    if isinstance(value, list):
        return [_strip_sources(v) for v in value]
    return value


def _sources_in(value: Any) -> list[str]:
    out: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "source" and isinstance(v, str):
                out.append(v)
            else:
                out += _sources_in(v)
    elif isinstance(value, list):
        for v in value:
            out += _sources_in(v)
    return out


def elements_of(d: Definition) -> dict[tuple, _Element]:
    """The merged definition cut into the pieces a change is reported on: launch settings and fields,
    states (without their tasks and timers), each state's tasks and timers, triggers, ladders, task
    kinds, outcomes, roles and top-level settings."""
    raw = d.raw
    out: dict[tuple, _Element] = {}

    def add(key: tuple, label: str, value: Any, sources: list[str] | None = None) -> None:
        out[key] = _Element(label, _strip_sources(value), sources if sources is not None else _sources_in(value))

    for key in ("title", "reference_prefix", "sources", "subordination", "common"):
        if key in raw:
            add(("setting", key), f"definition {code(key)}", raw[key], _sources_in(raw[key]) if key == "common" else [])
    launch = raw.get("launch") or {}
    late = launch.get("late") or {}
    for key, value in launch.items():
        if key == "data":
            continue
        label = {"routes": "launch routes", "initial": "start state", "late": "late-report rule"}.get(key, f"launch {code(key)}")
        add(("launch", "start" if key in ("routes", "initial") else key), label, value)
    for name, value in (launch.get("data") or {}).items():
        src = [late["source"]] if late.get("from") == name and late.get("source") else []
        add(("launch.data", name), f"launch field {code(name)}", value, src + _sources_in(value))
    for name, value in (raw.get("roles") or {}).items():
        add(("role", name), f"role {code(name)}", value)
    for name, st in (raw.get("states") or {}).items():
        rest = {k: v for k, v in st.items() if k not in ("tasks", "timers")}
        add(("state", name), f"state {code(name)}", rest)
        seen: dict[str, int] = defaultdict(int)
        for task in st.get("tasks") or []:
            kind = task.get("kind")
            seen[kind] += 1
            add(("task", name, kind, seen[kind]), f"task {code(kind)} in {code(name)}", task)
        for timer in st.get("timers") or []:
            add(("timer", name, timer.get("name")), f"timer {code(timer.get('name'))} in {code(name)}", timer)
    for name, value in (raw.get("triggers") or {}).items():
        common = " (cross-cutting)" if name in d.common_triggers else ""
        add(("trigger", name), f"trigger {code(name)}{common}", value)
    for name, value in (raw.get("ladders") or {}).items():
        add(("ladder", name), f"ladder {code(name)}", value)
    for name, value in (raw.get("task_kinds") or {}).items():
        add(("task_kind", name), f"task kind {code(name)}", value)
    for name, value in (raw.get("outcomes") or {}).items():
        add(("outcome", name), f"outcome {code(name)}", value)
    return out


def differing_elements(d: Definition, previous: Definition) -> list[tuple[tuple, _Element | None, _Element | None]]:
    """The elements that differ between two versions (`source:` strings aside), as (key, element in
    `d`, element in `previous`), None where a side lacks it: `d`'s order, then those only `previous` has.
    Both this page's "Changes" section and `qorgau diff` (diff.py) start from this one comparison."""
    new, old = elements_of(d), elements_of(previous)
    out = []
    for key in list(new) + [k for k in old if k not in new]:
        n, o = new.get(key), old.get(key)
        if n is None or o is None or n.value != o.value:
            out.append((key, n, o))
    return out


_DEADLINE_KEYS = ("deadline", "after", "within_past", "at_most", "at_least", "ensure_completion")


def _brief(value: Any, path: str = "") -> str:
    """A changed value in words where its kind is known (deadline, field, condition), else compact."""
    last = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])
    if isinstance(value, dict):
        try:
            if last in _DEADLINE_KEYS:
                return deadline_words(Deadline.model_validate(value))
            if last in ("when", "guard", "required_when", "all", "any", "not"):
                return guard_words(Guard.model_validate(value))
            if value.get("type") in FIELD_TYPES and (path.startswith("data.") or not path):
                return field_words(last, FieldSpec.model_validate(value)).split(": ", 1)[1]
        except ValueError:  # not of that kind after all: shown as written
            pass
    if isinstance(value, list) and last == "deadline":
        try:
            return deadline_list_words([Deadline.model_validate(v) for v in value])
        except ValueError:
            pass
    if isinstance(value, list) and last == "to" and ".steps[" in f".{path}" and all(isinstance(v, str) for v in value):
        return ", ".join(RECIPIENT_WORDS.get(t, f"the case's {code(t)}") for t in value)
    if isinstance(value, list) and value and all(isinstance(v, dict) and v.get("from") == "launch" for v in value):
        return "; ".join(f"{code(v.get('to'))} " + (when_words(Guard.model_validate(v["when"])) if v.get("when")
                                                      else "otherwise") for v in value)
    if isinstance(value, str):
        return f"«{value}»"
    return code(json.dumps(value, ensure_ascii=False, sort_keys=False))


def _diff(old: Any, new: Any, path: str = "") -> list[str]:
    """The differences between two YAML values, one phrase each, by dotted path."""
    if old == new:
        return []
    atomic = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1]) in _DEADLINE_KEYS
    if isinstance(old, dict) and isinstance(new, dict) and not atomic:
        out = []
        for k in list(new) + [k for k in old if k not in new]:
            sub = f"{path}.{k}" if path else str(k)
            if k not in old:
                out.append(f"adds {code(sub)}: {_brief(new[k], sub)}")
            elif k not in new:
                out.append(f"drops {code(sub)} (was {_brief(old[k], sub)})")
            else:
                out += _diff(old[k], new[k], sub)
        return out
    if isinstance(old, list) and isinstance(new, list):
        if len(old) == len(new) and all(isinstance(v, dict) for v in old + new):
            return [line for i, (a, b) in enumerate(zip(old, new)) for line in _diff(a, b, f"{path}[{i + 1}]")]
        if all(isinstance(v, dict) for v in old + new) or any(isinstance(v, dict) for v in old + new):
            added = [v for v in new if v not in old]
            dropped = [v for v in old if v not in new]
            where = f" {code(path)}" if path else ""
            return ([f"adds to{where}: {_brief(v, path)}" for v in added]
                    + [f"drops from{where}: {_brief(v, path)}" for v in dropped])
    return [f"{code(path) + ': ' if path else ''}{_brief(old, path)} → {_brief(new, path)}"]


def element_change(new: _Element | None, old: _Element | None, before: int) -> str:
    if old is None:
        return f"new (not in version {before})"
    if new is None:
        return "removed"
    if new.value == old.value:
        return f"as in version {before}"
    return "changed: " + "; ".join(_diff(old.value, new.value))


def changes_section(d: Definition, previous: Definition | None) -> list[str]:
    """What changed since the version before; on a version-2 page, every rule of version-2.md
    with what changed, what this definition does for it and the `source:` strings naming it."""
    prev = previous
    if prev is None and d.version != 2:
        return []
    before = prev.version if prev is not None else d.version - 1
    elements = elements_of(d)
    old = elements_of(prev) if prev is not None else {}
    out = [f"## Changes from version {before}", ""]
    named: set[tuple] = set()
    if d.version == 2:
        rules = rules_for(d.id)
        out += [f"Version 2 applies the rules of `version-2.md` to this algorithm: "
                f"{', '.join(rules)}. For each rule: what changed, what this definition does for it, "
                "and the `source:` strings in the definition that name it. Everything no rule names "
                "is as in version 1; the last list shows every other difference.", ""]
        for rule in rules:
            title, summary = RULES[rule]
            out += [f"### {rule}. {title}", "", f"What changed: {summary}", ""]
            derived = rule_evidence(d, rule)
            if derived:
                out += ["In this definition:", ""] + [f"- {line}" for line in derived] + [""]
            traced = [(key, el) for key, el in elements.items() if rule in el.rules]
            named |= {key for key, _ in traced}
            if traced:
                out += [f"Sources naming {rule}:", ""]
                for key, el in traced:
                    srcs = "; ".join(f"«{src}»" for src in el.sources if rule in rule_ids(src))
                    out.append(f"- {el.label}: {element_change(el, old.get(key), before)} — source: {srcs}")
                out.append("")
            else:
                out += [f"Sources naming {rule}: none — no `source:` in this definition names {rule}.", ""]
    if prev is None:
        return out
    other = []
    for key, new_el, old_el in differing_elements(d, prev):
        if key in named:
            continue
        el = new_el or old_el
        other.append(f"- {el.label}: {element_change(new_el, old_el, before)}")
    title = "Other differences" if d.version == 2 else "Differences"
    out += [f"### {title} from version {before}", ""]
    out += other or ["- none"]
    return out + [""]


def rule_evidence(d: Definition, rule: str) -> list[str]:
    """What the definition does for a common rule, read from its structure (not from `source:`)."""
    spec = d.spec
    out: list[str] = []
    if rule == "C1":
        out.append(f"escalation line: {SUBORDINATION_WORDS[spec.subordination]}")
        for name, ladder in spec.ladders.items():
            for st in ladder.steps:
                if st.step == "critical":
                    out.append(f"ladder {code(name)}, critical step → {recipient_words(st)}")
    elif rule == "C2":
        for name, tr in spec.triggers.items():
            if tr.decision:
                out.append(f"{code(name)}: decision of the {or_list(tr.actors)} bound to the case")
        if not out:
            out.append("no trigger of this algorithm is a decision")
    elif rule == "C3":
        for name, tr in spec.triggers.items():
            closing = [t for t in tr.transitions if t.to in d.final_states]
            if not closing:
                continue
            moves = ", ".join(f"{from_words(t.sources(), t.except_)} → {code(t.to)}" for t in closing)
            if tr.completes == "all":
                done = "completes all open tasks (version 1's rule)"
            elif tr.completes:
                done = "completes " + ", ".join(code(k) for k in tr.completes) + "; every other open task is cancelled"
            else:
                done = "every open task is cancelled"
            out.append(f"{code(name)} ({moves}): {done}")
    elif rule == "C4":
        use = spec.common
        for name in ("transfer", "withdraw"):
            tr = spec.triggers.get(name)
            if tr is None:
                out.append(f"{code(name)}: left out (firing it is `unknown_trigger`)")
            else:
                out.append(f"{code(name)}: fired by {or_list(tr.actors)}" + ("; a decision" if tr.decision else ""))
        if use and use.amend:
            out.append("amended cross-cutting triggers: " + ", ".join(code(n) for n in use.amend))
    elif rule == "C5":
        for name, tr in spec.triggers.items():
            for sp in tr.spawn:
                texts = {k: v for k, v in sp.data.items() if k in ("summary", "reasons")}
                words = "; ".join(f"{code(k)} = «{v if isinstance(v, str) else ' | '.join(map(str, v))}»"
                                  for k, v in texts.items()) or "no summary or reasons of its own"
                out.append(f"{code(name)} launches [{sp.algorithm}]({sp.algorithm}.md): {words}")
        if not out:
            out.append("this algorithm launches no other case")
    elif rule == "R1":
        for name, f in spec.launch.data.items():
            if f.within_plan:
                out.append(f"launch field {code(name)}: {field_words(name, f).split(': ', 1)[1]}")
    elif rule == "R2":
        out.append("the executors' successors are kept in the plan catalogue (`algorithms/data/`), "
                   "not in this definition")
    return out
