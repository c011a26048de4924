"""No input makes the admin API answer 5xx: generated bodies, query strings and path segments against a real hub.

(schemathesis is not installed here; hypothesis drives the same idea from the endpoints' own shapes.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import create_app
from tests.support.admin import DISHUB_OPERATOR, KOMINFO, AdminClient, admin_token, run_seed
from tests.support.hub import Hub, run_hub

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                max_size=4), max_leaves=12)
FIELDS = ["slug", "name", "description", "opd", "upstreams", "auth_mode", "redirect_uris", "scopes", "contact",
          "reason", "role", "ttl_seconds"]
BODY = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=9) | JSON
PARAMS = st.dictionaries(st.sampled_from(["limit", "offset", "status", "opd", "q", "disabled", "before", "kind",
                                          "under", "action", "actor", "target"]), st.text(max_size=20), max_size=4)
SEGMENT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/?#"), min_size=1, max_size=20)
POSTS = ["/apps", "/apps/{x}/approve", "/apps/{x}/reject", "/apps/{x}/suspend", "/apps/{x}/resume",
         "/users/{x}/disable", "/users/{x}/roles", "/clients/{x}/approve", "/initial-access-tokens"]
GETS = ["/apps", "/opd", "/clients", "/users", "/audit", "/keys", "/apps/{x}"]


@pytest.fixture
def admins(database_url: str, tmp_path: Path) -> Iterator[list[AdminClient]]:
    with run_hub(database_url, tmp_path, app_factory=create_app) as hub:
        run_seed(database_url, hub.seeded.users)
        clients = [AdminClient(hub, admin_token(hub, email)) for email in (KOMINFO, DISHUB_OPERATOR)]
        yield clients
        for client in clients:
            client.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(who=st.integers(0, 1), path=st.sampled_from(POSTS), segment=SEGMENT, body=BODY)
def test_generated_bodies_never_get_a_5xx(admins: list[AdminClient], who: int, path: str, segment: str,
                                          body: object) -> None:
    response = admins[who].http.post(path.replace("{x}", quote(segment, safe="")), json=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(who=st.integers(0, 1), path=st.sampled_from(GETS), segment=SEGMENT, params=PARAMS)
def test_generated_queries_never_get_a_5xx(admins: list[AdminClient], who: int, path: str, segment: str,
                                           params: dict[str, str]) -> None:
    response = admins[who].http.get(path.replace("{x}", quote(segment, safe="")), params=params)
    assert response.status_code < 500, response.text
