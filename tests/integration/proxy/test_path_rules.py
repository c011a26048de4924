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
    return hub_factory(
        lambda urls: [
            build_route("echo", tuple(urls)),
            build_route("iis", tuple(urls), case_insensitive_paths=True),
            build_route("lenient", tuple(urls), allow_ambiguous_paths=True),
            build_route("hosted", tuple(urls), hosts=("hosted.localhost", "hosted.example")),
        ],
        policy_dir=policies,
    )


def get(hub: Hub, target: bytes, app: bytes = b"echo", host: bytes | None = None) -> tuple[int, Any]:
    """``target`` sent as written to the app's own host (``{app}.localhost``, or ``host``)."""
    host = host or app + b".localhost:8000"
    response = send_raw(hub.url, b"GET " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    return response.status, json.loads(response.body) if response.body else None


@pytest.mark.parametrize(
    "target",
    [
        b"/admin",
        b"/admin/",
        b"/admin/users",
        b"/adm%69n",
        b"/%61dmin",
        b"//admin",
        b"/./admin",
    ],
)
def test_every_spelling_of_the_denied_path_is_denied(hub: Hub, target: bytes) -> None:
    assert get(hub, target)[0] == 403


@pytest.mark.parametrize(
    "ambiguous_target",
    [
        b"/admin;x",
        b"/admin;jsessionid=1/users",
        b"/;/admin",
        b"/adm%2569n",
        b"/%2561dmin",
        b"/admin%20",
        b"/admin.",
        b"/admin./users",
        b"/admin...",
        b"/admin%2e",
        b"/admin%20/users",
        b"/%C0%AE%C0%AE/admin",
        b"/%C0%AF",
        b"/%E0%80%AE",
        b"/%C3",
        b"/%FF",
        b"/%ED%A0%80",
        b"/admin%5C",
        b"/admin%2F",
        b"/admin\\",
    ],
)
def test_ambiguous_spellings_are_refused_before_the_app(hub: Hub, ambiguous_target: bytes) -> None:
    hits = hub.upstreams[0].hits
    status, problem = get(hub, ambiguous_target)
    assert status == 400
    assert problem["type"] == "urn:gerbang:problem:bad-request"
    assert hub.upstreams[0].hits == hits


def test_case_sensitive_app_gets_other_cases_as_other_paths(hub: Hub) -> None:
    status, echoed = get(hub, b"/ADMIN")
    assert status == 200 and echoed["raw_path"] == "/ADMIN"  # its server does not read it as /admin


@pytest.mark.parametrize("target", [b"/ADMIN", b"/Admin/users", b"/%41DMIN", b"/aDmIn/"])
def test_case_insensitive_app_denies_every_case(hub: Hub, target: bytes) -> None:
    assert get(hub, target, b"iis")[0] == 403


def test_case_insensitive_app_still_reaches_allowed_paths(hub: Hub) -> None:
    status, echoed = get(hub, b"/Echo", b"iis")
    assert status == 200 and echoed["raw_path"] == "/Echo"  # forwarded as written; only matching folds case


def test_app_that_opts_in_gets_path_parameters_and_its_rules_still_hold(hub: Hub) -> None:
    status, echoed = get(hub, b"/echo;jsessionid=ABC", b"lenient")
    assert status == 200 and echoed["raw_path"] == "/echo;jsessionid=ABC"
    assert get(hub, b"/admin;jsessionid=ABC", b"lenient")[0] == 403  # /admin to Tomcat: /admin to the rules
    assert get(hub, b"/admin;x/users", b"lenient")[0] == 403
    assert get(hub, b"/x/..;/admin", b"lenient")[0] == 400  # traversal is never an option


@pytest.mark.parametrize("host", [b"hosted.localhost:8000", b"hosted.example"])
def test_every_host_of_an_app_is_judged_on_the_path_it_receives(hub: Hub, host: bytes) -> None:
    status, echoed = get(hub, b"/apps/hosted/private/data", host=host)
    assert status == 403  # the app receives /apps/hosted/private/data: the rule written for it holds
    status, echoed = get(hub, b"/private", host=host)
    assert status == 200 and echoed["raw_path"] == "/private"


def test_nothing_is_stripped_from_an_apps_path(hub: Hub) -> None:
    status, echoed = get(hub, b"/apps/echo/admin")  # on the app's own origin this is its own path, not /admin
    assert status == 200 and echoed["raw_path"] == "/apps/echo/admin"
