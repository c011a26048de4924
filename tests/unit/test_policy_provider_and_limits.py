"""The provider's decisions (sign-in, scopes) and limit declarations compiled to LimitSpec."""

from __future__ import annotations

import pytest

from policies import LimitSpec, Subject
from tests.support.policies import policy_from

PROVIDER = """
provider:
  clients:
    - {client_id: simpeg-web, restricted: true}
  login:
    - id: asn-to-simpeg
      effect: allow
      clients: [simpeg-web]
      subject: {opds: [kota]}
    - id: no-suspended
      effect: deny
      subject: {roles: [suspended]}
    - id: trial-block-contractors
      effect: report-only
      would: deny
      clients: [simpeg-web]
      subject: {roles: [kontraktor]}
  scopes:
    - id: nik
      scopes: [nik]
      clients: [dukcapil]
    - id: nik-also-for-bpjs
      scopes: [nik, health]
      clients: [bpjs]
"""


def test_sign_in_to_a_restricted_client_needs_an_allow_rule() -> None:
    policy = policy_from(PROVIDER)
    asn = Subject("u1", ("asn",), ("/kota/dinkes/pkm/",))
    citizen = Subject("u2")
    assert policy.decide_login(asn, "simpeg-web").rule_ids == ("asn-to-simpeg",)
    assert not policy.decide_login(citizen, "simpeg-web").allowed
    assert policy.decide_login(citizen, "sampah-web").allowed


def test_sign_in_deny_overrides_and_report_only_is_not_enforced() -> None:
    policy = policy_from(PROVIDER)
    suspended = Subject("u1", ("asn", "suspended"), ("/kota/dinkes/",))
    assert policy.decide_login(suspended, "simpeg-web").rule_ids == ("no-suspended",)
    assert not policy.decide_login(suspended, "anything").allowed
    contractor = policy.decide_login(Subject("u3", ("kontraktor",), ("/kota/pupr/",)), "simpeg-web")
    assert (contractor.allowed, contractor.report_only, contractor.would_allow) == (
        True,
        ("trial-block-contractors",),
        False,
    )


def test_guarded_scopes_go_only_to_their_clients_in_request_order() -> None:
    policy = policy_from(PROVIDER)
    assert policy.allowed_scopes("sampah-web", ["openid", "nik", "profile", "health"]) == ("openid", "profile")
    assert policy.allowed_scopes("dukcapil", ["nik", "openid", "nik"]) == ("nik", "openid")
    assert policy.allowed_scopes("bpjs", ["openid", "health", "nik"]) == ("openid", "health", "nik")


def test_limits_compile_to_limit_specs() -> None:
    policy = policy_from("""
    limits:
      - {id: per-ip, per: ip, rate: 10, period: 1m}
      - {id: per-user, per: user, rate: 5, period: 500ms, burst: 0, fail_mode: closed}
      - {id: dinkes-month, per: opd, opds: [dinkes], apps: [simpus], window: month, quota: 1000}
      - {id: login-account, route_class: login, per: account, rate: 5, period: 15m, burst: 3}
      - {id: token-fail, route_class: token, per: client_auth_failure, rate: 10, period: 60}
    """)
    assert policy.limits == (
        LimitSpec("per-ip", "ip", rate=10, period=60.0, burst=10),
        LimitSpec("per-user", "user", rate=5, period=0.5, burst=0, fail_mode="closed"),
        LimitSpec("dinkes-month", "opd", apps=("simpus",), opds=("dinkes",), window="month", quota=1000),
        LimitSpec("login-account", "account", route_class="login", rate=5, period=900.0, burst=3),
        LimitSpec("token-fail", "client_auth_failure", route_class="token", rate=10, period=60.0, burst=10),
    )
    assert [spec.id for spec in policy.limits_for("login")] == ["login-account"]
    assert [spec.id for spec in policy.limits_for("app")] == ["per-ip", "per-user", "dinkes-month"]


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("{id: x, per: account, rate: 1}", "per 'account' is not available for route_class 'app'"),
        ("{id: x, per: ip}", "either 'rate'"),
        ("{id: x, per: ip, rate: 1, quota: 5, window: day}", "either 'rate'"),
        ("{id: x, per: opd, quota: 5}", "a quota needs 'window: day' or 'window: month'"),
        ("{id: x, per: ip, rate: 1, period: 1w}", "period '1w' must be"),
        ("{id: x, per: ip, rate: 1, period: 0}", "period must be positive"),
        ("{id: x, route_class: login, per: ip, rate: 1, apps: [a]}", "'apps' and 'opds' are only for route_class"),
    ],
)
def test_limit_declarations_are_checked(limit: str, message: str) -> None:
    from policies import PolicyError

    with pytest.raises(PolicyError) as caught:
        policy_from(f"limits:\n  - {limit}\n")
    assert message in str(caught.value)
    assert str(caught.value).startswith("00.yaml:2: limits[0]")
