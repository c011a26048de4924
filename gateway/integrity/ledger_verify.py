"""Walking the receipts ledger (``gerbang ledger verify``): every link, every signed checkpoint.

Pure and streaming: ``LedgerVerifier.feed`` takes receipts in ``seq`` order and keeps only the previous one.

    deleted     a gap in seq (or the ledger does not start at seq 1)
    edited      a receipt's hash does not match its content, its link to the previous one holds
    inserted    the hash matches the content but does not link to the previous receipt
    reordered   neither holds: the receipt was moved from another position
    rewritten   a signed checkpoint names another hash for that seq (the chain was recomputed)
    truncated   the ledger ends before the newest signed checkpoint
    checkpoint-invalid   a checkpoint's signature does not verify, or its row disagrees with its token
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from gateway.integrity.receipts import CHECKPOINT_TYP, GENESIS_HASH, ChainedReceipt, chain_hash


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


def read_checkpoint(token: str, public_jwks: Mapping[str, dict[str, Any]]) -> tuple[int, str]:
    """(seq, hash) a checkpoint token signs; ``ValueError`` when its signature or type is wrong."""
    try:
        header = jwt.get_unverified_header(token)
        jwk = public_jwks.get(str(header.get("kid")))
        if header.get("typ") != CHECKPOINT_TYP or jwk is None:
            raise ValueError("not signed by a trusted hub key")
        claims = jwt.decode(
            token,
            jwt.PyJWK(jwk).key,
            algorithms=[jwk["alg"]],
            options={"require": ["seq", "hash"], "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise ValueError(f"its signature does not verify ({exc})") from None
    if type(claims["seq"]) is not int or not isinstance(claims["hash"], str):
        raise ValueError("it carries no seq and hash")
    return claims["seq"], claims["hash"]


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
        self._signed: dict[int, str] = {}
        for seq, head, token in checkpoints:
            try:
                signed_seq, signed_hash = read_checkpoint(token, public_jwks)
            except ValueError as exc:
                self.report.faults.append(Fault(seq, "checkpoint-invalid", f"the checkpoint for seq {seq}: {exc}"))
                continue
            if (signed_seq, signed_hash) != (seq, head):
                self.report.faults.append(
                    Fault(
                        seq, "checkpoint-invalid", f"the checkpoint row for seq {seq} differs from what its token signs"
                    )
                )
                continue
            self._signed[seq] = head
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
        signed = self._signed.get(link.seq)
        if signed is not None and signed != link.hash:
            return self._stop(link.seq, "rewritten", "a signed checkpoint states another hash for this seq")
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
