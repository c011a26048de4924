"""gateway.problem: RFC 9457 shape, the error's headers, nothing private in the body."""

from __future__ import annotations

import json
import logging

import pytest

from gateway.errors import LoginRedirect, TooManyRequests, Unauthenticated
from gateway.problem import build_problem, problem_response


def test_problem_shape_and_headers() -> None:
    error = TooManyRequests("slow down", headers=((b"retry-after", b"3"),), log_detail="limit warga:42 redis key x")
    status, headers, body = build_problem(error, "req-1")
    assert status == 429
    assert json.loads(body) == {
        "type": "urn:gerbang:problem:rate-limited",
        "title": "Too Many Requests",
        "status": 429,
        "detail": "slow down",
        "instance": "req-1",
    }
    assert (b"retry-after", b"3") in headers
    assert (b"content-type", b"application/problem+json") in headers
    assert (b"x-request-id", b"req-1") in headers
    assert b"redis" not in body


def test_log_detail_goes_to_the_log_with_request_id(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gerbang.gateway"):
        build_problem(Unauthenticated("no token", log_detail="kid abc unknown"), "req-2")
    assert "req-2" in caplog.text and "kid abc unknown" in caplog.text


def test_login_redirect_is_a_plain_303() -> None:
    status, headers, body = build_problem(LoginRedirect("/auth/login?next=%2Fapps%2Fparkir%2F"), "req-3")
    assert (status, body) == (303, b"")
    assert (b"location", b"/auth/login?next=%2Fapps%2Fparkir%2F") in headers


def test_starlette_response_carries_the_same_problem() -> None:
    response = problem_response(Unauthenticated("no token", headers=((b"www-authenticate", b"Bearer"),)), "req-4")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert json.loads(response.body)["instance"] == "req-4"
