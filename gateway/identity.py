"""The gateway's identity steps built from settings: route table, authenticator, assertion issuer.

``build_identity(settings, context)`` gives ``create_app`` its ``routes``, ``authenticator`` and ``assertions``;
``start``/``stop`` go in the app's startup/shutdown hooks (they run the registry's background refresh).
Tokens are verified against ``settings.jwks_url`` when set (the gateway running apart from the provider),
otherwise against the provider's key ring in this process.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.assertion_issuer import HubAssertionIssuer
from gateway.authenticate import BearerAuthenticator, RouteAuthenticator, SessionAuthenticator
from gateway.claims import released_claims
from gateway.dpop import DpopProofChecker
from gateway.jwks import KeySource, RemoteJwks, local_keys_from_ring
from gateway.model import Route
from gateway.registry import AppRegistry
from gateway.settings import Settings
from gateway.subjects import SubjectDirectory
from gateway.token_verifier import RevocationCheck, TokenVerifier
from idp.context import IdpContext
from idp.dpop.proof import ProofWindow
from idp.upstream_addresses import build_upstream_addresses
from policies.engine import PolicySet


@dataclass
class GatewayIdentity:
    routes: AppRegistry
    authenticator: RouteAuthenticator
    assertions: HubAssertionIssuer
    verifier: TokenVerifier
    subjects: SubjectDirectory

    async def start(self) -> None:
        await self.routes.start()

    async def stop(self) -> None:
        await self.routes.stop()


def required_profile(policy: PolicySet, route: Route) -> str | None:
    """The profile Kominfo requires of the clients of this app (``provider.profiles``); None when none."""
    rule = policy.required_profile(route.slug, route.restricted)
    return rule.profile if rule is not None else None


def build_key_source(settings: Settings, context: IdpContext) -> KeySource:
    if settings.jwks_url:
        return RemoteJwks(
            settings.jwks_url,
            min_refresh_seconds=settings.jwks_min_refresh_seconds,
            max_age_seconds=settings.jwks_max_age_seconds,
        )
    return local_keys_from_ring(context.keys, min_refresh_seconds=settings.jwks_min_refresh_seconds)


def build_identity(
    settings: Settings,
    context: IdpContext,
    *,
    sessions: SessionAuthenticator | None = None,
    is_revoked: RevocationCheck | None = None,
) -> GatewayIdentity:
    """``sessions``: the provider's hub-session authenticator; ``is_revoked``: the revocation store's check."""
    verifier = TokenVerifier(
        build_key_source(settings, context),
        settings.issuer,
        context.clock,
        leeway=settings.token_leeway,
        cache_size=settings.token_cache_size,
        is_revoked=is_revoked,
    )
    subjects = SubjectDirectory(
        context.sessionmaker, context.clock, ttl=settings.subject_cache_ttl, size=settings.subject_cache_size
    )
    routes = AppRegistry(
        context.sessionmaker,
        settings.issuer,
        context.clock,
        settings.registry_refresh_seconds,
        build_upstream_addresses(settings),
        apps_domain=settings.apps_domain,
    )
    bearer = BearerAuthenticator(
        verifier,
        subjects,
        realm=settings.issuer,
        is_client_suspended=routes.is_client_suspended,
        dpop=DpopProofChecker(context.dpop_replay, context.clock, ProofWindow(past=settings.dpop_proof_max_age)),
        policy_requires_dpop=lambda slug: context.policies.current.app(slug).require_dpop,
        policy_requires_profile=lambda route: required_profile(context.policies.current, route),
    )
    authenticator = RouteAuthenticator(bearer, sessions)

    def release(route: Route) -> tuple[str, ...]:  # nik/nip only where a guarded-scope rule allows (gateway.claims)
        keys = (route.slug,) if route.client_id is None else (route.client_id, route.slug)
        return released_claims(route.claims, keys, context.policies.current.allowed_scopes)

    assertions = HubAssertionIssuer(
        context.keys.sign,
        settings.issuer,
        context.clock,
        ttl=settings.assertion_ttl,
        reuse_seconds=settings.assertion_reuse_seconds,
        current_kid=lambda: context.keys.active.kid,
        release=release,
        policy_set=lambda: context.policies.current,
    )
    return GatewayIdentity(routes, authenticator, assertions, verifier, subjects)
