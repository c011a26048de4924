"""Redis first; when Redis fails, a circuit breaker stops asking it for a while and each limit follows its
fail mode: ``open-local`` limits are decided by this process's memory store, ``closed`` limits deny.

    closed ──failure──► open (wait backoff: 0.5 s, doubling to 5 s, ±20 % jitter) ──► half-open: one probe
      ▲                                                                                   │ success    │ failure
      └───────────────────────────────────────────────────────────────────────────────────┘            └─► open

While open no request talks to Redis, so a dead Redis is not hammered and no request waits for it; only the
single probe can wait, and never longer than the store's timeout. Recovery needs no restart. Default: every
route class falls back to local limits (``open-local``): each instance then enforces the full limit on its own
traffic, so the city keeps working and a brute force is still slowed (at most instances × the limit, never
unlimited). Login and token endpoints used to fail closed, which turned a Redis outage into a complete outage
of sign-in ("too many attempts" for every citizen). A limit whose policy says ``fail_mode: closed`` still refuses
while Redis is down, and the endpoint says "temporarily unavailable" (503), never "too many attempts".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Literal

from prometheus_client import Counter, Gauge
from redis.exceptions import RedisClusterException, RedisError

from idp.throttle.breaker import Breaker
from idp.throttle.memory_store import MemoryStore
from idp.throttle.redis_store import RedisStore
from idp.throttle.store import Hit, Outcome, StoreUnavailable
from policies.limits import LimitSpec, RouteClass

FailMode = Literal["open-local", "closed"]
DEFAULT_FAIL_MODES: Mapping[RouteClass, FailMode] = {"app": "open-local", "login": "open-local", "token": "open-local"}

DEGRADED = Gauge("gerbang_ratelimit_degraded", "1 while the shared limit store is unreachable", multiprocess_mode="max")
STORE_FAILURES = Counter("gerbang_ratelimit_store_failures_total", "Checks the shared limit store failed")
FALLBACK_CHECKS = Counter(
    "gerbang_ratelimit_fallback_checks_total", "Limit checks decided without the shared store", ["mode"]
)
log = logging.getLogger(__name__)


class FallbackStore:
    def __init__(
        self,
        primary: RedisStore,
        local: MemoryStore,
        *,
        breaker: Breaker | None = None,
        fail_modes: Mapping[RouteClass, FailMode] = DEFAULT_FAIL_MODES,
    ) -> None:
        self.primary, self.local = primary, local
        self.breaker = breaker or Breaker()
        self._fail_modes = fail_modes
        self.last_error: str | None = None

    @property
    def degraded(self) -> bool:
        """For /readyz detail: True while limits are decided without Redis."""
        return self.breaker.is_open

    async def check(self, hits: Sequence[Hit]) -> list[Outcome]:
        if self.breaker.try_acquire():
            try:
                outcomes = await self.primary.check(hits)
            except StoreUnavailable as exc:
                self._record_failure(str(exc))
            except BaseException:
                self.breaker.release_probe()
                raise
            else:
                if self.breaker.is_open:
                    log.warning("rate-limit store recovered; shared limits apply again")
                    self.breaker.record_success()
                    DEGRADED.set(0)
                return outcomes
        return self._fall_back(hits)

    async def start(self) -> None:
        """Warm up at process start; a Redis that is down then is not fatal: the fail modes apply."""
        try:
            async with asyncio.timeout(max(1.0, self.primary.timeout * 4)):
                await self.primary.start()
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            self._record_failure(f"at start: {type(exc).__name__}: {exc}")

    async def close(self) -> None:
        await self.primary.close()
        await self.local.close()

    def fail_mode(self, spec: LimitSpec) -> FailMode:
        return spec.fail_mode or self._fail_modes.get(spec.route_class, "closed")

    def _record_failure(self, detail: str) -> None:
        if not self.breaker.is_open:
            log.warning("rate-limit store unavailable, limits fall back: %s", detail)
        self.last_error = detail
        self.breaker.record_failure()
        STORE_FAILURES.inc()
        DEGRADED.set(1)

    def _fall_back(self, hits: Sequence[Hit]) -> list[Outcome]:
        closed = [self.fail_mode(hit.spec) == "closed" for hit in hits]
        if not any(closed):
            FALLBACK_CHECKS.labels("local").inc()
            return self.local.check_now(hits)
        FALLBACK_CHECKS.labels("closed").inc()
        # The request is refused anyway: the local limits are only peeked, never consumed.
        peeked = iter(
            self.local.check_now([replace(h, consume=False) for h, c in zip(hits, closed, strict=True) if not c])
        )
        retry = self.breaker.retry_in()
        return [
            _unavailable(hit.spec, retry) if is_closed else next(peeked)
            for hit, is_closed in zip(hits, closed, strict=True)
        ]


def _unavailable(spec: LimitSpec, retry_after: float) -> Outcome:
    return Outcome(spec, False, 0, retry_after, retry_after, 0, 0.0, unavailable=True)
