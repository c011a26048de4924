"""Hot reload: a valid change swaps the whole set; an invalid change keeps the last good set and says why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from policies import PolicyError, PolicyWatcher, PollResult, Reload
from tests.support.policies import request

GOOD = """
apps: [{slug: app, restricted: true}]
rules:
  - id: first
    effect: allow
    match: {apps: [app]}
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    (tmp_path / "10-rules.yaml").write_text(GOOD)
    return tmp_path


def test_an_unchanged_directory_is_not_reloaded(policy_dir: Path) -> None:
    watcher = PolicyWatcher(policy_dir)
    first = watcher.current
    assert watcher.poll().outcome is Reload.UNCHANGED
    (policy_dir / "10-rules.yaml").write_text(GOOD)  # rewritten, same content
    assert watcher.poll().outcome is Reload.UNCHANGED
    assert watcher.current is first and watcher.healthy


def settled(watcher: PolicyWatcher) -> PollResult:
    """A change is acted on at the second poll that reads it; the first only notes it."""
    first = watcher.poll()
    assert first.outcome is Reload.PENDING
    second = watcher.poll()
    assert second.fingerprint == first.fingerprint
    return second


def test_a_valid_change_is_swapped_in_whole(policy_dir: Path) -> None:
    watcher = PolicyWatcher(policy_dir)
    assert watcher.current.decide(request()).rule_ids == ("first",)
    (policy_dir / "10-rules.yaml").write_text(GOOD.replace("first", "second"))
    (policy_dir / "20-deny.yaml").write_text("rules: [{id: no-post, effect: deny, match: {methods: [POST]}}]\n")
    result = settled(watcher)
    assert result.outcome is Reload.RELOADED and result.fingerprint == watcher.current.fingerprint
    assert watcher.current.decide(request()).rule_ids == ("second",)
    assert watcher.current.decide(request(method="POST")).rule_ids == ("no-post",)


def test_an_invalid_change_keeps_the_last_good_set_until_fixed(policy_dir: Path) -> None:
    watcher = PolicyWatcher(policy_dir)
    good = watcher.current
    (policy_dir / "10-rules.yaml").write_text(GOOD.replace("first", "second"))
    (policy_dir / "20-bad.yaml").write_text("rules: [{id: x, effect: permit, match: {}}]\n")
    failed = settled(watcher)
    assert failed.outcome is Reload.FAILED
    assert "20-bad.yaml:1: rules[0].effect: must be one of allow, deny, report-only" in str(failed.error)
    assert watcher.current is good and not watcher.healthy
    assert watcher.current.decide(request()).rule_ids == ("first",)  # not half-applied
    again = watcher.poll()  # the same bad content is reported once, the error stays visible
    assert again.outcome is Reload.UNCHANGED and again.error is watcher.error
    (policy_dir / "20-bad.yaml").unlink()
    assert settled(watcher).outcome is Reload.RELOADED
    assert watcher.healthy and watcher.current.decide(request()).rule_ids == ("second",)


def test_reverting_a_bad_change_clears_the_error(policy_dir: Path) -> None:
    watcher = PolicyWatcher(policy_dir)
    good = watcher.current
    (policy_dir / "10-rules.yaml").write_text("rules: [")
    assert settled(watcher).outcome is Reload.FAILED
    (policy_dir / "10-rules.yaml").write_text(GOOD)
    assert watcher.poll().outcome is Reload.RELOADED  # back to the running set: nothing to wait for
    assert watcher.healthy and watcher.current is good


def test_a_vanished_directory_keeps_the_last_good_set(policy_dir: Path) -> None:
    watcher = PolicyWatcher(policy_dir)
    shutil.rmtree(policy_dir)
    result = settled(watcher)
    assert result.outcome is Reload.FAILED and "is not a directory" in str(result.error)
    assert watcher.current.decide(request()).allowed


def test_a_file_caught_mid_write_is_never_taken(policy_dir: Path) -> None:
    """An in-place rewrite truncates first: an empty file is a valid, empty set that would deny the
    restricted app. Read once between truncate and write, it must not replace the running set."""
    watcher = PolicyWatcher(policy_dir)
    good = watcher.current
    (policy_dir / "10-rules.yaml").write_text("")  # truncated, not yet written
    assert watcher.poll().outcome is Reload.PENDING
    assert watcher.current is good and watcher.current.decide(request()).allowed
    (policy_dir / "10-rules.yaml").write_text(GOOD.replace("first", "second"))  # the write lands
    assert settled(watcher).outcome is Reload.RELOADED
    assert watcher.current.decide(request()).rule_ids == ("second",)


def test_a_change_that_keeps_changing_waits_until_it_settles(policy_dir: Path) -> None:
    watcher = PolicyWatcher(policy_dir)
    good = watcher.current
    for step in ("rules: [", "rules: []\n", GOOD.replace("first", "third")):
        (policy_dir / "10-rules.yaml").write_text(step)
        assert watcher.poll().outcome is Reload.PENDING
        assert watcher.current is good and watcher.healthy
    assert watcher.poll().outcome is Reload.RELOADED
    assert watcher.current.decide(request()).rule_ids == ("third",)


def test_the_first_load_must_succeed(tmp_path: Path) -> None:
    (tmp_path / "10-rules.yaml").write_text("rules: [{id: x}]\n")
    with pytest.raises(PolicyError, match="rules\\[0\\].effect: is required"):
        PolicyWatcher(tmp_path)
