"""The authenticate step: who is calling, chosen per route by its ``auth_mode``.

- ``bearer``: an RFC 9068 access token in ``Authorization: Bearer`` (RFC 6750 §2.1 only — tokens in the query
  or a form body are refused: they leak into logs and caches), verified by ``gateway.token_verifier``. A
  DPoP-bound token (``cnf.jkt``) comes as ``Authorization: DPoP`` with its proof (``gateway.dpop``); an app
  with ``require_dpop`` accepts bound tokens only; an app whose clients Kominfo's policy binds to a profile
  (``provider.profiles``: FAPI 2.0 for restricted apps) accepts only bound tokens issued under that profile.
- ``session``: the hub's browser session — the seam ``SessionAuthenticator`` is filled by the provider side
  (it needs the provider's session store and login flow).
- ``none``: an anonymous ``Principal``.

Failures raise ``Unauthenticated`` carrying the RFC 6750 §3 challenge; a request without any token gets the
challenge without an error code (§3.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol
from urllib.parse import parse_qsl

from gateway.dpop import DpopProofChecker, build_dpop_challenge, refuse_dpop
from gateway.errors import BadRequest, ServiceUnavailable, Unauthenticated
from gateway.model import Principal, RequestHead, Route
from gateway.subjects import Subject, SubjectLoader
from gateway.token_verifier import AccessClaims, InvalidToken, TokenVerifier
from idp.errors import Unavailable

TOKEN68 = re.compile(rb"^[A-Za-z0-9\-._~+/]+=*$")  # RFC 6750 §2.1 b64token
ANONYMOUS = Principal()


def build_challenge(realm: str, error: str | None = None, description: str | None = None) -> bytes:
    """The ``WWW-Authenticate`` value (RFC 6750 §3); descriptions are our own fixed texts, never user input."""
    parts = [f'Bearer realm="{realm}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description}"')
    return ", ".join(parts).encode()


class SessionAuthenticator(Protocol):
    """The hub-session seam for ``session`` apps: returns the signed-in user or raises ``LoginRedirect``."""

    async def authenticate(self, route: Route, request: RequestHead) -> Principal: ...


class SessionsNotConfigured:
    """Used until the provider's session authenticator is wired: ``session`` apps answer 503, never pass."""

    async def authenticate(self, route: Route, request: RequestHead) -> Principal:
        raise ServiceUnavailable(
            "sign-in for this app is not available",
            log_detail=f"no SessionAuthenticator configured for app {route.slug}",
        )


class BearerAuthenticator:
    def __init__(
        self,
        verifier: TokenVerifier,
        subjects: SubjectLoader | None = None,
        realm: str = "gerbang",
        is_client_suspended: Callable[[str], bool] | None = None,
        dpop: DpopProofChecker | None = None,
        policy_requires_dpop: Callable[[str], bool] | None = None,
        policy_requires_profile: Callable[[Route], str | None] | None = None,
    ) -> None:
        self._verifier = verifier
        self._dpop = dpop
        self._policy_requires_dpop = policy_requires_dpop  # Kominfo's policy files (``require_dpop`` per app)
        self._policy_requires_profile = policy_requires_profile  # ``provider.profiles``: the profile of its clients
        self._subjects = subjects
        self._realm = realm
        self._is_client_suspended = is_client_suspended
        self._machines: dict[str, tuple[AccessClaims, Principal]] = {}  # jti → (claims, principal)

    async def authenticate(self, route: Route, request: RequestHead) -> Principal:
        profile = self._policy_requires_profile(route) if self._policy_requires_profile else None
        # A profile (FAPI 2.0) means sender-constrained tokens: DPoP-bound, each request with a proof.
        require_dpop = (
            route.require_dpop
            or profile is not None
            or bool(self._policy_requires_dpop and self._policy_requires_dpop(route.slug))
        )
        scheme, token = self._read_token(request, require_dpop)
        try:
            claims = await self._verifier.verify(token, route.resource)
        except InvalidToken as exc:
            raise self._refuse("invalid_token", str(exc)) from exc
        if profile is not None and claims.profile != profile:
            # Issued before the rule, or to a client outside the profile: the provider would not issue it now.
            raise refuse_dpop("invalid_token", f"this app accepts tokens issued under the {profile} profile only")
        await self._check_sender(require_dpop, request, scheme, token, claims)
        if self._is_client_suspended is not None and self._is_client_suspended(claims.client_id):
            raise self._refuse("invalid_token", "the token's client has been suspended")
        return await self._build_principal(claims)

    def _read_token(self, request: RequestHead, require_dpop: bool = False) -> tuple[bytes, str]:
        """The scheme (``bearer`` or ``dpop``, lower case) and the token."""
        values = [value for name, value in request.headers if name == b"authorization"]
        if not values:
            if request.query and any(k == "access_token" for k, _ in parse_qsl(request.query.decode("latin-1"))):
                raise self._refuse("invalid_request", "send the access token in the Authorization header")
            raise Unauthenticated("an access token is required", headers=self._challenge(dpop=require_dpop))
        if len(values) > 1:
            raise BadRequest(
                "more than one Authorization header",
                headers=self._challenge("invalid_request", "more than one Authorization header"),
            )
        scheme, _, token = values[0].partition(b" ")
        scheme = scheme.lower()
        if scheme not in (b"bearer", b"dpop"):
            raise Unauthenticated("an access token is required", headers=self._challenge(dpop=require_dpop))
        token = token.strip(b" ")
        if not TOKEN68.match(token):
            raise self._refuse("invalid_token", "the access token is malformed")
        return scheme, token.decode("ascii")

    async def _check_sender(
        self, require_dpop: bool, request: RequestHead, scheme: bytes, token: str, claims: AccessClaims
    ) -> None:
        """RFC 9449 §7: a bound token only with the DPoP scheme and its proof; bearer tokens not where DPoP is
        required, and never under the DPoP scheme."""
        if claims.jkt is None:
            if require_dpop:
                raise refuse_dpop("invalid_token", "this app accepts DPoP-bound tokens only")
            if scheme == b"dpop":
                raise refuse_dpop("invalid_token", "the access token is not DPoP-bound")
            return
        if scheme != b"dpop":
            raise refuse_dpop("invalid_token", "the access token is DPoP-bound: use the DPoP scheme and a proof")
        if self._dpop is None:
            raise ServiceUnavailable("DPoP is not available", log_detail="no DpopProofChecker configured")
        await self._dpop.check(request, token, claims.jkt)

    async def _build_principal(self, claims: AccessClaims) -> Principal:
        # RFC 9068 §2.2: a client_credentials token's sub is the client itself — no user behind it.
        if claims.sub == claims.client_id:
            return self._machine_principal(claims)
        opd: str | None = None
        opd_paths: tuple[str, ...] = ()
        roles: tuple[str, ...] = ()
        subject: Subject | None = None
        if self._subjects is not None:
            try:
                subject = await self._subjects.load(claims.sub)
            except Unavailable as exc:
                raise ServiceUnavailable(
                    "the city directory is unavailable, try again shortly", log_detail=exc.detail
                ) from exc
            if subject is None:
                raise self._refuse("invalid_token", "the token's user does not exist")
            if subject.disabled:
                raise self._refuse("invalid_token", "the token's user account is disabled")
            opd, opd_paths, roles = subject.opd, subject.opd_paths, subject.roles
        return Principal(
            sub=claims.sub,
            client_id=claims.client_id,
            opd=opd,
            opd_paths=opd_paths,
            roles=roles,
            scopes=claims.scopes,
            acr=claims.acr,
            amr=claims.amr,
            token_id=claims.jti,
            name=subject.name if subject else None,
            email=subject.email if subject else None,
            nik=subject.nik if subject else None,
            nip=subject.nip if subject else None,
        )

    def _machine_principal(self, claims: AccessClaims) -> Principal:
        """A client acting for itself: the principal depends on the verified claims alone, so the same claims
        (the verifier hands back one object per cached token) get the same principal, built once."""
        found = self._machines.get(claims.jti)
        if found is not None and found[0] is claims:
            return found[1]
        principal = Principal(
            client_id=claims.client_id, scopes=claims.scopes, acr=claims.acr, amr=claims.amr, token_id=claims.jti
        )
        if len(self._machines) >= 4096:  # a few live tokens per integration; bounded all the same
            self._machines.clear()
        self._machines[claims.jti] = (claims, principal)
        return principal

    def _challenge(
        self, error: str | None = None, description: str | None = None, dpop: bool = False
    ) -> tuple[tuple[bytes, bytes]]:
        if dpop:
            return ((b"www-authenticate", build_dpop_challenge(error, description)),)
        return ((b"www-authenticate", build_challenge(self._realm, error, description)),)

    def _refuse(self, error: str, description: str) -> Unauthenticated:
        return Unauthenticated(description, headers=self._challenge(error, description))


class RouteAuthenticator:
    """``gateway.steps.Authenticator``: dispatches on ``route.auth_mode``."""

    def __init__(self, bearer: BearerAuthenticator, sessions: SessionAuthenticator | None = None) -> None:
        self._bearer = bearer
        self._sessions: SessionAuthenticator = sessions or SessionsNotConfigured()

    async def authenticate(self, route: Route, request: RequestHead) -> Principal:
        mode = route.auth_mode
        if mode == "bearer":
            return await self._bearer.authenticate(route, request)
        if mode == "session":
            return await self._sessions.authenticate(route, request)
        if mode == "none":
            return ANONYMOUS
        raise ServiceUnavailable("this app is misconfigured", log_detail=f"unknown auth_mode {mode!r} for {route.slug}")
