"""RFC 7523 §2.2 private_key_jwt client authentication and its attacks (RFC 9700 §2.5, RFC 8725 §3.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.flows import register_client, token_request
from tests.support.hub import Hub, run_hub

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RESOURCE = "http://127.0.0.1:9/apps/e-budgeting/"


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with run_hub(module_database_url, tmp_path_factory.mktemp("hub")) as running:
        yield running


@pytest.fixture(scope="module")
def client_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def client_id(hub: Hub, client_key: ec.EllipticCurvePrivateKey) -> str:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(client_key.public_key()))
    jwk.update(kid="integrasi-1", use="sig", alg="ES256")
    registered, secret = register_client(
        hub,
        name="Integrasi Bertanda Tangan",
        grant_types=("client_credentials",),
        scope="anggaran:read",
        auth_method="private_key_jwt",
        jwks={"keys": [jwk]},
        resources=(RESOURCE,),
    )
    assert secret is None
    return registered


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_for(hub: Hub, client_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{hub.url}/auth/token",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(key: ec.EllipticCurvePrivateKey, claims: dict[str, Any], **headers: Any) -> str:
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "integrasi-1", **headers})


def unsigned(claims: dict[str, Any], header: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)])


def hs256_with(secret: bytes, claims: dict[str, Any]) -> str:
    """HS256 keyed with the client's *public* key: pyjwt refuses to build this, an attacker would not."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "integrasi-1"}).encode())
    body = b64(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def authenticate(hub: Hub, assertion: str, endpoint: str = "token") -> httpx.Response:
    form = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}
    if endpoint == "token":
        return token_request(hub, {"grant_type": "client_credentials", "resource": RESOURCE, **form})
    return httpx.post(f"{hub.url}/auth/{endpoint}", data={"token": "x", **form}, timeout=10)


def assert_invalid_client(response: httpx.Response) -> None:
    # RFC 6749 §5.2: 401 is a MUST only when the client used the Authorization header.
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("audience", ["token_endpoint", "issuer"])
def test_valid_assertion_authenticates(
    hub: Hub, client_id: str, client_key: ec.EllipticCurvePrivateKey, audience: str
) -> None:
    aud = f"{hub.url}/auth/token" if audience == "token_endpoint" else hub.url
    response = authenticate(hub, sign(client_key, claims_for(hub, client_id, aud=aud)))
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == client_id and claims["aud"] == RESOURCE


def test_assertion_authenticates_at_introspection(
    hub: Hub, client_id: str, client_key: ec.EllipticCurvePrivateKey
) -> None:
    response = authenticate(hub, sign(client_key, claims_for(hub, client_id)), endpoint="introspect")
    assert response.status_code == 200 and response.json() == {"active": False}


def test_same_jti_twice_is_refused(hub: Hub, client_id: str, client_key: ec.EllipticCurvePrivateKey) -> None:
    assertion = sign(client_key, claims_for(hub, client_id))
    assert authenticate(hub, assertion).status_code == 200
    assert_invalid_client(authenticate(hub, assertion))
    # A new assertion with the same jti is the same replay.
    again = sign(
        client_key, claims_for(hub, client_id, jti=jwt.decode(assertion, options={"verify_signature": False})["jti"])
    )
    assert_invalid_client(authenticate(hub, again))


def test_assertion_is_spent_even_when_the_request_fails(
    hub: Hub, client_id: str, client_key: ec.EllipticCurvePrivateKey
) -> None:
    # Authentication succeeded, then the grant failed: the assertion was still presented, so it is used up.
    assertion = sign(client_key, claims_for(hub, client_id))
    refused = token_request(
        hub,
        {
            "grant_type": "client_credentials",
            "resource": "http://127.0.0.1:9/apps/x/",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"
    assert_invalid_client(authenticate(hub, assertion))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"aud": "http://127.0.0.1:9/auth/token"}, id="aud-other-server"),
        pytest.param({"aud": None}, id="aud-missing"),
        pytest.param({"exp": int(time.time()) + 3600}, id="exp-too-far"),
        pytest.param({"exp": int(time.time()) - 120}, id="expired"),
        pytest.param({"exp": None}, id="exp-missing"),
        pytest.param({"jti": None}, id="jti-missing"),
        pytest.param({"iss": "someone-else"}, id="iss-not-sub"),
    ],
)
def test_bad_claims_are_invalid_client(
    hub: Hub, client_id: str, client_key: ec.EllipticCurvePrivateKey, overrides: dict[str, Any]
) -> None:
    assert_invalid_client(authenticate(hub, sign(client_key, claims_for(hub, client_id, **overrides))))


def test_alg_none_is_refused(hub: Hub, client_id: str) -> None:
    assertion = unsigned(claims_for(hub, client_id), {"alg": "none", "typ": "JWT", "kid": "integrasi-1"})
    assert_invalid_client(authenticate(hub, assertion))


@pytest.mark.parametrize("form", ["pem", "jwk-json", "x-coordinate"])
def test_hs256_keyed_with_the_public_key_is_refused(
    hub: Hub, client_id: str, client_key: ec.EllipticCurvePrivateKey, form: str
) -> None:
    public = client_key.public_key()
    secrets_by_form = {
        "pem": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        "jwk-json": jwt.algorithms.ECAlgorithm.to_jwk(public).encode(),
        "x-coordinate": json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))["x"].encode(),
    }
    assert_invalid_client(authenticate(hub, hs256_with(secrets_by_form[form], claims_for(hub, client_id))))


@pytest.mark.parametrize("header", ["jku", "jwk", "x5u"])
def test_key_carrying_headers_are_refused(
    hub: Hub, client_id: str, client_key: ec.EllipticCurvePrivateKey, header: str
) -> None:
    # Even signed with the registered key: a header telling the server where to find keys is never honoured.
    values = {
        "jku": "http://127.0.0.1:9/keys.json",
        "x5u": "http://127.0.0.1:9/cert.pem",
        "jwk": json.loads(jwt.algorithms.ECAlgorithm.to_jwk(client_key.public_key())),
    }
    assert_invalid_client(authenticate(hub, sign(client_key, claims_for(hub, client_id), **{header: values[header]})))


def test_assertion_signed_by_another_key_is_refused(hub: Hub, client_id: str) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    stranger_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(stranger.public_key()))
    assert_invalid_client(authenticate(hub, sign(stranger, claims_for(hub, client_id))))
    assert_invalid_client(authenticate(hub, sign(stranger, claims_for(hub, client_id), jwk=stranger_jwk)))


def test_secret_cannot_stand_in_for_the_assertion(hub: Hub, client_id: str) -> None:
    response = token_request(hub, {"grant_type": "client_credentials"}, auth=(client_id, "guess"))
    assert_invalid_client(response)
    response = token_request(hub, {"grant_type": "client_credentials", "client_id": client_id})
    assert_invalid_client(response)
