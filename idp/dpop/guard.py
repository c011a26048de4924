"""The provider's DPoP check for one request: read the ``DPoP`` header, check the proof, its nonce and its jti."""

from __future__ import annotations

from collections.abc import Sequence

from idp.clock import Clock
from idp.dpop.nonces import DpopNonces
from idp.dpop.proof import CheckedProof, InvalidProof, KeyCache, ProofWindow, check_proof
from idp.dpop.replay import ReplayStore


class DpopGuard:
    def __init__(
        self, nonces: DpopNonces, replay: ReplayStore, clock: Clock, *, require_nonce: bool, window: ProofWindow
    ) -> None:
        self.nonces = nonces
        self._replay = replay
        self._clock = clock
        self._require_nonce = require_nonce
        self._window = window
        self._keys = KeyCache()

    def fresh_nonce(self) -> str:
        return self.nonces.issue(self._clock.now())

    async def check(
        self, values: Sequence[str], *, method: str, url: str, access_token: str | None = None
    ) -> CheckedProof | None:
        """The checked proof, None without a ``DPoP`` header; raises ``InvalidProof`` (or ``NonceRequired``)."""
        if not values:
            return None
        if len(values) > 1:
            raise InvalidProof("send exactly one DPoP proof")
        now = self._clock.now()
        nonce_ok = (lambda nonce: self.nonces.is_current(nonce, now)) if self._require_nonce else None
        checked = check_proof(
            values[0],
            method=method,
            url=url,
            now=now,
            window=self._window,
            keys=self._keys,
            access_token=access_token,
            nonce_ok=nonce_ok,
        )
        ttl = self._window.past + self._window.future + 5
        if not await self._replay.first_use(f"{checked.jkt}:{checked.jti}", ttl):
            raise InvalidProof("the proof was already used (jti)")
        return checked
