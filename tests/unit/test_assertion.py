"""The OPD-side assertion verifier (gateway.assertion) and the hub-side issuer agree, and forgeries fail."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import jwt
import pytest

from gateway import assertion
from gateway.assertion import AssertionRejected, AssertionVerifier
from gateway.assertion_issuer import ASSERTION_TYP, HubAssertionIssuer
from gateway.integrity import http_signatures
from gateway.model import Principal, RequestHead, Route
from idp.clock import FrozenClock
from tests.support.hub_tokens import ISSUER, RESOURCE, TestKey, hand_made, hs256_with_public_key, unsigned_none

NOW = 1_800_000_000
ROUTE = Route(
    slug="parkir",
    opd="dishub",
    opd_path="/kota-palembang/dishub/",
    upstreams=("http://127.0.0.1:1",),
    auth_mode="session",
    resource=RESOURCE,
)
REQUEST = RequestHead(
    method="GET",
    path="/",
    query=b"",
    headers=(),
    client_ip="127.0.0.1",
    scheme="http",
    host="127.0.0.1",
    request_id="r1",
)
USER = Principal(
    sub="user-1",
    client_id="parkir-web",
    opd="dishub",
    opd_paths=("/kota-palembang/dishub/",),
    roles=("petugas",),
    acr="2",
)


@pytest.fixture
def key() -> TestKey:
    return TestKey("k1", "ES256")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def verifier(key: TestKey, clock: FrozenClock) -> AssertionVerifier:
    return AssertionVerifier(issuer=ISSUER, audience=RESOURCE, jwks={"keys": [key.jwk]}, clock=lambda: clock.value)


def _issuer(key: TestKey, clock: FrozenClock, **options: Any) -> HubAssertionIssuer:
    return HubAssertionIssuer(lambda claims, typ: key.sign(claims, typ=typ), ISSUER, clock, **options)


def _claims(**overrides: Any) -> dict[str, Any]:
    claims = {"iss": ISSUER, "aud": RESOURCE, "sub": "user-1", "roles": [], "iat": NOW, "exp": NOW + 30, "jti": "j1"}
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def test_issued_assertion_verifies_and_carries_the_identity(
    key: TestKey, clock: FrozenClock, verifier: AssertionVerifier
) -> None:
    identity = verifier.verify(_issuer(key, clock).issue(USER, ROUTE, REQUEST))
    assert (identity.sub, identity.client_id, identity.opd, identity.roles, identity.acr) == (
        "user-1",
        "parkir-web",
        "dishub",
        ("petugas",),
        "2",
    )
    assert identity.expires_at == NOW + 30
    assert not identity.anonymous


def test_anonymous_assertion_has_no_subject(key: TestKey, clock: FrozenClock, verifier: AssertionVerifier) -> None:
    identity = verifier.verify(_issuer(key, clock).issue(Principal(), ROUTE, REQUEST))
    assert identity.anonymous
    assert "sub" not in identity.claims


async def test_async_verification_agrees(key: TestKey, clock: FrozenClock, verifier: AssertionVerifier) -> None:
    identity = await verifier.verify_async(_issuer(key, clock).issue(USER, ROUTE, REQUEST))
    assert identity.sub == "user-1"


def test_assertion_is_reused_within_the_window_then_resigned(key: TestKey, clock: FrozenClock) -> None:
    issuer = _issuer(key, clock, ttl=30, reuse_seconds=5)
    first = issuer.issue(USER, ROUTE, REQUEST)
    clock.advance(4)
    assert issuer.issue(USER, ROUTE, REQUEST) == first
    assert issuer.issue(Principal(sub="user-2"), ROUTE, REQUEST) != first
    clock.advance(1)
    assert issuer.issue(USER, ROUTE, REQUEST) != first


def test_reuse_zero_signs_every_request(key: TestKey, clock: FrozenClock) -> None:
    issuer = _issuer(key, clock, reuse_seconds=0)
    assert issuer.issue(USER, ROUTE, REQUEST) != issuer.issue(USER, ROUTE, REQUEST)


def test_issuer_refuses_lifetimes_over_60_seconds(key: TestKey, clock: FrozenClock) -> None:
    with pytest.raises(ValueError):
        _issuer(key, clock, ttl=61)


def test_reused_assertion_still_has_most_of_its_life(
    key: TestKey, clock: FrozenClock, verifier: AssertionVerifier
) -> None:
    issuer = _issuer(key, clock, ttl=30, reuse_seconds=5)
    issuer.issue(USER, ROUTE, REQUEST)
    clock.advance(4)
    identity = verifier.verify(issuer.issue(USER, ROUTE, REQUEST))
    assert identity.expires_at - clock.value >= 25


def _bad_assertions(key: TestKey) -> dict[str, str]:
    return {
        "forged-signature": TestKey("k1").sign(_claims(), typ=ASSERTION_TYP),
        "unknown-kid": TestKey("k2").sign(_claims(), typ=ASSERTION_TYP),
        "alg-none": unsigned_none(key, _claims(), typ=ASSERTION_TYP),
        "hs256-with-public-key": hs256_with_public_key(key, _claims(), typ=ASSERTION_TYP),
        "jku-header": key.sign(_claims(), typ=ASSERTION_TYP, jku="https://evil.example/jwks"),
        "x5u-header": key.sign(_claims(), typ=ASSERTION_TYP, x5u="https://evil.example/c.pem"),
        "jwk-header": key.sign(_claims(), typ=ASSERTION_TYP, jwk=key.jwk),
        "access-token-typ": key.sign(_claims(), typ="at+jwt"),
        "expired": key.sign(_claims(iat=NOW - 40, exp=NOW - 10), typ=ASSERTION_TYP),
        "issued-in-future": key.sign(_claims(iat=NOW + 20, exp=NOW + 50), typ=ASSERTION_TYP),
        "lives-too-long": key.sign(_claims(exp=NOW + 61), typ=ASSERTION_TYP),
        "wrong-audience": key.sign(_claims(aud="http://ebudgeting.localhost:8000/"), typ=ASSERTION_TYP),
        "wrong-issuer": key.sign(_claims(iss="https://evil.example"), typ=ASSERTION_TYP),
        "no-jti": key.sign(_claims(jti=None), typ=ASSERTION_TYP),
        "no-kid": hand_made({"alg": "ES256", "typ": ASSERTION_TYP}, _claims(), b"x" * 64),
        "garbage": "garbage",
    }


@pytest.mark.parametrize("name", list(_bad_assertions(TestKey()).keys()))
def test_bad_assertions_are_refused_with_403(name: str, key: TestKey, verifier: AssertionVerifier) -> None:
    with pytest.raises(AssertionRejected) as caught:
        verifier.verify(_bad_assertions(key)[name])
    assert caught.value.status == 403


@pytest.mark.parametrize("token", [None, ""])
def test_missing_assertion_is_refused_with_401(token: str | None, verifier: AssertionVerifier) -> None:
    with pytest.raises(AssertionRejected) as caught:
        verifier.verify(token)
    assert caught.value.status == 401


def test_audience_list_containing_the_app_is_accepted(key: TestKey, verifier: AssertionVerifier) -> None:
    token = key.sign(_claims(aud=[RESOURCE, "https://other.example/"]), typ=ASSERTION_TYP)
    assert verifier.verify(token).sub == "user-1"


@pytest.mark.parametrize("module", [assertion, http_signatures])
def test_verifier_module_depends_only_on_pyjwt_cryptography_and_stdlib(module: object) -> None:
    """OPD apps vendor these files (the assertion verifier, the RFC 9421 verifier): they must not import the hub."""
    tree = ast.parse(Path(module.__file__).read_text())  # type: ignore[attr-defined]
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {
        "__future__",
        "asyncio",
        "base64",
        "binascii",
        "json",
        "threading",
        "time",
        "urllib",
        "collections",
        "dataclasses",
        "typing",
        "jwt",
        "cryptography",
        "io",
        "hashlib",
        "re",
    }


def test_remembered_assertion_is_refused_once_expired(
    key: TestKey, clock: FrozenClock, verifier: AssertionVerifier
) -> None:
    token = key.sign(_claims(exp=NOW + 30), typ=ASSERTION_TYP)
    first = verifier.verify(token)
    assert verifier.verify(token) is first  # remembered, not re-verified
    clock.advance(30 + 5)
    with pytest.raises(AssertionRejected, match="expired"):
        verifier.verify(token)


def test_remembered_assertions_are_bounded(key: TestKey, clock: FrozenClock) -> None:
    verifier = AssertionVerifier(
        issuer=ISSUER, audience=RESOURCE, jwks={"keys": [key.jwk]}, cache_size=4, clock=lambda: clock.value
    )
    for i in range(10):
        verifier.verify(key.sign(_claims(jti=f"j{i}"), typ=ASSERTION_TYP))
    assert len(verifier._verified) <= 4  # noqa: SLF001 - the bound is the behaviour under test


def test_assertion_is_reused_until_shortly_before_it_expires_by_default(
    key: TestKey, clock: FrozenClock, verifier: AssertionVerifier
) -> None:
    issuer = _issuer(key, clock, ttl=30)
    first = issuer.issue(USER, ROUTE, REQUEST)
    clock.advance(19)
    assert issuer.issue(USER, ROUTE, REQUEST) == first
    assert verifier.verify(first).expires_at - clock.value >= 10  # still well inside its life
    clock.advance(1)
    assert issuer.issue(USER, ROUTE, REQUEST) != first


def test_each_session_and_token_has_its_own_assertion(key: TestKey, clock: FrozenClock) -> None:
    issuer = _issuer(key, clock)
    in_one = issuer.issue(Principal(sub="user-1", session_id="s1"), ROUTE, REQUEST)
    assert issuer.issue(Principal(sub="user-1", session_id="s2"), ROUTE, REQUEST) != in_one
    assert issuer.issue(Principal(sub="user-1", token_id="t1"), ROUTE, REQUEST) != in_one
    assert issuer.issue(Principal(sub="user-1", session_id="s1"), ROUTE, REQUEST) == in_one


def test_an_ended_session_is_not_reused(key: TestKey, clock: FrozenClock) -> None:
    issuer = _issuer(key, clock)
    principal = Principal(sub="user-1", session_id="s1")
    other = Principal(sub="user-2", session_id="s2")
    first, kept = issuer.issue(principal, ROUTE, REQUEST), issuer.issue(other, ROUTE, REQUEST)
    issuer.forget_session("s1")
    assert issuer.issue(principal, ROUTE, REQUEST) != first
    assert issuer.issue(other, ROUTE, REQUEST) == kept


def test_a_key_that_no_longer_signs_is_not_reused(key: TestKey, clock: FrozenClock) -> None:
    signing = ["k1"]
    issuer = _issuer(key, clock, current_kid=lambda: signing[0])
    first = issuer.issue(USER, ROUTE, REQUEST)
    assert issuer.issue(USER, ROUTE, REQUEST) == first
    signing[0] = "k2"  # rotated, or k1 revoked
    assert issuer.issue(USER, ROUTE, REQUEST) != first


def test_a_policy_reload_ends_reuse(key: TestKey, clock: FrozenClock) -> None:
    """A reload may withdraw a claim (a guarded-scope rule removed): no assertion signed under the old set is reused."""
    in_force = [object()]
    issuer = _issuer(key, clock, policy_set=lambda: in_force[0])
    first = issuer.issue(USER, ROUTE, REQUEST)
    assert issuer.issue(USER, ROUTE, REQUEST) == first
    in_force[0] = object()  # the reloader swapped in a new set
    assert issuer.issue(USER, ROUTE, REQUEST) != first


@pytest.mark.parametrize("reuse", [0, 20])
def test_an_assertion_names_exactly_the_identity_claims_it_carries(
    reuse: int, key: TestKey, clock: FrozenClock
) -> None:
    # USER has no name, email or amr: the names follow the token, not the app's configuration.
    route = dataclasses.replace(ROUTE, claims=("email", "name", "nik", "opd", "roles", "acr", "amr"))
    withheld = _issuer(key, clock, reuse_seconds=reuse, release=lambda r: tuple(c for c in r.claims if c != "nik"))
    person = dataclasses.replace(USER, nik="1671015203950002")
    issued = withheld.issue(person, route, REQUEST)
    payload = jwt.decode(issued, options={"verify_signature": False})
    assert issued.claim_names == ("opd", "roles", "acr")
    assert {"opd", "roles", "acr"} <= set(payload) and not {"nik", "name", "email", "amr"} & set(payload)
    released = _issuer(key, clock, reuse_seconds=reuse).issue(person, route, REQUEST)
    assert released.claim_names == ("nik", "opd", "roles", "acr")
    assert jwt.decode(released, options={"verify_signature": False})["nik"] == "1671015203950002"
    assert withheld.issue(person, route, REQUEST).claim_names == ("opd", "roles", "acr")  # a reused one too
