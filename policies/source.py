"""Reading YAML while keeping the line of every node, so a validation error can name its line.

The text is composed into nodes (PyYAML's ``compose``) and built into plain values by hand; every
path ("rules", 2, "effect") remembers its line. Two YAML 1.1 surprises are refused or defused:
duplicate mapping keys are an error, and ``10:30`` stays the string "10:30" (YAML 1.1 would read
the sexagesimal integer 630).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from policies.problems import Problem, render_loc

Loc = tuple[str | int, ...]
# libyaml's parser when PyYAML was built with it (about ten times faster); marks are the same
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SEXAGESIMAL_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file's name as shown in messages and its text (read once: fingerprint and parse agree)."""

    name: str
    text: str


@dataclass(slots=True)
class MarkedDocument:
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: tuple[Any, ...]) -> int:
        """The line of the deepest node on ``loc`` (pydantic locs may go deeper than the YAML)."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return 1


def parse_marked(source: SourceFile) -> tuple[MarkedDocument | None, list[Problem]]:
    """Parse one file; on a syntax error return no document and the problem with its line."""
    loader = _Loader(source.text)
    try:
        node = loader.get_single_node()
        if node is None:
            return MarkedDocument({}, {(): 1}), []
        problems: list[Problem] = []
        document = MarkedDocument(None)
        document.data = _build(loader, node, (), document.lines, problems, source.name)
        return document, problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        message = f"YAML syntax error: {exc.problem or exc.context}"
        return None, [Problem(source.name, line, "", message)]
    except yaml.YAMLError as exc:
        return None, [Problem(source.name, 1, "", f"YAML error: {exc}")]
    finally:
        loader.dispose()


def _build(loader: Any, node: yaml.Node, loc: Loc, lines: dict[Loc, int], problems: list[Problem], file: str) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _build(loader, key_node, loc + ("<key>",), {}, problems, file)
            if not isinstance(key, str | int):
                problems.append(Problem(file, key_node.start_mark.line + 1, render_loc(loc), "keys must be strings"))
                continue
            if key in result:
                problems.append(
                    Problem(file, key_node.start_mark.line + 1, render_loc(loc + (key,)), f"duplicate key '{key}'")
                )
                continue
            result[key] = _build(loader, value_node, loc + (key,), lines, problems, file)
            lines[loc + (key,)] = key_node.start_mark.line + 1  # a nested mapping's errors point at its key
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, loc + (index,), lines, problems, file) for index, item in enumerate(node.value)]
    if node.tag in _SEXAGESIMAL_TAGS and ":" in node.value:
        return node.value
    return loader.construct_object(node, deep=True)
