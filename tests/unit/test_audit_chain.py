"""The chain's hash rules and the pure verifier, with entries built in memory (no I/O)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.audit import CHECKPOINT_ACTION, CHECKPOINT_TYP, GENESIS_HASH, EntryFields, canonical_json, entry_hash
from idp.audit_chain import ChainVerifier, CheckpointInvalid, read_checkpoint_token
from idp.keys import generate_key, public_jwk

KEY = generate_key("ES256")
JWKS = {"k1": public_jwk(KEY, "k1", "ES256")}


def _chain(count: int, checkpoint_after: int | None = None) -> list[EntryFields]:
    entries: list[EntryFields] = []
    prev = GENESIS_HASH
    for seq in range(1, count + 1):
        action, detail = "user.create", {"n": seq}
        if checkpoint_after is not None and seq == checkpoint_after + 1:
            action, detail = CHECKPOINT_ACTION, {"token": _token({"seq": seq - 1, "hash": prev})}
        entry = EntryFields(
            seq,
            1_700_000_000 + seq,
            "cli:ani",
            action,
            f"t:{seq}",
            detail,
            prev,
            entry_hash(prev, seq, 1_700_000_000 + seq, "cli:ani", action, f"t:{seq}", detail),
        )
        entries.append(entry)
        prev = entry.hash
    return entries


def _token(
    claims: dict[str, Any], key: Any = KEY, kid: str = "k1", typ: str = CHECKPOINT_TYP, alg: str = "ES256"
) -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": typ})


def _verify(entries: list[EntryFields], keys: dict | None = JWKS) -> tuple[int, str] | None:
    verifier = ChainVerifier(keys)
    for entry in entries:
        if not verifier.feed(entry):
            break
    fault = verifier.finish().fault
    return None if fault is None else (fault.seq, fault.kind)


def test_hash_follows_the_documented_rule() -> None:
    detail = {"nama": "Dinas Kesehatan", "b": [1, 2], "ü": "é"}
    expected_body = (
        '{"action":"opd.create","actor":"cli:ani","at":1700000000,'
        '"detail":{"b":[1,2],"nama":"Dinas Kesehatan","ü":"é"},"seq":1,"target":"opd:dinkes"}'
    )
    expected = hashlib.sha256(("0" * 64 + expected_body).encode("utf-8")).hexdigest()
    assert entry_hash(GENESIS_HASH, 1, 1_700_000_000, "cli:ani", "opd.create", "opd:dinkes", detail) == expected


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
)
def test_canonical_json_does_not_depend_on_key_order(value: Any) -> None:
    def reverse(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: reverse(node[key]) for key in reversed(list(node))}
        if isinstance(node, list):
            return [reverse(item) for item in node]
        return node

    assert canonical_json(value) == canonical_json(reverse(value))


def test_intact_chain_with_a_checkpoint() -> None:
    assert _verify(_chain(8, checkpoint_after=4)) is None


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda c: c.__setitem__(3, replace(c[3], detail={"n": 99})), (4, "edited")),
        (lambda c: c.pop(3), (4, "deleted")),
        (lambda c: c.pop(0), (1, "deleted")),
        (
            lambda c: c.__setitem__(
                3,
                replace(
                    c[3],
                    prev_hash="a" * 64,
                    hash=entry_hash("a" * 64, 4, c[3].at, c[3].actor, c[3].action, c[3].target, c[3].detail),
                ),
            ),
            (4, "inserted"),
        ),
        (lambda c: c.__setitem__(slice(3, 5), [replace(c[4], seq=4), replace(c[3], seq=5)]), (4, "reordered")),
    ],
    ids=["edited", "deleted", "deleted-first", "inserted", "reordered"],
)
def test_first_bad_entry_and_its_kind(tamper: Any, expected: tuple[int, str]) -> None:
    chain = _chain(8)
    tamper(chain)
    assert _verify(chain) == expected


def _relink(chain: list[EntryFields]) -> list[EntryFields]:
    """Recompute every link and hash, as someone rewriting the chain would (tokens are kept)."""
    relinked, prev = [], GENESIS_HASH
    for entry in chain:
        entry = replace(
            entry,
            prev_hash=prev,
            hash=entry_hash(prev, entry.seq, entry.at, entry.actor, entry.action, entry.target, entry.detail),
        )
        relinked.append(entry)
        prev = entry.hash
    return relinked


def test_recomputed_chain_under_a_checkpoint_is_rewritten() -> None:
    chain = _chain(12, checkpoint_after=4)
    chain[1] = replace(chain[1], detail={"n": 99})
    assert _verify(_relink(chain)) == (1, "rewritten")


def test_recomputed_chain_after_a_good_checkpoint_starts_after_it() -> None:
    chain = _chain(12, checkpoint_after=4)
    chain[10] = replace(
        chain[10], action=CHECKPOINT_ACTION, detail={"token": _token({"seq": 10, "hash": chain[9].hash})}
    )
    chain = _relink(chain)
    assert _verify(chain) is None
    chain[7] = replace(chain[7], detail={"n": 99})
    assert _verify(_relink(chain)) == (5, "rewritten")  # seq 1-4 are covered by the good checkpoint at 5


def test_verifier_keeps_no_entries() -> None:
    verifier = ChainVerifier(JWKS)
    for entry in _chain(50):
        verifier.feed(entry)
    assert not any(isinstance(value, list) and value for value in vars(verifier).values())


@pytest.mark.parametrize(
    "make",
    [
        lambda: _token({"seq": 1, "hash": "x"}, typ="JWT"),
        lambda: _token({"seq": 1, "hash": "x"}, kid="unknown"),
        lambda: _token({"seq": 1, "hash": "x"}, key=generate_key("ES256")),
        lambda: _token({"seq": 1, "hash": "x"}, key="k" * 32, alg="HS256"),
        lambda: jwt.encode(
            {"seq": 1, "hash": "x"}, None, algorithm="none", headers={"kid": "k1", "typ": CHECKPOINT_TYP}
        ),
        lambda: _token({"seq": "1", "hash": "x"}),
        lambda: "not-a-jws",
    ],
    ids=["wrong-typ", "unknown-kid", "other-key", "hmac", "alg-none", "seq-not-int", "garbage"],
)
def test_checkpoint_tokens_that_must_not_verify(make: Any) -> None:
    with pytest.raises(CheckpointInvalid):
        read_checkpoint_token(make(), JWKS)


def test_checkpoint_token_that_verifies() -> None:
    head = read_checkpoint_token(_token({"seq": 7, "hash": "c" * 64, "iat": 4_000_000_000}), JWKS)
    assert (head.seq, head.hash, head.kid, head.verified) == (7, "c" * 64, "k1", True)


def test_two_signed_checkpoints_for_one_seq_with_different_hashes_are_a_fault() -> None:
    from idp.audit_chain import StoredCheckpoint

    stored = [StoredCheckpoint(3, h, _token({"seq": 3, "hash": h})) for h in ("a" * 64, "b" * 64)]
    verifier = ChainVerifier(JWKS, stored)
    for entry in _chain(5):
        verifier.feed(entry)
    conflicts = [fault for fault in verifier.finish().faults if "wrong hands" in fault.message]
    assert [(fault.seq, fault.kind) for fault in conflicts] == [(3, "checkpoint-invalid")]
