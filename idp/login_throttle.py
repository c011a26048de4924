"""Where login throttling plugs in: one call before any credential (password, TOTP, recovery code,
passkey, sign-up, reset request) is checked.

``PolicyThrottle`` is the implementation: Kominfo's ``login`` limits (per account, per IP) on the process's
limit store, following policy reloads. While Redis is down the limits are this process's own (the store's
fallback); a limit that must fail closed then refuses, and ``ThrottleUnavailable`` makes the page say
"temporarily unavailable" (503), not "too many attempts".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request

from idp.auth_limits import AuthLimiter, AuthVerdict
from idp.throttle.store import LimitStore
from policies.watcher import PolicyWatcher


@dataclass(frozen=True)
class Attempt:
    factor: str  # password, totp, recovery, passkey, register or reset
    subject: str  # what is being tried against: a login name, a user id, an email address
    client_ip: str | None


class ThrottleUnavailable(Exception):
    """The limit could not be decided (its store is down and it fails closed): answer 503, check nothing."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"login limits unavailable, retry after {retry_after} s")
        self.retry_after = retry_after


class LoginThrottle(Protocol):
    async def admit(self, attempt: Attempt) -> bool:
        """True: go on; False: too many attempts. Raises ``ThrottleUnavailable`` when it cannot decide."""

    async def check(self, attempt: Attempt) -> AuthVerdict: ...


class PolicyThrottle:
    def __init__(self, watcher: PolicyWatcher, store: LimitStore) -> None:
        self._watcher = watcher
        self._store = store
        self._set = watcher.current
        self.limiter = AuthLimiter(self._set.limits, store)

    def current(self) -> AuthLimiter:
        """The limiter for the policies in force (rebuilt on the same store after a reload)."""
        if self._watcher.current is not self._set:
            self._set = self._watcher.current
            self.limiter = AuthLimiter(self._set.limits, self._store)
        return self.limiter

    async def admit(self, attempt: Attempt) -> bool:
        return (await self.check(attempt)).allowed

    async def check(self, attempt: Attempt) -> AuthVerdict:
        """The verdict, with how long to wait when refused (the sign-in page tells the citizen). Raises
        ``ThrottleUnavailable`` when the store is down and the limit fails closed."""
        verdict = await self.current().check_login(
            account=f"{attempt.factor}:{attempt.subject}", ip=attempt.client_ip or "unknown"
        )
        if verdict.unavailable:
            raise ThrottleUnavailable(verdict.retry_after_seconds)
        return verdict


async def is_attempt_admitted(throttle: LoginThrottle, request: Request, factor: str, subject: str) -> bool:
    """The one call site: ``False`` means answer "too many attempts" and check nothing."""
    return await throttle.admit(_attempt(request, factor, subject))


async def check_attempt(throttle: LoginThrottle, request: Request, factor: str, subject: str) -> AuthVerdict:
    """``is_attempt_admitted`` with the verdict, for a page that says how long to wait."""
    return await throttle.check(_attempt(request, factor, subject))


def _attempt(request: Request, factor: str, subject: str) -> Attempt:
    client_ip = request.client.host if request.client else None
    return Attempt(factor, subject.strip().lower()[:254], client_ip)
