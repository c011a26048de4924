"""Keys and JWTs for identity tests: genuine ones like the hub's, and the forgeries attackers send."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from gateway.jwks import LocalKeys
from idp.keys import generate_key, public_jwk

ISSUER = "http://127.0.0.1:8000"
RESOURCE = "http://parkir.localhost:8000/"  # the app's own origin + "/"


class TestKey:
    """A signing key with its public JWK, as the hub's key ring would publish it."""

    __test__ = False

    def __init__(self, kid: str = "k1", alg: str = "ES256") -> None:
        self.kid, self.alg = kid, alg
        self.private = generate_key(alg)
        self.jwk = public_jwk(self.private, kid, alg)

    def sign(self, claims: dict[str, Any], typ: str = "at+jwt", **headers: Any) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid, "typ": typ, **headers})

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def key_source(*keys: TestKey) -> LocalKeys:
    """The in-process key source over a fixed set of keys (no reload)."""
    by_kid = {key.kid: (key.alg, key.private.public_key()) for key in keys}
    return LocalKeys(by_kid.get)


def access_claims(now: int, **overrides: Any) -> dict[str, Any]:
    claims = {
        "iss": ISSUER,
        "aud": [RESOURCE],
        "sub": "user-1",
        "client_id": "parkir-web",
        "scope": "openid profile",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "acr": "1",
        "amr": ["pwd"],
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A JWT assembled by hand (pyjwt refuses to build the malicious ones)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(signature)}"


def hs256_with_public_key(key: TestKey, claims: dict[str, Any], typ: str = "at+jwt") -> str:
    """The classic algorithm-confusion forgery: HMAC keyed with the server's public key."""
    header = {"alg": "HS256", "typ": typ, "kid": key.kid}
    unsigned = hand_made(header, claims).rsplit(".", 1)[0]
    signature = hmac.new(key.public_pem(), unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{_b64(signature)}"


def unsigned_none(key: TestKey, claims: dict[str, Any], typ: str = "at+jwt") -> str:
    return hand_made({"alg": "none", "typ": typ, "kid": key.kid}, claims)
