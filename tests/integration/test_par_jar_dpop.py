"""PAR (RFC 9126), JAR (RFC 9101) and DPoP (RFC 9449) at the provider, and the FAPI 2.0 client profile: each
check, attacked. The happy path with an independent RP is tests/integration/test_rp_openid_client_fapi.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from idp.clients import ClientSecurity
from idp.clock import FrozenClock
from idp.dpop.client import make_proof, thumbprint
from idp.errors import InvalidInput
from tests.support.clock import app_with_clock
from tests.support.flows import REDIRECT_URI, WARGA, register_client, signed_in_browser
from tests.support.hub import Hub, pkce_pair, query_of, run_hub

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory, clock: FrozenClock) -> Iterator[Hub]:
    with run_hub(module_database_url, tmp_path_factory.mktemp("hub"), app_factory=app_with_clock(clock)) as running:
        yield running


@pytest.fixture(scope="module")
def jar_client(hub: Hub) -> tuple[str, str, ECKey]:
    """A confidential (secret) client that also registered keys for request objects."""
    key = ECKey.generate_key("P-256", parameters={"kid": "jar-1", "alg": "ES256"})
    client_id, secret = register_client(
        hub,
        name="Dishub JAR",
        redirect_uris=(REDIRECT_URI,),
        scope="openid profile email",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    assert secret is not None
    return client_id, secret, key


@pytest.fixture(scope="module")
def fapi(hub: Hub) -> tuple[str, ECKey]:
    key = ECKey.generate_key("P-256", parameters={"kid": "fapi-1", "alg": "ES256"})
    client_id, _ = register_client(
        hub,
        name="BPKAD FAPI",
        redirect_uris=(REDIRECT_URI,),
        scope="openid profile",
        auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
        security=ClientSecurity(profile="fapi2"),
    )
    return client_id, key


@pytest.fixture(scope="module")
def dpop_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def now(clock: FrozenClock) -> int:
    return clock.value


def request_params(client_id: str, challenge: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": "st-" + uuid.uuid4().hex[:8],
        "nonce": uuid.uuid4().hex,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def request_object(
    hub: Hub, key: Any, client_id: str, params: dict[str, Any], clock: FrozenClock, alg: str = "ES256", **claims: Any
) -> str:
    body = {
        "iss": client_id,
        "aud": hub.url,
        "exp": now(clock) + 300,
        "nbf": now(clock),
        "jti": uuid.uuid4().hex,
        **params,
        **claims,
    }
    return jose_jwt.encode({"alg": alg, "kid": key.kid, "typ": "oauth-authz-req+jwt"}, body, key, algorithms=[alg])


def assertion(hub: Hub, key: ECKey, client_id: str, clock: FrozenClock, alg: str = "ES256") -> dict[str, str]:
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": hub.url,
        "iat": now(clock),
        "exp": now(clock) + 60,
        "jti": uuid.uuid4().hex,
    }
    value = jose_jwt.encode({"alg": alg, "kid": key.kid}, claims, key, algorithms=[alg])
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": value}


def with_nonce(
    hub: Hub, url: str, key: ec.EllipticCurvePrivateKey, clock: FrozenClock, send: Any, **proof: Any
) -> httpx.Response:
    """Send once without a nonce (the provider asks for one), then with it."""
    first = send(make_proof(key, "POST", url, iat=now(clock), **proof))
    if first.status_code == 400 and first.json().get("error") == "use_dpop_nonce":
        return send(make_proof(key, "POST", url, iat=now(clock), nonce=first.headers["DPoP-Nonce"], **proof))
    return first


def push(
    hub: Hub, data: dict[str, str], auth: tuple[str, str] | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(f"{hub.url}/auth/par", data=data, auth=auth, headers=headers or {}, timeout=10)


def authorize(hub: Hub, query: dict[str, str]) -> httpx.Response:
    browser = signed_in_browser(hub, WARGA)
    page = browser.go("/auth/authorize?" + str(httpx.QueryParams(query)))
    if page.status_code == 200 and page.url.path == "/auth/login":
        page = browser.login(page, WARGA)
    if page.status_code == 200 and page.url.path == "/auth/consent":
        page = browser.consent(page)
    return page


def fapi_code(
    hub: Hub, fapi: tuple[str, ECKey], clock: FrozenClock, dpop_key: ec.EllipticCurvePrivateKey, **extra: str
) -> tuple[str, str]:
    client_id, key = fapi
    verifier, challenge = pkce_pair()
    par_url = f"{hub.url}/auth/par"
    pushed = with_nonce(
        hub,
        par_url,
        dpop_key,
        clock,
        lambda proof: push(
            hub,
            {
                "client_id": client_id,
                **request_params(client_id, challenge, **extra),
                **assertion(hub, key, client_id, clock),
            },
            headers={"DPoP": proof},
        ),
    )
    assert pushed.status_code == 201, pushed.text
    done = authorize(hub, {"client_id": client_id, "request_uri": pushed.json()["request_uri"]})
    assert done.status_code == 303, done.text
    return query_of(done.headers["location"])["code"], verifier


def fapi_token(
    hub: Hub, fapi: tuple[str, ECKey], clock: FrozenClock, data: dict[str, str], key: ec.EllipticCurvePrivateKey | None
) -> httpx.Response:
    client_id, client_key = fapi
    url = f"{hub.url}/auth/token"

    def send(proof: str | None) -> httpx.Response:
        return httpx.post(
            url,
            data={**data, **assertion(hub, client_key, client_id, clock)},
            headers={"DPoP": proof} if proof else {},
            timeout=10,
        )

    return send(None) if key is None else with_nonce(hub, url, key, clock, send)


# --- PAR --------------------------------------------------------------------------------------------------------


def test_pushed_request_is_single_use(hub: Hub, jar_client: tuple[str, str, ECKey]) -> None:
    client_id, secret, _ = jar_client
    pushed = push(hub, request_params(client_id, pkce_pair()[1]), auth=(client_id, secret))
    assert pushed.status_code == 201 and pushed.json()["expires_in"] == 60
    assert pushed.json()["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    query = {"client_id": client_id, "request_uri": pushed.json()["request_uri"]}
    assert "code" in query_of(authorize(hub, query).headers["location"])
    again = authorize(hub, query)
    assert again.status_code == 400 and "location" not in again.headers


def test_expired_pushed_request_is_refused(hub: Hub, jar_client: tuple[str, str, ECKey], clock: FrozenClock) -> None:
    client_id, secret, _ = jar_client
    pushed = push(hub, request_params(client_id, pkce_pair()[1]), auth=(client_id, secret))
    clock.value += 61
    try:
        expired = authorize(hub, {"client_id": client_id, "request_uri": pushed.json()["request_uri"]})
    finally:
        clock.value -= 61
    assert expired.status_code == 400 and "location" not in expired.headers


def test_pushed_request_of_another_client_or_forged_uri_is_refused(
    hub: Hub, jar_client: tuple[str, str, ECKey]
) -> None:
    client_id, secret, _ = jar_client
    pushed = push(hub, request_params(client_id, pkce_pair()[1]), auth=(client_id, secret))
    other, _ = hub.client("Parkir Dishub")
    for query in (
        {"client_id": other, "request_uri": pushed.json()["request_uri"]},
        {"client_id": client_id, "request_uri": "urn:ietf:params:oauth:request_uri:made-up"},
        {"client_id": client_id, "request_uri": "https://evil.example/request.jwt"},
    ):
        response = authorize(hub, query)
        assert response.status_code == 400 and "location" not in response.headers


def test_par_authenticates_the_client(hub: Hub, jar_client: tuple[str, str, ECKey]) -> None:
    client_id, secret, _ = jar_client
    params = request_params(client_id, pkce_pair()[1])
    assert push(hub, params, auth=(client_id, "wrong-secret")).status_code == 401
    assert push(hub, params).status_code == 401
    other, other_secret = hub.client("Parkir Dishub")
    assert push(hub, params, auth=(other, other_secret or "")).json()["error"] == "invalid_client"


def test_par_validates_the_request_as_the_authorization_endpoint_would(
    hub: Hub, jar_client: tuple[str, str, ECKey]
) -> None:
    client_id, secret, _ = jar_client
    base = request_params(client_id, pkce_pair()[1])
    for bad in (
        {"redirect_uri": "https://evil.example/cb"},
        {"code_challenge_method": "plain"},
        {"response_type": "token"},
        {"request_uri": "urn:x"},
        {"dpop_jkt": "not-a-thumbprint"},
    ):
        response = push(hub, {**base, **bad}, auth=(client_id, secret))
        assert response.status_code in (400, 401) and "error" in response.json(), (bad, response.text)


def test_client_that_requires_par_cannot_send_a_plain_request(hub: Hub, fapi: tuple[str, ECKey]) -> None:
    client_id, _ = fapi
    response = authorize(hub, request_params(client_id, pkce_pair()[1]))
    assert response.status_code == 303
    assert query_of(response.headers["location"])["error"] == "invalid_request"
    assert query_of(response.headers["location"])["iss"] == hub.url


def test_server_wide_par_requirement(database_url: str, tmp_path: Path) -> None:
    with run_hub(database_url, tmp_path, require_pushed_authorization_requests=True) as strict:
        client_id, _ = strict.client("Parkir Dishub")
        metadata = httpx.get(f"{strict.url}/.well-known/openid-configuration").json()
        assert metadata["require_pushed_authorization_requests"] is True
        response = authorize(strict, request_params(client_id, pkce_pair()[1]))
        assert query_of(response.headers["location"])["error"] == "invalid_request"


# --- JAR --------------------------------------------------------------------------------------------------------


def test_signed_request_object_by_value_wins_over_outside_parameters(
    hub: Hub, jar_client: tuple[str, str, ECKey], clock: FrozenClock
) -> None:
    client_id, _, key = jar_client
    inner = request_params(client_id, pkce_pair()[1], state="from-the-object")
    signed = request_object(hub, key, client_id, inner, clock)
    response = authorize(
        hub,
        {
            "client_id": client_id,
            "request": signed,
            "state": "from-outside",
            "redirect_uri": "http://127.0.0.1:9/elsewhere",
            "scope": "openid email",
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    assert query_of(response.headers["location"])["state"] == "from-the-object"


def test_unsigned_wrongly_signed_or_misaddressed_request_objects_are_refused(
    hub: Hub, jar_client: tuple[str, str, ECKey], clock: FrozenClock
) -> None:
    client_id, secret, key = jar_client
    inner = request_params(client_id, pkce_pair()[1])
    stranger = ECKey.generate_key("P-256", parameters={"kid": "jar-1", "alg": "ES256"})
    header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    payload = request_object(hub, key, client_id, inner, clock).split(".")[1]
    bad = {
        "unsigned": f"{header}.{payload}.",
        "another key": request_object(hub, stranger, client_id, inner, clock),
        "another audience": request_object(hub, key, client_id, inner, clock, aud="https://other.example"),
        "expired": request_object(hub, key, client_id, inner, clock, exp=now(clock) - 10),
        "another issuer": request_object(hub, key, client_id, inner, clock, iss="someone-else"),
        "too long-lived": request_object(hub, key, client_id, inner, clock, exp=now(clock) + 7200),
        "hmac": jose_jwt.encode(
            {"alg": "HS256"},
            {"iss": client_id, "aud": hub.url, "exp": now(clock) + 60, **inner},
            _oct(),
            algorithms=["HS256"],
        ),
    }
    for name, value in bad.items():
        by_value = authorize(hub, {"client_id": client_id, "request": value})
        assert by_value.status_code == 400 and "location" not in by_value.headers, name
        pushed = push(hub, {"client_id": client_id, "request": value}, auth=(client_id, secret))
        assert pushed.status_code == 400 and pushed.json()["error"] == "invalid_request_object", name


def _oct() -> OctKey:
    return OctKey.generate_key(256)


def test_request_object_inside_par(hub: Hub, jar_client: tuple[str, str, ECKey], clock: FrozenClock) -> None:
    client_id, secret, key = jar_client
    inner = request_params(client_id, pkce_pair()[1], state="pushed-object")
    pushed = push(
        hub,
        {"client_id": client_id, "request": request_object(hub, key, client_id, inner, clock), "state": "outside"},
        auth=(client_id, secret),
    )
    assert pushed.status_code == 201, pushed.text
    done = authorize(hub, {"client_id": client_id, "request_uri": pushed.json()["request_uri"]})
    assert query_of(done.headers["location"])["state"] == "pushed-object"


# --- DPoP at the token endpoint ---------------------------------------------------------------------------------


def test_fapi_client_gets_bound_tokens_and_discovery_lists_the_features(
    hub: Hub, fapi: tuple[str, ECKey], clock: FrozenClock, dpop_key: ec.EllipticCurvePrivateKey
) -> None:
    code, verifier = fapi_code(hub, fapi, clock, dpop_key)
    response = fapi_token(
        hub,
        fapi,
        clock,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
        dpop_key,
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP" and response.headers["DPoP-Nonce"]
    metadata = httpx.get(f"{hub.url}/.well-known/openid-configuration").json()
    assert metadata["pushed_authorization_request_endpoint"] == f"{hub.url}/auth/par"
    assert "ES256" in metadata["dpop_signing_alg_values_supported"]
    assert "PS256" in metadata["request_object_signing_alg_values_supported"]
    assert "none" not in metadata["request_object_signing_alg_values_supported"]


def test_token_request_without_the_required_proof_is_refused(
    hub: Hub, fapi: tuple[str, ECKey], clock: FrozenClock, dpop_key: ec.EllipticCurvePrivateKey
) -> None:
    code, verifier = fapi_code(hub, fapi, clock, dpop_key)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    refused = fapi_token(hub, fapi, clock, data, None)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_dpop_proof"


def test_code_bound_at_par_cannot_be_redeemed_with_another_key(
    hub: Hub, fapi: tuple[str, ECKey], clock: FrozenClock, dpop_key: ec.EllipticCurvePrivateKey
) -> None:
    code, verifier = fapi_code(hub, fapi, clock, dpop_key)
    thief = ec.generate_private_key(ec.SECP256R1())
    refused = fapi_token(
        hub,
        fapi,
        clock,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
        thief,
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_dpop_jkt_that_does_not_match_the_par_proof_is_refused(
    hub: Hub, fapi: tuple[str, ECKey], clock: FrozenClock, dpop_key: ec.EllipticCurvePrivateKey
) -> None:
    client_id, key = fapi
    other = thumbprint(ec.generate_private_key(ec.SECP256R1()))
    url = f"{hub.url}/auth/par"
    refused = with_nonce(
        hub,
        url,
        dpop_key,
        clock,
        lambda proof: push(
            hub,
            {**request_params(client_id, pkce_pair()[1], dpop_jkt=other), **assertion(hub, key, client_id, clock)},
            headers={"DPoP": proof},
        ),
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_dpop_proof"


def test_proofs_that_are_replayed_misaddressed_or_without_nonce_are_refused(
    hub: Hub, jar_client: tuple[str, str, ECKey], clock: FrozenClock, dpop_key: ec.EllipticCurvePrivateKey
) -> None:
    client_id, secret = hub.client("Bapenda Integrasi")
    url = f"{hub.url}/auth/token"
    data = {"grant_type": "client_credentials", "scope": "anggaran:read"}

    def send(proof: str) -> httpx.Response:
        return httpx.post(url, data=data, auth=(client_id, secret or ""), headers={"DPoP": proof}, timeout=10)

    without_nonce = send(make_proof(dpop_key, "POST", url, iat=now(clock)))
    assert without_nonce.status_code == 400 and without_nonce.json()["error"] == "use_dpop_nonce"
    nonce = without_nonce.headers["DPoP-Nonce"]
    assert send(make_proof(dpop_key, "POST", url, iat=now(clock), nonce="made-up")).json()["error"] == "use_dpop_nonce"
    good = make_proof(dpop_key, "POST", url, iat=now(clock), nonce=nonce)
    assert send(good).status_code == 200
    assert send(good).json()["error"] == "invalid_dpop_proof"  # replayed
    for proof in (
        make_proof(dpop_key, "GET", url, iat=now(clock), nonce=nonce),
        make_proof(dpop_key, "POST", f"{hub.url}/auth/par", iat=now(clock), nonce=nonce),
        make_proof(dpop_key, "POST", url, iat=now(clock) - 3600, nonce=nonce),
    ):
        assert send(proof).json()["error"] == "invalid_dpop_proof"
    clock.value += 700  # a nonce is good for its window and the next one only (5 minutes each)
    try:
        stale = send(make_proof(dpop_key, "POST", url, iat=now(clock), nonce=nonce))
    finally:
        clock.value -= 700
    assert stale.json()["error"] == "use_dpop_nonce"


def test_public_clients_refresh_token_is_bound_to_its_key(
    hub: Hub, clock: FrozenClock, dpop_key: ec.EllipticCurvePrivateKey
) -> None:
    client_id, _ = hub.client("Aplikasi Publik")
    verifier, challenge = pkce_pair()
    done = authorize(hub, request_params(client_id, challenge))
    code = query_of(done.headers["location"])["code"]
    url = f"{hub.url}/auth/token"

    def token(data: dict[str, str], key: ec.EllipticCurvePrivateKey | None) -> httpx.Response:
        data = {**data, "client_id": client_id}
        if key is None:
            return httpx.post(url, data=data, timeout=10)
        return with_nonce(hub, url, key, clock, lambda proof: httpx.post(url, data=data, headers={"DPoP": proof}))

    issued = token(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
        dpop_key,
    )
    assert issued.status_code == 200 and issued.json()["token_type"] == "DPoP", issued.text
    refresh = {"grant_type": "refresh_token", "refresh_token": issued.json()["refresh_token"]}
    assert token(refresh, None).json()["error"] == "invalid_dpop_proof"
    assert token(refresh, ec.generate_private_key(ec.SECP256R1())).json()["error"] == "invalid_grant"
    renewed = token(refresh, dpop_key)
    assert renewed.status_code == 200 and renewed.json()["token_type"] == "DPoP", renewed.text


# --- DPoP at UserInfo -------------------------------------------------------------------------------------------


def test_userinfo_takes_a_bound_token_only_with_its_proof(
    hub: Hub, fapi: tuple[str, ECKey], clock: FrozenClock, dpop_key: ec.EllipticCurvePrivateKey
) -> None:
    code, verifier = fapi_code(hub, fapi, clock, dpop_key)
    access = fapi_token(
        hub,
        fapi,
        clock,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
        dpop_key,
    ).json()["access_token"]
    url = f"{hub.url}/auth/userinfo"

    def get(scheme: str, proof: str | None) -> httpx.Response:
        headers = {"Authorization": f"{scheme} {access}", **({"DPoP": proof} if proof else {})}
        return httpx.get(url, headers=headers, timeout=10)

    as_bearer = get("Bearer", None)
    assert as_bearer.status_code == 401 and as_bearer.headers["www-authenticate"].startswith("DPoP ")
    first = get("DPoP", make_proof(dpop_key, "GET", url, access_token=access, iat=now(clock)))
    assert first.status_code == 401 and 'error="use_dpop_nonce"' in first.headers["www-authenticate"]
    nonce = first.headers["DPoP-Nonce"]
    thief = ec.generate_private_key(ec.SECP256R1())
    for proof in (
        make_proof(thief, "GET", url, access_token=access, iat=now(clock), nonce=nonce),
        make_proof(dpop_key, "GET", url, access_token="other", iat=now(clock), nonce=nonce),
        make_proof(dpop_key, "POST", url, access_token=access, iat=now(clock), nonce=nonce),
    ):
        refused = get("DPoP", proof)
        assert refused.status_code == 401 and 'error="invalid_dpop_proof"' in refused.headers["www-authenticate"]
    ok = get("DPoP", make_proof(dpop_key, "GET", url, access_token=access, iat=now(clock), nonce=nonce))
    assert ok.status_code == 200 and ok.json()["sub"]


# --- the FAPI 2.0 profile ---------------------------------------------------------------------------------------


def test_fapi_client_must_sign_its_assertion_with_a_fapi_algorithm(hub: Hub, clock: FrozenClock) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    client_id, _ = register_client(
        hub,
        name="FAPI RSA",
        redirect_uris=(REDIRECT_URI,),
        scope="openid",
        auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
        security=ClientSecurity(profile="fapi2"),
    )
    refused = push(
        hub, {**request_params(client_id, pkce_pair()[1]), **assertion(hub, key, client_id, clock, alg="RS256")}
    )  # type: ignore[arg-type]
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client", refused.text
    accepted = push(
        hub, {**request_params(client_id, pkce_pair()[1]), **assertion(hub, key, client_id, clock, alg="PS256")}
    )  # type: ignore[arg-type]
    assert accepted.status_code == 201, accepted.text


@pytest.mark.parametrize(
    "spec",
    [
        {"auth_method": "client_secret_basic"},
        {"auth_method": "client_secret_post"},
        {"public": True},
        {"auth_method": "private_key_jwt", "security": ClientSecurity(profile="fapi2", id_token_alg="RS256")},
        {"auth_method": "private_key_jwt", "security": ClientSecurity(profile="fapi1")},
    ],
    ids=["secret-basic", "secret-post", "public", "rs256-id-token", "unknown-profile"],
)
def test_fapi_profile_refuses_what_fapi2_forbids(hub: Hub, spec: dict[str, Any]) -> None:
    spec = {"security": ClientSecurity(profile="fapi2"), **spec}
    key = ECKey.generate_key("P-256", parameters={"kid": "k"})
    with pytest.raises(InvalidInput):
        register_client(hub, name="Bukan FAPI", redirect_uris=(REDIRECT_URI,), jwks={"keys": [key.as_dict()]}, **spec)
