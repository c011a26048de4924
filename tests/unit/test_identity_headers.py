"""gateway.identity_headers: one table of the identity-shaped headers a client may never send an app."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.headers import build_upstream_headers
from gateway.identity_headers import IDENTITY_HEADERS, is_identity_header

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway-identity.md"


@pytest.mark.parametrize("spoofed", [
    b"x-user-id", b"x_user_id", b"x-user_id", b"x-user-email", b"x-user", b"x-original-url", b"x-rewrite-url",
    b"x-forwarded-for", b"x-forwarded-user", b"x-forwarded-email", b"x-forwarded-prefix", b"x-forwarded-port",
    b"forwarded", b"x-real-ip", b"x-gerbang-assertion", b"x-gerbang-anything", b"x-http-method-override",
    b"x-remote-user", b"remote-user", b"remote-groups", b"x-auth-request-user", b"x-amzn-oidc-identity",
    b"x-goog-authenticated-user-email", b"cf-access-authenticated-user-email", b"x-ms-client-principal-name",
    b"true-client-ip", b"x-client-ip", b"x-original-uri",
])
def test_identity_shaped_header_never_reaches_the_app(spoofed: bytes) -> None:
    assert is_identity_header(spoofed)
    assert build_upstream_headers([(spoofed, b"admin"), (b"accept", b"*/*")], []) == [("accept", "*/*")]


@pytest.mark.parametrize("ordinary", [b"accept", b"authorization", b"cookie", b"x-auth-token", b"x-csrf-token",
                                      b"user-agent", b"x-requested-with", b"origin", b"referer"])
def test_ordinary_headers_pass(ordinary: bytes) -> None:
    assert not is_identity_header(ordinary)


def test_every_row_of_the_table_is_documented() -> None:
    doc = DOC.read_text(encoding="utf-8").lower()
    missing = [row.name for row in IDENTITY_HEADERS if f"`{row.name}" not in doc]
    assert missing == []
