"""Brute-force throttles for the provider's login and token endpoints (the limits with route class ``login``
and ``token`` in the policy files), on the shared ``throttle`` store.

- ``login``: every attempt counts against its ``account`` limits (the e-mail or NIK, case-folded) and its
  ``ip`` limits. GCRA with a small burst slows an attacker to the refill rate and never locks the real user
  out for good: a token comes back every period / rate seconds whatever the attacker does.
- ``token``: every request counts against ``ip`` and ``client`` limits; ``client_auth_failure`` limits are
  only peeked on each request and consumed by ``record_client_auth_failure``, so a client whose secret is
  being guessed is refused for a while and an honest client never pays for its successes.
- While the shared store is down each process decides with its own in-process limits (``open-local``, the
  default: ``throttle.fallback_store``); a limit with ``fail_mode: closed`` refuses instead, and the endpoint
  answers 503 (``temporarily_unavailable`` at the token endpoint) — not 429: the caller did nothing wrong.

Independent of any web framework: an endpoint asks, then renders the ``AuthVerdict`` its own way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from idp.throttle.store import Hit, LimitStore, Outcome
from policies.limits import LimitSpec


@dataclass(frozen=True, slots=True)
class AuthVerdict:
    allowed: bool
    limit_id: str | None = None
    retry_after: float = 0.0
    unavailable: bool = False  # the store is down and the limit fails closed: answer 503

    @property
    def retry_after_seconds(self) -> int:
        """For the Retry-After header: whole seconds, rounded up, at least 1."""
        return max(1, math.ceil(self.retry_after))


class AuthLimiter:
    def __init__(self, specs: Sequence[LimitSpec], store: LimitStore) -> None:
        self.store = store
        self._login = tuple(spec for spec in specs if spec.route_class == "login")
        self._token = tuple(spec for spec in specs if spec.route_class == "token")
        self._failures = tuple(spec for spec in specs if spec.per == "client_auth_failure")

    async def check_login(self, *, account: str, ip: str) -> AuthVerdict:
        subjects = {"account": account.strip().casefold(), "ip": ip}
        return await self._check([Hit(spec, subjects[spec.per]) for spec in self._login if spec.per in subjects])

    async def check_token(self, *, client_id: str | None, ip: str) -> AuthVerdict:
        subjects = {"ip": ip, "client": client_id}
        hits = [Hit(spec, subject) for spec in self._token if (subject := subjects.get(spec.per))]
        if client_id:
            hits.extend(Hit(spec, client_id, consume=False) for spec in self._failures)
        return await self._check(hits)

    async def record_client_auth_failure(self, client_id: str) -> None:
        """A failed client authentication; once the limit is spent, ``check_token`` refuses this client."""
        await self._check([Hit(spec, client_id) for spec in self._failures])

    async def _check(self, hits: list[Hit]) -> AuthVerdict:
        if not hits:
            return AuthVerdict(True)
        return _verdict(await self.store.check(hits))


def _verdict(outcomes: Sequence[Outcome]) -> AuthVerdict:
    for outcome in outcomes:
        if outcome.unavailable:
            return AuthVerdict(False, outcome.spec.id, outcome.retry_after, unavailable=True)
    denied = [outcome for outcome in outcomes if not outcome.allowed]
    if not denied:
        return AuthVerdict(True)
    worst = max(denied, key=lambda outcome: outcome.retry_after)
    return AuthVerdict(False, worst.spec.id, worst.retry_after)
