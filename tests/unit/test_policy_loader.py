"""Loading a policy directory: every problem at once, each with file, line and location.

The fixtures under tests/fixtures/policies/ are named after the failure they trigger.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policies import DEFAULT_POLICY_DIR, PolicyError, load_policy_dir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "policies"


def problems_of(name: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy_dir(FIXTURES / name)
    prefix = str(FIXTURES / name) + "/"
    return [str(problem).removeprefix(prefix) for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "bad-duplicate-id",
            [
                "20-more.yaml:6: rules[1].id: duplicate rule id 'staff' (first defined at "
                f"{FIXTURES}/bad-duplicate-id/10-apps.yaml:2)"
            ],
        ),
        (
            "bad-unknown-key",
            [
                "10-rules.yaml:6: rules[0].match.subjects: unknown key (expected one of: apps, methods, "
                "paths, subject, clients, scopes, acr, acr_below, time, ips, not_ips)"
            ],
        ),
        (
            "bad-cidr",
            [
                "10-rules.yaml:8: rules[0].match.ips[1]: '10.0.0.1/8' is not a CIDR network "
                "(10.0.0.1/8 has host bits set)"
            ],
        ),
        (
            "bad-time-window",
            ["10-rules.yaml:8: rules[0].match.time[0].end: time '25:00' must be HH:MM between 00:00 and 24:00"],
        ),
        ("bad-unknown-effect", ["10-apps.yaml:12: rules[2].effect: must be one of allow, deny, report-only"]),
        (
            "bad-glob",
            [
                "10-rules.yaml:5: rules[0].match.paths[0]: glob '/reports/[0-9.pdf' has an unterminated '[' "
                "at position 10"
            ],
        ),
        ("bad-duplicate-key", ["10-rules.yaml:4: rules[0].effect: duplicate key 'effect'"]),
        (
            "bad-report-only-without-would",
            ["10-rules.yaml:2: rules[0]: a report-only rule needs 'would: allow' or 'would: deny'"],
        ),
        (
            "bad-unknown-acr",
            ["10-apps.yaml:4: apps[0].require_acr: acr 'passkey' is not one of the acr_levels pwd, mfa"],
        ),
        (
            "bad-limit-dimension",
            ["20-limits.yaml:2: limits[0]: per 'user' is not available for route_class 'login' (one of ip, account)"],
        ),
        ("bad-not-a-mapping", ["10-rules.yaml:1: the file must hold a mapping (top-level keys)"]),
    ],
)
def test_each_bad_file_gets_one_clear_problem(fixture: str, expected: list[str]) -> None:
    assert problems_of(fixture) == expected


def test_a_yaml_syntax_error_names_its_line() -> None:
    # the wording comes from libyaml or PyYAML's own parser, whichever is installed
    [problem] = problems_of("bad-yaml-syntax")
    assert problem.startswith("10-rules.yaml:5: YAML syntax error: ") and "',' or '}'" in problem


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    assert problems_of("bad-many-problems") == [
        "10-everything.yaml:2: apps[0].slug: 'Simpeg' is not a valid app slug",
        "10-everything.yaml:3: apps[0].restricted: must be true or false",
        "10-everything.yaml:8: rules[0].match.methods[1]: 'NOT A METHOD' is not a valid HTTP method",
        "10-everything.yaml:9: rules[0].match.paths[0]: path 'reports' must start with '/'",
        "10-everything.yaml:10: rules[1].id: is required",
        f"10-everything.yaml:12: rules[2].id: duplicate rule id 'a' (first defined at "
        f"{FIXTURES}/bad-many-problems/10-everything.yaml:5)",
        "10-everything.yaml:14: rules[2].match.opd: unknown key (expected one of: apps, methods, paths, subject, "
        "clients, scopes, acr, acr_below, time, ips, not_ips)",
    ]


def test_problems_from_several_files_come_together(tmp_path: Path) -> None:
    for name in ("bad-cidr", "bad-glob"):
        (tmp_path / f"{name}.yaml").write_text((FIXTURES / name / "10-rules.yaml").read_text())
    (tmp_path / "bad-glob.yaml").write_text(
        (tmp_path / "bad-glob.yaml").read_text().replace("id: reports", "id: office")
    )
    problems = [
        str(p).removeprefix(f"{tmp_path}/")
        for p in pytest.raises(PolicyError, load_policy_dir, tmp_path).value.problems
    ]
    assert [p.split(":")[0] for p in problems] == ["bad-cidr.yaml", "bad-glob.yaml", "bad-glob.yaml"]
    assert problems[1].startswith("bad-glob.yaml:2: rules[0].id: duplicate rule id 'office'")
    assert "unterminated '['" in problems[2]


def test_an_unknown_top_level_key_names_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "10.yaml").write_text("rule:\n  - id: x\n")
    with pytest.raises(PolicyError) as caught:
        load_policy_dir(tmp_path)
    assert str(caught.value).endswith(
        "10.yaml:1: rule: unknown key (expected one of: acr_levels, apps, rules, limits, provider)"
    )


def test_a_missing_or_empty_directory_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="holds no policy files"):
        load_policy_dir(tmp_path)
    with pytest.raises(PolicyError, match="is not a directory"):
        load_policy_dir(tmp_path / "absent")


def test_other_files_and_the_tests_directory_are_not_policies(tmp_path: Path) -> None:
    (tmp_path / "10-rules.yaml").write_text("rules: []\n")
    (tmp_path / "README.md").write_text("not yaml: [")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "cases.yaml").write_text("tests: []\n")
    assert load_policy_dir(tmp_path).rules == ()


def test_the_shipped_default_set_is_valid_and_secure_as_it_stands() -> None:
    policy = load_policy_dir(DEFAULT_POLICY_DIR)
    assert {slug for slug, app in policy.apps.items() if app.restricted} >= {"simpeg", "e-budgeting", "simpus"}
    login = {(spec.per, spec.route_class) for spec in policy.limits_for("login")}
    token = {(spec.per, spec.route_class) for spec in policy.limits_for("token")}
    assert login == {("account", "login"), ("ip", "login")}
    assert token >= {("client_auth_failure", "token"), ("ip", "token")}
    assert any(spec.per == "ip" for spec in policy.limits_for("app"))
