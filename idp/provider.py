"""The running provider: the authlib server, stores, minter and pages, built once from the context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import Counter

from idp.backchannel import BackchannelLogout, DeliveryPolicy
from idp.context import IdpContext
from idp.csrf import Csrf
from idp.device_cookie import DeviceCookies
from idp.dpop.guard import DpopGuard
from idp.dpop.nonces import DpopNonces
from idp.dpop.proof import ProofWindow
from idp.federation.discovery import UpstreamDirectory
from idp.federation.logins import FederationLogins
from idp.federation.sessions import FederatedSessions
from idp.interactions import InteractionStore
from idp.links import LinkSigner
from idp.login_throttle import PolicyThrottle
from idp.mail import Mailer
from idp.oauth.client_jwks import ClientKeySets
from idp.oauth.client_profile import ServedAppCache
from idp.oauth.server import HubAuthorizationServer
from idp.oauth.session_binding import RefreshLifetimes, revoke_session_grants
from idp.oauth.store import ClientCache
from idp.oauth.tokens import TokenMinter
from idp.pages import Pages
from idp.profile_rule import ProfileGuard
from idp.recovery_codes import RecoveryCodes
from idp.second_factor import ChallengeStore
from idp.sessions import SessionStore
from idp.storage.models import BrowserSession
from idp.totp import SecretBox
from idp.upstream_addresses import build_upstream_addresses
from idp.webauthn_keys import PasskeyService

LogoutListener = Callable[[BrowserSession], Awaitable[None]]

TOKENS_ISSUED = Counter("gerbang_token_requests_total", "Token endpoint requests", ["grant_type", "status"])


class Provider:
    def __init__(self, ctx: IdpContext) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.settings = settings
        self.clock = ctx.clock
        self.sessionmaker = ctx.sessionmaker
        self.keys = ctx.keys
        self.issuer = settings.issuer
        self.base = f"{settings.issuer}/auth"
        self.token_url = f"{self.base}/token"
        self.authorize_url = f"{self.base}/authorize"
        self.par_url = f"{self.base}/par"
        self.userinfo_url = f"{self.base}/userinfo"
        self.dpop = DpopGuard(
            DpopNonces(settings.effective_secret),
            ctx.dpop_replay,
            ctx.clock,
            require_nonce=settings.dpop_require_nonce,
            window=ProofWindow(past=settings.dpop_proof_max_age),
        )
        self.minter = TokenMinter(
            ctx.keys, settings.issuer, ctx.clock, settings.access_token_ttl, settings.id_token_ttl
        )
        self.server = HubAuthorizationServer(settings.issuer, self.minter, settings.refresh_token_ttl, ctx.policies)
        self.clients = ClientCache(ctx.sessionmaker)
        # Kominfo's profile rule at the doors the provider owns (RFC 7592 client updates)
        self.profiles = ProfileGuard(lambda: ctx.policies.current, settings.issuer, settings.apps_domain)
        self.served_apps = ServedAppCache(ctx.sessionmaker, settings.issuer, settings.apps_domain)  # at issue time
        self.sessions = SessionStore(ctx.sessionmaker, ctx.clock, settings.session_ttl, settings.session_idle_ttl)
        self.interactions = InteractionStore(ctx.sessionmaker, ctx.clock)
        self.session_cookie = "__Host-gerbang_session" if settings.uses_tls else "gerbang_session"
        self.pages = Pages(
            Csrf(settings.effective_secret), settings.default_locale, settings.uses_tls, self.session_cookie
        )
        self.pages.env.globals["privacy_version"] = settings.privacy_notice_version
        self.logout_listeners: list[LogoutListener] = []
        self.mailer = Mailer(settings.mail_from, settings.smtp_url, settings.effective_mail_outbox)
        self.links = LinkSigner(settings.effective_secret)
        self.devices = DeviceCookies(settings.effective_secret)
        self.throttle = PolicyThrottle(ctx.policies, ctx.limits)
        self.secret_box = SecretBox(settings.effective_secret)
        self.recovery_codes = RecoveryCodes(settings.effective_secret)
        self.passkeys = PasskeyService(ctx.sessionmaker, ctx.clock, settings.issuer)
        self.backchannel = BackchannelLogout(
            ctx.keys,
            settings.issuer,
            self.clients,
            ctx.sessionmaker,
            ctx.clock,
            DeliveryPolicy(
                settings.backchannel_logout_attempts,
                settings.backchannel_logout_backoff,
                settings.backchannel_logout_timeout,
            ),
            build_upstream_addresses(settings),
        )
        self.logout_listeners.append(self._end_session_grants)
        self.logout_listeners.append(self.backchannel.on_session_end)
        self.challenges = ChallengeStore(ctx.sessionmaker, ctx.clock, settings.second_factor_ttl)
        # Identity brokering (idp.federation): upstream metadata cache, sign-ins in flight, brokered sessions.
        self.client_keys = ClientKeySets(
            build_upstream_addresses(settings),
            timeout=settings.client_jwks_timeout,
            ttl=settings.client_jwks_ttl,
            refetch_interval=settings.client_jwks_refetch_seconds,
        )
        self.upstreams = UpstreamDirectory(
            settings.federation_timeout, settings.federation_metadata_ttl, build_upstream_addresses(settings)
        )
        self.federation_logins = FederationLogins(ctx.sessionmaker, ctx.clock)
        self.federated_sessions = FederatedSessions(ctx.sessionmaker, ctx.clock, settings.effective_secret)
        self.refresh_lifetimes = RefreshLifetimes(settings.session_idle_ttl, settings.refresh_token_idle_ttl)

    async def end_session(self, row: BrowserSession) -> None:
        """End a browser session and tell everyone who keeps state for it (gateway, back-channel)."""
        await self.sessions.end(row.sid)
        for listener in self.logout_listeners:
            await listener(row)

    async def _end_session_grants(self, row: BrowserSession) -> None:
        """Refresh tokens without ``offline_access`` (and their access tokens) end with the session."""
        async with self.sessionmaker() as session, session.begin():
            await revoke_session_grants(session, row.sid, self.clock.now())

    def metrics_token(self, grant_type: str, status: int) -> None:
        TOKENS_ISSUED.labels(
            grant_type if grant_type in ("authorization_code", "refresh_token", "client_credentials") else "other",
            str(status),
        ).inc()
