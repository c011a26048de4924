"""Making DPoP proofs (RFC 9449 §4.2), for integrations that call a ``--require-dpop`` app and for
``gerbang dpop proof``. Curl cannot sign; a few lines of Python can:

    key = load_or_create_key(Path("bapenda-dpop.pem"))
    proof = make_proof(key, "GET", "https://e-budgeting.apps.palembang.go.id/api/anggaran", access_token=token)
    # headers: Authorization: DPoP <token>, DPoP: <proof>
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from idp.dpop.proof import access_token_hash, jwk_thumbprint


def load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """A P-256 key kept in a PEM file (created, readable by its owner only, when missing)."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path} does not hold an EC P-256 key")
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return key


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {name: jwk[name] for name in ("kty", "crv", "x", "y")}


def thumbprint(key: ec.EllipticCurvePrivateKey) -> str:
    return jwk_thumbprint(public_jwk(key))


def make_client_assertion(key: ec.EllipticCurvePrivateKey, client_id: str, audience: str, lifetime: int = 60) -> str:
    """An RFC 7523 §2.2 client assertion (``private_key_jwt``), ES256: what a FAPI 2.0 client authenticates with."""
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + lifetime}
    claims["jti"] = uuid.uuid4().hex
    return jwt.encode(claims, key, algorithm="ES256")


def make_proof(
    key: ec.EllipticCurvePrivateKey,
    method: str,
    url: str,
    *,
    access_token: str | None = None,
    nonce: str | None = None,
    iat: int | None = None,
    jti: str | None = None,
) -> str:
    claims: dict[str, Any] = {
        "jti": jti or uuid.uuid4().hex,
        "htm": method,
        "htu": url.split("?", 1)[0].split("#")[0],
        "iat": int(time.time()) if iat is None else iat,
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": public_jwk(key)})
