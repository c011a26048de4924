"""RFC 9449 §4.3 proof checks (``idp.dpop.proof``) and server nonces (``idp.dpop.nonces``), without I/O."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from idp.dpop.client import make_proof, public_jwk, thumbprint
from idp.dpop.nonces import DpopNonces
from idp.dpop.proof import (
    InvalidProof,
    KeyCache,
    NonceRequired,
    ProofWindow,
    check_proof,
    jwk_thumbprint,
    normalize_htu,
)

URL = "https://e-budgeting.apps.palembang.go.id/api/anggaran"
NOW = 1_800_000_000
KEY = ec.generate_private_key(ec.SECP256R1())


def check(proof: str, **overrides: object) -> object:
    args: dict[str, object] = {"method": "GET", "url": URL, "now": NOW, "window": ProofWindow(), "keys": KeyCache()}
    args.update(overrides)
    return check_proof(proof, **args)  # type: ignore[arg-type]


def signed(header: dict[str, object], claims: dict[str, object], key: object = KEY, alg: str = "ES256") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers=header)  # type: ignore[arg-type]


def test_rfc7638_thumbprint_example() -> None:
    """The example key of RFC 7638 §3.1 has this thumbprint."""
    jwk = {
        "kty": "RSA",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZC"
        "iFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZg"
        "nYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniI"
        "qbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_a_good_proof_passes_and_names_its_key() -> None:
    checked = check(make_proof(KEY, "GET", URL, iat=NOW, access_token="tok"), access_token="tok")
    assert checked.jkt == thumbprint(KEY)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url", [URL + "?x=1", URL + "#frag", URL.replace("https://e-", "HTTPS://E-"), URL.replace(".go.id/", ".go.id:443/")]
)
def test_htu_comparison_ignores_query_fragment_case_and_default_port(url: str) -> None:
    assert normalize_htu(url) == normalize_htu(URL)


@pytest.mark.parametrize(
    "name,proof,overrides",
    [
        ("other method", lambda: make_proof(KEY, "POST", URL, iat=NOW), {}),
        ("other path", lambda: make_proof(KEY, "GET", URL + "/x", iat=NOW), {}),
        ("other host", lambda: make_proof(KEY, "GET", URL.replace("e-budgeting", "parkir"), iat=NOW), {}),
        ("other scheme", lambda: make_proof(KEY, "GET", URL.replace("https", "http"), iat=NOW), {}),
        ("other port", lambda: make_proof(KEY, "GET", URL.replace(".go.id/", ".go.id:8443/"), iat=NOW), {}),
        ("too old", lambda: make_proof(KEY, "GET", URL, iat=NOW - 61), {}),
        ("from the future", lambda: make_proof(KEY, "GET", URL, iat=NOW + 6), {}),
        ("no ath", lambda: make_proof(KEY, "GET", URL, iat=NOW), {"access_token": "tok"}),
        ("other ath", lambda: make_proof(KEY, "GET", URL, iat=NOW, access_token="other"), {"access_token": "tok"}),
        ("short jti", lambda: make_proof(KEY, "GET", URL, iat=NOW, jti="x"), {}),
        (
            "hmac",
            lambda: signed(
                {"typ": "dpop+jwt", "jwk": {"kty": "oct", "k": "c2VjcmV0"}},
                {"jti": "j" * 16, "htm": "GET", "htu": URL, "iat": NOW},
                b"s" * 32,
                "HS256",
            ),
            {},
        ),
        (
            "no typ",
            lambda: signed({"jwk": public_jwk(KEY)}, {"jti": "j" * 16, "htm": "GET", "htu": URL, "iat": NOW}),
            {},
        ),
        (
            "private key in jwk",
            lambda: signed(
                {"typ": "dpop+jwt", "jwk": {**public_jwk(KEY), "d": "AAAA"}},
                {"jti": "j" * 16, "htm": "GET", "htu": URL, "iat": NOW},
            ),
            {},
        ),
        ("key swapped in header", lambda: _swap_key(make_proof(KEY, "GET", URL, iat=NOW)), {}),
        ("rsa key under ES256", lambda: _header_with_jwk(RSA_JWK), {}),
        ("p-384 key under ES256", lambda: _header_with_jwk(P384_JWK), {}),
        ("not a jwt", lambda: "abc", {}),
    ],
)
def test_bad_proofs_are_refused(name: str, proof: object, overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidProof):
        check(proof(), **overrides)  # type: ignore[operator]


RSA_JWK = json.loads(
    jwt.algorithms.RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())
)
P384_JWK = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key()))


def _header_with_jwk(jwk: dict[str, object]) -> str:
    """A header naming ES256 with a key of another type or curve (pyjwt would fail on it, not refuse it)."""
    head = base64.urlsafe_b64encode(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}).encode())
    return head.rstrip(b"=").decode() + "." + make_proof(KEY, "GET", URL, iat=NOW).split(".", 1)[1]


def _swap_key(proof: str) -> str:
    """The header names another key than the one that signed: the signature no longer verifies."""
    other = ec.generate_private_key(ec.SECP256R1())
    head = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
    head["jwk"] = public_jwk(other)
    encoded = base64.urlsafe_b64encode(json.dumps(head).encode()).rstrip(b"=").decode()
    return ".".join([encoded, *proof.split(".")[1:]])


def test_rsa_pss_proofs_are_accepted() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    proof = signed(
        {"typ": "dpop+jwt", "jwk": jwk}, {"jti": "j" * 16, "htm": "GET", "htu": URL, "iat": NOW}, key, "PS256"
    )
    assert check(proof).jkt == jwk_thumbprint(jwk)  # type: ignore[attr-defined]


def test_nonces_are_accepted_for_two_windows_and_required_when_asked() -> None:
    nonces = DpopNonces(b"s" * 32, period=300)
    issued = nonces.issue(NOW)
    assert nonces.is_current(issued, NOW) and nonces.is_current(issued, NOW + 300)
    assert not nonces.is_current(issued, NOW + 600) and not nonces.is_current("forged", NOW)
    assert not DpopNonces(b"t" * 32).is_current(issued, NOW)  # another hub's secret
    proof = make_proof(KEY, "GET", URL, iat=NOW)
    with pytest.raises(NonceRequired):
        check(proof, nonce_ok=lambda nonce: nonces.is_current(nonce, NOW))
    good = make_proof(KEY, "GET", URL, iat=NOW, nonce=issued)
    assert check(good, nonce_ok=lambda nonce: nonces.is_current(nonce, NOW))


def test_key_cache_is_bounded() -> None:
    cache = KeyCache(size=2)
    for _ in range(3):
        key = ec.generate_private_key(ec.SECP256R1())
        cache.get(thumbprint(key), public_jwk(key))
    assert len(cache._keys) == 2
