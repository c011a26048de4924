"""Policy tests written next to the policies: ``DIR/tests/*.yaml``, each a list of cases.

A case gives a request (or a sign-in, or a scope request) and the expected outcome; ``run_policy_tests``
loads the policies, runs every case and reports each result with its file and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import model_validator

from policies.engine import PolicySet
from policies.loader import POLICY_SUFFIXES, load_policy_dir, validate_document
from policies.model import Decision, Request, Subject
from policies.problems import PolicyError, Problem
from policies.schema import Acr, Method, Name, Scope, Strict
from policies.source import SourceFile, parse_marked

# A fixed default moment (Monday 10:00 in Asia/Jakarta) keeps cases without ``at`` deterministic.
DEFAULT_AT = datetime.fromisoformat("2026-01-05T10:00:00+07:00")


class RequestCase(Strict):
    app: Name
    method: Method = "GET"
    path: str = "/"
    user: Name | None = None
    client: Name | None = None
    roles: tuple[Name, ...] = ()
    opd_paths: tuple[str, ...] = ()
    scopes: tuple[Scope, ...] = ()
    acr: Acr | None = None
    ip: str | None = None
    at: datetime = DEFAULT_AT

    @model_validator(mode="after")
    def _aware(self) -> RequestCase:
        if self.at.tzinfo is None:
            raise ValueError("'at' needs a UTC offset, e.g. 2026-01-05T10:00:00+07:00")
        return self


class LoginCase(Strict):
    user: Name
    client: Name
    roles: tuple[Name, ...] = ()
    opd_paths: tuple[str, ...] = ()
    acr: Acr | None = None


class ScopesCase(Strict):
    client: Name
    requested: tuple[Scope, ...]


class ProfileCase(Strict):
    """Which profile (``provider.profiles``) the clients of an app must follow."""

    app: Name
    restricted: bool = False  # the app registry marks it restricted


class CaseDoc(Strict):
    name: Name
    request: RequestCase | None = None
    login: LoginCase | None = None
    scopes: ScopesCase | None = None
    profile: ProfileCase | None = None
    expect: Literal["allow", "deny"] | None = None
    rules: tuple[str, ...] | None = None  # the exact rule ids expected behind the decision
    report_only: tuple[str, ...] | None = None
    required_acr: Acr | None = None  # the step-up level the decision should ask for
    expect_scopes: tuple[Scope, ...] | None = None
    expect_profile: Literal["fapi2", "none"] | None = None  # "none": no profile rule binds the app's clients

    @model_validator(mode="after")
    def _one_kind(self) -> CaseDoc:
        kinds = [k for k in ("request", "login", "scopes", "profile") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a case has exactly one of 'request', 'login', 'scopes' or 'profile'")
        if kinds[0] == "scopes" and self.expect_scopes is None:
            raise ValueError("a 'scopes' case needs 'expect_scopes'")
        if kinds[0] == "profile" and self.expect_profile is None:
            raise ValueError("a 'profile' case needs 'expect_profile: fapi2' or 'expect_profile: none'")
        if kinds[0] in ("request", "login") and self.expect is None:
            raise ValueError("a 'request' or 'login' case needs 'expect: allow' or 'expect: deny'")
        return self


class CaseFileDoc(Strict):
    tests: tuple[CaseDoc, ...] = ()


@dataclass(frozen=True, slots=True)
class CaseResult:
    file: str
    line: int
    name: str
    passed: bool
    detail: str  # what happened (and, on failure, what was expected)


def run_policy_tests(directory: Path | str, tests_dir: Path | str | None = None) -> tuple[CaseResult, ...]:
    """Run ``DIR/tests/*.yaml`` against ``DIR``; raise PolicyError if the policies or the cases are invalid."""
    policy_set = load_policy_dir(directory)
    cases = load_cases(Path(tests_dir) if tests_dir else Path(directory) / "tests")
    return tuple(run_case(policy_set, source, line, case) for source, line, case in cases)


def load_cases(tests_dir: Path) -> list[tuple[str, int, CaseDoc]]:
    if not tests_dir.is_dir():
        raise PolicyError([Problem(str(tests_dir), 0, "", "is not a directory (policy tests live in DIR/tests/)")])
    problems: list[Problem] = []
    cases: list[tuple[str, int, CaseDoc]] = []
    for path in sorted(p for p in tests_dir.iterdir() if p.suffix in POLICY_SUFFIXES):
        source = SourceFile(str(path), path.read_text(encoding="utf-8"))
        marked, found = parse_marked(source)
        problems.extend(found)
        doc = validate_document(source, marked, CaseFileDoc, problems) if marked else None
        if doc is not None and marked is not None:
            cases.extend((source.name, marked.line_of(("tests", i)), case) for i, case in enumerate(doc.tests))
    if problems:
        raise PolicyError(problems)
    if not cases:
        raise PolicyError([Problem(str(tests_dir), 0, "", "holds no policy tests (*.yaml with 'tests:')")])
    return cases


def run_case(policy_set: PolicySet, file: str, line: int, case: CaseDoc) -> CaseResult:
    if case.profile is not None:
        rule = policy_set.required_profile(case.profile.app, case.profile.restricted)
        got = rule.profile if rule is not None else "none"
        passed = got == case.expect_profile
        detail = f"profile {got}" + (f" (rule {rule.id})" if rule else "")
        detail += "" if passed else f", expected {case.expect_profile}"
        return CaseResult(file, line, case.name, passed, detail)
    if case.scopes is not None:
        granted = policy_set.allowed_scopes(case.scopes.client, case.scopes.requested)
        expected = tuple(case.expect_scopes or ())
        passed = sorted(granted) == sorted(expected)
        detail = f"granted [{' '.join(granted)}]" + ("" if passed else f", expected [{' '.join(expected)}]")
        return CaseResult(file, line, case.name, passed, detail)
    decision = _decide(policy_set, case)
    return _compare(file, line, case, decision)


def _decide(policy_set: PolicySet, case: CaseDoc) -> Decision:
    if case.login is not None:
        login = case.login
        return policy_set.decide_login(Subject(login.user, login.roles, login.opd_paths, login.acr), login.client)
    r = case.request
    assert r is not None  # guaranteed by CaseDoc._one_kind
    return policy_set.decide(
        Request(
            app=r.app,
            method=r.method,
            path=r.path,
            at=r.at,
            sub=r.user,
            client_id=r.client,
            roles=r.roles,
            opd_paths=r.opd_paths,
            scopes=frozenset(r.scopes),
            acr=r.acr,
            ip=r.ip,
        )
    )


def _compare(file: str, line: int, case: CaseDoc, decision: Decision) -> CaseResult:
    outcome = "allow" if decision.allowed else "deny"
    failures: list[str] = []
    if outcome != case.expect:
        failures.append(f"expected {case.expect}")
    if case.rules is not None and sorted(case.rules) != sorted(decision.rule_ids):
        failures.append(f"expected rules [{', '.join(case.rules)}]")
    if case.report_only is not None and sorted(case.report_only) != sorted(decision.report_only):
        failures.append(f"expected report-only [{', '.join(case.report_only)}]")
    if case.required_acr is not None and case.required_acr != decision.required_acr:
        failures.append(f"expected required_acr {case.required_acr}")
    detail = f"{outcome} ({decision.reason})"
    if decision.report_only:
        detail += f"; report-only {', '.join(decision.report_only)}"
    if failures:
        detail += "; " + "; ".join(failures)
    return CaseResult(file, line, case.name, not failures, detail)


def summarise(results: Sequence[CaseResult]) -> tuple[int, int]:
    failed = sum(1 for result in results if not result.passed)
    return len(results) - failed, failed
