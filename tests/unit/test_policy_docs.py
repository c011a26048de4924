"""The examples in docs/policies.md are valid, and its example cases pass against the shipped set."""

from __future__ import annotations

import re
from pathlib import Path

from policies import DEFAULT_POLICY_DIR, load_policy_dir, run_policy_tests

DOC = Path(__file__).resolve().parents[2] / "docs" / "policies.md"


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_documented_policy_examples_load(tmp_path: Path) -> None:
    blocks = [block for block in yaml_blocks() if not block.startswith("tests:")]
    assert len(blocks) >= 4
    for index, block in enumerate(blocks):
        (tmp_path / f"{index:02d}.yaml").write_text(block)
    policy = load_policy_dir(tmp_path)
    assert policy.rules and policy.apps and policy.limits and policy.provider.login_rules


def test_the_documented_cases_pass_against_the_shipped_set(tmp_path: Path) -> None:
    [cases] = [block for block in yaml_blocks() if block.startswith("tests:")]
    (tmp_path / "cases.yaml").write_text(cases)
    results = run_policy_tests(DEFAULT_POLICY_DIR, tmp_path)
    assert len(results) == 4 and all(result.passed for result in results)
