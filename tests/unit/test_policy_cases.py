"""Policy tests next to the policies: the runner reports each case with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies import DEFAULT_POLICY_DIR, PolicyError, run_policy_tests

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "policies"


def test_the_shipped_policy_tests_pass() -> None:
    results = run_policy_tests(DEFAULT_POLICY_DIR)
    assert len(results) >= 20
    assert [r for r in results if not r.passed] == []


def test_a_wrong_expectation_fails_with_what_happened() -> None:
    results = run_policy_tests(FIXTURES / "failing-case")
    assert [(r.name, r.passed) for r in results] == [("bkpsdm staff get in", True), ("a wrong expectation", False)]
    failed = results[1]
    assert failed.file.endswith("failing-case/tests/cases.yaml") and failed.line == 6
    assert failed.detail == "deny (app simpeg is restricted and no rule allows); expected allow"


def test_an_invalid_test_file_is_reported_like_a_policy_file() -> None:
    with pytest.raises(PolicyError) as caught:
        run_policy_tests(FIXTURES / "bad-test-file")
    lines = [str(p).split("bad-test-file/")[1] for p in caught.value.problems]
    assert lines == [
        "tests/cases.yaml:2: tests[0]: a case has exactly one of 'request', 'login', 'scopes' or 'profile'",
        "tests/cases.yaml:6: tests[1].expect: must be one of allow, deny",
    ]


def test_a_policy_directory_without_tests_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "10.yaml").write_text("rules: []\n")
    with pytest.raises(PolicyError, match="policy tests live in DIR/tests/"):
        run_policy_tests(tmp_path)
