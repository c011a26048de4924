"""Access-token verification: every check of RFC 9068 / RFC 8725 and the verified-token cache."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.jwks import LocalKeys
from gateway.token_verifier import InvalidToken, TokenVerifier
from idp.clock import FrozenClock
from tests.support.hub_tokens import (
    ISSUER,
    RESOURCE,
    TestKey,
    access_claims,
    hand_made,
    hs256_with_public_key,
    key_source,
    unsigned_none,
)

NOW = 1_800_000_000


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def key() -> TestKey:
    return TestKey("k1", "ES256")


@pytest.fixture
def verifier(key: TestKey, clock: FrozenClock) -> TokenVerifier:
    return TokenVerifier(key_source(key), ISSUER, clock, leeway=30)


async def test_genuine_token_gives_its_claims(verifier: TokenVerifier, key: TestKey) -> None:
    claims = await verifier.verify(key.sign(access_claims(NOW)), RESOURCE)
    assert claims.sub == "user-1"
    assert claims.client_id == "parkir-web"
    assert claims.scopes == {"openid", "profile"}
    assert claims.acr == "1" and claims.amr == ("pwd",)


async def test_rs256_token_is_accepted(clock: FrozenClock) -> None:
    rsa = TestKey("r1", "RS256")
    claims = await TokenVerifier(key_source(rsa), ISSUER, clock).verify(rsa.sign(access_claims(NOW)), RESOURCE)
    assert claims.sub == "user-1"


async def test_audience_may_be_a_single_string(verifier: TokenVerifier, key: TestKey) -> None:
    claims = await verifier.verify(key.sign(access_claims(NOW, aud=RESOURCE)), RESOURCE)
    assert RESOURCE in claims.audiences


def _forgeries(key: TestKey) -> dict[str, str]:
    claims = access_claims(NOW)
    return {
        "alg-none": unsigned_none(key, claims),
        "hs256-with-public-key": hs256_with_public_key(key, claims),
        "jku-header": key.sign(claims, jku="https://evil.example/jwks"),
        "x5u-header": key.sign(claims, x5u="https://evil.example/cert.pem"),
        "jwk-header": key.sign(claims, jwk=key.jwk),
        "crit-header": key.sign(claims, crit=["exp"]),
        "id-token-typ": key.sign(claims, typ="JWT"),
        "assertion-typ": key.sign(claims, typ="gerbang-assertion+jwt"),
        "no-kid": hand_made({"alg": "ES256", "typ": "at+jwt"}, claims, b"x" * 64),
        "other-key-same-kid": TestKey("k1").sign(claims),
        "unknown-kid": TestKey("k9").sign(claims),
        "garbage": "not.a.jwt",
        "two-segments": "abc.def",
    }


@pytest.mark.parametrize("name", list(_forgeries(TestKey()).keys()))
async def test_forged_tokens_are_refused(name: str, verifier: TokenVerifier, key: TestKey) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify(_forgeries(key)[name], RESOURCE)


async def test_es256_key_cannot_verify_an_rs256_header(clock: FrozenClock) -> None:
    es = TestKey("k1", "ES256")
    rsa = TestKey("k1", "RS256")  # same kid, other family: the published key's alg decides
    with pytest.raises(InvalidToken):
        await TokenVerifier(key_source(es), ISSUER, clock).verify(rsa.sign(access_claims(NOW)), RESOURCE)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"iss": "https://evil.example"}, "iss"),
        ({"exp": NOW - 31}, "expired"),
        ({"iat": NOW + 31}, "future"),
        ({"nbf": NOW + 31}, "nbf"),
        ({"exp": "soon"}, "exp"),
        ({"jti": None}, "jti"),
        ({"client_id": None}, "client_id"),
        ({"sub": None}, "sub"),
        ({"aud": None}, "aud"),
    ],
)
async def test_bad_claims_are_refused(
    claims: dict[str, Any], message: str, verifier: TokenVerifier, key: TestKey
) -> None:
    with pytest.raises(InvalidToken, match=message):
        await verifier.verify(key.sign(access_claims(NOW, **claims)), RESOURCE)


async def test_small_clock_skew_is_tolerated(verifier: TokenVerifier, key: TestKey) -> None:
    await verifier.verify(key.sign(access_claims(NOW, iat=NOW + 20, nbf=NOW + 20, exp=NOW - 20)), RESOURCE)


async def test_token_for_another_app_is_refused(verifier: TokenVerifier, key: TestKey) -> None:
    token = key.sign(access_claims(NOW, aud=[f"{ISSUER}/apps/ebudgeting/"]))
    with pytest.raises(InvalidToken, match="aud"):
        await verifier.verify(token, RESOURCE)


async def test_cached_token_is_still_checked_for_audience(verifier: TokenVerifier, key: TestKey) -> None:
    token = key.sign(access_claims(NOW))
    await verifier.verify(token, RESOURCE)
    with pytest.raises(InvalidToken, match="aud"):
        await verifier.verify(token, f"{ISSUER}/apps/ebudgeting/")


async def test_repeat_token_skips_the_signature_and_only_asks_whether_its_key_is_still_trusted(
    key: TestKey, clock: FrozenClock
) -> None:
    lookups: list[str] = []

    def lookup(kid: str) -> Any:
        lookups.append(kid)
        return "ES256", key.private.public_key()

    verifier = TokenVerifier(LocalKeys(lookup), ISSUER, clock)
    token = key.sign(access_claims(NOW))
    for _ in range(5):
        await verifier.verify(token, RESOURCE)
    assert lookups == ["k1"] * 5  # the first verification, then one "still a hub key?" per repeat
    assert verifier.cached == 1


async def test_a_remembered_token_whose_key_is_gone_is_verified_again_and_refused(
    key: TestKey, clock: FrozenClock
) -> None:
    published = {"k1": ("ES256", key.private.public_key())}
    verifier = TokenVerifier(LocalKeys(published.get), ISSUER, clock)
    token = key.sign(access_claims(NOW))
    await verifier.verify(token, RESOURCE)
    published.clear()  # `gerbang keys revoke k1`, seen by this instance's key refresh
    with pytest.raises(InvalidToken, match="not signed by a key of this hub"):
        await verifier.verify(token, RESOURCE)
    assert verifier.cached == 0


async def test_cache_entry_ends_at_token_expiry(verifier: TokenVerifier, key: TestKey, clock: FrozenClock) -> None:
    token = key.sign(access_claims(NOW, exp=NOW + 60))
    await verifier.verify(token, RESOURCE)
    clock.advance(59)
    await verifier.verify(token, RESOURCE)
    clock.advance(1 + 30)  # past exp and past the leeway the full check allows
    with pytest.raises(InvalidToken, match="expired"):
        await verifier.verify(token, RESOURCE)
    assert verifier.cached == 0


async def test_cache_is_bounded(key: TestKey, clock: FrozenClock) -> None:
    verifier = TokenVerifier(key_source(key), ISSUER, clock, cache_size=3)
    for _ in range(10):
        await verifier.verify(key.sign(access_claims(NOW)), RESOURCE)
    assert verifier.cached == 3


async def test_revoked_token_is_refused_even_when_cached(key: TestKey, clock: FrozenClock) -> None:
    revoked: set[str] = set()

    async def is_revoked(jti: str) -> bool:
        return jti in revoked

    verifier = TokenVerifier(key_source(key), ISSUER, clock, is_revoked=is_revoked)
    claims = access_claims(NOW)
    token = key.sign(claims)
    await verifier.verify(token, RESOURCE)
    revoked.add(claims["jti"])
    with pytest.raises(InvalidToken, match="revoked"):
        await verifier.verify(token, RESOURCE)
