"""The parts of a definition in a coordinator's words: conditions, deadlines, fields, notifications,
ladder steps and their recipients, roles and the common file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from algorithms.definition import ANY, NON_FINAL
from algorithms.loader import ALGORITHMS_DIR
from algorithms.schema import Deadline, FieldSpec, Guard, NotifySpec, TaskSpec
from states.guards import describe
from states.sweep import DEFAULT_RECIPIENTS

from app.algorithm_docs.markdown import code, ordinal, or_list, plural, repo_path, value_text


OVERRIDE_NOTE = ("Sources marked **suggested default** are not fixed by a legal text: a deployment may "
                 "override those deadlines (QORGAU_DEADLINE_OVERRIDES, `algorithm: {task kind: rule}`).")
SPECIAL_ACTORS = {"system": "system (timer)", "any_bound": "any body bound to the case"}
RECIPIENT_WORDS = {"assignee": "the assignee", "assignee.parent": "the assignee's parent body",
                   "assignee.top": "the top of the assignee's chain",
                   "assignee.line_ministry": "the assignee's line ministry"}
SUBORDINATION_WORDS = {
    "spec_2023": "`spec_2023`, the parent types version 1 was written for (spec README, \"Bodies\")",
    "directory": "`directory`, the line of subordination: each body's own parent in the directory (version 2, rule C1)",
}


def when_words(guard: Guard | None) -> str:
    """A condition in words: comparisons as code (`states.guards.describe`), the case's history and
    clocks in words; a guard's own `message` reads as prose, followed by the rule it checks."""
    if guard is None:
        return ""
    return f"when {guard_words(guard)}"


def _elapsed_words(e) -> str:
    return f"{'at least' if e.at_least else 'at most'} {deadline_words(e.at_least or e.at_most)}"


def guard_words(g: Guard) -> str:
    """A guard in words a coordinator reads. A `message` is the guard's own prose; on a guard over the
    case's history (events, time since an event) the rule it checks follows in brackets."""
    if g.message:
        inner = g.not_ if g.not_ is not None else g
        if inner.event is None and inner.elapsed_since_event is None:
            return g.message
        return f"{g.message} ({_guard_formal(g)})"
    return _guard_formal(g)


def _guard_formal(g: Guard) -> str:
    if g.field:
        return code(describe(g.model_copy(update={"message": None})))
    if g.all:
        return " and ".join(guard_words(s) for s in g.all)
    if g.any:
        return "either " + " or ".join(guard_words(s) for s in g.any)
    if g.not_ is not None:
        inner = g.not_
        if inner.event is not None and not inner.message:
            return "no " + _event_words(inner.event)
        if inner.task_open and not inner.message:
            return f"task {code(inner.task_open)} is not open"
        return f"not ({guard_words(inner)})"
    if g.elapsed_in_state is not None:
        return f"the case has been in its state for {_elapsed_words(g.elapsed_in_state)}"
    if g.elapsed_since_closed is not None:
        return f"{_elapsed_words(g.elapsed_since_closed)} since the case was closed"
    if g.task_open:
        return f"task {code(g.task_open)} is open"
    if g.event is not None:
        return "the case's history holds " + _event_words(g.event)
    if g.elapsed_since_event is not None:
        e = g.elapsed_since_event
        return f"{_elapsed_words(e)} since the latest {or_list(e.trigger)} event"
    return "the case entered its state by " + or_list(["launch" if t == "launch" else t for t in g.entered_by or []])


def _event_words(event) -> str:
    text = f"{or_list(event.trigger)} event"
    if event.since:
        text += f" after the latest {or_list(event.since)}"
    return text


def source_words(text: str | None) -> str:
    if not text:
        return "source: not stated"
    return "source: " + text.replace("suggested default", "**suggested default**")


def deadline_words(rule: Deadline) -> str:
    """`{working_days: 3}` -> "3 working days"; `{day_of_next_month: 10}` -> "10th of the month after the period";
    `{working_day_before_day_of_next_month: 10}` -> "the last working day before the 10th of the month after the period"."""
    n = rule.amount
    if rule.unit == "hours":
        return plural(n, "hour")
    if rule.unit == "working_days":
        return "end of the same working day" if n == 0 else plural(n, "working day")
    if rule.unit == "days":
        return plural(n, "day")
    if rule.unit == "months":
        return plural(n, "month")
    if rule.unit == "working_day_before_day_of_next_month":
        return f"the last working day before the {ordinal(n)} of the month after the period"
    return f"{ordinal(n)} of the month after the period"


def task_deadline_words(task: TaskSpec) -> str:
    return deadline_list_words(task.deadlines())


def deadline_list_words(rules: list[Deadline]) -> str:
    if len(rules) == 1 and rules[0].when is None:
        return deadline_words(rules[0])
    parts = []
    for i, rule in enumerate(rules):
        if rule.when is not None:
            parts.append(f"{deadline_words(rule)} {when_words(rule.when)}")
        else:
            parts.append(f"{'otherwise ' if i else ''}{deadline_words(rule)}")
    return "; ".join(parts)


FIELD_TYPE_WORDS = {
    "datetime": "datetime (a date and time with its offset)",
    "registry_number": "registry_number (digits and dashes; a typed registry field, so not refused as a personal number)",
}


def field_words(name: str, f: FieldSpec) -> str:
    parts = [FIELD_TYPE_WORDS.get(f.type, f.type)]
    if f.required:
        parts.append("required")
    if f.required_when is not None:
        parts.append(f"required {when_words(f.required_when)}, optional otherwise")
    if f.within_past is not None:
        parts.append(f"not in the future and at most {deadline_words(f.within_past)} before the moment it is entered")
    if f.within_plan:
        parts.append("a period inside the span of a plan in the plan catalogue (a period covered by none is refused)")
    if f.values:
        parts.append("one of " + ", ".join(code(v) for v in f.values))
    if f.body_type:
        parts.append(f"a {code(f.body_type)} body")
    if f.max_length is not None:
        parts.append(f"at most {f.max_length} characters")
    if f.min is not None:
        parts.append(f"min {f.min}")
    if f.max is not None:
        parts.append(f"max {f.max}")
    if f.non_empty:
        parts.append("non-empty")
    text = f"{code(name)}: {', '.join(parts)}"
    if f.items:
        text += " (each item: " + "; ".join(field_words(k, v) for k, v in f.items.items()) + ")"
    return text


def fields_words(data: dict[str, FieldSpec]) -> str:
    return "<br>".join(field_words(k, v) for k, v in data.items())


def notify_words(items: list[NotifySpec]) -> str:
    out = []
    for n in items:
        text = f"{code(n.template)} → {', '.join(code(t) for t in n.to)}"
        extra = [x for x in (when_words(n.when), source_words(n.source) if n.source else "") if x]
        out.append(text + (f" ({'; '.join(extra)})" if extra else ""))
    return "<br>".join(out)


def actors_words(actors: list[str]) -> str:
    return ", ".join(code(a) + (f" ({SPECIAL_ACTORS[a]})" if a in SPECIAL_ACTORS else "") for a in actors)


def from_words(sources: list[str], except_: list[str]) -> str:
    """Where a transition starts, in words: states, "any non-final state", "... except ..."."""
    words = []
    for s in sources:
        words.append("any non-final state" if s == NON_FINAL else "any state" if s == ANY else code(s))
    text = ", ".join(words)
    if except_:
        text += " except " + ", ".join(code(e) for e in except_)
    return text


def step_recipients(step) -> list[str]:
    return list(step.to) if step.to else list(DEFAULT_RECIPIENTS[step.step])


def recipient_words(step) -> str:
    """Who a ladder step reaches, in words; a step without `to` reaches version 1's recipients."""
    return ", ".join(RECIPIENT_WORDS.get(t, f"the case's {code(t)}") for t in step_recipients(step))


def _common_file(spec, definition_file: str) -> Path:
    name = spec.common.file if spec.common else "common.yaml"
    path = Path(definition_file).parent / name
    return path if path.exists() else ALGORITHMS_DIR / name


def common_words(spec, definition_file: str = "") -> str:
    """`algorithms/common-v2.yaml` (which extends `algorithms/common.yaml`)."""
    path = _common_file(spec, definition_file)
    text = code(repo_path(str(path)))
    try:
        extends = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("extends")
    except OSError:
        extends = None
    if extends:
        text += f" (which extends {code(repo_path(str(path.parent / extends)))})"
    return text


def ladder_time_words(at: Any) -> str:
    if at == "due":
        return "at the due time"
    if at == "reminder_0900":
        return "09:00 on the due date (tasks opened at least a day before)"
    if isinstance(at, dict) and "working_day_after" in at:
        return f"18:00 on the {ordinal(int(at['working_day_after']))} working day after the due date"
    if isinstance(at, dict) and "after_due" in at and isinstance(at["after_due"], dict) and "hours" in at["after_due"]:
        return f"{plural(int(at['after_due']['hours']), 'hour')} after the due time"
    return code(value_text(at))


def role_source_words(role) -> str:
    """How a role is bound at launch, in words."""
    if role.from_field:
        return f"the body named by launch field {code(role.from_field)}"
    return "; ".join(f"{code(c.body_type)} {when_words(c.when)}" if c.when else f"otherwise {code(c.body_type)}"
                     for c in role.choose)
