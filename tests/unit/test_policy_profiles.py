"""Profile rules (``provider.profiles``): which apps' clients must follow a security profile, as loaded,
validated and explained; the shipped set binds every restricted app's clients to FAPI 2.0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from policies import DEFAULT_POLICY_DIR, PolicyError, explain, load_policy_dir
from policies.cases import CaseDoc, ProfileCase, run_case
from tests.support.policies import policy_from, request

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "policies"
PROFILES = """
apps:
  - {slug: simpeg, restricted: true}
provider:
  profiles:
    - id: fapi2-for-restricted-apps
      profile: fapi2
      restricted_apps: true
    - id: fapi2-for-pajak
      profile: fapi2
      apps: [pajak]
"""


def test_a_profile_rule_covers_restricted_apps_from_either_source_and_named_apps() -> None:
    policy = policy_from(PROFILES)
    restricted_in_files = policy.required_profile("simpeg")
    assert restricted_in_files is not None
    assert (restricted_in_files.id, restricted_in_files.profile) == ("fapi2-for-restricted-apps", "fapi2")
    registry = policy.required_profile("parkir", registry_restricted=True)
    assert registry is not None and registry.id == "fapi2-for-restricted-apps"
    named = policy.required_profile("pajak")
    assert named is not None and named.id == "fapi2-for-pajak"
    assert policy.required_profile("parkir") is None


def test_without_a_rule_no_profile_is_required() -> None:
    assert policy_from("apps:\n  - {slug: simpeg, restricted: true}\n").required_profile("simpeg") is None


def test_explain_names_the_rule_binding_the_apps_clients() -> None:
    policy = policy_from(PROFILES)
    bound = explain(policy, request(app="parkir", restricted=True))
    assert (bound.required_profile, bound.profile_rule) == ("fapi2", "fapi2-for-restricted-apps")
    free = explain(policy, request(app="parkir"))
    assert (free.required_profile, free.profile_rule) == (None, None)


def test_the_shipped_set_binds_every_restricted_app() -> None:
    shipped = load_policy_dir(DEFAULT_POLICY_DIR)
    for slug in ("simpeg", "e-budgeting", "simpus", "kominfo-console"):
        rule = shipped.required_profile(slug)
        assert rule is not None and (rule.id, rule.profile) == ("fapi2-for-restricted-apps", "fapi2"), slug
    assert shipped.required_profile("info-publik") is None


def test_bad_profile_rules_are_reported_with_their_lines() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy_dir(FIXTURES / "bad-profile-rule")
    prefix = str(FIXTURES / "bad-profile-rule") + "/"
    found = [str(problem).removeprefix(prefix) for problem in caught.value.problems]
    assert found == [
        "30-provider.yaml:4: provider.profiles[0]: a profile rule needs 'restricted_apps: true' or 'apps' (or both)",
        "30-provider.yaml:7: provider.profiles[1].profile: must be one of fapi2",
        "30-provider.yaml:12: provider.profiles[3].id: duplicate rule id 'fapi2-again' (first defined at "
        f"{FIXTURES}/bad-profile-rule/30-provider.yaml:9)",
        "30-provider.yaml:14: provider.profiles[3].apps[0]: 'Simpeg' is not a valid app slug",
    ]


def test_policy_explain_prints_the_profile_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GERBANG_DATABASE_URL", raising=False)
    monkeypatch.delenv("GERBANG_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    args = ["policy", "explain", "--app", "e-budgeting", "--path", "/api/x", "--dir", str(DEFAULT_POLICY_DIR)]
    text = CliRunner().invoke(main, args, catch_exceptions=False)
    assert text.exit_code == 0, text.output
    assert "profile fapi2 required (rule fapi2-for-restricted-apps)" in text.output
    as_json = json.loads(CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False).output)
    assert (as_json["required_profile"], as_json["profile_rule"]) == ("fapi2", "fapi2-for-restricted-apps")
    free = json.loads(CliRunner().invoke(main, [*args[:3], "info-publik", *args[4:], "--json"]).output)
    assert free["required_profile"] is None


def test_a_profile_case_compares_the_profile_and_says_what_it_found() -> None:
    policy = policy_from(PROFILES)
    passed = run_case(policy, "t.yaml", 1, CaseDoc(name="x", profile=ProfileCase(app="simpeg"), expect_profile="fapi2"))
    assert passed.passed and passed.detail == "profile fapi2 (rule fapi2-for-restricted-apps)"
    failed = run_case(policy, "t.yaml", 2, CaseDoc(name="y", profile=ProfileCase(app="parkir"), expect_profile="fapi2"))
    assert not failed.passed and failed.detail == "profile none, expected fapi2"
    with pytest.raises(ValueError, match="expect_profile"):
        CaseDoc(name="z", profile=ProfileCase(app="simpeg"))
