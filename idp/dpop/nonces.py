"""RFC 9449 §8: server-provided nonces without shared state.

A nonce is the current time window and an HMAC over it under the hub's secret, so every instance issues and
accepts the same nonces without talking to each other. A nonce stays good for the window it was made in and the
next one (between ``period`` and ``2 × period`` seconds): a proof cannot be made further ahead than that.
"""

from __future__ import annotations

import hashlib
import hmac

from idp.dpop.proof import b64url


class DpopNonces:
    def __init__(self, secret: bytes, period: int = 300) -> None:
        self._key = hmac.new(secret, b"gerbang-dpop-nonce", hashlib.sha256).digest()
        self._period = period

    def issue(self, now: int) -> str:
        return self._for_window(now // self._period)

    def is_current(self, nonce: str | None, now: int) -> bool:
        if not nonce:
            return False
        window = now // self._period
        return any(hmac.compare_digest(nonce, self._for_window(w)) for w in (window, window - 1))

    def _for_window(self, window: int) -> str:
        stamp = window.to_bytes(8, "big")
        return b64url(stamp) + "." + b64url(hmac.new(self._key, stamp, hashlib.sha256).digest()[:18])
