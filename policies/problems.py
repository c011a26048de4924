"""Problems found in policy files, each pinned to a file and line, reported all at once.

``PolicyError`` carries every problem of a load; its ``str`` is one problem per line, in the form
``policies/10-apps.yaml:14: rules[2].effect: must be one of allow, deny, report-only``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    file: str
    line: int
    where: str  # dotted location inside the file, e.g. "rules[2].effect"; "" for the whole file
    message: str

    def __str__(self) -> str:
        where = f" {self.where}:" if self.where else ""
        line = f":{self.line}" if self.line else ""  # 0: the problem is the file or directory itself
        return f"{self.file}{line}:{where} {self.message}"


class PolicyError(Exception):
    """A policy directory that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(sorted(problems))
        super().__init__("\n".join(str(problem) for problem in self.problems))


def render_loc(loc: tuple[str | int, ...]) -> str:
    """("rules", 2, "effect") → "rules[2].effect"."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
