"""The provider's brute-force throttles on the memory store with an injected clock."""

from __future__ import annotations

from idp.auth_limits import AuthLimiter
from idp.throttle.memory_store import MemoryStore
from policies.limits import LimitSpec
from tests.support.clocks import MicroClock

ACCOUNT = LimitSpec(id="login-account", per="account", route_class="login", rate=5, period=900, burst=5)
LOGIN_IP = LimitSpec(id="login-ip", per="ip", route_class="login", rate=100, period=60, burst=100)
FAILURES = LimitSpec(id="client-auth", per="client_auth_failure", route_class="token", rate=10, period=600, burst=3)
TOKEN_IP = LimitSpec(id="token-ip", per="ip", route_class="token", rate=1000, period=60, burst=1000)


async def test_account_throttle_slows_an_attacker_and_lets_the_user_back_in() -> None:
    clock = MicroClock()
    limits = AuthLimiter([ACCOUNT, LOGIN_IP], MemoryStore("t", clock))
    answers = [await limits.check_login(account="Siti@Example.id", ip=f"10.0.0.{i}") for i in range(8)]
    assert [a.allowed for a in answers] == [True] * 5 + [False] * 3
    assert answers[-1].limit_id == "login-account" and answers[-1].retry_after_seconds == 180
    clock.advance(180)
    assert (await limits.check_login(account="siti@example.id", ip="10.9.9.9")).allowed  # case-folded account
    assert not (await limits.check_login(account="siti@example.id", ip="10.9.9.9")).allowed


async def test_failed_client_authentication_is_counted_only_on_failure() -> None:
    limits = AuthLimiter([FAILURES, TOKEN_IP], MemoryStore("t", MicroClock()))
    for _ in range(20):
        assert (await limits.check_token(client_id="bapenda", ip="10.0.0.1")).allowed  # successes are free
    for _ in range(3):
        await limits.record_client_auth_failure("bapenda")
    refused = await limits.check_token(client_id="bapenda", ip="10.0.0.1")
    assert not refused.allowed and refused.limit_id == "client-auth" and not refused.unavailable
    assert (await limits.check_token(client_id="bpkad", ip="10.0.0.1")).allowed


async def test_no_limits_configured_allows() -> None:
    limits = AuthLimiter([], MemoryStore("t", MicroClock()))
    assert (await limits.check_login(account="a", ip="1.1.1.1")).allowed
