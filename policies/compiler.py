"""Validated documents → compiled rules and indexes (by app slug, then HTTP method).

Compiling happens once per load; afterwards a decision only walks the few rules indexed under
the request's app and method, in declaration order (files sorted by name, then position).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policies.conditions import (
    AcrAtLeast,
    AcrBelow,
    AppIn,
    ClientIn,
    Condition,
    Facts,
    IpIn,
    IpNotIn,
    MethodIn,
    OpdUnder,
    PathMatches,
    RoleIn,
    ScopesAll,
    TimeIn,
    UserIn,
)
from policies.limits import LimitSpec
from policies.patterns import parse_cidr, parse_opd, parse_path, parse_window
from policies.schema import AppDoc, LimitDoc, MatchDoc, RuleDoc, SubjectDoc

DEFAULT_ACR_LEVELS = ("1", "2", "3")  # 1 password, 2 a second factor, 3 phishing-resistant (passkey)
Index = dict[str, dict[str, tuple["CompiledRule", ...]]]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    effect: str  # allow | deny | report-only
    would: str | None
    app: AppIn
    method: MethodIn | None
    checks: tuple[Condition, ...]  # everything but app, method and acr (the index settled those)
    acr: AcrAtLeast | None
    step_up: AcrBelow | None = None  # a deny rule's acr_below: signing in at that level lifts the deny
    tests: tuple[Callable[[Any, Facts], bool], ...] = ()  # the checks' bound ``test`` methods (hot path)
    source: str = ""  # the policy file that declares the rule
    summary: str = ""  # what the rule matches, in the files' own terms (for people: console, listings)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tests", tuple(check.test for check in self.checks))

    def conditions(self) -> tuple[Condition, ...]:
        """Every condition, in the order explain reports them."""
        head: tuple[Condition, ...] = (self.app,) + ((self.method,) if self.method else ())
        return head + self.checks + ((self.acr,) if self.acr else ())


@dataclass(frozen=True, slots=True)
class AppPolicy:
    slug: str
    restricted: bool = False
    require_acr: str | None = None
    require_rank: int = -1
    allow_anonymous: bool = False
    require_dpop: bool = False


def build_subject_checks(subject: SubjectDoc) -> list[Condition]:
    checks: list[Condition] = []
    if subject.users:
        checks.append(UserIn(frozenset(subject.users)))
    if subject.roles:
        checks.append(RoleIn(frozenset(subject.roles)))
    if subject.opds:
        checks.append(OpdUnder(tuple(dict.fromkeys(parse_opd(opd) for opd in subject.opds))))
    return checks


def build_checks(match: MatchDoc, ranks: Mapping[str, int]) -> tuple[Condition, ...]:
    checks: list[Condition] = []
    if match.clients:
        checks.append(ClientIn(frozenset(match.clients)))
    checks.extend(build_subject_checks(match.subject))
    if match.scopes:
        checks.append(ScopesAll(frozenset(match.scopes)))
    if match.paths:
        checks.append(
            PathMatches(
                match.paths,
                tuple(parse_path(path) for path in match.paths),
                tuple(parse_path(path.lower()) for path in match.paths),
            )
        )
    if match.ips:
        checks.append(IpIn(tuple(parse_cidr(cidr) for cidr in match.ips)))
    if match.not_ips:
        checks.append(IpNotIn(tuple(parse_cidr(cidr) for cidr in match.not_ips)))
    if match.time:
        checks.append(TimeIn(merge_windows(match)))
    if match.acr_below is not None:
        checks.append(AcrBelow(match.acr_below, ranks))
    return tuple(checks)


def merge_windows(match: MatchDoc) -> tuple[tuple[tuple[int, int], ...], ...]:
    days: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for window in match.time:
        for weekday, ranges in enumerate(parse_window(window.days, window.start, window.end)):
            days[weekday].extend(ranges)
    return tuple(tuple(sorted(day)) for day in days)


def build_rule(doc: RuleDoc, ranks: Mapping[str, int], source: str = "") -> CompiledRule:
    match = doc.match
    checks = build_checks(match, ranks)
    step_up = next((c for c in checks if isinstance(c, AcrBelow)), None) if doc.effect == "deny" else None
    return CompiledRule(
        id=doc.id,
        effect=doc.effect,
        would=doc.would,
        app=AppIn(frozenset(match.apps)),
        method=MethodIn(frozenset(match.methods)) if match.methods else None,
        checks=checks,
        acr=AcrAtLeast(match.acr, ranks) if match.acr is not None else None,
        step_up=step_up,
        source=source,
        summary=summarize_match(match),
    )


def summarize_match(match: MatchDoc) -> str:
    """One line naming every condition a rule sets, e.g. ``apps: sipd; methods: POST; subject.roles: bendahara``."""
    parts: list[str] = []
    for name, value in match.model_dump(mode="json", exclude_defaults=True).items():
        if name == "subject":
            parts.extend(f"subject.{key}: {', '.join(map(str, items))}" for key, items in value.items())
        elif name == "time":
            windows = [
                f"{'/'.join(w.get('days', ('mon-sun',)))} {w.get('start', '00:00')}-{w.get('end', '24:00')}"
                for w in value
            ]
            parts.append(f"time: {', '.join(windows)}")
        elif isinstance(value, list):
            parts.append(f"{name}: {', '.join(map(str, value))}")
        else:
            parts.append(f"{name}: {value}")
    return "; ".join(parts) or "apps: *"


def build_index(rules: Sequence[CompiledRule], app_slugs: set[str]) -> Index:
    """app slug → method → rules that can apply there; "*" keys catch apps and methods not named."""
    slugs = app_slugs | {slug for rule in rules for slug in rule.app.slugs} | {"*"}
    methods = {method for rule in rules if rule.method for method in rule.method.methods} | {"*"}
    index: Index = {}
    for slug in slugs:
        by_app = [rule for rule in rules if "*" in rule.app.slugs or slug in rule.app.slugs]
        index[slug] = {
            method: tuple(rule for rule in by_app if rule.method is None or method in rule.method.methods)
            for method in methods
        }
    return index


def build_app(doc: AppDoc, ranks: Mapping[str, int]) -> AppPolicy:
    rank = ranks[doc.require_acr] if doc.require_acr is not None else -1
    return AppPolicy(doc.slug, doc.restricted, doc.require_acr, rank, doc.allow_anonymous, doc.require_dpop)


def build_limit(doc: LimitDoc) -> LimitSpec:
    return LimitSpec(
        id=doc.id,
        per=doc.per,
        route_class=doc.route_class,
        apps=doc.apps,
        opds=doc.opds,
        rate=doc.rate or 0,
        period=doc.period,
        burst=doc.burst if doc.burst is not None else (doc.rate or 0),
        window=doc.window,
        quota=doc.quota or 0,
        fail_mode=doc.fail_mode,
    )
