"""No 5xx for any input at the endpoints this work added: PAR, the device endpoints, the token endpoint's device
and token-exchange grants with any DPoP header, UserInfo under the DPoP scheme, and a --require-dpop app."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.support.dpop_city import run_dpop_city
from tests.support.hub import Hub

EXAMPLES = 60
NAMES = st.sampled_from(
    [
        "client_id",
        "request",
        "request_uri",
        "response_type",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "dpop_jkt",
        "resource",
        "audience",
        "grant_type",
        "device_code",
        "subject_token",
        "subject_token_type",
        "requested_token_type",
        "nonce",
        "client_assertion",
        "client_assertion_type",
        "user_code",
        "decision",
        "csrf_token",
    ]
)
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
GRANTS = st.sampled_from(
    [
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "client_credentials",
    ]
)


def segment(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


JWTISH = st.one_of(
    TEXT,
    st.builds(
        lambda h, c, s: f"{segment(h)}.{segment(c)}.{s}",
        st.dictionaries(
            st.sampled_from(["typ", "alg", "jwk", "kid"]),
            st.one_of(TEXT, st.just("dpop+jwt"), st.just("ES256"), st.dictionaries(TEXT, TEXT, max_size=3)),
            max_size=4,
        ),
        st.dictionaries(
            st.sampled_from(["jti", "htm", "htu", "iat", "ath", "nonce", "iss", "aud", "exp", "client_id"]),
            st.one_of(TEXT, st.integers(), st.lists(TEXT, max_size=2)),
            max_size=6,
        ),
        TEXT,
    ),
)
FORMS = st.lists(st.tuples(NAMES, st.one_of(TEXT, JWTISH)), max_size=8)
HEADERS = st.lists(
    st.tuples(
        st.sampled_from(["DPoP", "Authorization"]),
        st.one_of(JWTISH, st.builds(lambda t: f"DPoP {t}", JWTISH), st.builds(lambda t: f"Basic {t}", TEXT)),
    ),
    max_size=3,
)


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with run_dpop_city(module_database_url, tmp_path_factory.mktemp("hub")) as running:
        yield running


def latin1(headers: list[tuple[str, str]]) -> list[tuple[str, bytes]]:
    """Header values a client can send at all: latin-1 without control characters (others become '?')."""

    def clean(value: str) -> bytes:
        return bytes(ord(ch) if 0x20 <= ord(ch) <= 0x7E or 0xA0 <= ord(ch) <= 0xFF else 0x3F for ch in value)

    return [(name, clean(value).strip() or b"x") for name, value in headers]  # no trailing whitespace either


@pytest.mark.parametrize(
    "path",
    ["/auth/par", "/auth/device_authorization", "/auth/device", "/auth/token", "/auth/userinfo", "/auth/authorize"],
)
def test_no_server_error_for_any_form(hub: Hub, path: str) -> None:
    with httpx.Client(base_url=hub.url, timeout=10) as http:

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(form=FORMS, headers=HEADERS, grant=GRANTS)
        def call(form: list[tuple[str, str]], headers: list[tuple[str, str]], grant: str) -> None:
            if path == "/auth/token":
                form = [("grant_type", grant), *form]
            if path == "/auth/authorize":
                response = http.get(path, params=form, headers=latin1(headers))
            else:
                response = http.post(
                    path,
                    content=urlencode(form),
                    headers=[*latin1(headers), ("Content-Type", b"application/x-www-form-urlencoded")],
                )
            assert response.status_code < 500, (path, form, headers, response.text[:300])

        call()


def test_no_server_error_at_a_dpop_app(hub: Hub) -> None:
    with httpx.Client(base_url=hub.url, timeout=10) as http:

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(headers=HEADERS, method=st.sampled_from(["GET", "POST", "DELETE"]))
        def call(headers: list[tuple[str, str]], method: str) -> None:
            response = http.request(method, "/apps/e-budgeting/echo", headers=latin1(headers))
            assert response.status_code < 500, (headers, response.text[:300])

        call()
