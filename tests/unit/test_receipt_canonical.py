"""A receipt's canonical JSON: what its chain hash covers, stable across the ``outcome`` field's arrival."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from gateway.integrity.receipts import GENESIS_HASH, ChainedReceipt, Receipt, canonical, chain_hash, read_chained

DELIVERED = Receipt("req-1", 1_800_000_000_000, "e-budgeting", "bapenda", None, "POST", "/api/anggaran", "0" * 64,
                    "1" * 64, 200, "2" * 64, 900)  # fmt: skip


def test_a_delivered_receipt_hashes_exactly_as_before_outcome_existed() -> None:
    # The twelve fields a receipt had before ``outcome``, as an independent verifier would serialise them.
    before = {
        "request_id": "req-1", "at_ms": 1_800_000_000_000, "app": "e-budgeting", "client_id": "bapenda", "sub": None,
        "method": "POST", "path": "/api/anggaran", "query_digest": "0" * 64, "request_digest": "1" * 64,
        "status": 200, "response_digest": "2" * 64, "duration_us": 900,
    }  # fmt: skip
    text = json.dumps(before, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical(DELIVERED) == text
    assert chain_hash(GENESIS_HASH, DELIVERED) == hashlib.sha256(GENESIS_HASH.encode() + text).hexdigest()


def test_an_outcome_is_covered_by_the_hash() -> None:
    cut = dataclasses.replace(DELIVERED, outcome="client-gone")
    assert b'"outcome":"client-gone"' in canonical(cut)
    assert chain_hash(GENESIS_HASH, cut) != chain_hash(GENESIS_HASH, DELIVERED)


def test_the_proof_json_omits_an_absent_outcome_and_reads_back_either_way() -> None:
    for receipt in (DELIVERED, dataclasses.replace(DELIVERED, outcome="no-response")):
        link = ChainedReceipt(receipt, 1, GENESIS_HASH, chain_hash(GENESIS_HASH, receipt))
        data = link.as_json()
        assert ("outcome" in data) is (receipt.outcome is not None)
        assert read_chained(json.loads(json.dumps(data))) == link
