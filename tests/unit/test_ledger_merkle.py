"""The batch Merkle trees of the ledger (RFC 9162 §2.1): tree heads by the RFC's own definition, every audit path
of trees of 1..70 leaves, and paths that must not verify."""

from __future__ import annotations

import hashlib

import pytest

from gateway.integrity.merkle import build_tree, leaf_hash, node_hash, receipt_leaf, root_from_path


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1, word for word (on raw leaf inputs)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def inputs(n: int) -> list[bytes]:
    return [f"receipt-{i}".encode() for i in range(n)]


def test_the_tree_head_is_rfc_9162s() -> None:
    for n in range(71):
        assert build_tree([leaf_hash(data) for data in inputs(n)])[0] == mth(inputs(n)), n


def test_every_audit_path_of_every_small_tree_leads_to_its_head() -> None:
    for n in range(1, 71):
        leaves = [leaf_hash(data) for data in inputs(n)]
        root, paths = build_tree(leaves)
        assert len(paths) == n
        for index, path in enumerate(paths):
            assert root_from_path(index, n, leaves[index], path) == root, (n, index)


# (The tree size is not the path's to choose: the verifier takes it from the signed checkpoint; a left-subtree path
# of a 13-leaf tree fits a 14-leaf tree alike.)
def leads_to(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    try:
        return root_from_path(index, size, leaf, path) == root
    except ValueError:
        return False


def test_a_path_at_another_leaf_index_or_for_another_leaf_does_not_lead_to_the_head():
    leaves = [leaf_hash(data) for data in inputs(13)]
    root, paths = build_tree(leaves)
    for index, path in enumerate(paths):
        assert leads_to(index, 13, leaves[index], path, root)
        assert not any(leads_to(other, 13, leaves[index], path, root) for other in range(13) if other != index)
        assert not leads_to(index, 13, leaves[(index + 1) % 13], path, root)


def test_paths_that_cannot_fit_the_tree_are_refused() -> None:
    leaves = [leaf_hash(data) for data in inputs(5)]
    _, paths = build_tree(leaves)
    with pytest.raises(ValueError, match="outside"):
        root_from_path(5, 5, leaves[0], paths[0])
    with pytest.raises(ValueError, match="shorter"):
        root_from_path(0, 5, leaves[0], paths[0][:-1])
    with pytest.raises(ValueError, match="longer"):
        root_from_path(4, 5, leaves[4], [*paths[4], paths[4][0]])


def test_a_receipt_leaf_commits_to_its_seq_and_chain_hash() -> None:
    chain = "ab" * 32
    assert receipt_leaf(7, chain) == hashlib.sha256(b"\x00" + (7).to_bytes(8, "big") + bytes.fromhex(chain)).digest()
    assert receipt_leaf(8, chain) != receipt_leaf(7, chain) != receipt_leaf(7, "ac" * 32)
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest() != node_hash(b"b", b"a")
