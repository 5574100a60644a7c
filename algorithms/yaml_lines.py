"""Read YAML into plain Python while remembering the line of every key and item, so that a bad
definition or scenario can be reported as `file:line: rule`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

try:  # the C loader is much faster where libyaml is available
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader

Path_ = tuple[Any, ...]


class YamlSyntaxError(ValueError):
    def __init__(self, file: str, line: int, rule: str):
        super().__init__(f"{file}:{line}: {rule}")
        self.file, self.line, self.rule = file, line, rule


class LocatedYaml:
    """A parsed document with a map from each path (tuple of keys/indexes) to its 1-based line."""

    def __init__(self, file: str, data: Any, lines: dict[Path_, int]):
        self.file, self.data, self.lines = file, data, lines

    def line_of(self, path: Path_) -> int:
        """The line of the deepest known prefix of `path` (1 when nothing matches)."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def where(self, path: Path_) -> str:
        return f"{self.file}:{self.line_of(path)}"


def load_located(source: str | Path, text: str | None = None) -> LocatedYaml:
    """Parse one YAML document from `source` (or `text`), keeping lines."""
    file = str(source)
    if text is None:
        text = Path(source).read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlSyntaxError(file, (mark.line + 1) if mark else 1, f"YAML syntax: {exc.problem}") from None
    lines: dict[Path_, int] = {}
    if node is None:
        return LocatedYaml(file, None, {(): 1})
    constructor = _Loader("")
    data = _convert(node, (), lines, constructor, file)
    return LocatedYaml(file, data, lines)


def _convert(node: yaml.Node, path: Path_, lines: dict[Path_, int], constructor: Any, file: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlSyntaxError(file, key_node.start_mark.line + 1, "YAML merge keys (<<) are not supported")
            key = constructor.construct_object(key_node, deep=True)
            if key in out:
                raise YamlSyntaxError(file, key_node.start_mark.line + 1, f"duplicate key {key!r}")
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, path + (key,), lines, constructor, file)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), lines, constructor, file) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)
