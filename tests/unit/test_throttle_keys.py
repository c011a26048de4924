"""One key builder: hash tags keep a limit's keys in one Cluster slot; subjects cannot forge other keys."""

from __future__ import annotations

from redis.crc import key_slot

from idp.throttle.keys import build_key


def test_key_layout_and_hash_tag() -> None:
    assert build_key("gerbang", "per-ip", "10.1.2.3", "gcra") == "gerbang:rl:{per-ip:10.1.2.3}:gcra"


def test_every_kind_of_a_limit_and_subject_shares_one_slot() -> None:
    slots = {key_slot(build_key("p", "opd-quota", "dinkes", kind).encode()) for kind in ("gcra", "day", "month")}
    assert len(slots) == 1


def test_subjects_cannot_close_the_tag_or_collide() -> None:
    forged = build_key("p", "a", "x}:{b:y", "gcra")
    assert forged.count("{") == 1 and forged.count("}") == 1
    assert build_key("p", "a:b", "c", "gcra") != build_key("p", "a", "b:c", "gcra")


def test_ipv6_subjects_are_encoded_and_long_subjects_hashed() -> None:
    assert build_key("p", "ip", "2001:db8::1", "gcra") == "p:rl:{ip:2001%3Adb8%3A%3A1}:gcra"
    long_key = build_key("p", "user", "u" * 500, "gcra")
    assert len(long_key) < 80 and "sha256=" in long_key
