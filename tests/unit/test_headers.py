"""gateway.headers: smuggling refused, hop-by-hop dropped, gateway headers never removable, XFF trusted only."""

from __future__ import annotations

import pytest

from gateway.errors import BadRequest, HeadersTooLarge
from gateway.headers import (
    build_request_id,
    build_response_headers,
    build_traceparent,
    build_upstream_headers,
    check_request_headers,
)
from idp.client_address import build_networks, resolve_client_ip

H = list[tuple[bytes, bytes]]


def test_content_length_is_returned() -> None:
    assert check_request_headers([(b"content-length", b"42")], 16384) == 42
    assert check_request_headers([(b"accept", b"*/*")], 16384) is None


@pytest.mark.parametrize(
    "smuggling_headers",
    [
        [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")],
        [(b"content-length", b"5"), (b"content-length", b"6")],
        [(b"content-length", b"5"), (b"content-length", b"5")],
        [(b"content-length", b"-1")],
        [(b"content-length", b"5, 5")],
        [(b"content-length", b" 5x")],
        [(b"transfer-encoding", b"gzip, chunked")],
        [(b"transfer-encoding", b"chunked"), (b"transfer-encoding", b"chunked")],
        [(b"upgrade", b"h2c"), (b"connection", b"Upgrade, HTTP2-Settings")],
        [(b"http2-settings", b"AAMAAABkAAQAAP__")],
    ],
)
def test_ambiguous_framing_is_refused(smuggling_headers: H) -> None:
    with pytest.raises(BadRequest):
        check_request_headers(smuggling_headers, 16384)


def test_oversized_head_is_431() -> None:
    with pytest.raises(HeadersTooLarge):
        check_request_headers([(b"x-big", b"a" * 2000)], 1024)


def test_connection_cannot_remove_gateway_headers() -> None:
    client: H = [
        (b"connection", b"X-Gerbang-Assertion, X-Forwarded-For, X-Request-Id, x-custom"),
        (b"x-custom", b"1"),
        (b"x-gerbang-assertion", b"forged"),
        (b"x-gerbang-user", b"admin"),
        (b"X-Gerbang-Sub".lower(), b"root"),
        (b"accept", b"*/*"),
        (b"keep-alive", b"timeout=5"),
        (b"te", b"trailers"),
        (b"x-forwarded-for", b"6.6.6.6"),
        (b"host", b"evil.example"),
    ]
    added = [("x-gerbang-assertion", "real"), ("x-forwarded-for", "127.0.0.1"), ("x-request-id", "r1")]
    out = build_upstream_headers(client, added)
    assert out == [
        ("accept", "*/*"),
        ("x-gerbang-assertion", "real"),
        ("x-forwarded-for", "127.0.0.1"),
        ("x-request-id", "r1"),
    ]


def test_websocket_handshake_headers_are_not_forwarded() -> None:
    client: H = [(b"sec-websocket-key", b"k"), (b"sec-websocket-version", b"13"), (b"origin", b"https://a")]
    assert build_upstream_headers(client, [], websocket=True) == [("origin", "https://a")]


def test_response_hop_by_hop_and_connection_named_are_dropped() -> None:
    upstream: H = [
        (b"Content-Type", b"text/plain"),
        (b"Connection", b"keep-alive, X-Internal"),
        (b"Date", b"d"),
        (b"X-Internal", b"secret"),
        (b"Transfer-Encoding", b"chunked"),
        (b"X-Request-Id", b"theirs"),
    ]
    out = build_response_headers(upstream, [(b"x-request-id", b"ours")])
    assert out == [(b"content-type", b"text/plain"), (b"x-request-id", b"ours")]


def test_forwarded_for_from_untrusted_peer_is_ignored() -> None:
    client_ip, chain = resolve_client_ip("203.0.113.9", [(b"x-forwarded-for", b"1.2.3.4")], build_networks([]))
    assert (client_ip, chain) == ("203.0.113.9", ["203.0.113.9"])


def test_forwarded_for_walks_only_trusted_hops() -> None:
    trusted = build_networks(["10.0.0.0/8"])
    headers: H = [(b"x-forwarded-for", b"6.6.6.6, 198.51.100.7, 10.0.0.5")]
    client_ip, chain = resolve_client_ip("10.0.0.1", headers, trusted)
    assert client_ip == "198.51.100.7"
    assert chain == ["6.6.6.6", "198.51.100.7", "10.0.0.5", "10.0.0.1"]


def test_request_id_kept_when_sane_else_generated() -> None:
    assert build_request_id([(b"x-request-id", b"abc-12345678")]) == "abc-12345678"
    generated = build_request_id([(b"x-request-id", b"bad id\r\n")])
    assert len(generated) == 32 and generated != build_request_id([])


def test_traceparent_propagated_or_started() -> None:
    valid = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert build_traceparent([(b"traceparent", valid)], "r") == valid.decode()
    request_id = "0123456789abcdef0123456789abcdef"
    for bad in (
        b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        b"garbage",
        b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ):
        started = build_traceparent([(b"traceparent", bad)], request_id)
        assert started.startswith(f"00-{request_id}-") and len(started) == 55


def test_hub_cookies_are_hidden_from_apps() -> None:
    client: H = [(b"cookie", b"gerbang_session=s3cret; app=1;  theme=dark"), (b"cookie", b"gerbang_session=x")]
    out = build_upstream_headers(client, [], hidden_cookies=frozenset({"gerbang_session"}))
    assert out == [("cookie", "app=1; theme=dark")]
