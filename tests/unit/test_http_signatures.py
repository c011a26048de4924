"""The RFC 9421 profile (gateway.integrity.http_signatures): the hub's signer against its own verifier, every
part of a request changed after signing refused, and an independent RFC 9421 implementation (PyPI
``http-message-signatures``) verifying the hub's signatures."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from http_message_signatures import HTTPMessageVerifier, HTTPSignatureKeyResolver, algorithms
from http_message_signatures.exceptions import InvalidSignature

from gateway.integrity.http_signatures import (
    MessageSignatureVerifier,
    SignatureRejected,
    format_content_digest,
    join_headers,
    parse_content_digest,
)
from gateway.integrity.signer import RequestSigner

ORIGIN = "https://e-budgeting.apps.palembang.go.id"
BODY = b'{"tahun": 2027, "pagu": 1250000000}'


@dataclass
class Key:
    kid: str
    private_key: ec.EllipticCurvePrivateKey


class FixedClock:
    def __init__(self, now: int) -> None:
        self.value = now

    def now(self) -> int:
        return self.value


KEY = Key("msg-1", ec.generate_private_key(ec.SECP256R1()))
NOW = 1_800_000_000


def signed(
    body: bytes = BODY,
    path: str = "/api/anggaran?tahun=2027",
    assertion: str = "a.b.c",
    clock: FixedClock | None = None,
) -> dict[str, str]:
    signer = RequestSigner(lambda: KEY, clock or FixedClock(NOW), ttl=30)
    headers = {
        "x-gerbang-assertion": assertion,
        "x-request-id": "req-1",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "e-budgeting.apps.palembang.go.id",
    }
    digest = format_content_digest(hashlib.sha256(body).digest())
    headers.update(dict(signer.build_headers("POST", ORIGIN + path, assertion, "req-1", digest)))
    return headers


def verifier(now: int = NOW) -> MessageSignatureVerifier:
    keys = {KEY.kid: KEY.private_key.public_key()}
    return MessageSignatureVerifier(keys.get, [ORIGIN], clock=lambda: now)


def test_replay_of_the_same_signature_is_refused() -> None:
    headers = signed()
    check = verifier()
    check.verify("POST", "/api/anggaran?tahun=2027", headers, BODY)
    with pytest.raises(SignatureRejected, match="replay"):
        check.verify("POST", "/api/anggaran?tahun=2027", headers, BODY)


@pytest.mark.parametrize(
    "change",
    [
        "body",
        "path",
        "query",
        "method",
        "assertion",
        "request-id",
        "host",
        "digest",
        "signature",
        "components",
        "unsigned",
    ],
)
def test_every_change_after_signing_is_refused(change: str) -> None:
    headers, body, method, target = signed(), BODY, "POST", "/api/anggaran?tahun=2027"
    if change == "body":
        body = BODY.replace(b"125", b"925")
    elif change == "path":
        target = "/api/anggaran-rahasia?tahun=2027"
    elif change == "query":
        target = "/api/anggaran?tahun=2028"
    elif change == "method":
        method = "PUT"
    elif change == "assertion":
        headers["x-gerbang-assertion"] = "x.y.z"
    elif change == "request-id":
        headers["x-request-id"] = "req-2"
    elif change == "host":
        headers["x-forwarded-host"] = "evil.example"
    elif change == "digest":
        body = BODY + b" "
        headers["content-digest"] = format_content_digest(hashlib.sha256(body).digest())
    elif change == "signature":
        headers["signature"] = signed()["signature"]  # a valid signature of another request
    elif change == "components":
        headers["signature-input"] = headers["signature-input"].replace(' "x-request-id"', "")
    elif change == "unsigned":
        del headers["signature"], headers["signature-input"]
    with pytest.raises(SignatureRejected):
        verifier().verify(method, target, headers, body)


def test_stale_and_future_signatures_are_refused() -> None:
    with pytest.raises(SignatureRejected, match="expired"):
        verifier(now=NOW + 40).verify("POST", "/api/anggaran?tahun=2027", signed(), BODY)
    with pytest.raises(SignatureRejected, match="future"):
        verifier(now=NOW - 60).verify("POST", "/api/anggaran?tahun=2027", signed(), BODY)


def test_an_unknown_key_is_refused() -> None:
    other = MessageSignatureVerifier(lambda kid: None, [ORIGIN], clock=lambda: NOW)
    with pytest.raises(SignatureRejected, match="key"):
        other.verify("POST", "/api/anggaran?tahun=2027", signed(), BODY)


def test_content_digest_parsing() -> None:
    digest = hashlib.sha256(b"x").digest()
    assert parse_content_digest(format_content_digest(digest)) == digest
    assert parse_content_digest("sha-512=:AAAA:, " + format_content_digest(digest)) == digest
    assert parse_content_digest("sha-512=:AAAA:") is None
    assert parse_content_digest("sha-256=:not base64!:") is None
    assert join_headers([("A", "1"), ("a", "2")]) == {"a": "1, 2"}


class Resolver(HTTPSignatureKeyResolver):
    def resolve_public_key(self, key_id: str):  # type: ignore[no-untyped-def]
        return KEY.private_key.public_key() if key_id == KEY.kid else None


def test_an_independent_rfc9421_implementation_verifies_the_hub_signature() -> None:
    """PyPI http-message-signatures: same signature base, same ecdsa-p256-sha256 encoding, the digest of the body."""
    import time

    headers = signed(clock=FixedClock(int(time.time())))
    request = httpx.Request("POST", ORIGIN + "/api/anggaran?tahun=2027", headers=headers, content=BODY)
    independent = HTTPMessageVerifier(signature_algorithm=algorithms.ECDSA_P256_SHA256, key_resolver=Resolver())
    results = independent.verify(
        request,
        expect_tag="gerbang",
        body=BODY,
        require_components=("@method", "@target-uri", "content-digest", "x-gerbang-assertion", "x-request-id"),
    )
    assert results[0].label == "gerbang" and results[0].body == BODY
    tampered = httpx.Request("POST", ORIGIN + "/api/anggaran?tahun=2028", headers=headers, content=BODY)
    with pytest.raises(InvalidSignature):
        independent.verify(tampered, expect_tag="gerbang")
