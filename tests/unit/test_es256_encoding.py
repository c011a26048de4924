"""The hub's ES256 JWS encoder (``idp.keys.encode_es256``) writes what PyJWT writes, and PyJWT verifies it."""

from __future__ import annotations

import datetime

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from idp.keys import _plain, encode_es256

KEY = ec.generate_private_key(ec.SECP256R1())
CLAIMS = [
    {"iss": "https://sso.palembang.go.id", "sub": "3571000000000001", "aud": "https://e-budgeting.apps", "iat": 1,
     "nbf": 1, "exp": 2_000_000_000, "jti": "a" * 32, "scope": "openid profile", "amr": ["pwd", "otp"]},
    {"iss": "https://sso.palembang.go.id", "aud": ["a", "b"], "name": "Siti Rahmawati — Kecamatan Ilir Barat I ✓",
     "nested": {"x": [1, 2.5, None, True]}, "exp": 2_000_000_000, "quote": 'he said "hi"\\n'},
    {},
]  # fmt: skip


@pytest.mark.parametrize("claims", CLAIMS)
@pytest.mark.parametrize("typ", ["at+jwt", "JWT", "logout+jwt", "gerbang-ledger-checkpoint+jwt"])
def test_header_and_payload_are_pyjwts_and_it_verifies(claims: dict, typ: str) -> None:
    ours = encode_es256(KEY, "kid-2026", claims, typ)
    theirs = jwt.encode(claims, KEY, algorithm="ES256", headers={"kid": "kid-2026", "typ": typ})
    assert ours.rsplit(".", 1)[0] == theirs.rsplit(".", 1)[0]
    decoded = jwt.decode_complete(ours, KEY.public_key(), algorithms=["ES256"], options={"verify_aud": False})
    assert decoded["payload"] == claims
    assert decoded["header"] == {"alg": "ES256", "kid": "kid-2026", "typ": typ}
    assert len(jwt.utils.base64url_decode(ours.rsplit(".", 1)[1])) == 64  # r || s, not DER


def test_a_signature_is_bound_to_its_bytes() -> None:
    token = encode_es256(KEY, "kid-2026", CLAIMS[0], "at+jwt")
    head, payload, signature = token.split(".")
    other = encode_es256(KEY, "kid-2026", {**CLAIMS[0], "sub": "3571000000000002"}, "at+jwt").split(".")[1]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{head}.{other}.{signature}", KEY.public_key(), algorithms=["ES256"], options={"verify_aud": False})


def test_claims_pyjwt_treats_specially_take_its_path() -> None:
    assert _plain(CLAIMS[0])
    assert not _plain({"exp": datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)})
    assert not _plain({"iss": 7})


def test_only_a_p256_key_signs_es256() -> None:
    with pytest.raises(ValueError, match="P-256"):
        encode_es256(ec.generate_private_key(ec.SECP384R1()), "kid", {}, "JWT")
