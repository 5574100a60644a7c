"""The set of pages generated from the shipped definitions: writing them, and telling which are stale."""
from __future__ import annotations

from pathlib import Path

from algorithms.loader import ALGORITHMS_DIR, DefinitionError, load_common, load_definition
from algorithms.registry import DEFINITION_GLOB, Registry

from app.algorithm_docs.diff_text import diff_page_name, render_diff_page
from app.algorithm_docs.index import by_algorithm, render_index
from app.algorithm_docs.markdown import REPO_ROOT
from app.algorithm_docs.page import render_page


DOCS_DIR = REPO_ROOT / "docs" / "algorithms"
INDEX = "README.md"


def shipped_registry():
    """The shipped definitions, without deployment deadline overrides."""
    common = load_common()
    defs, problems = [], []
    for path in sorted(ALGORITHMS_DIR.glob(DEFINITION_GLOB)):
        try:
            defs.append(load_definition(path, common))
        except DefinitionError as exc:
            problems.extend(exc.problems)
    if problems:
        raise DefinitionError(problems)
    return Registry(defs)


def write_docs(out_dir: Path | None = None, registry=None) -> list[Path]:
    """Write every page (index included) into `out_dir` (default: the repo's docs/algorithms) and
    delete `.md` pages there that are no longer generated. Returns the generated pages' paths."""
    out_dir = Path(out_dir) if out_dir is not None else DOCS_DIR
    pages = generated_pages(registry)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in pages.items():
        path = out_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    for extra in sorted(out_dir.glob("*.md")):
        if extra.name not in pages:
            extra.unlink()
    return written


def stale_pages(out_dir: Path | None = None, registry=None) -> list[str]:
    """Names of pages in `out_dir` that are missing, differ from what would be generated, or are
    extra `.md` pages no longer generated. Empty when the docs are current."""
    return [name for name, _ in stale_with_reasons(out_dir, registry)]


def generated_pages(registry=None) -> dict[str, str]:
    definitions = list(registry if registry is not None else shipped_registry())
    pages: dict[str, str] = {INDEX: render_index(definitions)}
    for alg_id, defs in by_algorithm(definitions).items():
        versions = [d.version for d in defs]
        before = {d.version: prev for prev, d in zip(defs, defs[1:])}
        if len(defs) > 1:
            for d in defs:
                pages[f"{alg_id}.v{d.version}.md"] = render_page(d, versions, before.get(d.version))
        for prev, d in zip(defs, defs[1:]):
            pages[diff_page_name(prev, d)] = render_diff_page(prev, d)
        pages[f"{alg_id}.md"] = render_page(defs[-1], versions, before.get(defs[-1].version))
    return dict(sorted(pages.items()))


def stale_with_reasons(out_dir: Path | None, registry) -> list[tuple[str, str]]:
    out_dir = Path(out_dir) if out_dir is not None else DOCS_DIR
    pages = generated_pages(registry)
    stale = []
    for name, text in pages.items():
        path = out_dir / name
        if not path.exists():
            stale.append((name, "missing"))
        elif path.read_text(encoding="utf-8") != text:
            stale.append((name, "differs"))
    if out_dir.is_dir():
        stale += [(p.name, "no longer generated") for p in sorted(out_dir.glob("*.md")) if p.name not in pages]
    return sorted(stale)


def shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
