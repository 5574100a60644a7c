"""Checking that a broken definition is rejected with its file and line."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from algorithms.loader import DefinitionError, load_definition


def line_of(path: Path, needle: str) -> int:
    """The first line of `path` that holds `needle`."""
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


def rejects(path: Path, rule: str, needle: str | None = None) -> str:
    """Loading `path` fails with `path:LINE: ... rule`; with `needle`, at the line that holds it."""
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    text = str(info.value)
    assert re.search(rf"{re.escape(str(path))}:\d+: .*{rule}", text), text
    if needle is not None:
        assert f"{path}:{line_of(path, needle)}:" in text, text
    return text
