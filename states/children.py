"""Children aged 0–17 per region, the denominators of the risk map's rates per 10,000 children.

Read once per process from `algorithms/data/children-by-region.yaml` (estimates, see its header) or
the file named by `QORGAU_CHILDREN_FILE` (a deployment's own table from the Bureau of National
Statistics), and checked against the directory's regions.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "algorithms" / "data" / "children-by-region.yaml"
ENV_VAR = "QORGAU_CHILDREN_FILE"
PER = 10_000


class ChildrenFileError(ValueError):
    pass


@dataclass(frozen=True)
class Children:
    counts: dict[str, int]  # region code -> children 0–17
    source: str
    as_of: date | None
    official: bool

    def rate(self, region: str, count: float | int | None) -> float | None:
        """`count` per 10,000 children of the region (None when either is unknown)."""
        children = self.counts.get(region)
        if count is None or not children:
            return None
        return count * PER / children


def parse(raw: object, source: str) -> Children:
    if not isinstance(raw, dict) or not isinstance(raw.get("children"), dict):
        raise ChildrenFileError(f"{source}: must be a mapping with 'children' (region code -> number)")
    counts, bad = {}, []
    for code, n in raw["children"].items():
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            counts[str(code)] = n
        else:
            bad.append(str(code))
    if bad:
        raise ChildrenFileError(f"{source}: children must be positive whole numbers; not so for {', '.join(bad)}")
    as_of = raw.get("as_of")
    return Children(counts=counts, source=str(raw.get("source") or source),
                    as_of=as_of if isinstance(as_of, date) else None, official=raw.get("official") is True)


def load(path: str | Path | None = None, regions=None) -> Children:
    """Read a children file: `path`, else `$QORGAU_CHILDREN_FILE`, else the shipped estimates; with
    `regions`, every one of them must have a figure."""
    path = Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ChildrenFileError(f"{path}: cannot be read: {exc}") from None
    children = parse(raw, str(path))
    missing = sorted(set(regions or ()) - set(children.counts))
    if missing:
        raise ChildrenFileError(f"{path}: no children figure for {', '.join(missing)}")
    return children


@functools.lru_cache(maxsize=4)
def cached(path: str | None = None) -> Children:
    """The process-wide table (keyed by the file named, so a test's own file is read afresh)."""
    return load(path)


def current() -> Children:
    return cached(os.environ.get(ENV_VAR) or None)
