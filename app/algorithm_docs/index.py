"""The index page (docs/algorithms/README.md): every algorithm with its versions, and how to read the pages."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from algorithms.definition import Definition

from app.algorithm_docs.diff_text import diff_page_name
from app.algorithm_docs.markdown import GENERATED, finish, row
from app.algorithm_docs.words import OVERRIDE_NOTE


def render_index(definitions: Iterable[Definition]) -> str:
    """The Markdown index of every algorithm (all versions of `definitions`)."""
    groups = by_algorithm(definitions)
    out = [GENERATED, "", "# Algorithms", "",
           "Reference pages of the response algorithms, generated from the definitions in `algorithms/` "
           "(one YAML file per algorithm and version, merged with its common file: `algorithms/common.yaml`, "
           "or for version 2 `algorithms/common-v2.yaml`, which extends it). "
           "Regenerate with `qorgau docs`; `qorgau docs --check` fails while these pages are stale.", "",
           "| Algorithm | kk / ru | Id | Latest | Older versions | What changed (kk, ru, en) | Content hash | States | Triggers |",
           "|---|---|---|---|---|---|---|---|---|"]
    for alg_id, defs in groups.items():
        latest = defs[-1]
        t = latest.spec.title
        older = ", ".join(f"[v{d.version}]({alg_id}.v{d.version}.md)" for d in defs[:-1]) or "—"
        changed = ", ".join(f"[{a.version} → {b.version}]({diff_page_name(a, b)})" for a, b in zip(defs, defs[1:])) or "—"
        own = [n for n in latest.spec.triggers if n not in latest.common_triggers]
        out.append(row(f"[{t.en}]({alg_id}.md)", f"{t.kk} / {t.ru}", f"`{alg_id}`", f"v{latest.version}",
                        older, changed, f"`{latest.content_hash[:12]}`", str(len(latest.spec.states)), str(len(own))))
    out += ["", "## Reading the pages", "",
            "- `<id>.md` describes the latest version. When an algorithm has several versions, "
            "`<id>.v<N>.md` describes version N (cases stay on the version they were launched with).",
            "- A page of version N > 1 ends with *Changes from version N-1*; on a version-2 page it lists every "
            "rule of `version-2.md` that applies to the algorithm (C1–C5 and its own), what changed, what the "
            "definition does for it and the `source:` strings that name it, then every other difference.",
            "- `<id>.diff-<N-1>-<N>.md` says what changed from one version to the next in a coordinator's words "
            "(states, tasks, triggers, ladders, timers, launch data, the line of subordination), in Kazakh, Russian "
            "and English; `qorgau diff <id> <N-1> <N> --lang kk|ru|en` prints the same.",
            "- The content hash is the first 12 characters of the SHA-256 of the merged definition that "
            "cases pin.",
            "- Deadlines: *working days* follow the Kazakhstan working calendar and fall due at the end of "
            "the working day; *days* and *months* are calendar periods moved to the next working day.",
            f"- {OVERRIDE_NOTE}",
            "- The cross-cutting triggers of the common file (transfer, withdraw, link, ...) apply in every "
            "non-final state; each page lists them once, with those its definition leaves out or amends, and "
            "leaves them out of the diagram.",
            "- A *decision* may be taken only by the body bound to the case in one of the trigger's actor types; "
            "a supervisor may not take it. \"Back to the state it came from\" is drawn as one edge to each "
            "possible origin, labelled “(return)”.",
            ""]
    return finish(out)


def by_algorithm(definitions: Iterable[Definition]) -> dict[str, list[Definition]]:
    groups: dict[str, list[Definition]] = defaultdict(list)
    for d in definitions:
        groups[d.id].append(d)
    return {k: sorted(groups[k], key=lambda d: d.version) for k in sorted(groups)}
