"""DPoP at the gateway (RFC 9449 §7): a ``--require-dpop`` bearer app takes DPoP-bound tokens only, each request
with a fresh proof made by the token's key for exactly that request."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from idp.dpop.client import make_proof, thumbprint
from tests.support.dpop_city import PAJAK_RESOURCE, RESOURCE, run_dpop_city
from tests.support.flows import register_client
from tests.support.hub import Hub


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with run_dpop_city(module_database_url, tmp_path_factory.mktemp("hub")) as running:
        yield running


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def token_request(
    hub: Hub,
    key: ec.EllipticCurvePrivateKey | None,
    resource: str = RESOURCE,
    client: tuple[str, str | None] | None = None,
) -> httpx.Response:
    client_id, secret = client or hub.client("Bapenda Integrasi")
    url = f"{hub.url}/auth/token"
    data = {"grant_type": "client_credentials", "scope": "anggaran:read", "resource": resource}
    if key is None:
        return httpx.post(url, auth=(client_id, secret or ""), data=data)
    first = httpx.post(url, auth=(client_id, secret or ""), data=data, headers={"DPoP": make_proof(key, "POST", url)})
    assert first.status_code == 400 and first.json()["error"] == "use_dpop_nonce", first.text
    nonce = first.headers["DPoP-Nonce"]
    return httpx.post(
        url, auth=(client_id, secret or ""), data=data, headers={"DPoP": make_proof(key, "POST", url, nonce=nonce)}
    )


@pytest.fixture(scope="module")
def bound_token(hub: Hub, key: ec.EllipticCurvePrivateKey) -> str:
    response = token_request(hub, key)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    return str(response.json()["access_token"])


def api(hub: Hub) -> str:
    return f"{hub.app_url('e-budgeting')}/echo"


def call(url: str, token: str, proof: str | None, method: str = "GET", scheme: str = "DPoP") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return httpx.request(method, url, headers=headers)


def assert_refused(response: httpx.Response, error: str) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("DPoP ") and f'error="{error}"' in challenge and "algs=" in challenge
    assert response.headers["content-type"].startswith("application/problem+json")


def test_bound_token_with_its_proof_reaches_the_app(
    hub: Hub, key: ec.EllipticCurvePrivateKey, bound_token: str
) -> None:
    response = call(api(hub), bound_token, make_proof(key, "GET", api(hub), access_token=bound_token))
    assert response.status_code == 200, response.text
    introspected = httpx.post(
        f"{hub.url}/auth/introspect", auth=hub.client("Bapenda Integrasi"), data={"token": bound_token}
    ).json()
    assert introspected["cnf"] == {"jkt": thumbprint(key)} and introspected["token_type"] == "DPoP"


def test_query_string_is_not_part_of_htu(hub: Hub, key: ec.EllipticCurvePrivateKey, bound_token: str) -> None:
    response = call(api(hub) + "?tahun=2026", bound_token, make_proof(key, "GET", api(hub), access_token=bound_token))
    assert response.status_code == 200, response.text


def test_bound_token_as_plain_bearer_is_refused(hub: Hub, bound_token: str) -> None:
    assert_refused(call(api(hub), bound_token, None, scheme="Bearer"), "invalid_token")


def test_bound_token_without_proof_is_refused(hub: Hub, bound_token: str) -> None:
    assert_refused(call(api(hub), bound_token, None), "invalid_dpop_proof")


def test_proof_for_another_url_is_refused(hub: Hub, key: ec.EllipticCurvePrivateKey, bound_token: str) -> None:
    for other in (
        f"{hub.app_url('e-budgeting')}/other",
        f"{hub.url}/auth/userinfo",
        api(hub).replace("e-budgeting.localhost", "pajak.localhost"),  # another app's origin
        api(hub).replace("http://", "https://"),
    ):
        assert_refused(
            call(api(hub), bound_token, make_proof(key, "GET", other, access_token=bound_token)), "invalid_dpop_proof"
        )


def test_proof_for_another_method_is_refused(hub: Hub, key: ec.EllipticCurvePrivateKey, bound_token: str) -> None:
    assert_refused(
        call(api(hub), bound_token, make_proof(key, "POST", api(hub), access_token=bound_token)), "invalid_dpop_proof"
    )


def test_replayed_proof_is_refused(hub: Hub, key: ec.EllipticCurvePrivateKey, bound_token: str) -> None:
    proof = make_proof(key, "GET", api(hub), access_token=bound_token)
    assert call(api(hub), bound_token, proof).status_code == 200
    assert_refused(call(api(hub), bound_token, proof), "invalid_dpop_proof")


def test_proof_by_another_key_is_refused(hub: Hub, bound_token: str) -> None:
    thief = ec.generate_private_key(ec.SECP256R1())
    assert_refused(
        call(api(hub), bound_token, make_proof(thief, "GET", api(hub), access_token=bound_token)), "invalid_dpop_proof"
    )


def test_proof_for_another_token_is_refused(hub: Hub, key: ec.EllipticCurvePrivateKey, bound_token: str) -> None:
    other = token_request(hub, key).json()["access_token"]
    assert_refused(
        call(api(hub), bound_token, make_proof(key, "GET", api(hub), access_token=other)), "invalid_dpop_proof"
    )
    assert_refused(call(api(hub), bound_token, make_proof(key, "GET", api(hub))), "invalid_dpop_proof")


def test_old_and_future_proofs_are_refused(hub: Hub, key: ec.EllipticCurvePrivateKey, bound_token: str) -> None:
    now = int(time.time())
    for iat in (now - 600, now + 600):
        assert_refused(
            call(api(hub), bound_token, make_proof(key, "GET", api(hub), access_token=bound_token, iat=iat)),
            "invalid_dpop_proof",
        )


def test_unsigned_or_tampered_proof_is_refused(hub: Hub, key: ec.EllipticCurvePrivateKey, bound_token: str) -> None:
    proof = make_proof(key, "GET", api(hub), access_token=bound_token)
    head, payload, signature = proof.split(".")
    assert_refused(call(api(hub), bound_token, f"{head}.{payload}."), "invalid_dpop_proof")
    assert_refused(call(api(hub), bound_token, f"{head}.{payload}.{signature[:-4]}AAAA"), "invalid_dpop_proof")
    twice = {"Authorization": f"DPoP {bound_token}", "DPoP": proof}
    response = httpx.get(api(hub), headers=list(twice.items()) + [("DPoP", proof)])
    assert_refused(response, "invalid_dpop_proof")


def test_plain_bearer_token_is_refused_where_dpop_is_required(hub: Hub) -> None:
    response = token_request(hub, None)
    assert response.status_code == 200 and response.json()["token_type"] == "Bearer"
    token = response.json()["access_token"]
    assert_refused(call(api(hub), token, None, scheme="Bearer"), "invalid_token")
    assert_refused(call(api(hub), token, None), "invalid_token")  # and not under the DPoP scheme either


def test_kominfo_policy_can_require_dpop_for_an_app(hub: Hub, key: ec.EllipticCurvePrivateKey) -> None:
    """``require_dpop: true`` in the policy files: the same refusal as the app's own setting."""
    url = f"{hub.app_url('pajak')}/echo"
    client = register_client(
        hub,
        name="Integrasi Pajak",
        grant_types=("client_credentials",),
        scope="anggaran:read",
        resources=(PAJAK_RESOURCE,),
    )
    plain = token_request(hub, None, PAJAK_RESOURCE, client).json()["access_token"]
    assert_refused(call(url, plain, None, scheme="Bearer"), "invalid_token")
    bound = token_request(hub, key, PAJAK_RESOURCE, client).json()["access_token"]
    assert call(url, bound, make_proof(key, "GET", url, access_token=bound)).status_code == 200


def test_missing_token_gets_the_dpop_challenge(hub: Hub) -> None:
    response = httpx.get(api(hub))
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("DPoP ")
