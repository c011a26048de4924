"""Where login throttling plugs in: one call before any credential (password, TOTP, recovery code,
passkey, sign-up, reset request) is checked.

The rate-limit engine provides the real implementation (``Provider.throttle`` is replaced at start
with one backed by it); the provider alone admits every attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request

FACTORS = ("password", "totp", "recovery", "passkey", "register", "reset")


@dataclass(frozen=True)
class Attempt:
    factor: str  # one of FACTORS
    subject: str  # what is being tried against: a login name, a user id, an email address
    client_ip: str | None


class LoginThrottle(Protocol):
    async def admit(self, attempt: Attempt) -> bool: ...


class AdmitAll:
    """No limit: the provider run without the gateway's rate-limit engine."""

    async def admit(self, attempt: Attempt) -> bool:
        return True


async def is_attempt_admitted(throttle: LoginThrottle, request: Request, factor: str, subject: str) -> bool:
    """The one call site: ``False`` means answer "too many attempts" and check nothing."""
    client_ip = request.client.host if request.client else None
    return await throttle.admit(Attempt(factor, subject.strip().lower()[:254], client_ip))
