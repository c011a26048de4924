"""Signing a forwarded request (RFC 9421) with the hub's message-signing key: ``Content-Digest``, ``Signature-Input``
and ``Signature`` for the upstream, in the profile of ``gateway.integrity.http_signatures``.

One ES256 signature per request (~25 µs with ``cryptography``); the nonce makes every signed request unique, so
an app's replay cache refuses a copy."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from typing import Any

from gateway.integrity.http_signatures import LABEL, build_signature_base, build_signature_params, sign_es256
from idp.clock import Clock

DEFAULT_TTL = 30


class RequestSigner:
    """``key()`` returns the active message-signing key (``idp.keys.KeyRing.message_key``: kid, private_key)."""

    def __init__(self, key: Callable[[], Any], clock: Clock, ttl: int = DEFAULT_TTL) -> None:
        if not 0 < ttl <= 60:
            raise ValueError("message signatures live 1..60 seconds")
        self._key, self._clock, self._ttl = key, clock, ttl

    def build_headers(
        self, method: str, target_uri: str, assertion: str, request_id: str, content_digest: str
    ) -> list[tuple[str, str]]:
        key = self._key()
        created = self._clock.now()
        params = build_signature_params(created, created + self._ttl, secrets.token_urlsafe(18), key.kid)
        values = {
            "@method": method.upper(),
            "@target-uri": target_uri,
            "content-digest": content_digest,
            "x-gerbang-assertion": assertion,
            "x-request-id": request_id,
        }
        signature = sign_es256(key.private_key, build_signature_base(values, params))
        return [
            ("content-digest", content_digest),
            ("signature-input", f"{LABEL}={params}"),
            ("signature", f"{LABEL}=:{base64.b64encode(signature).decode()}:"),
        ]
