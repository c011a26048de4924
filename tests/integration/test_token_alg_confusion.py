"""The provider's own tokens, forged or misused, at UserInfo and introspection (RFC 8725 §2.1–2.8, §3.1, §3.11).

Every forgery starts from a real token the hub issued, so a refusal can only come from the check under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from idp.app import create_app
from idp.clock import FrozenClock
from idp.settings import Settings
from tests.support.flows import introspect, issue_tokens, token_request, userinfo
from tests.support.hub import Hub, run_hub


@pytest.fixture(scope="module")
def frozen_hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, FrozenClock]]:
    clocks: list[FrozenClock] = []

    def app_factory(settings: Settings) -> object:
        # Started after seeding: a clock behind the seeded password_changed_at would end every session.
        clocks.append(FrozenClock())
        return create_app(settings, clock=clocks[0])

    with run_hub(module_database_url, tmp_path_factory.mktemp("hub"), app_factory=app_factory) as running:
        yield running, clocks[0]


@pytest.fixture(scope="module")
def hub(frozen_hub: tuple[Hub, FrozenClock]) -> Hub:
    return frozen_hub[0]


@pytest.fixture(scope="module")
def clock(frozen_hub: tuple[Hub, FrozenClock]) -> FrozenClock:
    return frozen_hub[1]


@pytest.fixture(scope="module")
def hub_jwk(hub: Hub) -> dict[str, Any]:
    published = httpx.get(f"{hub.url}/auth/jwks", timeout=10).json()["keys"]
    # the primary (the others sign ID tokens only; the HTTP message-signing key is marked gerbang_use)
    keys = [key for key in published if key["alg"] == "ES256" and "gerbang_use" not in key]
    assert len(keys) == 1
    return dict(keys[0])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def compact(header: dict[str, Any], claims: dict[str, Any], signer: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(signer(signing_input.encode()))}"


def hs256(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def forge(kind: str, token: str, hub_jwk: dict[str, Any]) -> str:
    header, claims = parts(token)
    stranger = ec.generate_private_key(ec.SECP256R1())
    stranger_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(stranger.public_key()))
    hub_public = jwt.PyJWK(hub_jwk).key
    pem = hub_public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if kind.startswith("alg-none"):
        alg = kind.split(":")[1]
        return compact({**header, "alg": alg}, claims, lambda _data: b"")
    if kind == "hs256-public-pem":
        return compact({**header, "alg": "HS256"}, claims, hs256(pem))
    if kind == "hs256-public-jwk":
        return compact({**header, "alg": "HS256"}, claims, hs256(json.dumps(hub_jwk).encode()))
    if kind == "foreign-key-hub-kid":
        return jwt.encode(claims, stranger, algorithm="ES256", headers=header)
    if kind == "embedded-jwk":
        return jwt.encode(claims, stranger, algorithm="ES256", headers={**header, "jwk": stranger_jwk})
    if kind == "jku":
        return jwt.encode(claims, stranger, algorithm="ES256", headers={**header, "jku": "http://127.0.0.1:9/jwks"})
    if kind == "unknown-kid":
        return jwt.encode(claims, stranger, algorithm="ES256", headers={**header, "kid": "made-up"})
    if kind == "tampered-claims":
        signing_input, signature = token.rsplit(".", 1)
        head = signing_input.split(".")[0]
        return f"{head}.{b64(json.dumps({**claims, 'scope': 'openid profile email opd'}).encode())}.{signature}"
    if kind == "stripped-signature":
        return token.rsplit(".", 1)[0] + "."
    raise AssertionError(kind)


FORGERIES = [
    "alg-none:none",
    "alg-none:None",
    "alg-none:NONE",
    "hs256-public-pem",
    "hs256-public-jwk",
    "foreign-key-hub-kid",
    "embedded-jwk",
    "jku",
    "unknown-kid",
    "tampered-claims",
    "stripped-signature",
]


def assert_refused(hub: Hub, token: str) -> None:
    response = userinfo(hub, token)
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    posted = httpx.post(f"{hub.url}/auth/userinfo", data={"access_token": token}, timeout=10)
    assert posted.status_code == 401, posted.text
    assert introspect(hub, token) == {"active": False}


def test_genuine_token_is_accepted(hub: Hub) -> None:
    # The control for every forgery below: the same token unmodified passes both endpoints.
    tokens = issue_tokens(hub, "Parkir Dishub")
    assert userinfo(hub, tokens["access_token"]).status_code == 200
    assert introspect(hub, tokens["access_token"])["active"] is True


@pytest.mark.parametrize("kind", FORGERIES)
def test_forged_access_token_is_refused(hub: Hub, hub_jwk: dict[str, Any], kind: str) -> None:
    tokens = issue_tokens(hub, "Parkir Dishub")
    forged = forge(kind, tokens["access_token"], hub_jwk)
    assert forged != tokens["access_token"]
    assert_refused(hub, forged)


def test_id_token_is_not_an_access_token(hub: Hub) -> None:
    tokens = issue_tokens(hub, "Parkir Dishub")
    header, claims = parts(tokens["id_token"])
    assert header["typ"] == "JWT" and claims["aud"] == hub.client("Parkir Dishub")[0]
    assert_refused(hub, tokens["id_token"])


def test_id_token_relabelled_at_jwt_is_refused(hub: Hub) -> None:
    # Changing typ breaks the hub's signature: the type cannot be switched without the key.
    tokens = issue_tokens(hub, "Parkir Dishub")
    head, body, signature = tokens["id_token"].split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    relabelled = f"{b64(json.dumps({**header, 'typ': 'at+jwt'}).encode())}.{body}.{signature}"
    assert_refused(hub, relabelled)


def test_refresh_token_is_not_an_access_token(hub: Hub) -> None:
    tokens = issue_tokens(hub, "Parkir Dishub")
    response = userinfo(hub, tokens["refresh_token"])
    assert response.status_code == 401


def test_token_for_another_audience_is_refused_at_userinfo(hub: Hub) -> None:
    client_id, secret = hub.client("Bapenda Integrasi")
    assert secret is not None
    response = token_request(
        hub,
        {"grant_type": "client_credentials", "resource": "http://127.0.0.1:9/apps/e-budgeting/"},
        auth=(client_id, secret),
    )
    assert response.status_code == 200
    assert userinfo(hub, response.json()["access_token"]).status_code == 401


def test_expired_token_is_refused(hub: Hub, clock: FrozenClock) -> None:
    tokens = issue_tokens(hub, "Parkir Dishub")
    ttl = int(tokens["expires_in"])
    clock.advance(ttl - 10)
    assert userinfo(hub, tokens["access_token"]).status_code == 200
    clock.advance(10 + 6)  # past exp and the 5 s leeway
    assert_refused(hub, tokens["access_token"])
