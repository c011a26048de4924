"""Checks that need every file at once: unique ids and slugs, acr values that exist, one acr ladder."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from policies.compiler import DEFAULT_ACR_LEVELS
from policies.problems import Problem, render_loc
from policies.schema import PolicyFileDoc
from policies.source import MarkedDocument, SourceFile

Located = tuple[SourceFile, MarkedDocument, tuple[str | int, ...]]


def check_across_files(documents: Sequence[tuple[SourceFile, MarkedDocument, PolicyFileDoc]]) -> list[Problem]:
    problems: list[Problem] = []
    problems += _unique("rule id", _ids(documents))
    problems += _unique("app slug", ((s, m, ("apps", i, "slug"), a.slug)
                                     for s, m, d in documents for i, a in enumerate(d.apps)))
    problems += _unique("provider client", ((s, m, ("provider", "clients", i, "client_id"), c.client_id)
                                            for s, m, d in documents if d.provider
                                            for i, c in enumerate(d.provider.clients)))
    ladders = [(s, m, d.acr_levels) for s, m, d in documents if d.acr_levels is not None]
    for source, marked, _ in ladders[1:]:
        first = ladders[0][0].name
        problems.append(_at(source, marked, ("acr_levels",), f"acr_levels is already declared in {first}"))
    levels = ladders[0][2] if ladders else DEFAULT_ACR_LEVELS
    if ladders and len(set(levels)) != len(levels):
        problems.append(_at(ladders[0][0], ladders[0][1], ("acr_levels",), "acr_levels repeats a level"))
    for source, marked, loc, acr in _acr_references(documents):
        if acr not in levels:
            problems.append(_at(source, marked, loc, f"acr '{acr}' is not one of the acr_levels {', '.join(levels)}"))
    return problems


def _ids(documents: Sequence[tuple[SourceFile, MarkedDocument, PolicyFileDoc]]) -> Iterator[tuple[Any, ...]]:
    """Rules, limits, login rules and scope grants share one id namespace (decision logs name them)."""
    for source, marked, doc in documents:
        for key, items in (("rules", doc.rules), ("limits", doc.limits)):
            for index, item in enumerate(items):
                yield source, marked, (key, index, "id"), item.id
        if doc.provider:
            for key, items in (("login", doc.provider.login), ("scopes", doc.provider.scopes)):
                for index, item in enumerate(items):
                    yield source, marked, ("provider", key, index, "id"), item.id


def _acr_references(documents: Sequence[tuple[SourceFile, MarkedDocument, PolicyFileDoc]]) -> Iterator[Any]:
    for source, marked, doc in documents:
        for index, rule in enumerate(doc.rules):
            if rule.match.acr is not None:
                yield source, marked, ("rules", index, "match", "acr"), rule.match.acr
        for index, app in enumerate(doc.apps):
            if app.require_acr is not None:
                yield source, marked, ("apps", index, "require_acr"), app.require_acr


def _unique(what: str, items: Iterator[tuple[Any, ...]]) -> list[Problem]:
    seen: dict[str, str] = {}
    problems: list[Problem] = []
    for source, marked, loc, value in items:
        where = f"{source.name}:{marked.line_of(loc)}"
        if value in seen:
            problems.append(_at(source, marked, loc, f"duplicate {what} '{value}' (first defined at {seen[value]})"))
        else:
            seen[value] = where
    return problems


def _at(source: SourceFile, marked: MarkedDocument, loc: tuple[str | int, ...], message: str) -> Problem:
    return Problem(source.name, marked.line_of(loc), render_loc(loc), message)
