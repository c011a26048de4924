"""RFC 9162 §2.1 Merkle trees over one batch of receipts: the tree head, every leaf's audit path, checking one.

``leaf_hash(d) = SHA-256(0x00 || d)``, ``node_hash(l, r) = SHA-256(0x01 || l || r)``; a tree of n > 1 leaves
splits at k, the largest power of two below n (§2.1.1), and an audit path lists the sibling hashes from the leaf
up (§2.1.3.1). A batch's leaves are ``seq (8 bytes, big-endian) || the receipt's chain hash (32 bytes)``: the chain
hash already commits to the receipt's content and to the receipt before it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def receipt_leaf(seq: int, chain_hash_hex: str) -> bytes:
    """The leaf hash of the receipt at ``seq`` whose chain hash is ``chain_hash_hex``."""
    return leaf_hash(seq.to_bytes(8, "big") + bytes.fromhex(chain_hash_hex))


def build_tree(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """(tree head, audit path of each leaf) over leaf hashes, in O(n log n) hashes and path entries."""
    if not leaves:
        return hashlib.sha256(b"").digest(), []
    if len(leaves) == 1:
        return leaves[0], [[]]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    left, left_paths = build_tree(leaves[:split])
    right, right_paths = build_tree(leaves[split:])
    for path in left_paths:
        path.append(right)
    for path in right_paths:
        path.append(left)
    return node_hash(left, right), left_paths + right_paths


def root_from_path(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """The tree head an audit path leads to (RFC 9162 §2.1.3.2); ``ValueError`` when the path cannot fit the tree."""
    if not 0 <= index < size:
        raise ValueError("the leaf index is outside the tree")
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            raise ValueError("the audit path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = node_hash(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("the audit path is shorter than the tree is deep")
    return node
