"""gateway.identity_headers: one table of the identity-shaped headers a client may never send an app."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.headers import build_upstream_headers
from gateway.identity_headers import IDENTITY_HEADERS, build_forwarding_headers, is_identity_header
from gateway.model import RequestHead, Route
from gateway.request_head import InboundRequest

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway-identity.md"


@pytest.mark.parametrize(
    "spoofed",
    [
        b"x-user-id",
        b"x_user_id",
        b"x-user_id",
        b"x-user-email",
        b"x-user",
        b"x-original-url",
        b"x-rewrite-url",
        b"x-forwarded-for",
        b"x-forwarded-user",
        b"x-forwarded-email",
        b"x-forwarded-prefix",
        b"x-forwarded-port",
        b"forwarded",
        b"x-real-ip",
        b"x-gerbang-assertion",
        b"x-gerbang-anything",
        b"x-http-method-override",
        b"x-remote-user",
        b"remote-user",
        b"remote-groups",
        b"x-auth-request-user",
        b"x-amzn-oidc-identity",
        b"x-goog-authenticated-user-email",
        b"cf-access-authenticated-user-email",
        b"x-ms-client-principal-name",
        b"true-client-ip",
        b"x-client-ip",
        b"x-original-uri",
    ],
)
def test_identity_shaped_header_never_reaches_the_app(spoofed: bytes) -> None:
    assert is_identity_header(spoofed)
    assert build_upstream_headers([(spoofed, b"admin"), (b"accept", b"*/*")], []) == [("accept", "*/*")]


@pytest.mark.parametrize(
    "ordinary",
    [
        b"accept",
        b"authorization",
        b"cookie",
        b"x-auth-token",
        b"x-csrf-token",
        b"user-agent",
        b"x-requested-with",
        b"origin",
        b"referer",
    ],
)
def test_ordinary_headers_pass(ordinary: bytes) -> None:
    assert not is_identity_header(ordinary)


def test_every_row_of_the_table_is_documented() -> None:
    doc = DOC.read_text(encoding="utf-8").lower()
    missing = [row.name for row in IDENTITY_HEADERS if f"`{row.name}" not in doc]
    assert missing == []


ROUTE = Route(
    slug="parkir",
    opd="dishub",
    opd_path="/kota/dishub/",
    upstreams=("http://10.0.0.5",),
    auth_mode="none",
    resource="https://parkir.apps.example/",
    hosts=("parkir.apps.example", "parkir.example"),
)


def forwarded_host(host: str, sent_x_forwarded_host: str) -> str:
    head = RequestHead(
        method="GET", path="/", query=b"", headers=(), client_ip="10.1.1.1", scheme="https", host=host, request_id="r"
    )
    inbound = InboundRequest(head, "10.1.1.1", "https", sent_x_forwarded_host, None, False)
    return dict(build_forwarding_headers(inbound, ROUTE, "assertion", public_port=":8443"))["x-forwarded-host"]


@pytest.mark.parametrize("host", ["parkir.apps.example", "parkir.example"])
def test_x_forwarded_host_is_the_registered_host_that_routed_the_request(host: str) -> None:
    assert forwarded_host(host, "evil.example") == host + ":8443"
    assert forwarded_host(host + ".", "evil.example") == host + ":8443"  # the trailing dot names the same host


def test_x_forwarded_host_is_never_a_name_the_app_is_not_registered_at() -> None:
    assert forwarded_host("cctv.apps.example", "cctv.apps.example") == "parkir.apps.example:8443"
