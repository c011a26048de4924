"""Kominfo sets a client's FAPI 2.0 profile, PAR and DPoP requirements through the admin API (``PUT
/admin/api/clients/{id}/security``), under the same rules as ``gerbang clients add``; the token endpoint follows."""

from __future__ import annotations

import httpx

from tests.integration.test_admin_api import City, city, submission  # noqa: F401 (fixture)
from tests.support.admin import DISHUB_ADMIN, KOMINFO


def put(city: City, email: str, client_id: str, body: dict[str, object]) -> httpx.Response:  # noqa: F811
    return city.as_(email).http.put(f"/clients/{client_id}/security", json=body)


def test_kominfo_requires_dpop_of_a_client_and_the_profile_rules_hold(city: City) -> None:  # noqa: F811
    kominfo = city.as_(KOMINFO)
    city.as_(DISHUB_ADMIN).post("/apps", submission(city.upstream))
    approved = kominfo.post("/apps/parkir/approve").json()
    client_id, secret = approved["client_id"], approved["client_secret"]

    refused = put(city, KOMINFO, client_id, {"profile": "fapi2"})  # a client_secret client cannot be FAPI 2.0
    assert refused.status_code == 400 and refused.headers["content-type"].startswith("application/problem+json")
    assert put(city, DISHUB_ADMIN, client_id, {"dpop_bound_access_tokens": True}).status_code == 403
    done = put(city, KOMINFO, client_id, {"dpop_bound_access_tokens": True, "id_token_signed_response_alg": "PS256"})
    assert done.status_code == 200, done.text
    assert done.json()["dpop_bound_access_tokens"] is True and done.json()["profile"] is None

    listed = [c for c in kominfo.get("/clients").json()["items"] if c["client_id"] == client_id]
    assert listed and listed[0]["dpop_bound_access_tokens"] is True
    token = httpx.post(
        f"{city.hub.url}/auth/token",
        auth=(client_id, secret),
        data={"grant_type": "client_credentials", "scope": "parkir:read", "resource": f"{city.hub.app_url('parkir')}/"},
    )
    assert token.status_code == 400 and token.json()["error"] == "invalid_dpop_proof"
    audit = kominfo.get("/audit", action="client.security").json()["items"]
    assert audit and audit[0]["target"] == f"client:{client_id}"
