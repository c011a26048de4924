"""A receipt's canonical JSON: what its chain hash covers, stable across the ``outcome`` field's arrival."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json

from gateway.integrity.receipts import (
    GENESIS_HASH,
    ChainedReceipt,
    ProvenReceipt,
    Receipt,
    canonical,
    chain_hash,
    read_chained,
)

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


TRICKY = ("", "e-budgeting", 'quote " and \\ backslash', "tab\there\nnewline\x00nul\x1f", "Palembang — Sumsel ✓",
          "emoji 🙂 and \u2028 separator", "/api/anggaran?x=1&y=%20")  # fmt: skip


def reference(receipt: Receipt) -> bytes:
    """What an independent verifier writes: the fields by name, sorted, no spaces, UTF-8."""
    fields = {name: getattr(receipt, name) for name in Receipt.__dataclass_fields__}
    if fields["outcome"] is None:
        del fields["outcome"]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_the_written_out_canonical_json_is_byte_for_byte_the_generic_one() -> None:
    cases = 0
    for text in TRICKY:
        for optional in (None, text):
            for outcome in (None, "client-gone", text):
                receipt = Receipt(text, 1_800_000_000_123, text, optional, optional, text, text, text, text, 504,
                                  text, 0, outcome)  # fmt: skip
                assert canonical(receipt) == reference(receipt), receipt
                cases += 1
    assert cases == len(TRICKY) * 6


def test_fields_of_another_type_take_the_generic_path() -> None:
    # A proof written by someone else may carry a status as text or a float duration: hashed as the JSON it is.
    for odd in (dataclasses.replace(DELIVERED, status="200"), dataclasses.replace(DELIVERED, duration_us=1.5),  # type: ignore[arg-type]
                dataclasses.replace(DELIVERED, sub=7), dataclasses.replace(DELIVERED, at_ms=True)):  # type: ignore[arg-type]  # fmt: skip
        assert canonical(odd) == reference(odd)
    assert b'"status":"200"' in canonical(dataclasses.replace(DELIVERED, status="200"))  # type: ignore[arg-type]


def test_the_receipt_token_proof_is_the_receipt_and_its_path() -> None:
    for receipt in (DELIVERED, dataclasses.replace(DELIVERED, outcome="upstream-cut", path=TRICKY[3], sub=TRICKY[4])):
        link = ChainedReceipt(receipt, 41, GENESIS_HASH, chain_hash(GENESIS_HASH, receipt))
        path = [hashlib.sha256(bytes([n])).digest() for n in range(3)]
        token = ProvenReceipt(link, "h.p.s", path).token()
        checkpoint, _, encoded = token.partition("~")
        proof = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        assert checkpoint == "h.p.s"
        assert proof == {"receipt": link.as_json(), "path": [_b64(node) for node in path]}
        assert read_chained(proof["receipt"]) == link


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
