"""Hot reload, the pure part: the gateway calls ``poll()`` on its own schedule (policies starts no threads).

Each poll reads the policy files once and fingerprints their names and contents (a few small files:
cheaper and surer than trusting mtimes, whose granularity can hide a quick second write). A change is
acted on only once two consecutive polls read the same content: an editor or ``cp`` rewrites a file in
place (truncate, then write), and a poll that lands in between reads an empty or half-written file,
which may well be valid YAML (an empty file is an empty, valid set: every restricted app would turn
to deny). A settled change is validated whole and swapped in with one attribute assignment, so a
reader sees the old set or the new one, never a mix. An invalid change keeps the last good set and
exposes the problems in ``error`` (for the log, a metric and /readyz) until the directory is valid
again. Going back to the content that is running needs no settling: it changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from policies.engine import PolicySet
from policies.loader import build_policy_set, fingerprint_of, read_policy_files
from policies.problems import PolicyError


class Reload(Enum):
    UNCHANGED = "unchanged"
    PENDING = "pending"  # changed since the last poll: acted on when the next poll reads the same
    RELOADED = "reloaded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PollResult:
    outcome: Reload
    fingerprint: str
    error: PolicyError | None = None


class PolicyWatcher:
    """Holds the current PolicySet of a directory. The first load must succeed (raises PolicyError)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._current = build_policy_set(read_policy_files(self.directory))
        self._seen = self._current.fingerprint  # the last fingerprint tried, good or bad
        self._pending: str | None = None  # read once, not yet twice in a row
        self.error: PolicyError | None = None

    @property
    def current(self) -> PolicySet:
        return self._current

    @property
    def healthy(self) -> bool:
        return self.error is None

    def poll(self) -> PollResult:
        """Reload when the directory's content changed and has settled; report a bad change once."""
        unreadable: PolicyError | None
        try:
            files = read_policy_files(self.directory)
        except PolicyError as exc:
            fingerprint, unreadable = hashlib.sha256(str(exc).encode()).hexdigest(), exc
        else:
            fingerprint, unreadable = fingerprint_of(files), None
        if fingerprint == self._seen:
            self._pending = None
            return PollResult(Reload.UNCHANGED, fingerprint, self.error)
        if fingerprint == self._current.fingerprint:
            self._seen, self._pending, self.error = fingerprint, None, None  # back to the set that is running
            return PollResult(Reload.RELOADED, fingerprint)
        if fingerprint != self._pending:
            self._pending = fingerprint  # possibly a file caught mid-write: wait for the next poll
            return PollResult(Reload.PENDING, fingerprint, self.error)
        self._pending = None
        if unreadable is not None:
            return self._failed(fingerprint, unreadable)
        try:
            fresh = build_policy_set(files)
        except PolicyError as exc:
            return self._failed(fingerprint, exc)
        self._current, self._seen, self.error = fresh, fingerprint, None
        return PollResult(Reload.RELOADED, fingerprint)

    def _failed(self, fingerprint: str, exc: PolicyError) -> PollResult:
        changed = fingerprint != self._seen
        self._seen, self.error = fingerprint, exc
        return PollResult(Reload.FAILED if changed else Reload.UNCHANGED, fingerprint, exc)
