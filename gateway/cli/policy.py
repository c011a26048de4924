"""``gerbang policy check|explain|test``: Kominfo's policy files from the command line.

Without a DIR argument the commands use the directory the hub runs with (``GERBANG_POLICY_DIR``),
else the shipped default set.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from gateway.cli import load_settings
from gateway.cli.policy_lookup import SubjectFacts, load_directory_facts

if TYPE_CHECKING:  # the policy engine (pydantic, yaml) loads when a command runs, not for --help
    from policies import Explanation, PolicySet

dir_argument = click.argument("directory", required=False, type=click.Path(path_type=Path))


def _policy_dir(directory: Path | None) -> Path:
    from policies import DEFAULT_POLICY_DIR

    if directory is not None:
        return directory
    return load_settings().policy_dir or DEFAULT_POLICY_DIR


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _load(directory: Path) -> PolicySet:
    from policies import PolicyError, load_policy_dir

    try:
        return load_policy_dir(directory)
    except PolicyError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        _fail(f"{len(exc.problems)} problem(s) in {directory}")


@click.group("policy")
def policy_group() -> None:
    """Access policies: validate, explain a decision, run the policy tests."""


@policy_group.command("check")
@dir_argument
def policy_check(directory: Path | None) -> None:
    """Validate every policy file in DIRECTORY; print every problem with its file and line."""
    path = _policy_dir(directory)
    policy_set = _load(path)
    click.echo(
        f"ok: {path}: {len(policy_set.rules)} rules, {len(policy_set.apps)} apps, "
        f"{len(policy_set.limits)} limits, {len(policy_set.provider.login_rules)} login rules"
    )


@policy_group.command("explain")
@click.option("--user", default=None, help="subject id (or email: looked up when a database is configured)")
@click.option("--app", "app", required=True, help="app slug")
@click.option("--method", default="GET", show_default=True)
@click.option("--path", "path", default="/", show_default=True, help="path inside the app")
@click.option("--ip", default=None, help="source IP address")
@click.option("--at", "at", default=None, help="ISO 8601 time with offset (default: now)")
@click.option("--role", "roles", multiple=True)
@click.option("--opd-path", "opd_paths", multiple=True, help="materialised OPD path, e.g. /kota-palembang/dinkes/")
@click.option("--client", default=None, help="client id")
@click.option("--scope", "scopes", multiple=True)
@click.option("--acr", default=None)
@click.option("--restricted", is_flag=True, help="treat the app as restricted in the app registry")
@click.option("--dir", "directory", default=None, type=click.Path(path_type=Path), help="policy directory")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def policy_explain(
    user: str | None,
    app: str,
    method: str,
    path: str,
    ip: str | None,
    at: str | None,
    roles: tuple[str, ...],
    opd_paths: tuple[str, ...],
    client: str | None,
    scopes: tuple[str, ...],
    acr: str | None,
    restricted: bool,
    directory: Path | None,
    as_json: bool,
) -> None:
    """Print the decision for one request and every rule behind it.

    With a database configured (GERBANG_DATABASE_URL), the user's roles and OPD paths and the app's
    registry flag are looked up there and added to the options.
    """
    from policies import Request, explain

    moment = _parse_at(at)
    if ip is not None:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            _fail(f"--ip {ip!r} is not an IP address")
    if not path.startswith("/"):
        _fail("--path must start with '/'")
    policy_dir = _policy_dir(directory)
    facts, registry_restricted = _directory_facts(SubjectFacts(user, roles, opd_paths, "given"), app)
    request = Request(
        app=app,
        method=method.upper(),
        path=path,
        at=moment,
        sub=facts.sub,
        client_id=client,
        roles=facts.roles,
        opd_paths=facts.opd_paths,
        scopes=frozenset(scopes),
        acr=acr,
        ip=ip,
        restricted=restricted or registry_restricted,
    )
    explanation = explain(_load(policy_dir), request)
    if as_json:
        click.echo(json.dumps(_explanation_json(explanation, facts), ensure_ascii=False))
        return
    _print_explanation(explanation, facts)


def _parse_at(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        _fail(f"--at {at!r} is not an ISO 8601 time")
    if moment.tzinfo is None:
        _fail("--at needs a UTC offset, e.g. 2026-01-05T10:00:00+07:00")
    return moment


def _directory_facts(given: SubjectFacts, app: str) -> tuple[SubjectFacts, bool]:
    settings = load_settings()
    if not settings.database_url:
        return given, False
    return load_directory_facts(settings, given, app)


def _explanation_json(explanation: Explanation, facts: SubjectFacts) -> dict[str, object]:
    decision = asdict(explanation.decision)
    decision["subject"] = asdict(facts)
    decision["rules"] = [asdict(trace) for trace in explanation.traces]
    decision["required_profile"] = explanation.required_profile
    decision["profile_rule"] = explanation.profile_rule
    return decision


def _print_explanation(explanation: Explanation, facts: SubjectFacts) -> None:
    decision = explanation.decision
    click.echo(f"decision: {'allow' if decision.allowed else 'deny'} ({decision.reason})")
    click.echo(f"rules: {', '.join(decision.rule_ids) or '(none: the app default)'}")
    if decision.required_acr:
        click.echo(f"required acr: {decision.required_acr}")
    if decision.report_only:
        would = "allow" if decision.would_allow else "deny"
        click.echo(f"report-only: {', '.join(decision.report_only)} (enforced, the decision would be {would})")
    click.echo(
        f"subject: {facts.sub or '(anonymous)'} roles [{' '.join(facts.roles)}] "
        f"opd [{' '.join(facts.opd_paths)}] ({facts.source})"
    )
    click.echo(f"app: restricted={explanation.app_restricted} require_acr={explanation.app_require_acr}")
    if explanation.required_profile:
        click.echo(
            f"clients: profile {explanation.required_profile} required (rule {explanation.profile_rule}); "
            "other clients get no token for the app"
        )
    click.echo("rules considered:")
    for trace in explanation.traces:
        effect = trace.effect + (f"({trace.would})" if trace.would else "")
        mark = "match" if trace.matched else f"no    {trace.failed}: {trace.detail}"
        click.echo(f"  {trace.rule_id:<40} {effect:<19} {mark}")


@policy_group.command("test")
@dir_argument
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def policy_test(directory: Path | None, as_json: bool) -> None:
    """Run the policy tests in DIRECTORY/tests/ against DIRECTORY."""
    from policies import PolicyError
    from policies.cases import run_policy_tests, summarise

    path = _policy_dir(directory)
    try:
        results = run_policy_tests(path)
    except PolicyError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        _fail(f"{len(exc.problems)} problem(s) in {path}")
    passed, failed = summarise(results)
    if as_json:
        click.echo(
            json.dumps({"passed": passed, "failed": failed, "cases": [asdict(r) for r in results]}, ensure_ascii=False)
        )
    else:
        for result in results:
            status = "PASS" if result.passed else "FAIL"
            click.echo(f"{status} {result.file}:{result.line}: {result.name}: {result.detail}")
        click.echo(f"{passed} passed, {failed} failed")
    if failed:
        sys.exit(1)


def register(group: click.Group) -> None:
    group.add_command(policy_group)
