"""RFC 9449 §4.3: checking a DPoP proof JWT. Pure (no I/O, clock passed in); the jti replay check is the caller's.

Errors are ``InvalidProof`` with a fixed, public description; ``NonceRequired`` asks the client to retry with the
server's nonce (``use_dpop_nonce``, §8). A parsed public key is cached per thumbprint (``KeyCache``): a client
reuses its key, so the JWK → key object parse (the costly part besides the signature) is done once per key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt

# Asymmetric only (§4.2); FAPI 2.0 §5.4.1 allows PS256, ES256 and EdDSA; RS256 kept for RFC 9449 interop.
PROOF_ALGS = ("ES256", "PS256", "EdDSA", "RS256")
# The signature is checked with pyjwt's algorithm objects directly: the header is already parsed here, and
# pyjwt's full decode would parse it again (a third of the proof check's cost).
VERIFIERS = {name: jwt.algorithms.get_default_algorithms()[name] for name in PROOF_ALGS}
PROOF_TYPE = "dpop+jwt"
KEY_TYPES = {"ES256": ("EC", "P-256"), "PS256": ("RSA", None), "RS256": ("RSA", None), "EdDSA": ("OKP", "Ed25519")}
THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")
MAX_PROOF_BYTES = 8192


class InvalidProof(Exception):
    """The proof is not acceptable; ``str(exc)`` is safe to send as ``error_description``."""


class NonceRequired(InvalidProof):
    """The proof lacks the server's current nonce (answer ``use_dpop_nonce`` with a fresh ``DPoP-Nonce``)."""


@dataclass(frozen=True, slots=True)
class ProofWindow:
    """How far a proof's ``iat`` may lie from now (seconds): ``past`` also bounds the jti replay memory."""

    past: int = 60
    future: int = 5


@dataclass(frozen=True, slots=True)
class CheckedProof:
    jkt: str  # RFC 7638 SHA-256 thumbprint of the proof's key, base64url
    jti: str
    iat: int


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 over the required members, sorted, without whitespace."""
    members = THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or not all(isinstance(jwk.get(name), str) for name in members):
        raise InvalidProof("the proof key is not a supported public key")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def access_token_hash(token: str) -> str:
    """§4.2 ``ath``: base64url SHA-256 of the access token's ASCII."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def normalize_htu(url: str) -> str:
    """§4.3 item 9: compare without query and fragment; scheme and host case-insensitive; default ports dropped."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidProof("the proof's htu is not a URL") from exc
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        raise InvalidProof("the proof's htu is not an http(s) URL")
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


class KeyCache:
    """Parsed public keys by thumbprint (bounded LRU). The thumbprint is over the very members that make the
    key, so a JWK with the same thumbprint is the same key: a cached entry can never verify another key."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._keys: OrderedDict[str, Any] = OrderedDict()

    def get(self, jkt: str, jwk: dict[str, Any]) -> Any:
        key = self._keys.get(jkt)
        if key is not None:
            self._keys.move_to_end(jkt)
            return key
        try:
            key = jwt.PyJWK(jwk).key
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise InvalidProof("the proof key cannot be used") from exc
        self._keys[jkt] = key
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)
        return key


def read_segment(segment: str) -> Any:
    try:
        return json.loads(_b64decode(segment))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidProof("the proof is malformed") from exc


def _b64decode(segment: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2): anything else is refused, not repaired."""
    if "=" in segment:
        raise ValueError("padded base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def check_proof_header(proof: str) -> tuple[str, dict[str, Any], str]:
    """§4.3 items 2–7: a JWT, ``typ`` dpop+jwt, an allowlisted asymmetric ``alg``, a public ``jwk``."""
    if len(proof) > MAX_PROOF_BYTES or proof.count(".") != 2:
        raise InvalidProof("the proof is not a signed JWT")
    header = read_segment(proof.split(".", 1)[0])
    if not isinstance(header, dict) or header.get("typ") != PROOF_TYPE:
        raise InvalidProof("the proof has the wrong type (typ)")
    alg = header.get("alg")
    if alg not in PROOF_ALGS:
        raise InvalidProof("the proof algorithm is not accepted")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or any(name in jwk for name in PRIVATE_MEMBERS):
        raise InvalidProof("the proof must carry a public key (jwk)")
    kty, crv = KEY_TYPES[alg]
    if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
        raise InvalidProof("the proof key does not fit its algorithm")
    return alg, jwk, jwk_thumbprint(jwk)


def check_proof(
    proof: str,
    *,
    method: str,
    url: str,
    now: int,
    window: ProofWindow,
    keys: KeyCache,
    access_token: str | None = None,
    nonce_ok: Callable[[str | None], bool] | None = None,
) -> CheckedProof:
    """Every §4.3 check but the jti replay: header, signature, ``htm``, ``htu``, ``iat``, ``ath``, ``nonce``."""
    alg, jwk, jkt = check_proof_header(proof)
    key = keys.get(jkt, jwk)
    signing_input, _, signature = proof.rpartition(".")
    try:
        valid = VERIFIERS[alg].verify(signing_input.encode("ascii"), key, _b64decode(signature))
    except (ValueError, TypeError, AttributeError, UnicodeEncodeError) as exc:  # a key of another type
        raise InvalidProof("the proof signature is invalid") from exc
    if not valid:
        raise InvalidProof("the proof signature is invalid")
    claims = read_segment(signing_input.split(".", 1)[1])
    if not isinstance(claims, dict):
        raise InvalidProof("the proof is malformed")
    jti, iat = claims.get("jti"), claims.get("iat")
    if not isinstance(jti, str) or not 8 <= len(jti) <= 256:
        raise InvalidProof("the proof needs a unique jti")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise InvalidProof("the proof needs an iat")
    if claims.get("htm") != method:
        raise InvalidProof("the proof is for another method (htm)")
    if not isinstance(claims.get("htu"), str) or normalize_htu(claims["htu"]) != normalize_htu(url):
        raise InvalidProof("the proof is for another URL (htu)")
    if nonce_ok is not None and not nonce_ok(claims.get("nonce") if isinstance(claims.get("nonce"), str) else None):
        raise NonceRequired("the proof must carry the server's current nonce")
    if iat < now - window.past or iat > now + window.future:
        raise InvalidProof("the proof is too old or from the future (iat)")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise InvalidProof("the proof is not for this access token (ath)")
    return CheckedProof(jkt, jti, iat)
