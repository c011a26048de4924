"""The request signer's own pieces (gateway.integrity.signer): nonces drawn in pools are unique and well formed
across pool boundaries, and the ``Signature-Input`` it writes is the profile's ``build_signature_params``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.integrity.http_signatures import LABEL, build_signature_params
from gateway.integrity.signer import Nonces, RequestSigner


def test_nonces_are_unique_base64url_of_18_bytes_across_pools() -> None:
    nonces = Nonces()
    drawn = [nonces.next() for _ in range(1500)]  # three pools
    assert len(set(drawn)) == len(drawn)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{24}", nonce) for nonce in drawn)


@dataclass
class Key:
    kid: str
    private_key: ec.EllipticCurvePrivateKey


class FixedClock:
    def now(self) -> int:
        return 1_800_000_000


def test_signature_input_is_the_profile_serialization() -> None:
    first, second = (
        Key("msg-1", ec.generate_private_key(ec.SECP256R1())),
        Key("msg-2", ec.generate_private_key(ec.SECP256R1())),
    )
    current = [first]
    signer = RequestSigner(lambda: current[0], FixedClock(), ttl=30)
    for key in (first, second):  # a rotation changes the keyid it names
        current[0] = key
        fields = dict(signer.build_headers("GET", "https://a.go.id/x", "a.b.c", "req-1", "sha-256=:AA==:"))
        nonce = re.search(r'nonce="([^"]*)"', fields["signature-input"])
        assert nonce is not None
        expected = build_signature_params(1_800_000_000, 1_800_000_030, nonce.group(1), key.kid)
        assert fields["signature-input"] == f"{LABEL}={expected}"
