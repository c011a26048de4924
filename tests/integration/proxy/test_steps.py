"""The pipeline's injected steps: their verdicts become the right answers, in order, before the upstream."""

from __future__ import annotations

import json
from typing import Any

from gateway.model import Decision, Principal, RequestHead, Route, Verdict
from tests.integration.proxy.conftest import Hub, build_route
from tests.support.rawhttp import send_raw


class CitizenAuthenticator:
    """Every caller is a signed-in citizen (a stand-in for the bearer/session authenticator)."""

    async def authenticate(self, route: Route, request: RequestHead) -> Principal:
        return Principal(sub="warga-1", opd="dishub", roles=("warga",), acr="1")


class PathDecider:
    def decide(self, principal: Principal, route: Route, request: RequestHead, path: str) -> Decision:
        if request.path.endswith("/admin"):
            return Decision(allowed=False, rule_ids=("kominfo-7",), reason="admins only")
        if request.path.endswith("/pajak"):
            return Decision(allowed=False, rule_ids=("bapenda-2",), required_acr="2")
        return Decision(allowed=True)


class QuotaLimiter:
    def __init__(self) -> None:
        self.calls = 0

    async def check(self, principal: Principal, route: Route, request: RequestHead) -> Verdict:
        self.calls += 1
        remaining = max(0, 2 - self.calls)
        headers = ((b"ratelimit-policy", b'"warga";q=2;w=60'), (b"ratelimit", b'"warga";r=%d;t=30' % remaining))
        return Verdict(allowed=self.calls <= 2, limit_id="warga", retry_after=29.2, headers=headers)


class BrokenLimiter:
    async def check(self, principal: Principal, route: Route, request: RequestHead) -> Verdict:
        raise ConnectionError("store exploded with secret internals")


def steps() -> dict[str, Any]:
    return {"authenticator": CitizenAuthenticator(), "decider": PathDecider(), "limiter": QuotaLimiter()}


def get(hub: Hub, path: bytes) -> Any:
    return send_raw(hub.url, b"GET " + path + b" HTTP/1.1\r\nHost: echo.localhost\r\n\r\n")


def test_policy_denial_is_403_and_never_reaches_upstream(hub_factory: Any) -> None:
    hub: Hub = hub_factory(lambda urls: [build_route("echo", (urls[0],), auth_mode="bearer")], steps=steps())
    response = get(hub, b"/admin")
    assert response.status == 403
    assert "kominfo-7" not in response.body.decode()  # rule ids go to the log
    assert hub.upstreams[0].hits == 0


def test_step_up_is_401_with_rfc9470_challenge(hub_factory: Any) -> None:
    hub: Hub = hub_factory(lambda urls: [build_route("echo", (urls[0],), auth_mode="bearer")], steps=steps())
    response = get(hub, b"/pajak")
    assert response.status == 401
    assert 'error="insufficient_user_authentication"' in response.header("www-authenticate")
    assert 'acr_values="2"' in response.header("www-authenticate")


def test_rate_limit_headers_on_success_and_429(hub_factory: Any) -> None:
    hub: Hub = hub_factory(lambda urls: [build_route("echo", (urls[0],), auth_mode="bearer")], steps=steps())
    first = get(hub, b"/echo")
    assert first.status == 200
    assert first.header("ratelimit") == '"warga";r=1;t=30'
    assert first.header("ratelimit-policy") == '"warga";q=2;w=60'
    claims = json.loads(first.body)
    assert any(name == "x-gerbang-assertion" for name, _ in claims["headers"])
    get(hub, b"/echo")
    limited = get(hub, b"/echo")
    assert limited.status == 429
    assert limited.header("retry-after") == "30"
    assert limited.header("ratelimit") == '"warga";r=0;t=30'
    assert json.loads(limited.body)["type"] == "urn:gerbang:problem:rate-limited"
    assert hub.upstreams[0].hits == 2


def test_failing_step_is_a_500_problem_without_internals(hub_factory: Any) -> None:
    hub: Hub = hub_factory(steps={"limiter": BrokenLimiter()})
    response = get(hub, b"/echo")
    assert response.status == 500
    problem = json.loads(response.body)
    assert problem["status"] == 500 and problem["instance"] == response.header("x-request-id")
    assert "exploded" not in response.body.decode()
