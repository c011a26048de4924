"""Sealing an upstream's client secret and private key at rest (AES-256-GCM under a key derived from
``GERBANG_SECRET_KEY``, as the hub's signing keys are), bound to the upstream's slug and the field name."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SealBroken(Exception):
    """The sealed value does not open under this secret (another ``GERBANG_SECRET_KEY``, or edited)."""


def _aead(secret: bytes) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gerbang", info=b"upstream-idps").derive(secret))


def seal(value: str, secret: bytes, slug: str, field: str) -> str:
    nonce = os.urandom(12)
    sealed = _aead(secret).encrypt(nonce, value.encode(), f"{slug}:{field}".encode())
    return base64.b64encode(nonce + sealed).decode()


def unseal(blob: str, secret: bytes, slug: str, field: str) -> str:
    raw = base64.b64decode(blob)
    try:
        return _aead(secret).decrypt(raw[:12], raw[12:], f"{slug}:{field}".encode()).decode()
    except InvalidTag as exc:
        raise SealBroken(f"{slug}:{field}") from exc
