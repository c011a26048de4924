"""Path rules see the path the app sees: one normal form, ambiguous forms refused, case folded where the app folds.

A real gateway with Kominfo's real policy engine, raw sockets (no client library tidies the path first).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.proxy.conftest import Hub, build_route
from tests.support.hub import HUB_POLICIES
from tests.support.rawhttp import send_raw

RULES = """
rules:
  - id: no-admin
    effect: deny
    match: {apps: [echo, iis, lenient, hosted], paths: [/admin]}
  - id: no-private-prefix
    effect: deny
    match: {apps: [hosted], paths: [/apps/hosted/private]}
"""


@pytest.fixture
def hub(hub_factory: Any, tmp_path: Path) -> Hub:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "00-hub.yaml").write_text((HUB_POLICIES / "00-hub.yaml").read_text())
    (policies / "10-paths.yaml").write_text(RULES)
    return hub_factory(lambda urls: [
        build_route("echo", tuple(urls)),
        build_route("iis", tuple(urls), case_insensitive_paths=True),
        build_route("lenient", tuple(urls), allow_ambiguous_paths=True),
        build_route("hosted", tuple(urls), host="hosted.example"),
    ], policy_dir=policies)


def get(hub: Hub, target: bytes, host: bytes = b"x") -> tuple[int, Any]:
    response = send_raw(hub.url, b"GET " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    return response.status, json.loads(response.body) if response.body else None


@pytest.mark.parametrize("target", [
    b"/apps/echo/admin", b"/apps/echo/admin/", b"/apps/echo/admin/users", b"/apps/echo/adm%69n",
    b"/apps/echo/%61dmin", b"/apps/echo//admin", b"/apps/echo/./admin", b"/apps/%65cho/admin",
])
def test_every_spelling_of_the_denied_path_is_denied(hub: Hub, target: bytes) -> None:
    assert get(hub, target)[0] == 403


@pytest.mark.parametrize("ambiguous_target", [
    b"/apps/echo/admin;x", b"/apps/echo/admin;jsessionid=1/users", b"/apps/echo/;/admin",
    b"/apps/echo/adm%2569n", b"/apps/echo/%2561dmin", b"/apps/echo/admin%20", b"/apps/echo/admin.",
    b"/apps/echo/admin./users", b"/apps/echo/admin...", b"/apps/echo/admin%2e", b"/apps/echo/admin%20/users",
    b"/apps/echo/%C0%AE%C0%AE/admin", b"/apps/echo/%C0%AF", b"/apps/echo/%E0%80%AE", b"/apps/echo/%C3",
    b"/apps/echo/%FF", b"/apps/echo/%ED%A0%80", b"/apps/echo/admin%5C", b"/apps/echo/admin%2F",
    b"/apps/echo/admin\\",
])
def test_ambiguous_spellings_are_refused_before_the_app(hub: Hub, ambiguous_target: bytes) -> None:
    hits = hub.upstreams[0].hits
    status, problem = get(hub, ambiguous_target)
    assert status == 400
    assert problem["type"] == "urn:gerbang:problem:bad-request"
    assert hub.upstreams[0].hits == hits


def test_case_sensitive_app_gets_other_cases_as_other_paths(hub: Hub) -> None:
    status, echoed = get(hub, b"/apps/echo/ADMIN")
    assert status == 200 and echoed["raw_path"] == "/ADMIN"  # its server does not read it as /admin


@pytest.mark.parametrize("target", [b"/apps/iis/ADMIN", b"/apps/iis/Admin/users", b"/apps/iis/%41DMIN",
                                    b"/apps/iis/aDmIn/"])
def test_case_insensitive_app_denies_every_case(hub: Hub, target: bytes) -> None:
    assert get(hub, target)[0] == 403


def test_case_insensitive_app_still_reaches_allowed_paths(hub: Hub) -> None:
    status, echoed = get(hub, b"/apps/iis/Echo")
    assert status == 200 and echoed["raw_path"] == "/Echo"  # forwarded as written; only matching folds case


def test_app_that_opts_in_gets_path_parameters_and_its_rules_still_hold(hub: Hub) -> None:
    status, echoed = get(hub, b"/apps/lenient/echo;jsessionid=ABC")
    assert status == 200 and echoed["raw_path"] == "/echo;jsessionid=ABC"
    assert get(hub, b"/apps/lenient/admin;jsessionid=ABC")[0] == 403  # /admin to Tomcat: /admin to the rules
    assert get(hub, b"/apps/lenient/admin;x/users")[0] == 403
    assert get(hub, b"/apps/lenient/x/..;/admin")[0] == 400  # traversal is never an option


def test_host_routed_app_is_judged_on_the_path_it_receives(hub: Hub) -> None:
    status, echoed = get(hub, b"/apps/hosted/private/data", host=b"hosted.example")
    assert status == 403  # the app receives /apps/hosted/private/data: the rule written for it holds
    status, echoed = get(hub, b"/private", host=b"hosted.example")
    assert status == 200 and echoed["raw_path"] == "/private"
