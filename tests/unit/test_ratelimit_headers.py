"""RateLimit-Policy / RateLimit (draft-ietf-httpapi-ratelimit-headers, structured fields) and Retry-After."""

from __future__ import annotations

from gateway.errors import TooManyRequests
from gateway.model import Verdict
from gateway.ratelimit.headers import build_ratelimit_headers, build_rejection
from idp.throttle.store import Outcome
from policies.limits import LimitSpec

SPEC = LimitSpec(id="per-ip", per="ip", rate=10, period=1, burst=20)


def test_policy_and_current_state_are_named_structured_field_items() -> None:
    outcome = Outcome(SPEC, True, 7, 0.0, 1.3, 20, 2.0)
    assert dict(build_ratelimit_headers(outcome)) == {
        b"ratelimit-policy": b'"per-ip";q=20;w=2',
        b"ratelimit": b'"per-ip";r=7;t=2',
    }


def test_limit_names_are_escaped_sf_strings() -> None:
    spec = LimitSpec(id='a"b\\c', per="ip", rate=1)
    headers = dict(build_ratelimit_headers(Outcome(spec, True, 0, 0.0, 0.0, 1, 1.0)))
    assert headers[b"ratelimit"] == b'"a\\"b\\\\c";r=0;t=0'


def test_rejection_is_a_429_with_retry_after_rounded_up() -> None:
    headers = build_ratelimit_headers(Outcome(SPEC, False, 0, 0.05, 2.0, 20, 2.0))
    error = build_rejection(Verdict(False, "per-ip", 0.05, headers))
    assert isinstance(error, TooManyRequests) and error.status == 429
    assert error.headers[0] == (b"retry-after", b"1")
    assert (b"ratelimit", b'"per-ip";r=0;t=2') in error.headers
    assert dict(build_rejection(Verdict(False, "x", 61.2)).headers)[b"retry-after"] == b"62"


def test_the_pipeline_answers_a_denied_verdict_with_this_rejection() -> None:
    import pytest

    from gateway.pipeline import check_verdict

    verdict = Verdict(False, "per-ip", 1.5, build_ratelimit_headers(Outcome(SPEC, False, 0, 1.5, 2.0, 20, 2.0)))
    with pytest.raises(TooManyRequests) as refused:
        check_verdict(verdict)
    expected = build_rejection(verdict)
    assert (refused.value.headers, refused.value.detail) == (expected.headers, expected.detail)
