"""The gateway's limit step on the memory store: which limits apply, subjects, the most restrictive answer."""

from __future__ import annotations

import pytest

from gateway.errors import ServiceUnavailable
from gateway.model import Principal, RequestHead, Route
from gateway.ratelimit.limiter import GatewayLimiter, build_verdict
from idp.throttle.memory_store import MemoryStore
from idp.throttle.store import Outcome
from policies.limits import LimitSpec
from tests.support.clocks import MicroClock

PUSKESMAS_APP = Route(
    slug="antrian",
    opd="puskesmas-ilir",
    opd_path="/kota/dinas-kesehatan/puskesmas-ilir/",
    upstreams=("http://127.0.0.1:1",),
    auth_mode="bearer",
    resource="r",
)
PARKIR_APP = Route(
    slug="parkir",
    opd="dishub",
    opd_path="/kota/dishub/",
    upstreams=("http://127.0.0.1:1",),
    auth_mode="bearer",
    resource="r",
)
ALICE = Principal(sub="alice", client_id="mobile")


def head(ip: str = "10.0.0.1") -> RequestHead:
    return RequestHead("GET", "/apps/x/", b"", (), ip, "http", "hub", "req-1")


def limiter(*specs: LimitSpec) -> GatewayLimiter:
    return GatewayLimiter(specs, MemoryStore("t", MicroClock()))


async def admitted(
    lim: GatewayLimiter, route: Route, principal: Principal = ALICE, ip: str = "10.0.0.1", times: int = 10
) -> int:
    return sum([(await lim.check(principal, route, head(ip))).allowed for _ in range(times)])


async def test_an_opd_limit_covers_its_subtree_and_is_shared_by_it() -> None:
    dinkes = LimitSpec(id="dinkes-day", per="opd", opds=("dinas-kesehatan",), window="day", quota=3)
    lim = limiter(dinkes)
    assert await admitted(lim, PUSKESMAS_APP, ip="1.1.1.1", times=2) == 2
    assert await admitted(lim, PUSKESMAS_APP, ip="2.2.2.2", times=5) == 1  # one OPD quota for every caller
    assert await admitted(lim, PARKIR_APP, times=5) == 5  # dishub is not under dinas-kesehatan


async def test_app_filter_and_per_user_ip_client_subjects() -> None:
    per_user = LimitSpec(id="user", per="user", apps=("parkir",), rate=1, period=60, burst=2)
    lim = limiter(per_user)
    assert await admitted(lim, PARKIR_APP) == 2
    assert await admitted(lim, PARKIR_APP, principal=Principal(sub="budi")) == 2
    assert await admitted(lim, PUSKESMAS_APP) == 10  # another app: the limit does not apply
    assert await admitted(lim, PARKIR_APP, principal=Principal(), times=4) == 4  # anonymous: no user to limit


async def test_the_most_restrictive_limit_answers_with_its_headers() -> None:
    loose = LimitSpec(id="loose", per="ip", rate=100, period=1, burst=100)
    tight = LimitSpec(id="tight", per="client", rate=1, period=10, burst=2)
    lim = limiter(loose, tight)
    first = await lim.check(ALICE, PARKIR_APP, head())
    assert first.allowed and dict(first.headers)[b"ratelimit"] == b'"tight";r=1;t=10'
    await lim.check(ALICE, PARKIR_APP, head())
    denied = await lim.check(ALICE, PARKIR_APP, head())
    assert not denied.allowed and denied.limit_id == "tight" and denied.retry_after == pytest.approx(10.0)


async def test_no_limits_means_allowed_without_headers() -> None:
    verdict = await limiter().check(ALICE, PARKIR_APP, head())
    assert verdict.allowed and verdict.headers == ()


def test_a_closed_limit_that_cannot_be_checked_is_a_503() -> None:
    spec = LimitSpec(id="strict", per="ip", rate=1, fail_mode="closed")
    with pytest.raises(ServiceUnavailable) as caught:
        build_verdict([Outcome(spec, False, 0, 0.4, 0.4, 0, 0.0, unavailable=True)], "ConnectionError")
    assert caught.value.headers == ((b"retry-after", b"1"),)
