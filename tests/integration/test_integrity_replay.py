"""The app-side replay cache shared by every process of an app (``SharedReplayCache`` on a real Redis): a signed
request accepted by one process is refused by another, nonces expire with their signature, and a Redis that
cannot answer refuses the request (503) instead of letting a copy through."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from cryptography.hazmat.primitives.asymmetric import ec
from redis.backoff import NoBackoff
from redis.retry import Retry

from gateway.integrity.http_signatures import (
    MessageSignatureVerifier,
    SharedReplayCache,
    SignatureRejected,
    format_content_digest,
)
from gateway.integrity.signer import RequestSigner
from idp.clock import SystemClock

ORIGIN = "https://e-budgeting.apps.palembang.go.id"
BODY = b'{"tahun": 2027}'


@dataclass
class Key:
    kid: str
    private_key: ec.EllipticCurvePrivateKey


KEY = Key("msg-1", ec.generate_private_key(ec.SECP256R1()))


def signed_request() -> dict[str, str]:
    digest = format_content_digest(hashlib.sha256(BODY).digest())
    headers = {
        "x-gerbang-assertion": "a.b.c",
        "x-request-id": "req-1",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "e-budgeting.apps.palembang.go.id",
    }
    signer = RequestSigner(lambda: KEY, SystemClock(), ttl=30)
    headers.update(signer.build_headers("POST", ORIGIN + "/api/anggaran", "a.b.c", "req-1", digest))
    return headers


def verifier(client: redis.Redis, prefix: str) -> MessageSignatureVerifier:
    public = {KEY.kid: KEY.private_key.public_key()}
    return MessageSignatureVerifier(public.get, [ORIGIN], replay=SharedReplayCache(client, prefix))


@pytest.fixture
def clients(redis_url: str) -> Iterator[tuple[redis.Redis, redis.Redis]]:
    """Two connections: two worker processes of one app."""
    first = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    second = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    yield first, second
    first.close()
    second.close()


def test_a_request_accepted_by_one_process_is_refused_by_another(
    clients: tuple[redis.Redis, redis.Redis], redis_prefix: str
) -> None:
    one, other = verifier(clients[0], redis_prefix + ":"), verifier(clients[1], redis_prefix + ":")
    request = signed_request()
    nonce = one.verify("POST", "/api/anggaran", request, BODY)
    with pytest.raises(SignatureRejected, match="replay"):
        other.verify("POST", "/api/anggaran", request, BODY)
    with pytest.raises(SignatureRejected, match="replay"):
        one.verify("POST", "/api/anggaran", request, BODY)
    # The nonce lives as long as the signature (+10 s), not forever.
    ttl = clients[0].ttl(f"{redis_prefix}:{nonce}")
    assert 30 < ttl <= 41, ttl
    # A fresh signature of the same request passes on either process.
    assert other.verify("POST", "/api/anggaran", signed_request(), BODY) != nonce
    assert one.blocks and other.blocks  # the ASGI middleware checks off the event loop


def test_a_replay_store_that_cannot_answer_refuses_with_503(redis_prefix: str) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = redis.Redis(
        host="127.0.0.1", port=port, socket_timeout=0.25, socket_connect_timeout=0.25, retry=Retry(NoBackoff(), 0)
    )
    started = time.monotonic()
    with pytest.raises(SignatureRejected) as refused:
        verifier(dead, redis_prefix + ":").verify("POST", "/api/anggaran", signed_request(), BODY)
    assert refused.value.status == 503 and "replay" in refused.value.message
    assert time.monotonic() - started < 2
