"""The rate-limit response headers, built in one place.

IETF draft-ietf-httpapi-ratelimit-headers (-09/-10), Structured Field lists (RFC 9651) of named items:

    RateLimit-Policy: "per-ip";q=20;w=2      q quota units per window of w seconds
    RateLimit: "per-ip";r=7;t=1              r units remaining, t seconds until the quota is full again

For a GCRA limit q is the burst and w the time the bucket takes to refill (burst × period / rate), so q/w is
the sustained rate and q the largest burst. Only the most restrictive limit is named. ``Retry-After``
(RFC 9110 §10.2.3) is whole seconds, rounded up, at least 1.
"""

from __future__ import annotations

import math

from gateway.errors import ServiceUnavailable, TooManyRequests
from gateway.model import Verdict
from idp.throttle.store import Outcome

Headers = tuple[tuple[bytes, bytes], ...]


def build_ratelimit_headers(outcome: Outcome) -> Headers:
    name = _sf_string(outcome.spec.id)
    policy = f"{name};q={outcome.quota};w={max(1, math.ceil(outcome.window))}"
    current = f"{name};r={outcome.remaining};t={math.ceil(outcome.reset)}"
    return ((b"ratelimit-policy", policy.encode()), (b"ratelimit", current.encode()))


def build_retry_after(seconds: float) -> tuple[bytes, bytes]:
    return (b"retry-after", str(max(1, math.ceil(seconds))).encode())


def build_rejection(verdict: Verdict) -> TooManyRequests:
    """The 429 for a denied verdict (the pipeline raises it; ``gateway.problem`` renders it)."""
    return TooManyRequests(
        "Too many requests; retry after the time in Retry-After.",
        headers=(build_retry_after(verdict.retry_after), *verdict.headers),
        log_detail=f"limit {verdict.limit_id}",
    )


def build_unavailable(outcome: Outcome, detail: str | None) -> ServiceUnavailable:
    """A limit that fails closed could not be checked: 503, not 429 — the client did nothing wrong."""
    return ServiceUnavailable(
        "Rate limiting is temporarily unavailable; retry shortly.",
        headers=(build_retry_after(outcome.retry_after),),
        log_detail=f"limit {outcome.spec.id} fails closed: {detail}",
    )


def _sf_string(value: str) -> str:
    printable = "".join(char if " " <= char <= "~" else "?" for char in value)
    return '"' + printable.replace("\\", "\\\\").replace('"', '\\"') + '"'
