"""Clients that publish their keys at a ``jwks_uri`` (RFC 7591 §2): fetched with a timeout and a size cap, cached,
fetched again on an unknown ``kid`` no more often than allowed, and never from an address Kominfo's settings refuse.

A real JWKS server runs on loopback (tests/support/key_server.py); the clock of the cache is injected where its
expiry is what is tested.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from joserfc.jwk import ECKey

from idp.clients import check_jwks_uri, check_jwks_uri_address
from idp.errors import InvalidInput
from idp.oauth.client_jwks import ClientKeySets, ClientKeysUnavailable, jwt_kid
from idp.upstream_addresses import UpstreamAddresses
from tests.integration.test_par_jar_dpop import authorize, request_params
from tests.support.flows import REDIRECT_URI, register_client, token_request
from tests.support.hub import TEST_UPSTREAM_ADDRESSES, Hub, pkce_pair, query_of, run_hub
from tests.support.key_server import KeyServer
from tests.support.server import run_server

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RESOURCE = "http://127.0.0.1:9/apps/e-budgeting/"


def new_key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"})


@pytest.fixture(scope="module")
def key_server() -> Iterator[tuple[KeyServer, str]]:
    server = KeyServer()
    with run_server(server) as url:
        yield server, url


@pytest.fixture
def keys(key_server: tuple[KeyServer, str]) -> Iterator[tuple[KeyServer, str, ECKey]]:
    server, url = key_server
    key = new_key(f"k-{uuid.uuid4().hex[:8]}")
    server.keys, server.hits, server.status = [key.as_dict(private=False)], {}, 200
    yield server, url, key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key_sets(
    clock: Clock | None = None, addresses: UpstreamAddresses = TEST_UPSTREAM_ADDRESSES, **options: Any
) -> ClientKeySets:
    return ClientKeySets(addresses, clock=clock or Clock(), **options)


# --- the cache, against a real server ----------------------------------------------------------------------------


def test_a_key_set_is_fetched_once_and_kept(keys: tuple[KeyServer, str, ECKey]) -> None:
    server, url, key = keys
    cache = key_sets()

    async def twice() -> list[dict[str, Any]]:
        return [await cache.key_set(f"{url}/jwks", {key.kid}), await cache.key_set(f"{url}/jwks", {key.kid})]

    first, second = asyncio.run(twice())
    assert first == second == {"keys": [key.as_dict(private=False)]}
    assert server.hits == {"/jwks": 1}


def test_a_set_sent_in_pieces_is_read_whole(keys: tuple[KeyServer, str, ECKey]) -> None:
    server, url, key = keys
    assert asyncio.run(key_sets().key_set(f"{url}/chunked", {key.kid})) == {"keys": [key.as_dict(private=False)]}


def test_concurrent_requests_share_one_fetch(keys: tuple[KeyServer, str, ECKey]) -> None:
    server, url, key = keys
    cache = key_sets()

    async def many() -> None:
        await asyncio.gather(*(cache.key_set(f"{url}/jwks", {key.kid}) for _ in range(20)))

    asyncio.run(many())
    assert server.hits == {"/jwks": 1}


def test_unknown_kid_fetches_again_at_most_once_per_interval(keys: tuple[KeyServer, str, ECKey]) -> None:
    server, url, key = keys
    clock = Clock()
    cache = key_sets(clock, refetch_interval=10)
    rotated = new_key("rotated")

    async def run() -> None:
        await cache.key_set(f"{url}/jwks", {key.kid})
        server.keys = [rotated.as_dict(private=False)]
        clock.now += 1  # too soon: made-up kids cannot make the hub fetch on every request
        assert (await cache.key_set(f"{url}/jwks", {"rotated"}))["keys"][0]["kid"] == key.kid
        for made_up in ("a", "b", "c"):
            await cache.key_set(f"{url}/jwks", {made_up})
        assert server.hits == {"/jwks": 1}
        clock.now += 10
        assert (await cache.key_set(f"{url}/jwks", {"rotated"}))["keys"][0]["kid"] == "rotated"
        assert server.hits == {"/jwks": 2}

    asyncio.run(run())


def test_a_set_older_than_its_ttl_is_fetched_again_and_never_served_stale(keys: tuple[KeyServer, str, ECKey]) -> None:
    server, url, key = keys
    clock = Clock()
    cache = key_sets(clock, ttl=300, refetch_interval=10)

    async def run() -> None:
        await cache.key_set(f"{url}/jwks", {key.kid})
        clock.now += 301
        await cache.key_set(f"{url}/jwks", {key.kid})
        assert server.hits == {"/jwks": 2}
        server.status = 503  # the client's server breaks: once the TTL passes the old set is not used
        clock.now += 301
        with pytest.raises(ClientKeysUnavailable):
            await cache.key_set(f"{url}/jwks", {key.kid})
        with pytest.raises(ClientKeysUnavailable):  # and the failure is not retried at once either
            await cache.key_set(f"{url}/jwks", {key.kid})
        assert server.hits == {"/jwks": 3}

    asyncio.run(run())


@pytest.mark.parametrize("path", ["/big", "/private", "/redirect", "/garbage", "/slow", "/missing"])
def test_an_unusable_answer_gives_no_keys(keys: tuple[KeyServer, str, ECKey], path: str) -> None:
    server, url, key = keys
    cache = key_sets(timeout=0.5)
    with pytest.raises(ClientKeysUnavailable):
        asyncio.run(cache.key_set(f"{url}{path}", {key.kid}))
    assert server.hits.get("/jwks") is None  # a redirect is not followed


def test_a_refused_address_is_never_connected_to(keys: tuple[KeyServer, str, ECKey]) -> None:
    """Loopback is refused by default: the socket is refused after resolution (a name rebound to 127.0.0.1 too)."""
    server, url, key = keys
    for host in ("127.0.0.1", "localhost"):
        cache = key_sets(addresses=UpstreamAddresses())
        with pytest.raises(ClientKeysUnavailable):
            asyncio.run(cache.key_set(url.replace("127.0.0.1", host) + "/jwks", {key.kid}))
    assert server.hits == {}


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:9/jwks",
        "http://[::1]:9/jwks",
        "http://169.254.169.254/jwks",
        "https://[::ffff:127.0.0.1]/jwks",
        "https://[64:ff9b::a9fe:a9fe]/jwks",
        "https://0.0.0.0/jwks",
        "https://100.100.100.200/jwks",
        "http://localhost:9/jwks",
    ],
)
def test_registration_refuses_addresses_the_settings_refuse(uri: str) -> None:
    with pytest.raises(InvalidInput):
        asyncio.run(check_jwks_uri_address(uri, UpstreamAddresses()))


@pytest.mark.parametrize(
    "uri",
    [
        "ftp://keys.example/jwks",
        "http://keys.example/jwks",
        "https://keys.example/jwks#frag",
        "https://user:pw@keys.example/jwks",
        "https:///jwks",
        "https://keys.example:99999/jwks",
        "/jwks",
    ],
)
def test_registration_refuses_malformed_jwks_uris(uri: str) -> None:
    with pytest.raises(InvalidInput):
        check_jwks_uri(uri)


def test_jwt_kid_reads_only_well_formed_headers() -> None:
    key = new_key("kid-1")
    assert (
        jwt_kid(jwt.encode({"a": 1}, key.as_pem(private=True), algorithm="ES256", headers={"kid": "kid-1"})) == "kid-1"
    )
    for value in ("", "...", "%%%.x.y", "e30.x.y", "W10.x.y", "eyJraWQiOjF9.x.y", "A" * 5000 + ".x.y"):
        assert jwt_kid(value) is None


# --- private_key_jwt at a real hub -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    # Refetch on every unknown kid here (the interval has its own test above): rotation is what this hub shows.
    with run_hub(module_database_url, tmp_path_factory.mktemp("hub"), client_jwks_refetch_seconds=0) as running:
        yield running


def register(hub: Hub, url: str, **extra: Any) -> str:
    client_id, secret = register_client(
        hub,
        name="Integrasi Bapenda (jwks_uri)",
        grant_types=("client_credentials",),
        scope="anggaran:read",
        auth_method="private_key_jwt",
        jwks_uri=url,
        resources=(RESOURCE,),
        addresses=TEST_UPSTREAM_ADDRESSES,
        **extra,
    )
    assert secret is None
    return client_id


def assertion(hub: Hub, client_id: str, key: ECKey, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{hub.url}/auth/token",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    return jwt.encode(body, key.as_pem(private=True), algorithm="ES256", headers={"kid": key.kid})


def client_credentials(hub: Hub, signed: str) -> httpx.Response:
    return token_request(
        hub,
        {
            "grant_type": "client_credentials",
            "resource": RESOURCE,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
        },
    )


def test_private_key_jwt_with_keys_at_a_jwks_uri_and_a_rotation(hub: Hub, keys: tuple[KeyServer, str, ECKey]) -> None:
    server, url, key = keys
    client_id = register(hub, f"{url}/jwks")
    first = client_credentials(hub, assertion(hub, client_id, key))
    assert first.status_code == 200, first.text
    assert client_credentials(hub, assertion(hub, client_id, key)).status_code == 200
    assert server.hits == {"/jwks": 1}  # cached
    # The client rotates: its new kid is unknown to the cache, which fetches the set again.
    rotated = new_key("rotated-" + key.kid)
    server.keys = [rotated.as_dict(private=False)]
    second = client_credentials(hub, assertion(hub, client_id, rotated))
    assert second.status_code == 200, second.text
    assert server.hits == {"/jwks": 2}
    # The retired key no longer authenticates once the new set is held.
    refused = client_credentials(hub, assertion(hub, client_id, key))
    assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client"


def test_a_key_the_set_does_not_hold_is_refused(hub: Hub, keys: tuple[KeyServer, str, ECKey]) -> None:
    _, url, _ = keys
    client_id = register(hub, f"{url}/jwks")
    attacker = new_key("attacker")
    refused = client_credentials(hub, assertion(hub, client_id, attacker))
    assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client"
    same_kid = ECKey.generate_key("P-256", parameters={"kid": keys[2].kid})  # the right kid, the wrong key
    refused = client_credentials(hub, assertion(hub, client_id, same_kid))
    assert refused.json()["error"] == "invalid_client"


@pytest.mark.parametrize("path", ["/big", "/private", "/garbage", "/missing"])
def test_an_unusable_jwks_uri_fails_client_authentication_cleanly(
    hub: Hub, keys: tuple[KeyServer, str, ECKey], path: str
) -> None:
    _, url, key = keys
    client_id = register(hub, f"{url}{path}")
    refused = client_credentials(hub, assertion(hub, client_id, key))
    assert refused.status_code in (400, 401), refused.text
    assert refused.json()["error"] == "invalid_client"


def test_a_client_cannot_register_both_jwks_and_jwks_uri(hub: Hub, keys: tuple[KeyServer, str, ECKey]) -> None:
    _, url, key = keys
    with pytest.raises(InvalidInput):
        register(hub, f"{url}/jwks", jwks={"keys": [key.as_dict(private=False)]})


def test_cli_registers_a_client_with_a_jwks_uri(
    hub: Hub, keys: tuple[KeyServer, str, ECKey], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from gateway.cli import main

    _, url, key = keys
    env = {
        "GERBANG_DATABASE_URL": hub.settings.effective_database_url,
        "GERBANG_DATA_DIR": str(tmp_path),
        "GERBANG_SECRET_KEY": "t" * 40,
        "GERBANG_ISSUER": hub.url,
    }
    args = [
        "clients",
        "add",
        "--name",
        "Bapenda CLI",
        "--grant",
        "client_credentials",
        "--scope",
        "anggaran:read",
        "--auth-method",
        "private_key_jwt",
        "--jwks-uri",
        f"{url}/jwks",
        "--resource",
        RESOURCE,
        "--json",
    ]
    refused = CliRunner().invoke(main, args, env={**env, "GERBANG_UPSTREAM_ALLOW": ""})  # loopback: refused by default
    assert refused.exit_code != 0 and "loopback" in refused.output
    done = CliRunner().invoke(main, args, env={**env, "GERBANG_UPSTREAM_ALLOW": "127.0.0.0/8"})
    assert done.exit_code == 0, done.output
    record = json.loads(done.output)
    assert record["client_secret"] is None
    assert client_credentials(hub, assertion(hub, record["client_id"], key)).status_code == 200


def test_request_object_by_value_verified_with_keys_at_the_jwks_uri(
    hub: Hub, keys: tuple[KeyServer, str, ECKey]
) -> None:
    """RFC 9101 at the authorization endpoint: the object's key is fetched; a key the set lacks is refused."""
    server, url, key = keys
    client_id, secret = register_client(
        hub,
        name="Dishub JAR (jwks_uri)",
        redirect_uris=(REDIRECT_URI,),
        scope="openid profile email",
        jwks_uri=f"{url}/jwks",
        addresses=TEST_UPSTREAM_ADDRESSES,
    )
    assert secret is not None

    def signed(signer: ECKey, state: str) -> str:
        now = int(time.time())
        body = {
            "iss": client_id,
            "aud": hub.url,
            "exp": now + 300,
            "nbf": now,
            "jti": uuid.uuid4().hex,
            **request_params(client_id, pkce_pair()[1], state=state),
        }
        return jwt.encode(
            body,
            signer.as_pem(private=True),
            algorithm="ES256",
            headers={"kid": signer.kid, "typ": "oauth-authz-req+jwt"},
        )

    done = authorize(hub, {"client_id": client_id, "request": signed(key, "from-the-object")})
    assert done.status_code == 303, done.text
    assert query_of(done.headers["location"])["state"] == "from-the-object"
    refused = authorize(hub, {"client_id": client_id, "request": signed(new_key("intruder"), "x")})
    assert refused.status_code == 400 and "location" not in refused.headers
    assert server.hits == {"/jwks": 2}  # the unknown kid was looked for once more (refetch interval 0 here)
