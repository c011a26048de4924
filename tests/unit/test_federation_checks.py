"""The relying party's checks on what an upstream sends, and the mapping of its claims (no I/O)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from idp.errors import InvalidInput
from idp.federation.discovery import UpstreamDirectory, UpstreamUnavailable, parse_metadata
from idp.federation.linking import federated_amr, local_acr, read_identifiers
from idp.federation.registry import check_issuer, parse_acr_map
from idp.federation.relying_party import (
    UpstreamRefused,
    check_authorization_response,
    check_id_token_claims,
    verify_upstream_jwt,
)
from idp.federation.sessions import LogoutTokenInvalid, check_logout_claims
from idp.storage.models import UpstreamIdp
from idp.upstream_addresses import UpstreamAddresses

ISSUER = "https://inapas.example.id"
NOW = 1_800_000_000
DOC = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/authorize",
    "token_endpoint": f"{ISSUER}/token",
    "jwks_uri": f"{ISSUER}/jwks",
    "id_token_signing_alg_values_supported": ["ES256", "RS256", "HS256", "none"],
    "authorization_response_iss_parameter_supported": True,
}
METADATA = parse_metadata(ISSUER, DOC)


def good_claims(**changes: Any) -> dict[str, Any]:
    claims = {"iss": ISSUER, "aud": "palembang", "sub": "u-1", "exp": NOW + 300, "iat": NOW, "nonce": "n-1"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_a_good_id_token_passes() -> None:
    check_id_token_claims(good_claims(), "palembang", ISSUER, "n-1", NOW)
    check_id_token_claims(good_claims(aud=["palembang"], azp="palembang"), "palembang", ISSUER, "n-1", NOW)


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://evil.example"},
        {"iss": None},
        {"aud": "other"},
        {"aud": ["palembang", "other"]},
        {"aud": None},
        {"azp": "other"},
        {"exp": NOW - 31},
        {"exp": None},
        {"exp": "9999999999"},
        {"exp": True},
        {"iat": NOW + 120},
        {"iat": NOW - 601},
        {"iat": None},
        {"nonce": "n-2"},
        {"nonce": None},
        {"sub": None},
        {"sub": ""},
        {"sub": 42},
        {"sub": "x" * 256},
    ],
    ids=lambda c: "-".join(f"{k}={str(v)[:12]}" for k, v in c.items()),
)
def test_an_id_token_failing_any_check_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(UpstreamRefused):
        check_id_token_claims(good_claims(**changes), "palembang", ISSUER, "n-1", NOW)


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    part = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part(header)}.{part(claims)}.c2ln"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none"},
        {"alg": "HS256"},
        {"alg": "ES256", "jwk": {"kty": "EC"}},
        {"alg": "ES256", "jku": "https://x"},
        {"alg": "RS256", "x5u": "https://x"},
        {"alg": "ES256", "crit": ["exp"]},
        {"alg": "ES512"},
        {},
    ],
)
def test_tokens_under_refused_algorithms_or_headers_never_reach_key_lookup(header: dict[str, Any]) -> None:
    directory = UpstreamDirectory(
        timeout=0.01, metadata_ttl=60, addresses=UpstreamAddresses()
    )  # a lookup would fail with UpstreamUnavailable
    with pytest.raises(UpstreamRefused):
        asyncio.run(verify_upstream_jwt(_unsigned(header, good_claims()), METADATA, directory))


def test_the_authorization_response_must_name_the_upstream() -> None:
    assert check_authorization_response({"code": "c", "iss": ISSUER}, METADATA) == "c"
    for params in (
        {"code": "c", "iss": "https://evil.example"},
        {"code": "c"},
        {"iss": ISSUER},
        {"error": "access_denied", "iss": ISSUER},
    ):
        with pytest.raises(UpstreamRefused):
            check_authorization_response(params, METADATA)


def test_discovery_must_name_the_issuer_it_was_fetched_for() -> None:
    with pytest.raises(UpstreamUnavailable):
        parse_metadata(ISSUER, {**DOC, "issuer": "https://evil.example"})
    with pytest.raises(UpstreamUnavailable):
        parse_metadata(ISSUER, ["not", "an", "object"])
    with pytest.raises(UpstreamUnavailable):
        parse_metadata(ISSUER, {k: v for k, v in DOC.items() if k != "jwks_uri"})


def upstream(**fields: Any) -> UpstreamIdp:
    return UpstreamIdp(slug="inapas", acr_map=fields.get("acr_map", {}), audience="all", link_by="nik")


def test_acr_and_amr_mapping() -> None:
    row = upstream(acr_map=parse_acr_map(["urn:inapas:high=2", "urn:inapas:low=1"]))
    assert local_acr(row, {"acr": "urn:inapas:high"}) == "2"
    assert local_acr(row, {"acr": "urn:inapas:medium"}) == "1" and local_acr(row, {}) == "1"
    assert local_acr(row, {"acr": ["urn:inapas:high"]}) == "1"  # not a string: no level from it
    assert federated_amr({"amr": ["pwd", "face", 3, "fed"]}) == ["fed", "pwd", "face"]
    assert federated_amr({"amr": "pwd"}) == ["fed"]


@pytest.mark.parametrize("pairs", [["high"], ["high=3"], ["=2"], ["hi gh=2"]])
def test_bad_acr_maps_are_refused(pairs: list[str]) -> None:
    with pytest.raises(InvalidInput):
        parse_acr_map(pairs)


def test_only_a_verified_email_counts() -> None:
    assert read_identifiers({"email": "A@Example.id", "email_verified": True}).email == "a@example.id"
    for verified in ("true", 1, None, False):
        ids = read_identifiers({"email": "a@example.id", "email_verified": verified})
        assert ids.email is None and ids.unverified_email == "a@example.id"
    assert read_identifiers({"nik": "1671015203950009"}).nik == "1671015203950009"
    assert read_identifiers({"nik": "1234"}).nik is None and read_identifiers({"nip": "19850101"}).nip is None


@pytest.mark.parametrize(
    "issuer",
    [
        "http://inapas.id",
        "ftp://inapas.id",
        "https://inapas.id/?a=1",
        "https://u:p@inapas.id",
        "https://inapas.id/#x",
        "inapas.id",
    ],
)
def test_issuers_must_be_https(issuer: str) -> None:
    with pytest.raises(InvalidInput):
        check_issuer(issuer)


def logout_claims(**changes: Any) -> dict[str, Any]:
    claims = {
        "iss": ISSUER,
        "aud": "palembang",
        "iat": NOW,
        "jti": "j-1",
        "sid": "s-1",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://evil.example"},
        {"aud": "other"},
        {"iat": NOW - 301},
        {"iat": None},
        {"jti": None},
        {"events": None},
        {"events": {"http://schemas.openid.net/event/backchannel-logout": "yes"}},
        {"nonce": "n"},
        {"sid": None},
        {"exp": NOW - 60},
    ],
)
def test_logout_tokens_failing_a_check_are_refused(changes: dict[str, Any]) -> None:
    check_logout_claims(logout_claims(), ISSUER, "palembang", NOW)
    with pytest.raises(LogoutTokenInvalid):
        check_logout_claims(logout_claims(**changes), ISSUER, "palembang", NOW)
