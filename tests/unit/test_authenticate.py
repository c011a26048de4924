"""The authenticate step: RFC 6750 token reading and challenges, dispatch on auth_mode."""

from __future__ import annotations

import pytest

from gateway.authenticate import BearerAuthenticator, RouteAuthenticator, build_challenge
from gateway.errors import BadRequest, ServiceUnavailable, Unauthenticated
from gateway.model import Principal, RequestHead, Route
from gateway.token_verifier import TokenVerifier
from idp.clock import FrozenClock
from tests.support.hub_tokens import ISSUER, RESOURCE, TestKey, access_claims, key_source

NOW = 1_800_000_000


def _route(auth_mode: str) -> Route:
    return Route(
        slug="parkir",
        opd="dishub",
        opd_path="/kota-palembang/dishub/",
        upstreams=("http://127.0.0.1:1",),
        auth_mode=auth_mode,
        resource=RESOURCE,
    )


def _request(*headers: tuple[bytes, bytes], query: bytes = b"") -> RequestHead:
    return RequestHead(
        method="GET",
        path="/apps/parkir/",
        query=query,
        headers=headers,
        client_ip="127.0.0.1",
        scheme="http",
        host="127.0.0.1",
        request_id="r1",
    )


@pytest.fixture
def key() -> TestKey:
    return TestKey()


@pytest.fixture
def authenticator(key: TestKey) -> RouteAuthenticator:
    verifier = TokenVerifier(key_source(key), ISSUER, FrozenClock(NOW))
    return RouteAuthenticator(BearerAuthenticator(verifier, realm="gerbang"))


def _challenge(exc: pytest.ExceptionInfo[Exception]) -> bytes:
    assert isinstance(exc.value, (Unauthenticated, BadRequest))
    return dict(exc.value.headers)[b"www-authenticate"]


async def test_user_token_gives_a_principal(authenticator: RouteAuthenticator, key: TestKey) -> None:
    token = key.sign(access_claims(NOW))
    principal = await authenticator.authenticate(
        _route("bearer"), _request((b"authorization", b"Bearer " + token.encode()))
    )
    assert principal.sub == "user-1"
    assert principal.client_id == "parkir-web"
    assert principal.scopes == {"openid", "profile"}
    assert principal.token_id is not None


async def test_scheme_is_case_insensitive(authenticator: RouteAuthenticator, key: TestKey) -> None:
    token = key.sign(access_claims(NOW))
    principal = await authenticator.authenticate(
        _route("bearer"), _request((b"authorization", b"bEaReR " + token.encode()))
    )
    assert principal.sub == "user-1"


async def test_client_credentials_token_has_no_user(authenticator: RouteAuthenticator, key: TestKey) -> None:
    token = key.sign(access_claims(NOW, sub="bapenda-sync", client_id="bapenda-sync"))
    principal = await authenticator.authenticate(
        _route("bearer"), _request((b"authorization", b"Bearer " + token.encode()))
    )
    assert principal.sub is None
    assert principal.client_id == "bapenda-sync"
    assert not principal.anonymous


async def test_no_token_gets_a_challenge_without_error_code(authenticator: RouteAuthenticator) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await authenticator.authenticate(_route("bearer"), _request())
    assert _challenge(caught) == b'Bearer realm="gerbang"'


async def test_other_scheme_gets_a_challenge_without_error_code(authenticator: RouteAuthenticator) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await authenticator.authenticate(_route("bearer"), _request((b"authorization", b"Basic dXNlcjpwYXNz")))
    assert b"error=" not in _challenge(caught)


async def test_invalid_token_gets_invalid_token_error(authenticator: RouteAuthenticator, key: TestKey) -> None:
    token = key.sign(access_claims(NOW, exp=NOW - 100))
    with pytest.raises(Unauthenticated) as caught:
        await authenticator.authenticate(_route("bearer"), _request((b"authorization", b"Bearer " + token.encode())))
    assert (
        _challenge(caught)
        == b'Bearer realm="gerbang", error="invalid_token", error_description="the token has expired"'
    )


async def test_malformed_token_value_is_invalid_token(authenticator: RouteAuthenticator) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await authenticator.authenticate(_route("bearer"), _request((b"authorization", b'Bearer a b"c')))
    assert b'error="invalid_token"' in _challenge(caught)


async def test_token_in_query_is_refused(authenticator: RouteAuthenticator, key: TestKey) -> None:
    token = key.sign(access_claims(NOW))
    with pytest.raises(Unauthenticated) as caught:
        await authenticator.authenticate(_route("bearer"), _request(query=f"x=1&access_token={token}".encode()))
    assert b'error="invalid_request"' in _challenge(caught)


async def test_two_authorization_headers_are_a_bad_request(authenticator: RouteAuthenticator, key: TestKey) -> None:
    token = b"Bearer " + key.sign(access_claims(NOW)).encode()
    with pytest.raises(BadRequest) as caught:
        await authenticator.authenticate(
            _route("bearer"), _request((b"authorization", token), (b"authorization", token))
        )
    assert b'error="invalid_request"' in _challenge(caught)


async def test_none_apps_get_an_anonymous_principal(authenticator: RouteAuthenticator) -> None:
    principal = await authenticator.authenticate(_route("none"), _request((b"authorization", b"Bearer junk")))
    assert principal == Principal()
    assert principal.anonymous


async def test_session_apps_without_session_authenticator_are_unavailable(authenticator: RouteAuthenticator) -> None:
    with pytest.raises(ServiceUnavailable):
        await authenticator.authenticate(_route("session"), _request())


async def test_session_apps_use_the_session_authenticator(key: TestKey) -> None:
    class FixedSession:  # stands in for the provider's session store, which lives outside this module
        async def authenticate(self, route: Route, request: RequestHead) -> Principal:
            return Principal(sub="from-session", session_id="s1")

    verifier = TokenVerifier(key_source(key), ISSUER, FrozenClock(NOW))
    authenticator = RouteAuthenticator(BearerAuthenticator(verifier), FixedSession())
    assert (await authenticator.authenticate(_route("session"), _request())).sub == "from-session"


def test_challenge_format() -> None:
    assert (
        build_challenge("r", "invalid_token", "d") == b'Bearer realm="r", error="invalid_token", error_description="d"'
    )
