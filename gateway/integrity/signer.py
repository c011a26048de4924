"""Signing a forwarded request (RFC 9421) with the hub's message-signing key: ``Content-Digest``, ``Signature-Input``
and ``Signature`` for the upstream, in the profile of ``gateway.integrity.http_signatures``.

One ES256 signature per request (~25 µs with ``cryptography``); the nonce makes every signed request unique, so
an app's replay cache refuses a copy. Everything else is one string join: the parts of ``@signature-params`` that
depend only on the key (the covered components, ``keyid``, ``alg``, ``tag``) are built once per key, and the
signature base is one f-string in the order of ``http_signatures.COMPONENTS`` (a unit test checks it against
``build_signature_base``).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gateway.integrity.http_signatures import ALG, COMPONENTS, LABEL, TAG

DEFAULT_TTL = 30
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_COVERED = "(" + " ".join(f'"{name}"' for name in COMPONENTS) + ")"
NONCE_BYTES = 18  # a multiple of 3: base64url without padding, 24 characters
_NONCES_PER_DRAW = 512


class Nonces:
    """Unique signature nonces: ``NONCE_BYTES`` from the OS's CSPRNG each, drawn 512 at a time and encoded at once
    (one ``getrandom`` call instead of one per request). Drawn again in a forked child, so two processes never
    share a pool. A nonce is not secret (it travels in ``Signature-Input``), only never repeated."""

    def __init__(self) -> None:
        self._pool, self._at, self._pid = "", 0, -1

    def next(self) -> str:
        if self._at >= len(self._pool) or self._pid != os.getpid():
            self._pool = base64.urlsafe_b64encode(os.urandom(NONCE_BYTES * _NONCES_PER_DRAW)).decode()
            self._at, self._pid = 0, os.getpid()
        at = self._at
        self._at = at + NONCE_BYTES * 4 // 3
        return self._pool[at : self._at]


class RequestSigner:
    """``key()`` returns the active message-signing key (``idp.keys.KeyRing.message_key``: kid, private_key)."""

    def __init__(self, key: Callable[[], Any], clock: Any, ttl: int = DEFAULT_TTL) -> None:
        if not 0 < ttl <= 60:
            raise ValueError("message signatures live 1..60 seconds")
        self._key, self._clock, self._ttl = key, clock, ttl
        self._key_seen: Any = None
        self._key_tail = ""  # ;keyid="…";alg="…";tag="…" of the key last seen
        self._nonces = Nonces()

    def build_headers(
        self, method: str, target_uri: str, assertion: str, request_id: str, content_digest: str
    ) -> list[tuple[str, str]]:
        key = self._key()
        if key is not self._key_seen:  # a rotation: the key's own parameters once
            self._key_tail = f';keyid="{key.kid}";alg="{ALG}";tag="{TAG}"'
            self._key_seen = key
        created = self._clock.now()
        params = (
            f'{_COVERED};created={created};expires={created + self._ttl};nonce="{self._nonces.next()}"{self._key_tail}'
        )
        base = (
            f'"@method": {method.upper()}\n"@target-uri": {target_uri}\n"content-digest": {content_digest}\n'
            f'"x-gerbang-assertion": {assertion}\n"x-request-id": {request_id}\n"@signature-params": {params}'
        )
        r, s = decode_dss_signature(key.private_key.sign(base.encode(), _ECDSA_SHA256))
        signature = binascii.b2a_base64(r.to_bytes(32, "big") + s.to_bytes(32, "big"), newline=False).decode()
        return [
            ("content-digest", content_digest),
            ("signature-input", f"{LABEL}={params}"),
            ("signature", f"{LABEL}=:{signature}:"),
        ]
