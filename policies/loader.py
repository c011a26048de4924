"""``load_policy_dir``: read every policy file, validate it all, report every problem at once, compile.

Policy files are the ``*.yaml``/``*.yml`` files directly in the directory, applied in name order
(``00-apps.yaml`` before ``10-rules.yaml``); policy tests live in its ``tests/`` subdirectory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from policies.compiler import DEFAULT_ACR_LEVELS, build_app, build_index, build_limit, build_rule, build_subject_checks
from policies.crosscheck import check_across_files
from policies.engine import PolicySet
from policies.problems import PolicyError, Problem, render_loc
from policies.provider import LoginRule, ProfileRule, ProviderPolicy
from policies.schema import PolicyFileDoc
from policies.source import MarkedDocument, SourceFile, parse_marked

DEFAULT_POLICY_DIR = Path(__file__).parent / "default"
POLICY_SUFFIXES = (".yaml", ".yml")


def read_policy_files(directory: Path | str) -> tuple[SourceFile, ...]:
    """The policy files' texts, read once (the fingerprint and the parse see the same bytes)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PolicyError([Problem(str(directory), 0, "", "is not a directory")])
    files: list[SourceFile] = []
    problems: list[Problem] = []
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.suffix not in POLICY_SUFFIXES:
            continue
        try:
            files.append(SourceFile(str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), 0, "", f"cannot be read: {exc}"))
    if problems:
        raise PolicyError(problems)
    if not files:
        raise PolicyError([Problem(str(directory), 0, "", "holds no policy files (*.yaml)")])
    return tuple(files)


def fingerprint_of(files: Sequence[SourceFile]) -> str:
    digest = hashlib.sha256()
    for source in files:
        digest.update(Path(source.name).name.encode() + b"\0" + source.text.encode() + b"\0")
    return digest.hexdigest()


def load_policy_dir(directory: Path | str) -> PolicySet:
    """Load, validate and compile a policy directory; raise ``PolicyError`` listing every problem."""
    return build_policy_set(read_policy_files(directory))


def build_policy_set(files: Sequence[SourceFile]) -> PolicySet:
    problems: list[Problem] = []
    documents: list[tuple[SourceFile, MarkedDocument, PolicyFileDoc | None]] = []
    for source in files:
        marked, found = parse_marked(source)
        problems.extend(found)
        if marked is None:
            continue
        documents.append((source, marked, validate_document(source, marked, PolicyFileDoc, problems)))
    problems.extend(check_across_files(documents, complete=not problems))
    if problems:
        raise PolicyError(problems)
    named = [(source.name, doc) for source, _, doc in documents if doc is not None]
    return compile_documents([doc for _, doc in named], files, [name for name, _ in named])


def validate_document(source: SourceFile, marked: MarkedDocument, model: Any, problems: list[Problem]) -> Any:
    """Validate one parsed file against ``model``; each pydantic error becomes a Problem with its line."""
    if marked.data is None:
        marked.data = {}
    if not isinstance(marked.data, dict):
        problems.append(Problem(source.name, 1, "", "the file must hold a mapping (top-level keys)"))
        return None
    try:
        return model.model_validate(marked.data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            message = describe_error(error)
            if error["type"] == "extra_forbidden":
                message += known_keys(model, _file_loc(loc)[:-1])
            problems.append(Problem(source.name, marked.line_of(loc), render_loc(_file_loc(loc)), message))
        return None


def _file_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic tags some locations with validator names ("function-after[...]"): not keys of the file
    return tuple(part for part in loc if isinstance(part, int) or "[" not in str(part))


def known_keys(model: Any, loc: tuple[Any, ...]) -> str:
    """ " (expected one of: ...)" naming the keys the mapping at ``loc`` accepts, found from the models."""
    target: Any = model
    for part in loc:
        target = _model_inside(target.model_fields[part].annotation) if isinstance(part, str) else target
        if target is None:
            return ""
    return f" (expected one of: {', '.join(target.model_fields)})"


def _model_inside(annotation: Any) -> Any:
    """The pydantic model in ``X``, ``X | None`` or ``tuple[X, ...]``; None when there is none."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((found for arg in get_args(annotation) if (found := _model_inside(arg)) is not None), None)


def describe_error(error: ErrorDetails) -> str:
    """pydantic's message, reworded where the file's author deserves plainer words."""
    kind, ctx, message = error["type"], error.get("ctx") or {}, str(error["msg"])
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"must be one of {expected}"
    if kind in ("value_error", "assertion_error"):
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("tuple_type", "list_type"):
        return "must be a list"
    if kind in ("bool_parsing", "bool_type"):
        return "must be true or false"
    if kind in ("model_type", "dict_type"):
        return "must be a mapping"
    return message[:1].lower() + message[1:]


def compile_documents(
    docs: Sequence[PolicyFileDoc], files: Sequence[SourceFile], doc_sources: Sequence[str] | None = None
) -> PolicySet:
    """``doc_sources`` names the file of each document (in ``docs`` order); the rules remember it."""
    levels = next((doc.acr_levels for doc in docs if doc.acr_levels), DEFAULT_ACR_LEVELS)
    ranks = {level: rank for rank, level in enumerate(levels)}
    names = list(doc_sources) if doc_sources is not None else [""] * len(docs)
    rules = tuple(build_rule(rule, ranks, name) for doc, name in zip(docs, names, strict=True) for rule in doc.rules)
    apps = {app.slug: build_app(app, ranks) for doc in docs for app in doc.apps}
    providers = [doc.provider for doc in docs if doc.provider is not None]
    provider = ProviderPolicy(
        login_rules=tuple(
            LoginRule(r.id, r.effect, r.would, frozenset(r.clients), tuple(build_subject_checks(r.subject)))
            for p in providers
            for r in p.login
        ),
        restricted_clients=frozenset(c.client_id for p in providers for c in p.clients if c.restricted),
        guarded_scopes=_guarded_scopes(providers),
        exchanges=tuple((e.id, frozenset(e.clients), frozenset(e.audiences)) for p in providers for e in p.exchanges),
        profile_rules=tuple(
            ProfileRule(r.id, r.profile, r.restricted_apps, frozenset(r.apps)) for p in providers for r in p.profiles
        ),
    )
    return PolicySet(
        rules=rules,
        apps=apps,
        index=build_index(rules, set(apps)),
        limits=tuple(build_limit(limit) for doc in docs for limit in doc.limits),
        provider=provider,
        acr_levels=tuple(levels),
        sources=tuple(source.name for source in files),
        fingerprint=fingerprint_of(files),
    )


def _guarded_scopes(providers: Sequence[Any]) -> dict[str, frozenset[str]]:
    guarded: dict[str, set[str]] = {}
    for provider in providers:
        for grant in provider.scopes:
            for scope in grant.scopes:
                guarded.setdefault(scope, set()).update(grant.clients)
    return {scope: frozenset(clients) for scope, clients in guarded.items()}
