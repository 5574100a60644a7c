"""One algorithm version's page: header, diagram, launch, states, triggers, cross-cutting triggers,
outcomes, ladders, the line of subordination and the changes since the version before."""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable

from algorithms.definition import RETURN, SAME, Definition
from algorithms.schema import TaskSpec, TriggerSpec
from states.directory import LINE_MINISTRY, PARENT_TYPE, PARENT_TYPE_V1
from states.machines import mermaid

from app.algorithm_docs.changes import changes_section
from app.algorithm_docs.markdown import GENERATED, code, finish, or_list, repo_path, row, value_text
from app.algorithm_docs.words import (OVERRIDE_NOTE, RECIPIENT_WORDS, SUBORDINATION_WORDS, actors_words, common_words,
                                      deadline_words, field_words, fields_words, from_words, ladder_time_words,
                                      notify_words, recipient_words, role_source_words, source_words, step_recipients,
                                      task_deadline_words, when_words)


def render_page(definition: Definition, versions: Iterable[int] = (), previous: Definition | None = None) -> str:
    """The Markdown page of one algorithm version. `versions` (all known versions of the algorithm)
    adds a line linking the per-version pages; `previous` (the version before) adds what changed
    since it. A version-2 page traces every rule of version-2.md to the definition's `source:`."""
    return _Page(definition, sorted(set(versions)), previous).render()


class _Page:
    """One page: each section a method returning its lines."""

    def __init__(self, d: Definition, versions: list[int], previous: Definition | None = None):
        self.d = d
        self.spec = d.spec
        self.versions = versions
        self.previous = previous

    def task_name(self, kind: str) -> str:
        return f"**{self.d.task_title(kind)['en']}** ({code(kind)})"

    def state_name(self, name: str) -> str:
        st = self.spec.states.get(name)
        return f"{code(name)} ({st.title.en})" if st else code(name)

    def task(self, t: TaskSpec) -> str:
        parts = [f"{self.task_name(t.kind)}: {code(t.body)}, {task_deadline_words(t)}",
                 "no escalation" if t.ladder == "none" else f"ladder {code(t.ladder)}"]
        if t.persistent:
            parts.append("persistent (stays open across states)")
        if t.when is not None:
            parts.append(f"opened only {when_words(t.when)}")
        parts.append(source_words(t.source))
        return "; ".join(parts)

    # -- sections

    def render(self) -> str:
        out: list[str] = [GENERATED, ""]
        for section in (self.header, self.diagram, self.launch, self.states, self.triggers,
                        self.cross_cutting, self.outcomes, self.ladders, self.subordination, self.changes):
            out += section()
        return finish(out)

    def header(self) -> list[str]:
        s, d = self.spec, self.d
        out = [f"# {s.title.en} (v{s.version})", "",
               f"kk: {s.title.kk} · ru: {s.title.ru}", "",
               "| | |", "|---|---|",
               row("Id", code(s.id)),
               row("Version", str(s.version)),
               row("Content hash", code(d.content_hash[:12])),
               row("Reference prefix", code(s.reference_prefix)),
               row("Definition", code(repo_path(d.file))),
               row("Common file", common_words(self.spec, d.file)),
               row("Escalation line", SUBORDINATION_WORDS[self.spec.subordination])]
        if s.roles:
            out.append(row("Roles", "; ".join(f"{code(k)} ({v.title.en}): {role_source_words(v)}" for k, v in s.roles.items())))
        if self.previous is not None or self.d.version == 2:
            before = self.previous.version if self.previous is not None else self.d.version - 1
            what = "each rule of version-2.md traced to its source" if self.d.version == 2 else "what changed"
            out.append(row("Changes", f"[from version {before}](#changes-from-version-{before}): {what}"))
        if len(self.versions) > 1:
            latest = self.versions[-1]
            links = [f"[v{v}]({s.id}.v{v}.md)" + (" (latest)" if v == latest else "") for v in self.versions]
            out.append(row("Versions", ", ".join(links)))
        out += ["", "## Sources", ""]
        out += [f"- {src}" for src in s.sources] or ["- none listed"]
        return out + [""]

    def diagram(self) -> list[str]:
        common = ", ".join(code(t) for t in self.spec.triggers if t in self.d.common_triggers)
        note = "Triggers that keep the case in its state are not drawn."
        if common:
            note = f"The cross-cutting triggers ({common}) and triggers that keep the case in its state are not drawn."
        if any(e.returns_to for edges in self.d.edges.values() for e in edges):
            note += (" A trigger that takes the case back to the state it came from is drawn to each such state, "
                     "labelled “(return)”; a case takes only the edge to the state it came from.")
        return ["## Diagram", "", note, "", "```mermaid", mermaid_block(self.d), "```", ""]

    def launch(self) -> list[str]:
        la = self.spec.launch
        out = ["## Launch", "", f"- Who may launch: {actors_words(la.actors)}"]
        if la.initial:
            out.append(f"- Starts in {self.state_name(la.initial)}")
        else:
            out.append("- Starts in the first state whose condition holds:")
            out += [f"  {i}. {self.state_name(r.to)} {when_words(r.when) or 'otherwise'}".rstrip()
                    + (f" ({source_words(r.source)})" if r.source else "")
                    for i, r in enumerate(la.routes, 1)]
        if la.notify:
            out.append("- Notifies: " + notify_words(la.notify).replace("<br>", "; "))
        if la.unique:
            out.append("- At most one open case per " + ", ".join(code(u) for u in la.unique))
        if la.late is not None:
            late = la.late
            out.append(f"- Reported late: a case launched more than {deadline_words(late.after)} after "
                       f"{code(late.from_)} is recorded as reported late (case field {code(late.record)}, "
                       f"true or false; the launch event says by how much); {source_words(late.source)}")
        out += ["", "| Field | Title | Type and values |", "|---|---|---|"]
        for name, f in la.data.items():
            out.append(row(code(name), f.title.en if f.title else "", field_words(name, f).split(": ", 1)[1]))
        return out + [""]

    def states(self) -> list[str]:
        starts = {self.spec.launch.initial} | {r.to for r in self.spec.launch.routes}
        out = ["## States", "", OVERRIDE_NOTE, "",
               "| State | Title (en / ru) | Final | Tasks opened on entry | Timers | Notifies on entry |",
               "|---|---|---|---|---|---|"]
        for name, st in self.spec.states.items():
            timers = []
            for t in st.timers:
                what = (f"fires {code(t.fire)}" if t.fire else f"opens {self.task(t.open_task)}")
                own_source = t.source and not (t.open_task and t.open_task.source == t.source)
                restarted = [n for n, tr in self.spec.triggers.items() if t.name in tr.restarts_timers]
                if t.anchor:
                    when = (f"{deadline_words(t.after)} after the latest {or_list(t.anchor)} event (the clock does "
                            f"not start on entering the state, so leaving and re-entering it does not restart it"
                            + (f"; {or_list(restarted)} restarts it" if restarted else "") + ")")
                else:
                    when = f"after {deadline_words(t.after)} in the state"
                    if restarted:
                        when += f" ({or_list(restarted)} restarts it)"
                timers.append(f"{code(t.name)}: {when}, {what}"
                              + (f" (timer {source_words(t.source)})" if own_source else ""))
            if st.resets:
                timers.append("resets " + ", ".join(code(c) for c in st.resets) + " to 0 on entry")
            state_id = code(name) + (" (start)" if name in starts else "")
            title = f"{st.title.en} / {st.title.ru}" + (f" ({source_words(st.source)})" if st.source else "")
            out.append(row(state_id, title, "final" if st.final else "",
                            "<br>".join(self.task(t) for t in st.tasks), "<br>".join(timers),
                            notify_words(st.notify)))
        return out + [""]

    def trigger_rows(self, names: list[str]) -> list[str]:
        out = ["| Trigger | Title (en / ru) | From → to | Actors | Data | Effects | Notifies | Spawns | Outcome |",
               "|---|---|---|---|---|---|---|---|---|"]
        fired_by = defaultdict(list)
        for state, st in self.spec.states.items():
            for t in st.timers:
                if t.fire:
                    fired_by[t.fire].append(f"timer {code(t.name)} in {code(state)}")
        for name in names:
            tr = self.spec.triggers[name]
            title = f"{tr.title.en} / {tr.title.ru}" + (f" ({source_words(tr.source)})" if tr.source else "")
            actors = actors_words(tr.actors)
            if fired_by.get(name):
                actors += "; fired by " + ", ".join(fired_by[name])
            outcomes = [f"{code(t.outcome)} ({self.spec.outcomes[t.outcome].en})"
                        for t in tr.transitions if t.outcome and t.outcome in self.spec.outcomes]
            out.append(row(code(name), title, self.moves(name, tr), actors, fields_words(tr.data), self.effects(tr),
                            notify_words(tr.notify), self.spawns(tr), ", ".join(dict.fromkeys(outcomes))))
        return out

    def moves(self, name: str, tr: TriggerSpec) -> str:
        lines = []
        if tr.guard is not None:
            lines.append(f"allowed only {when_words(tr.guard)}")
        covered: set[str] = set()
        numbered = len(tr.transitions) > 1
        for i, t in enumerate(tr.transitions, 1):
            sources = self.d.expand_sources(t)
            text = f"{from_words(t.sources(), t.except_)} → "
            if t.to == SAME:
                text += "stays in the state"
            elif t.to == RETURN:
                text += "back to the state it came from"
                origins = {}
                for e in self.d.edges.get(name, []):
                    if e.index == i - 1 and e.returns_to:
                        origins.setdefault(e.source, []).append(e.dest)
                if origins:
                    text += " (" + "; ".join(
                        (f"from {code(src)}: " if len(origins) > 1 else "") + or_list(dests)
                        for src, dests in origins.items()) + ")"
            else:
                text += code(t.to)
            if t.when is not None:
                text += f" {when_words(t.when)}"
            elif covered & set(sources):
                text += " otherwise"
            if t.outcome:
                text += f" (outcome {code(t.outcome)})"
            if t.source:
                text += f" ({source_words(t.source)})"
            covered |= set(sources)
            lines.append(f"{i}. {text}" if numbered else text)
        return "<br>".join(lines)

    def effects(self, tr: TriggerSpec) -> str:
        out = []
        if tr.decision:
            out.append(f"decision of the {or_list(tr.actors)} bound to the case; a supervisor may not take it")
        if tr.assignee_of:
            out.append(f"only the assignee of {code(tr.assignee_of)} (or a supervisor) may fire it")
        if tr.completes == "all":
            out.append("completes all open tasks")
        elif tr.completes:
            out.append("completes " + ", ".join(self.task_name(k) for k in tr.completes))
        if tr.reopens:
            out.append("reopens " + ", ".join(self.task_name(k) for k in tr.reopens))
        if tr.cancels == "all":
            out.append("cancels all open tasks")
        elif tr.cancels:
            out.append("cancels " + ", ".join(self.task_name(k) for k in tr.cancels))
        for t in tr.opens:
            out.append("opens " + self.task(t))
        if tr.opens_each:
            e = tr.opens_each
            text = (f"opens one task per item of {code(e.items)}: {self.task_name(e.kind)}, body from item "
                    f"{code(e.body)}, due in item {code(e.deadline_days)} days, ladder {code(e.ladder)}")
            if e.persistent:
                text += ", persistent"
            out.append(f"{text}; {source_words(e.source)}")
        if tr.restarts_timers:
            out.append("restarts timer " + ", ".join(code(t) for t in tr.restarts_timers))
        if tr.record:
            out.append("records " + ", ".join(code(f) if f == to else f"{code(f)} as {code(to)}"
                                              for f, to in tr.recorded().items()) + " on the case")
        if tr.count:
            out.append("counts " + ", ".join(code(c) for c in tr.count) + " on the case")
        if tr.completes != "all" and any(t.to in self.d.final_states for t in tr.transitions):
            out.append("when it closes the case, every open task it does not complete is cancelled (not done), "
                       "whichever body owns it")
        if tr.effect == "transfer":
            out.append("moves the case to another region")
        elif tr.effect == "link":
            out.append("links the case to another case")
        return "<br>".join(out)

    def spawns(self, tr: TriggerSpec) -> str:
        out = []
        for sp in tr.spawn:
            text = f"launches [{sp.algorithm}]({sp.algorithm}.md)"
            if sp.when is not None:
                text += f" {when_words(sp.when)}"
            if sp.data:
                text += "; data " + ", ".join(f"{code(k)} = {code(value_text(v))}" for k, v in sp.data.items())
            if sp.copy_:
                text += "; copies " + ", ".join(f"{code(k)} ← {code(v)}" for k, v in sp.copy_.items())
            out.append(text)
        return "<br>".join(out)

    def triggers(self) -> list[str]:
        own = [n for n in self.spec.triggers if n not in self.d.common_triggers]
        return ["## Triggers", "",
                "Transitions are tried in order; the first whose condition holds is taken.", ""
                ] + self.trigger_rows(own) + [""]

    def cross_cutting(self) -> list[str]:
        common = [n for n in self.spec.triggers if n in self.d.common_triggers]
        use = self.spec.common
        if not common and not (use and use.omit):
            return []
        out = ["## Cross-cutting triggers", "",
               f"Taken from {common_words(self.spec, self.d.file)}, shared by every algorithm that uses it; "
               "they apply in every non-final state.", ""]
        if use and use.omit:
            out += [f"- Left out for this algorithm: {', '.join(code(n) for n in use.omit)} (firing one is "
                    "`unknown_trigger`).", ""]
        if use and use.amend:
            for name, am in use.amend.items():
                parts = []
                if am.actors is not None:
                    parts.append(f"only {or_list(am.actors)} may fire it")
                if am.decision:
                    parts.append("it is a decision of that body, so a supervisor may not take it in its place")
                elif am.decision is False:
                    parts.append("it is not a decision")
                out.append(f"- Amended for this algorithm: {code(name)}: {'; '.join(parts)}.")
            out.append("")
        if common:
            out += self.trigger_rows(common) + [""]
        return out

    def outcomes(self) -> list[str]:
        if not self.spec.outcomes:
            return []
        out = ["## Outcomes", "", "| Outcome | en | ru | kk |", "|---|---|---|---|"]
        out += [row(code(k), v.en, v.ru, v.kk) for k, v in self.spec.outcomes.items()]
        return out + [""]

    def ladders(self) -> list[str]:
        used: dict[str, list[str]] = defaultdict(list)
        for kind, ladder in self._task_ladders():
            if kind not in used[ladder]:
                used[ladder].append(kind)
        out = ["## Escalation ladders", "",
               "Each task climbs its ladder while it stays open; times are relative to the task's due time; "
               "→ names who is told at that step (the assignee's parent and line ministry follow the "
               "escalation line below).", "",
               "| Ladder | Steps | Used by | Source |", "|---|---|---|---|"]
        for name, ladder in self.spec.ladders.items():
            steps = []
            for st in ladder.steps:
                text = f"{st.step}: {ladder_time_words(st.at)} → {recipient_words(st)}"
                if st.ensure_completion is not None:
                    whom = "each of them" if st.to else "the parent body"
                    text += (f"; opens {self.task_name('ensure_completion')} for {whom}, "
                             f"due in {deadline_words(st.ensure_completion)}")
                steps.append(text)
            users = ", ".join(code(k) for k in used.get(name, [])) or "not used"
            if not any(st.to for st in ladder.steps):
                steps.append("(recipients as in version 1: the ladder does not name them)")
            out.append(row(code(name), "<br>".join(f"{i}. {s}" if not s.startswith("(") else s
                                                     for i, s in enumerate(steps, 1)),
                            users, source_words(ladder.source).removeprefix("source: ")))
        return out + [""]

    def changes(self) -> list[str]:
        return changes_section(self.d, self.previous)

    def subordination(self) -> list[str]:
        """Who each task owner escalates to, as the shipped directory sets up the body types."""
        parents = PARENT_TYPE if self.spec.subordination == "directory" else PARENT_TYPE_V1
        owners: dict[str, set[str]] = defaultdict(set)
        for body, ladder in self._task_bodies():
            owners[body].add(ladder)
        out = ["## Line of subordination", "",
               f"Escalation line: {SUBORDINATION_WORDS[self.spec.subordination]}. For every body that owns a "
               "task here, the bodies above it (as the shipped directory sets up the body types) and who the "
               "critical step reaches.", "",
               "| Task owner | Answers to (up the chain) | Critical step reaches |", "|---|---|---|"]
        for body in sorted(owners):
            role = self.spec.roles.get(body)
            chain, t = [], body
            while not role and parents.get(t) and parents[t] not in chain and len(chain) < 10:
                t = parents[t]
                chain.append(t)
            critical = []
            for ladder_name in sorted(owners[body]):
                ladder = self.spec.ladders.get(ladder_name)
                for st in (ladder.steps if ladder else []):
                    if st.step != "critical":
                        continue
                    for token in step_recipients(st):
                        if role and token.startswith("assignee"):
                            text = RECIPIENT_WORDS[token].replace("the assignee's", "its").replace(
                                "the assignee", "the bound body")
                        elif token == "assignee.line_ministry":
                            who = LINE_MINISTRY.get(body)
                            text = f"{code(who)} (line ministry)" if who else "no line ministry"
                        elif token == "assignee.top":
                            text = f"{code(chain[-1] if chain else body)} (top of the chain)"
                        elif token == "assignee.parent":
                            text = f"{code(chain[0])} (parent)" if chain else "no parent"
                        elif token == "assignee":
                            text = f"{code(body)} (the assignee)"
                        else:
                            text = f"the case's {code(token)}"
                        if text not in critical:
                            critical.append(text)
            if role:
                owner = f"{code(body)} ({role.title.en}: {role_source_words(role)})"
                up = "the bodies above the body bound in this role"
            else:
                owner, up = code(body), " → ".join(code(c) for c in chain) or "nobody (republic level)"
            out.append(row(owner, up, ", ".join(critical) or "no ladder"))
        return out + [""]

    def _declared_tasks(self, *, each: bool = False):
        """Every task declared by a state, a timer or a trigger's `opens` (with `each`, also a
        trigger's one-task-per-item `opens_each`, whose body is a field of the item), in file order."""
        for st in self.spec.states.values():
            yield from st.tasks
            yield from (tm.open_task for tm in st.timers if tm.open_task)
        for tr in self.spec.triggers.values():
            yield from tr.opens
            if each and tr.opens_each:
                yield tr.opens_each

    def _task_bodies(self):
        return ((t.body, t.ladder) for t in self._declared_tasks())

    def _task_ladders(self):
        return ((t.kind, t.ladder) for t in self._declared_tasks(each=True))


def mermaid_block(d: Definition) -> str:
    """The definition's Mermaid diagram (English state titles) for a Markdown page. A `return`
    transition is drawn as one edge to each state the case may have come from, labelled
    "trigger (return)": a case takes it only if it came from there."""
    text = mermaid(d, "en")
    returns = {(e.source, e.dest, name) for name, edges in d.edges.items() if name not in d.common_triggers
               for e in edges if e.returns_to}
    if not returns:
        return text

    def label(m: re.Match) -> str:
        src, dest = m.group(2), m.group(3)
        names = [f"{n} (return)" if (src, dest, n) in returns else n for n in m.group(4).split(" | ")]
        return f"{m.group(1)}{src} --> {dest}: {' | '.join(names)}"

    return re.sub(r"^(\s*)(\S+) --> (\S+): (.+)$", label, text, flags=re.M)
