"""Hot reload, the pure part: the gateway calls ``poll()`` on its own schedule (policies starts no threads).

Each poll reads the policy files once and fingerprints their names and contents (a few small files:
cheaper and surer than trusting mtimes, whose granularity can hide a quick second write). A changed
directory is validated whole and swapped in with one attribute assignment, so a reader sees the old
set or the new one, never a mix. An invalid change keeps the last good set and exposes the problems
in ``error`` (for the log, a metric and /readyz) until the directory is valid again.
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
        self.error: PolicyError | None = None

    @property
    def current(self) -> PolicySet:
        return self._current

    @property
    def healthy(self) -> bool:
        return self.error is None

    def poll(self) -> PollResult:
        """Reload when the directory's content changed since the last poll; report a bad change once."""
        try:
            files = read_policy_files(self.directory)
        except PolicyError as exc:
            return self._failed(hashlib.sha256(str(exc).encode()).hexdigest(), exc)
        if (fingerprint := fingerprint_of(files)) == self._seen:
            return PollResult(Reload.UNCHANGED, fingerprint, self.error)
        if fingerprint == self._current.fingerprint:
            self._seen, self.error = fingerprint, None  # reverted to the set that is running
            return PollResult(Reload.RELOADED, fingerprint)
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
