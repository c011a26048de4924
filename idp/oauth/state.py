"""Per-request state for authlib hooks: what was preloaded, and the writes to apply afterwards."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from idp.storage.models import AuthorizationCode, BrowserSession, Client, DeviceCode, Grant, RefreshToken, User


@dataclass
class Effects:
    """Writes authlib asked for, applied in one transaction after the grant returns."""

    new_code: dict[str, Any] | None = None
    redeem_code: str | None = None  # code digest to mark redeemed (must still be unredeemed)
    new_grant: Grant | None = None
    rotate_refresh: str | None = None  # refresh digest to mark rotated (must still be unrotated)
    new_refresh: RefreshToken | None = None
    access_jtis: list[tuple[str, str | None, str, int]] = field(default_factory=list)  # jti, grant, client, exp
    replay_marks: list[tuple[str, int]] = field(default_factory=list)
    revoke_grant: str | None = None
    revoke_jti: tuple[str, int] | None = None
    touch_session: str | None = None  # sid of the browser session a refresh kept alive
    spend_pushed: str | None = None  # RFC 9126 request_uri digest, single use (spent with the code it issued)
    device_polled: tuple[str, bool] | None = None  # RFC 8628 device code digest polled (and whether too fast)
    redeem_device: str | None = None  # device code digest exchanged for tokens (must still be approved)
    audit: list[dict[str, Any]] = field(default_factory=list)  # append_audit(**entry), last in the transaction

    def is_plain_rotation(self) -> bool:
        """A refresh and nothing else: the old token rotated, its successor and one access token stored, maybe the
        sign-in touched (``idp.oauth.store`` writes exactly this in one statement on PostgreSQL)."""
        return (
            self.rotate_refresh is not None
            and self.new_refresh is not None
            and len(self.access_jtis) == 1
            and self._nothing_but("rotate_refresh", "new_refresh", "access_jtis", "touch_session")
        )

    def is_plain_code_issue(self) -> bool:
        """A code issued and nothing else (``idp.oauth.store`` writes it with the sign-in's own writes in one
        statement on PostgreSQL)."""
        return self.new_code is not None and self._nothing_but("new_code")

    def is_plain_redemption(self) -> bool:
        """A code exchanged and nothing else: the code redeemed, its family, maybe a refresh token, and one access
        token stored (``idp.oauth.store`` writes exactly this in one statement on PostgreSQL)."""
        return (
            self.redeem_code is not None
            and self.new_grant is not None
            and len(self.access_jtis) == 1
            and self._nothing_but("redeem_code", "new_grant", "new_refresh", "access_jtis")
        )

    def is_empty(self) -> bool:
        return self._nothing_but()

    def _nothing_but(self, *allowed: str) -> bool:
        """No write asked for besides ``allowed``: every field counts, so a field added later cannot be forgotten by
        one of the checks above (and its write silently skipped or taken down a one-statement path)."""
        return not any(getattr(self, name) for name in EFFECT_FIELDS if name not in allowed)


EFFECT_FIELDS = tuple(Effects.__dataclass_fields__)


if TYPE_CHECKING:
    from idp.oauth.session_binding import RefreshLifetimes
    from idp.oauth.token_exchange import Exchange
    from idp.profile_rule import ServedApp


@dataclass
class SignIn:
    """The browser sign-in an authorization code is issued from (copied into the code)."""

    sid: str
    auth_time: int
    acr: str
    amr: list[str]


@dataclass
class Preloaded:
    """What a request to authlib carries into its synchronous hooks: storage reads done before authlib runs, the
    endpoint's inputs, what one hook hands to a later one, and the writes to apply afterwards (``effects``)."""

    clients: dict[str, Client] = field(default_factory=dict)
    code: AuthorizationCode | None = None
    refresh: RefreshToken | None = None
    grant: Grant | None = None
    browser_session: BrowserSession | None = None  # the sign-in the grant came from
    user: User | None = None
    device: DeviceCode | None = None
    nonce_seen: bool = False
    effects: Effects = field(default_factory=Effects)
    # Inputs from the endpoint.
    now: int = 0  # the provider's clock, read once per request
    refresh_lifetimes: RefreshLifetimes | None = None  # token endpoint: how long a refresh token stands
    dpop_jkt: str | None = None  # RFC 9449: the thumbprint of the request's DPoP proof key
    code_ttl: int = 0  # authorization endpoint: how long a code lives
    login: SignIn | None = None  # authorization endpoint: the sign-in the code is issued from
    # Handed from one hook to a later one in the same request.
    client_row: Client | None = None  # the client authlib authenticated (its scope check reads it)
    assertion_alg: str | None = None  # private_key_jwt: the client assertion's alg (FAPI 2 allowlist)
    resources: list[str] = field(default_factory=list)  # RFC 8707 resources the token is issued for
    redeemed_code: AuthorizationCode | DeviceCode | None = None  # the code or device code being redeemed
    sid: str | None = None  # the sign-in session an ID token names
    redeemed_grant: Grant | None = None  # the grant a refresh token belongs to
    subject_claims: dict[str, Any] | None = None  # RFC 8693: the verified subject token's claims
    app_resources: set[tuple[str, str]] = field(default_factory=set)  # RFC 8693: (client_id, resource) of apps
    exchange: Exchange | None = None  # RFC 8693: the exchange validated, issued by the token hook
    client_jwks: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # keys fetched from jwks_uri
    # idp.profile_rule: the apps the candidate clients serve or the request names (None: not loaded, refuse)
    served_apps: list[ServedApp] | None = None


CURRENT: ContextVar[Preloaded] = ContextVar("gerbang_oauth_preloaded")


def current() -> Preloaded:
    return CURRENT.get()


T = TypeVar("T")


async def run_with_state(state: Preloaded, func: Callable[[], T]) -> T:
    """Run synchronous authlib code with ``state`` as its preloaded state.

    It runs on the event loop, not in a worker thread: with storage preloaded, authlib does no
    I/O, only ~100 µs of validation and signing — less than a thread hop costs (measured: the hop
    tripled the token endpoint's CPU per request). Password hashing, the one slow CPU step of a
    login, runs in the threadpool (``idp.passwords``).
    """
    token = CURRENT.set(state)
    try:
        return func()
    finally:
        CURRENT.reset(token)
