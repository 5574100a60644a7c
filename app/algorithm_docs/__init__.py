"""Reference pages for the algorithm definitions, generated from the definitions only.

`qorgau docs` writes `docs/algorithms/`; `qorgau docs --check` fails when the pages are stale.

Page layout (one Markdown file per page, deterministic: no timestamps, no absolute paths):

* `docs/algorithms/README.md` - the index of every algorithm;
* `docs/algorithms/<id>.md` - the latest version of each algorithm;
* when an algorithm has several versions, also `docs/algorithms/<id>.v<N>.md` for every version
  (the latest included, identical to `<id>.md`), so a link to a pinned version stays valid.

A page of version N > 1 ends with "Changes from version N-1": on a version-2 page, every rule of
`version-2.md` that applies (C1-C5 and the algorithm's own) with what changed, what the definition
does for it and the `source:` strings naming it (see `RULES`), then every other difference.

Pages describe the shipped definitions (`algorithms/*.v*.yaml` merged with their common file) without
deployment deadline overrides, whatever QORGAU_DEADLINE_OVERRIDES says, so the committed pages do
not depend on the machine that generated them.
"""
from app.algorithm_docs.changes import RULES, rules_for
from app.algorithm_docs.command import docs_command
from app.algorithm_docs.index import render_index
from app.algorithm_docs.markdown import GENERATED
from app.algorithm_docs.page import mermaid_block, render_page
from app.algorithm_docs.words import deadline_words, guard_words, ladder_time_words, recipient_words
from app.algorithm_docs.writer import DOCS_DIR, shipped_registry, stale_pages, write_docs

__all__ = ["DOCS_DIR", "GENERATED", "RULES", "deadline_words", "docs_command", "guard_words", "ladder_time_words",
           "mermaid_block", "recipient_words", "render_index", "render_page", "rules_for", "shipped_registry",
           "stale_pages", "write_docs"]
