"""Walking the receipts ledger (``gerbang ledger verify``): every link, every signed checkpoint.

Pure and streaming: ``LedgerVerifier.feed`` takes receipts in ``seq`` order and keeps only the previous one.

    deleted     a gap in seq (or the ledger does not start at seq 1)
    edited      a receipt's hash does not match its content, its link to the previous one holds
    inserted    the hash matches the content but does not link to the previous receipt
    reordered   neither holds: the receipt was moved from another position
    rewritten   a signed checkpoint names another hash for that seq, or another Merkle tree head for its batch
                (the chain was recomputed)
    truncated   the ledger ends before the newest signed checkpoint
    checkpoint-invalid   a checkpoint's signature does not verify, or its row disagrees with its token
    checkpoint-missing   a signed checkpoint does not follow the one before it (its batch does not start after that
                one's last seq, or it names another previous tree head): a checkpoint was deleted
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.integrity.merkle import build_tree, receipt_leaf
from gateway.integrity.receipts import GENESIS_HASH, ChainedReceipt, Checkpoint, chain_hash, check_checkpoint


@dataclass(frozen=True)
class Fault:
    seq: int
    kind: str
    message: str


@dataclass
class LedgerReport:
    receipts: int = 0
    checkpoints: int = 0
    last_seq: int = 0
    head_hash: str = GENESIS_HASH
    faults: list[Fault] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.faults

    def summary(self) -> str:
        if self.faults:
            first = min(self.faults, key=lambda fault: fault.seq)
            return f"TAMPERED: seq {first.seq} {first.kind}: {first.message}"
        return (
            f"{self.receipts} receipts, {self.checkpoints} signed checkpoints, ledger intact "
            f"(head seq {self.last_seq} {self.head_hash[:16]})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "receipts": self.receipts,
            "checkpoints": self.checkpoints,
            "last_seq": self.last_seq,
            "head_hash": self.head_hash,
            "faults": [fault.__dict__ for fault in sorted(self.faults, key=lambda fault: fault.seq)],
        }


class LedgerVerifier:
    """Feed receipts in seq order, then ``finish()``; stops at the first broken link.

    ``checkpoints``: (seq, hash, token) rows; ``start``: the first seq expected (an export ``--since`` starts later,
    its first receipt's ``prev_hash`` trusted as the anchor)."""

    def __init__(
        self,
        public_jwks: Mapping[str, dict[str, Any]],
        checkpoints: Iterable[tuple[int, str, str]],
        *,
        start: int | None = 1,
    ) -> None:
        self.report = LedgerReport()
        self._expected, self._prev, self._stopped = start, GENESIS_HASH, False
        self._signed: dict[int, Checkpoint] = {}
        self._leaves: list[bytes] = []
        before: Checkpoint | None = None
        for seq, head, token in sorted(checkpoints):
            try:
                signed = check_checkpoint(token, public_jwks.get)
            except ValueError as exc:
                self.report.faults.append(Fault(seq, "checkpoint-invalid", f"the checkpoint for seq {seq}: {exc}"))
                continue
            if (signed.seq, signed.hash) != (seq, head):
                self.report.faults.append(
                    Fault(
                        seq, "checkpoint-invalid", f"the checkpoint row for seq {seq} differs from what its token signs"
                    )
                )
                continue
            if not _follows(signed, before, first=start == 1):
                self.report.faults.append(
                    Fault(seq, "checkpoint-missing", f"the checkpoint for seq {seq} does not follow the one before it")
                )
            before = self._signed[seq] = signed
            self.report.checkpoints += 1

    def feed(self, link: ChainedReceipt) -> bool:
        if self._stopped:
            return False
        if self._expected is None:
            self._expected, self._prev = link.seq, link.prev_hash
        if link.seq != self._expected:
            kind = "deleted" if link.seq > self._expected else "reordered"
            return self._stop(
                self._expected if kind == "deleted" else link.seq,
                kind,
                f"expected seq {self._expected}, found seq {link.seq}",
            )
        content_ok = chain_hash(link.prev_hash, link.receipt) == link.hash
        link_ok = link.prev_hash == self._prev
        if not (content_ok and link_ok):
            kind = "edited" if link_ok else "inserted" if content_ok else "reordered"
            return self._stop(
                link.seq,
                kind,
                {
                    "edited": "its content does not match its hash",
                    "inserted": f"it does not link to seq {link.seq - 1}",
                    "reordered": "it neither matches its hash nor links to the one before",
                }[kind],
            )
        self._leaves.append(receipt_leaf(link.seq, link.hash))
        signed = self._signed.get(link.seq)
        if signed is not None:
            if signed.hash != link.hash:
                return self._stop(link.seq, "rewritten", "a signed checkpoint states another hash for this seq")
            leaves, self._leaves = self._leaves, []
            whole = signed.first_seq is not None and len(leaves) == link.seq - signed.first_seq + 1
            if whole and build_tree(leaves)[0].hex() != signed.root:
                return self._stop(link.seq, "rewritten", "its batch's signed Merkle tree head differs")
        report = self.report
        report.receipts += 1
        report.last_seq, report.head_hash = link.seq, link.hash
        self._expected, self._prev = link.seq + 1, link.hash
        return True

    def _stop(self, seq: int, kind: str, message: str) -> bool:
        self.report.faults.append(Fault(seq, kind, message))
        self._stopped = True
        return False

    def finish(self) -> LedgerReport:
        if not self._stopped and self._signed and max(self._signed) > self.report.last_seq:
            newest = max(self._signed)
            self.report.faults.append(
                Fault(
                    self.report.last_seq + 1,
                    "truncated",
                    f"the ledger ends at seq {self.report.last_seq} but a signed checkpoint covers seq {newest}",
                )
            )
        return self.report


def _follows(checkpoint: Checkpoint, before: Checkpoint | None, *, first: bool) -> bool:
    """Does ``checkpoint``'s batch start right after ``before`` and name its tree head? (Older checkpoints, without
    a tree head, and the first one of an export that starts later are taken as they are.)"""
    if checkpoint.first_seq is None:
        return True
    if before is None:
        return not first or (checkpoint.first_seq == 1 and checkpoint.prev_root == GENESIS_HASH)
    return checkpoint.first_seq == before.seq + 1 and checkpoint.prev_root == (before.root or GENESIS_HASH)
