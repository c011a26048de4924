"""Limits shared by every gateway instance, in Redis: one EVALSHA of ``limits.lua`` per request.

Coalescing: the checks of requests that arrive in the same event-loop tick are sent as one pipeline (one
write, one read) instead of one round trip each; each request's limits stay one atomic script call. NOSCRIPT
(a restarted or failed-over Redis has an empty script cache) is answered by loading the script and retrying
once. Every failure to get an answer in time becomes ``StoreUnavailable``: the caller decides what then.

Our own stalls are not Redis's failures: a call that timed out while this process's event loop stood still for
half the timeout or more (``throttle.loop_lag``: CPU starvation, a long synchronous step) is tried once more
before it counts, so a worker starved of CPU does not open the breaker on a healthy Redis.

Redis Cluster: one script call may only touch one slot, and a request's limits (its IP, its user, its OPD)
hash to different slots, so there each limit is its own script call, sent concurrently to the nodes that own
them (redis-py's cluster pipeline refuses EVALSHA, so cluster checks are not coalesced). Each limit stays
atomic and exact, but the all-or-nothing rule holds only per limit: a request denied by one limit may have
consumed another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from importlib import resources
from typing import Any

from prometheus_client import Counter
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import NoScriptError, RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from idp.throttle.coalescer import Coalescer
from idp.throttle.gcra import Decision, GcraParams
from idp.throttle.loop_lag import LoopLag
from idp.throttle.store import Hit, MicroClock, Outcome, Plan, Planner, StoreUnavailable, build_outcome

SCRIPT = resources.files("idp.throttle").joinpath("limits.lua").read_text()

Call = tuple[tuple[str, ...], tuple[Any, ...]]  # KEYS, ARGV of one EVALSHA
# A timeout is this process's own doing when its loop stood still for at least this share of the timeout
# (GERBANG_RATELIMIT_STALL_SHARE): half leaves the call 125 ms of a 250 ms timeout, against Redis's measured
# ≤ 19 ms even under contention, so a slow Redis is never mistaken for a stall.
STALL_SHARE = 0.5
STALL_RETRIES = Counter(
    "gerbang_ratelimit_stall_retries_total", "Limit checks retried because this process's event loop stalled, not Redis"
)


class RedisStore:
    def __init__(
        self,
        client: Redis | RedisCluster,
        prefix: str,
        *,
        timeout: float,
        cluster: bool = False,
        coalesce: bool = True,
        clock: MicroClock | None = None,
        loop_lag: LoopLag | None = None,
        stall_share: float = STALL_SHARE,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self._planner = Planner(prefix)
        self.timeout = timeout  # the longest any check may wait, whatever happens underneath
        self._cluster = cluster
        self._clock = clock  # None: the Redis clock (TIME) decides; tests inject theirs
        self._sha: str | None = None
        self._coalescer: Coalescer[Call, Any] | None = (
            Coalescer(self._run_pipeline) if coalesce and not cluster else None
        )
        self.loop_lag = loop_lag or LoopLag()
        self._stall_share = stall_share

    async def check(self, hits: Sequence[Hit]) -> list[Outcome]:
        plans = [self._planner.plan(hit) for hit in hits]
        calls = self._build_calls(hits, plans)
        try:
            replies = await self._run_in_time(calls)
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if any(isinstance(reply, Exception) for reply in replies):
            raise StoreUnavailable(f"script call failed: {next(r for r in replies if isinstance(r, Exception))}")
        rows = [row for reply in replies for row in reply]
        return [
            build_outcome(hit, plan, _decision(row), int(row[4]))
            for hit, plan, row in zip(hits, plans, rows, strict=False)
        ]

    async def _run_in_time(self, calls: list[Call]) -> list[Any]:
        """One try within the timeout; a second only when this process's own stall explains the first timeout
        (``throttle.loop_lag``): Redis may well have answered in time while the loop could not read it."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                return await self._run(calls)
        except (RedisTimeoutError, TimeoutError):
            if not self.loop_lag.stalled(started, self.timeout * self._stall_share):
                raise
        STALL_RETRIES.inc()
        async with asyncio.timeout(self.timeout):
            return await self._run(calls)

    async def start(self) -> None:
        """Load the script (and, for a cluster, discover the nodes) before the first request needs it."""
        self.loop_lag.start()
        await self._load_script()

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout):
                return bool(await self.client.ping())
        except (RedisError, RedisClusterException, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        await self.loop_lag.stop()
        await self.client.aclose()

    def _build_calls(self, hits: Sequence[Hit], plans: list[Plan]) -> list[Call]:
        now = str(self._clock()) if self._clock is not None else ""
        pairs = list(zip(hits, plans, strict=True))
        groups = [[pair] for pair in pairs] if self._cluster else [pairs]
        calls = []
        for group in groups:
            args: list[Any] = [now]
            for hit, plan in group:
                args.extend((plan.kind, "1" if hit.consume else "0", *_script_params(plan)))
            calls.append((tuple(plan.key for _, plan in group), tuple(args)))
        return calls

    async def _run(self, calls: list[Call]) -> list[Any]:
        if self._coalescer is not None:
            if len(calls) == 1:  # the usual case outside a cluster: no gathering future to build
                return [await self._coalescer.submit(calls[0])]
            return list(await asyncio.gather(*(self._coalescer.submit(call) for call in calls)))
        if self._cluster:
            return list(await asyncio.gather(*(self._evalsha(call) for call in calls)))
        return await self._run_pipeline(calls)

    async def _evalsha(self, call: Call) -> Any:
        sha = self._sha or await self._load_script()
        try:
            return await self.client.evalsha(sha, len(call[0]), *call[0], *call[1])
        except NoScriptError:
            return await self.client.evalsha(await self._load_script(), len(call[0]), *call[0], *call[1])

    async def _run_pipeline(self, calls: Sequence[Call]) -> list[Any]:
        if len(calls) == 1:  # a lone request: a plain call costs less than a one-command pipeline
            return [await self._evalsha(calls[0])]
        sha = self._sha or await self._load_script()
        replies = await self._pipeline(sha, calls)
        if any(isinstance(reply, NoScriptError) for reply in replies):
            replies = await self._pipeline(await self._load_script(), calls)
        return replies

    async def _pipeline(self, sha: str, calls: Sequence[Call]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))

    async def _load_script(self) -> str:
        # Cluster: redis-py sends SCRIPT LOAD to every primary.
        self._sha = str(await self.client.script_load(SCRIPT))
        return self._sha


def _script_params(plan: Plan) -> tuple[int, int]:
    if isinstance(plan.params, GcraParams):
        return plan.params.interval_us, plan.params.tolerance_us
    return plan.params.quota, 0


def _decision(row: Any) -> Decision:
    allowed, remaining, retry_after, reset = (int(value) for value in row[:4])
    return Decision(bool(allowed), remaining, retry_after, reset, None)
