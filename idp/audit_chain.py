"""Walking the audit chain: the first entry edited, deleted, inserted or reordered, and checkpoint checks.

Pure and streaming: ``ChainVerifier.feed`` takes entries in ``seq`` order and keeps only the
previous one, so a chain of any length is checked in bounded memory. What it can tell apart:

    deleted     a gap in seq (or the chain does not start at seq 1)
    edited      the entry's hash does not match its content, its link to the previous entry holds
    inserted    the entry's hash matches its content but it does not link to the previous entry
                (a forged entry, or the previous entry was replaced with a recomputed hash)
    reordered   both fail: the entry was moved from another position (its seq changed)
    rewritten   the chain was recomputed from some entry on: a signed checkpoint names another hash
    truncated   the chain ends before the newest signed checkpoint
    checkpoint-invalid / checkpoint-missing   a checkpoint's signature fails / its record is gone
    malformed   an export line is not an entry
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from idp.audit import CHECKPOINT_ACTION, CHECKPOINT_TYP, GENESIS_HASH, EntryFields, is_entry_hash_valid
from idp.keys import SUPPORTED_ALGS


@dataclass(frozen=True)
class Fault:
    seq: int
    kind: str
    message: str


@dataclass(frozen=True)
class SignedHead:
    """What a checkpoint token states: the chain's head at ``seq`` had ``hash``."""

    seq: int
    hash: str
    kid: str
    verified: bool


@dataclass(frozen=True)
class StoredCheckpoint:
    seq: int
    hash: str
    token: str


@dataclass
class Report:
    entries: int = 0
    checkpoints: int = 0
    first_seq: int | None = None
    last_seq: int = 0
    head_hash: str = GENESIS_HASH
    unverified_checkpoints: int = 0
    keys: str = "given"  # where checkpoint keys came from: given | authenticated | unauthenticated | none
    faults: list[Fault] = field(default_factory=list)

    @property
    def fault(self) -> Fault | None:
        return min(self.faults, key=lambda fault: fault.seq) if self.faults else None

    @property
    def intact(self) -> bool:
        return not self.faults

    def summary(self) -> str:
        first = self.fault
        if first is not None:
            return f"TAMPERED: seq {first.seq} {first.kind}: {first.message}"
        text = f"{self.entries} entries, {self.checkpoints} checkpoints, chain intact"
        if self.entries:
            text += f" (seq {self.first_seq}..{self.last_seq}, head {self.head_hash[:16]})"
        if self.unverified_checkpoints:
            text += f"; {self.unverified_checkpoints} checkpoint signatures not checked (no public keys)"
        if self.keys == "unauthenticated":
            text += "; the stored signing keys were not authenticated (no hub secret available)"
        return text

    def as_dict(self) -> dict[str, Any]:
        first = self.fault
        return {
            "intact": self.intact,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "head_hash": self.head_hash,
            "unverified_checkpoints": self.unverified_checkpoints,
            "keys": self.keys,
            "fault": None if first is None else first.__dict__,
            "faults": [fault.__dict__ for fault in sorted(self.faults, key=lambda f: f.seq)],
        }


class CheckpointInvalid(Exception):
    pass


def read_checkpoint_token(token: str, public_jwks: Mapping[str, dict[str, Any]] | None) -> SignedHead:
    """The head a checkpoint token states, its signature checked when public keys are given."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("typ") != CHECKPOINT_TYP:
            raise CheckpointInvalid(f"its JWS typ is not {CHECKPOINT_TYP}")
        kid = header.get("kid")
        if public_jwks is None:
            claims = jwt.decode(token, options={"verify_signature": False})
        else:
            jwk = public_jwks.get(kid) if isinstance(kid, str) else None
            if jwk is None or jwk.get("alg") not in SUPPORTED_ALGS:
                raise CheckpointInvalid(
                    f"it names key {kid!r}, which is not a trusted hub key (its signing_keys "
                    f"row is missing, forged, or sealed under another secret)"
                )
            claims = jwt.decode(
                token,
                jwt.PyJWK(jwk).key,
                algorithms=[jwk["alg"]],
                options={"verify_iat": False, "verify_aud": False, "require": ["seq", "hash"]},
            )
    except jwt.PyJWTError as exc:
        raise CheckpointInvalid(f"its signature does not verify ({exc})") from exc
    seq, head_hash = claims.get("seq"), claims.get("hash")
    if type(seq) is not int or not isinstance(head_hash, str):
        raise CheckpointInvalid("its claims carry no seq and hash")
    return SignedHead(seq, head_hash, str(kid), public_jwks is not None)


class ChainVerifier:
    """Feed entries in seq order, then ``finish()``; stops at the first fault in the chain itself.

    ``stored`` are the checkpoints kept apart from the chain (the database's ``audit_checkpoints``,
    and anchors kept outside the database, such as the checkpoint log lines);
    with ``start=None`` the first entry fed is trusted as the anchor (an export made ``--since``).
    """

    def __init__(
        self,
        public_jwks: Mapping[str, dict[str, Any]] | None,
        stored: Iterable[StoredCheckpoint] = (),
        *,
        start: int | None = 1,
        track_unmatched: bool = False,
    ) -> None:
        self.report = Report()
        self.unmatched: list[tuple[int, SignedHead]] = []
        self._keys = public_jwks
        self._expected = start
        self._prev_hash = GENESIS_HASH
        self._good_through = 0
        self._stopped = False
        self._track_unmatched = track_unmatched
        self._stored: dict[int, SignedHead] = {}
        for checkpoint in stored:
            self._add_stored(checkpoint)

    def _add_stored(self, checkpoint: StoredCheckpoint) -> None:
        try:
            head = read_checkpoint_token(checkpoint.token, self._keys)
        except CheckpointInvalid as exc:
            self._fault(checkpoint.seq, "checkpoint-invalid", f"the stored checkpoint for seq {checkpoint.seq}: {exc}")
            return
        if (head.seq, head.hash) != (checkpoint.seq, checkpoint.hash):
            self._fault(
                checkpoint.seq,
                "checkpoint-invalid",
                f"the stored checkpoint for seq {checkpoint.seq} was edited: its token signs seq {head.seq}",
            )
            return
        known = self._stored.get(head.seq)
        if known is not None and known.hash != head.hash:
            self._fault(
                head.seq,
                "checkpoint-invalid",
                f"two signed checkpoints state different hashes for seq "
                f"{head.seq}: a signing key is in the wrong hands",
            )
            return
        self._stored[head.seq] = head

    def _fault(self, seq: int, kind: str, message: str) -> None:
        self.report.faults.append(Fault(seq, kind, message))

    def _stop(self, seq: int, kind: str, message: str) -> bool:
        self._fault(seq, kind, message)
        self._stopped = True
        return False

    def feed(self, entry: EntryFields) -> bool:
        """Check one entry; False once the walk has stopped at a fault."""
        if self._stopped:
            return False
        if self._expected is None:
            self._expected, self._prev_hash = entry.seq, entry.prev_hash
        if not self._check_position(entry) or not self._check_link(entry) or not self._check_anchor(entry):
            return False
        if entry.action == CHECKPOINT_ACTION and not self._check_checkpoint_entry(entry):
            return False
        report = self.report
        report.entries += 1
        report.first_seq = entry.seq if report.first_seq is None else report.first_seq
        report.last_seq, report.head_hash = entry.seq, entry.hash
        self._expected, self._prev_hash = entry.seq + 1, entry.hash
        return True

    def _check_position(self, entry: EntryFields) -> bool:
        expected = self._expected
        assert expected is not None
        if entry.seq > expected:
            missing = f"seq {expected}" if entry.seq == expected + 1 else f"seq {expected}..{entry.seq - 1}"
            where = "the chain starts" if expected == 1 else f"the entry after seq {expected - 1} is"
            return self._stop(expected, "deleted", f"{missing} missing: {where} at seq {entry.seq}")
        if entry.seq < expected:
            return self._stop(entry.seq, "reordered", f"seq {entry.seq} appears after seq {expected - 1}")
        return True

    def _check_link(self, entry: EntryFields) -> bool:
        content_ok = is_entry_hash_valid(entry)
        link_ok = entry.prev_hash == self._prev_hash
        if content_ok and link_ok:
            return True
        if link_ok:
            return self._stop(entry.seq, "edited", f"seq {entry.seq}'s content does not match its hash")
        if content_ok:
            return self._stop(
                entry.seq,
                "inserted",
                f"seq {entry.seq} does not link to seq {entry.seq - 1}: it was inserted, or seq "
                f"{entry.seq - 1} was replaced with a recomputed hash",
            )
        return self._stop(
            entry.seq,
            "reordered",
            f"seq {entry.seq} neither matches its hash nor links to seq {entry.seq - 1}: it was moved "
            f"here from another position",
        )

    def _check_anchor(self, entry: EntryFields) -> bool:
        head = self._stored.get(entry.seq)
        if head is None:
            return True
        if head.hash != entry.hash:
            return self._rewritten(entry.seq, head)
        self._good_through = entry.seq if head.verified else self._good_through
        return True

    def _check_checkpoint_entry(self, entry: EntryFields) -> bool:
        token = entry.detail.get("token") if isinstance(entry.detail, dict) else None
        try:
            head = read_checkpoint_token(token if isinstance(token, str) else "", self._keys)
        except CheckpointInvalid as exc:
            return self._stop(entry.seq, "checkpoint-invalid", f"the checkpoint at seq {entry.seq}: {exc}")
        if head.seq != entry.seq - 1 or head.hash != self._prev_hash:
            return self._rewritten(entry.seq - 1, head)
        self.report.checkpoints += 1
        if not head.verified:
            self.report.unverified_checkpoints += 1
        else:
            self._good_through = head.seq
        if self._track_unmatched and head.seq not in self._stored:
            self.unmatched.append((entry.seq, head))
        return True

    def _rewritten(self, at_seq: int, head: SignedHead) -> bool:
        start = self._good_through + 1
        return self._stop(
            start,
            "rewritten",
            f"the chain was recomputed between seq {start} and seq {at_seq}: a signed checkpoint "
            f"states seq {head.seq} had hash {head.hash[:16]}, the chain differs",
        )

    def finish(self) -> Report:
        if not self._stopped and self._stored:
            newest = max(self._stored)
            if newest > self.report.last_seq:
                self._fault(
                    self.report.last_seq + 1,
                    "truncated",
                    f"the chain ends at seq {self.report.last_seq} but a signed checkpoint covers seq "
                    f"{newest}: entries {self.report.last_seq + 1}..{newest} or more were cut off",
                )
        return self.report
