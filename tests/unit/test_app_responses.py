"""What an app may send to the browser (gateway.app_responses): nothing that reaches beyond its own origin."""

from __future__ import annotations

import pytest

from gateway.app_responses import HUB_COOKIE_NAMES, AppResponseGuard, is_hub_cookie_name

ISSUER = "https://gerbang.palembang.go.id"


def guard(tls: bool = True) -> tuple[AppResponseGuard, list[tuple[str, str]]]:
    drops: list[tuple[str, str]] = []
    return AppResponseGuard(ISSUER, "apps.palembang.go.id", tls, lambda app, why: drops.append((app, why))), drops


@pytest.mark.parametrize(
    "cookie",
    [
        b"sid=1; Domain=palembang.go.id; Path=/",
        b"sid=1; domain=.palembang.go.id",
        b"sid=1; Domain=APPS.palembang.go.id",
        b"sid=1; Domain=gerbang.palembang.go.id",
        b"sid=1; Domain=palembang.go.id.",
        b"sid=1; Path=/; DOMAIN = go.id",
        b"gerbang_session=x",
        b"__Host-gerbang_session=x; Path=/; Secure",
        b"__Secure-Gerbang_gw=x",
        b"GERBANG_csrf=x",
        b"__host-gerbang_gw=x; Path=/; Secure",
        b"sid=1; Domain=",
    ],
)
def test_cookies_that_reach_beyond_the_app_are_dropped_and_counted(cookie: bytes) -> None:
    checker, drops = guard()
    kept = checker.filter("parkir", [(b"set-cookie", cookie), (b"content-type", b"text/html")])
    assert (b"set-cookie", cookie) not in kept and (b"content-type", b"text/html") in kept
    assert len(drops) == 1 and drops[0][0] == "parkir"


@pytest.mark.parametrize(
    "cookie",
    [
        b"sid=1; Path=/; HttpOnly",
        b"sid=1; Domain=parkir.apps.palembang.go.id",
        b"__Host-sid=1; Path=/; Secure",
        b"cart=gerbang_session",
    ],
)
def test_the_apps_own_cookies_pass(cookie: bytes) -> None:
    checker, drops = guard()
    assert (b"set-cookie", cookie) in checker.filter("parkir", [(b"set-cookie", cookie)])
    assert drops == []


def test_service_worker_allowed_is_dropped_and_hsts_is_the_gateways() -> None:
    checker, drops = guard()
    kept = checker.filter("parkir", [(b"service-worker-allowed", b"/"), (b"strict-transport-security", b"max-age=0")])
    assert kept == [(b"strict-transport-security", b"max-age=31536000")]
    assert drops == [("parkir", "service-worker-allowed")]
    plain, _ = guard(tls=False)
    assert plain.filter("parkir", [(b"strict-transport-security", b"max-age=0")]) == [
        (b"strict-transport-security", b"max-age=0")
    ]


def test_hub_cookie_names_are_recognised_with_any_prefix_or_case() -> None:
    for name in ("gerbang_session", "__Host-gerbang_gw", "__SECURE-GERBANG_x", "gerbang"):
        assert is_hub_cookie_name(name) and name in HUB_COOKIE_NAMES
    for name in ("session", "__Host-sid", "my_gerbang"):
        assert not is_hub_cookie_name(name) and name not in HUB_COOKIE_NAMES
