"""Checks that need every file at once: unique ids and slugs, acr values that exist, one acr ladder.

Uniqueness is checked on the parsed data even when some file failed validation, so one run reports
every problem; the acr checks need the validated documents of every file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from policies.compiler import DEFAULT_ACR_LEVELS
from policies.problems import Problem, render_loc
from policies.schema import PolicyFileDoc
from policies.source import MarkedDocument, SourceFile

Document = tuple[SourceFile, MarkedDocument, PolicyFileDoc | None]
Keyed = tuple[SourceFile, MarkedDocument, tuple[str | int, ...], Any]


def check_across_files(documents: Sequence[Document], complete: bool) -> list[Problem]:
    problems: list[Problem] = []
    problems += _unique("rule id", _ids(documents))
    problems += _unique("app slug", _keyed(documents, ("apps",), "slug"))
    problems += _unique("provider client", _keyed(documents, ("provider", "clients"), "client_id"))
    if complete:
        problems += _check_acr([(s, m, d) for s, m, d in documents if d is not None])
    return problems


def _items(data: Any, path: tuple[str, ...]) -> list[Any]:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, list) else []


def _keyed(documents: Sequence[Document], path: tuple[str, ...], field: str) -> Iterator[Keyed]:
    for source, marked, _ in documents:
        for index, item in enumerate(_items(marked.data, path)):
            if isinstance(item, dict) and isinstance(item.get(field), str):
                yield source, marked, path + (index, field), item[field]


def _ids(documents: Sequence[Document]) -> Iterator[Keyed]:
    """Rules, limits, login rules, scope grants and profile rules share one id namespace (logs name them)."""
    for path in (("rules",), ("limits",), ("provider", "login"), ("provider", "scopes"), ("provider", "profiles")):
        yield from _keyed(documents, path, "id")


def _check_acr(documents: Sequence[tuple[SourceFile, MarkedDocument, PolicyFileDoc]]) -> list[Problem]:
    problems: list[Problem] = []
    ladders = [(s, m, d.acr_levels) for s, m, d in documents if d.acr_levels is not None]
    for source, marked, _ in ladders[1:]:
        problems.append(_at(source, marked, ("acr_levels",), f"acr_levels is already declared in {ladders[0][0].name}"))
    levels = ladders[0][2] if ladders else DEFAULT_ACR_LEVELS
    if len(set(levels)) != len(levels):
        problems.append(_at(ladders[0][0], ladders[0][1], ("acr_levels",), "acr_levels repeats a level"))
    for source, marked, doc in documents:
        references: list[tuple[tuple[str | int, ...], str | None]] = [
            (("rules", i, "match", key), getattr(r.match, key))
            for i, r in enumerate(doc.rules)
            for key in ("acr", "acr_below")
        ]
        references += [(("apps", i, "require_acr"), a.require_acr) for i, a in enumerate(doc.apps)]
        for loc, acr in references:
            if acr is not None and acr not in levels:
                problems.append(
                    _at(source, marked, loc, f"acr '{acr}' is not one of the acr_levels {', '.join(levels)}")
                )
    return problems


def _unique(what: str, items: Iterator[Keyed]) -> list[Problem]:
    seen: dict[str, str] = {}
    problems: list[Problem] = []
    for source, marked, loc, value in items:
        if value in seen:
            problems.append(_at(source, marked, loc, f"duplicate {what} '{value}' (first defined at {seen[value]})"))
        else:
            seen[value] = f"{source.name}:{marked.line_of(loc)}"
    return problems


def _at(source: SourceFile, marked: MarkedDocument, loc: tuple[str | int, ...], message: str) -> Problem:
    return Problem(source.name, marked.line_of(loc), render_loc(loc), message)
