"""Upstream failures while many requests are in flight: the breaker opens and closes, slow upstreams answer
504 within the timeout without starving other requests, non-idempotent requests are never retried."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from tests.integration.proxy.conftest import Hub, build_route
from tests.support.hub import free_port
from tests.support.server import run_server
from tests.support.upstream import Upstream

DEAD = "http://127.0.0.1:1"
CONCURRENCY = 20

pytestmark = pytest.mark.slow


async def burst(
    session: aiohttp.ClientSession, url: str, count: int = CONCURRENCY, method: str = "GET", **kwargs: Any
) -> list[tuple[int, float]]:
    """``count`` requests at once; (status, seconds) for each."""

    async def one() -> tuple[int, float]:
        started = time.monotonic()
        async with session.request(method, url, **kwargs) as response:
            await response.read()
            return response.status, time.monotonic() - started

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def test_breaker_opens_under_load_when_the_upstream_dies_and_closes_when_it_returns(hub_factory: Any) -> None:
    port = free_port()
    upstream = Upstream("parkir")
    with run_server(upstream, port=port) as url:
        hub: Hub = hub_factory(
            lambda _urls: [build_route("echo", (url,))],
            breaker_failure_threshold=5,
            breaker_reset_seconds=0.5,
            upstream_retries=0,
            upstream_connect_timeout=1,
        )
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{hub.app_url('echo')}/echo") as r:
                print("BODY", r.status, await r.text())
            assert {status for status, _ in await burst(session, f"{hub.app_url('echo')}/echo")} == {200}
    # The upstream is gone (its port refuses): a few 502s, then the open breaker answers 503 at once.
    async with aiohttp.ClientSession() as session:
        down = [status for _ in range(3) for status, _ in await burst(session, f"{hub.app_url('echo')}/echo")]
    assert set(down) <= {502, 503} and down.count(503) >= len(down) - CONCURRENCY
    target = hub.app.pipeline.proxy.upstreams.pools["echo"].targets[0]
    assert target.breaker.state == "open"
    with run_server(upstream, port=port):  # back on the same address
        await asyncio.sleep(0.6)  # past breaker_reset_seconds: the next request is the half-open trial
        async with aiohttp.ClientSession() as session:
            statuses = [status for _ in range(3) for status, _ in await burst(session, f"{hub.app_url('echo')}/echo")]
        assert statuses[-CONCURRENCY:] == [200] * CONCURRENCY
        assert target.breaker.state == "closed"


async def test_a_slow_upstream_answers_504_within_the_timeout_while_fast_requests_pass(hub_factory: Any) -> None:
    hub: Hub = hub_factory(
        upstream_read_timeout=0.3, upstream_total_timeout=0.5, upstream_retries=0, breaker_failure_threshold=1000
    )
    async with aiohttp.ClientSession() as session:
        slow, fast = await asyncio.gather(
            burst(session, f"{hub.app_url('echo')}/slow?delay=5"), burst(session, f"{hub.app_url('echo')}/echo")
        )
    assert {status for status, _ in slow} == {504}
    assert max(seconds for _, seconds in slow) < 0.3 + 2  # the timeout, not the upstream's 5 s
    assert {status for status, _ in fast} == {200}


async def test_no_non_idempotent_request_is_retried_under_load(hub_factory: Any) -> None:
    hub: Hub = hub_factory(
        lambda urls: [build_route("echo", (DEAD, urls[0]))], upstream_cooloff_seconds=0, breaker_failure_threshold=1000
    )
    async with aiohttp.ClientSession() as session:
        results = [
            status
            for method in ("POST", "DELETE", "PATCH")
            for status, _ in await burst(session, f"{hub.app_url('echo')}/echo", method=method, data=b"once")
        ]
    answered = results.count(200)
    assert hub.upstreams[0].hits == answered  # each answered request reached the upstream exactly once
    assert set(results) == {200, 502} and results.count(502) >= len(results) // 3  # the dead target's share
