"""Redis killed, frozen (SIGSTOP) and restarted under the limiters: every limit falls back to local limits (a
login limit too), a limit set to fail closed refuses as unavailable, no call waits longer than the timeout,
recovery is automatic; a timeout caused by this process's own stall is retried and never opens the breaker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from prometheus_client import REGISTRY

from gateway.model import Principal, RequestHead, Route
from gateway.ratelimit.limiter import GatewayLimiter
from gateway.ratelimit.store import describe_limit_store
from idp.auth_limits import AuthLimiter
from idp.throttle.backends import build_store
from idp.throttle.fallback_store import Breaker, FallbackStore
from idp.throttle.redis_client import RedisTimeouts
from policies.limits import LimitSpec
from tests.support.redis_process import RedisProcess, own_redis

TIMEOUT = 0.2
SLACK = 0.15  # event-loop and process scheduling on a busy 2-core machine
APP_LIMIT = LimitSpec(id="app-ip", per="ip", rate=1, period=3600, burst=5)
LOGIN_LIMIT = LimitSpec(id="login-account", per="account", route_class="login", rate=5, period=900, burst=5)
CLOSED_LOGIN_LIMIT = LimitSpec(
    id="login-closed", per="account", route_class="login", rate=5, period=900, burst=5, fail_mode="closed"
)
ROUTE = Route(
    slug="parkir",
    opd="dishub",
    opd_path="/kota/dishub/",
    upstreams=("http://127.0.0.1:1",),
    auth_mode="bearer",
    resource="r",
)
HEAD = RequestHead("GET", "/apps/parkir/", b"", (), "10.0.0.1", "http", "hub", "req-1")


def head(index: int) -> RequestHead:
    return RequestHead("GET", "/apps/parkir/", b"", (), f"10.1.0.{index}", "http", "hub", f"req-{index}")


@pytest.fixture
def server() -> Iterator[RedisProcess]:
    with own_redis() as started:
        yield started


@pytest.fixture
async def store(server: RedisProcess, redis_prefix: str) -> AsyncIterator[FallbackStore]:
    built = build_store(
        server.url, redis_prefix, RedisTimeouts(TIMEOUT, TIMEOUT), breaker=Breaker(backoff=0.1, max_backoff=0.3)
    )
    assert isinstance(built, FallbackStore)
    yield built
    await built.close()


async def timed(call: object) -> tuple[object, float]:
    started = time.monotonic()
    result = await call  # type: ignore[misc]
    return result, time.monotonic() - started


def degraded_metric() -> float | None:
    return REGISTRY.get_sample_value("gerbang_ratelimit_degraded")


async def serve_while_down(store: FallbackStore) -> None:
    """Store down: app and login checks are decided locally (and still limit), a closed limit refuses as
    unavailable; nothing waits long."""
    app, login = GatewayLimiter([APP_LIMIT], store), AuthLimiter([LOGIN_LIMIT], store)
    app_answers, login_answers = [], []
    for _ in range(8):
        verdict, elapsed = await timed(app.check(Principal(sub="u"), ROUTE, HEAD))
        assert elapsed < TIMEOUT + SLACK
        app_answers.append(verdict.allowed)  # type: ignore[attr-defined]
        verdict, elapsed = await timed(login.check_login(account="siti", ip="10.0.0.1"))
        assert elapsed < TIMEOUT + SLACK and not verdict.unavailable  # type: ignore[attr-defined]
        login_answers.append(verdict.allowed)  # type: ignore[attr-defined]
    assert app_answers == [True] * 5 + [False] * 3  # the local limiter enforces the same limit
    assert login_answers == [True] * 5 + [False] * 3  # sign-in goes on, guessing is still slowed
    verdict, elapsed = await timed(AuthLimiter([CLOSED_LOGIN_LIMIT], store).check_login(account="x", ip="10.0.0.1"))
    assert elapsed < TIMEOUT + SLACK
    assert not verdict.allowed and verdict.unavailable  # type: ignore[attr-defined]
    assert store.degraded and degraded_metric() == 1
    assert describe_limit_store(store)["degraded"] is True  # the /readyz detail


async def recover(store: FallbackStore) -> None:
    login = AuthLimiter([LOGIN_LIMIT], store)
    deadline = time.monotonic() + 3
    while store.degraded and time.monotonic() < deadline:
        _, elapsed = await timed(login.check_login(account="siti", ip="10.0.0.1"))
        assert elapsed < TIMEOUT + SLACK
    assert not store.degraded and degraded_metric() == 0
    assert (await login.check_login(account="siti", ip="10.0.0.1")).allowed


async def test_redis_killed_then_restarted(server: RedisProcess, store: FallbackStore) -> None:
    app = GatewayLimiter([APP_LIMIT], store)
    assert (await app.check(Principal(), ROUTE, HEAD)).allowed and not store.degraded
    server.kill()
    await serve_while_down(store)
    server.start()  # an empty Redis: no script cached, no counters
    await recover(store)
    assert (await app.check(Principal(), ROUTE, HEAD)).allowed


async def test_redis_frozen_then_thawed(server: RedisProcess, store: FallbackStore) -> None:
    app = GatewayLimiter([APP_LIMIT], store)
    assert (await app.check(Principal(), ROUTE, HEAD)).allowed
    server.freeze()
    try:
        # Twenty requests in flight when Redis freezes (one coalesced round trip): each waits the timeout, no longer.
        answers = await asyncio.gather(*(timed(app.check(Principal(), ROUTE, head(i))) for i in range(20)))
        assert all(TIMEOUT * 0.8 < elapsed < TIMEOUT + SLACK for _, elapsed in answers)
        assert all(verdict.allowed for verdict, _ in answers)  # type: ignore[attr-defined]
        await serve_while_down(store)
    finally:
        server.thaw()
    await recover(store)


async def test_breaker_lets_only_a_probe_through_while_open(server: RedisProcess, store: FallbackStore) -> None:
    server.kill()
    login = AuthLimiter([CLOSED_LOGIN_LIMIT], store)
    await login.check_login(account="a", ip="1.1.1.1")
    failures = REGISTRY.get_sample_value("gerbang_ratelimit_store_failures_total") or 0
    for _ in range(50):
        assert (await login.check_login(account="a", ip="1.1.1.1")).unavailable
    assert (REGISTRY.get_sample_value("gerbang_ratelimit_store_failures_total") or 0) - failures <= 1


async def test_starting_with_redis_down_is_not_fatal(server: RedisProcess, store: FallbackStore) -> None:
    server.kill()
    await store.start()
    assert store.degraded and "at start" in (store.last_error or "")
    assert (await GatewayLimiter([APP_LIMIT], store).check(Principal(), ROUTE, HEAD)).allowed  # local limits
    server.start()
    await recover(store)


async def test_a_timeout_caused_by_our_own_stall_is_retried_and_does_not_open_the_breaker(
    server: RedisProcess, store: FallbackStore
) -> None:
    await store.start()  # the loop-lag probe runs from here on
    login = AuthLimiter([CLOSED_LOGIN_LIMIT], store)
    assert (await login.check_login(account="warm", ip="10.0.0.1")).allowed
    await asyncio.sleep(0.1)
    failures = REGISTRY.get_sample_value("gerbang_ratelimit_store_failures_total") or 0
    retries = REGISTRY.get_sample_value("gerbang_ratelimit_stall_retries_total") or 0
    for round_number in range(3):
        call = asyncio.ensure_future(login.check_login(account=f"siti-{round_number}", ip="10.0.0.1"))
        # Right after the call starts, this process stalls (starved of CPU, a long synchronous step) for longer
        # than the timeout; Redis itself is fine and answers within a millisecond once asked.
        asyncio.get_running_loop().call_soon(time.sleep, TIMEOUT * 2)
        verdict = await call
        assert verdict.allowed and not verdict.unavailable, f"round {round_number}"
        await asyncio.sleep(0.1)
    assert not store.degraded
    assert (REGISTRY.get_sample_value("gerbang_ratelimit_store_failures_total") or 0) == failures
    assert (REGISTRY.get_sample_value("gerbang_ratelimit_stall_retries_total") or 0) > retries


async def test_a_frozen_redis_still_opens_the_breaker_despite_the_stall_rule(
    server: RedisProcess, store: FallbackStore
) -> None:
    await store.start()
    await asyncio.sleep(0.1)
    login = AuthLimiter([CLOSED_LOGIN_LIMIT], store)
    server.freeze()
    try:
        verdict, elapsed = await timed(login.check_login(account="siti", ip="10.0.0.1"))
        assert verdict.unavailable and elapsed < TIMEOUT + SLACK  # type: ignore[attr-defined]
        assert store.degraded
    finally:
        server.thaw()
    await recover(store)
