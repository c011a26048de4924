"""OAuth client registry (RFC 6749 §2, RFC 7591 metadata names). Secrets are SHA-256 digests.

A client secret is 256 random bits, so a fast digest is enough (no dictionary to attack) and keeps
the token endpoint cheap; comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.errors import Conflict, InvalidInput, NotFound
from idp.org import load_opd
from idp.storage.models import Client, OpdUnit
from idp.upstream_addresses import UpstreamAddresses, UpstreamRefused, check_upstream_address

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693 (targets: policy files)
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", DEVICE_GRANT, TOKEN_EXCHANGE_GRANT)
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
PROFILES = ("fapi2",)
ID_TOKEN_ALGS = ("ES256", "PS256", "RS256", "EdDSA")  # id_token_signed_response_alg (OIDC Registration §2)
FAPI_SIGNING_ALGS = ("PS256", "ES256", "EdDSA")
# The hub's own clients: the gateway signing citizens in for `session` apps, and Kominfo's console.
GATEWAY_CLIENT_ID = "gerbang-gateway"
CONSOLE_CLIENT_ID = "gerbang-console"
HUB_CLIENT_IDS = frozenset({GATEWAY_CLIENT_ID, CONSOLE_CLIENT_ID})
# Every client id: a chosen one (policies name integrations by it, e.g. `bapenda-pajak`) and a generated one
# (``new_client_id``) alike start with a letter or digit, so none reads as a command-line option and the city file
# (``gerbang export`` / ``apply``) holds every id the hub hands out.
CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def new_client_id() -> str:
    """24 URL-safe base64 characters (144 bits) starting with a letter or digit: an id that reads as an option
    (``-x...``) on a command line, or that a city file or policy could not name, is never handed out."""
    while True:  # rejection keeps the draw uniform over the ids allowed; 1 in 32 draws is retried
        value = secrets.token_urlsafe(18)
        if value[0].isalnum():
            return value


def digest_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_secret_valid(client: Client, presented: str, now: float | None = None) -> bool:
    """The current secret, or the one it replaced while its grace period runs (``rotate_client_secret``)."""
    if not client.secret_digest:
        return False
    digest = digest_secret(presented)
    if hmac.compare_digest(client.secret_digest, digest):
        return True
    previous, until = client.previous_secret_digest, client.previous_secret_expires_at
    if previous is None or until is None or (time.time() if now is None else now) >= until:
        return False
    return hmac.compare_digest(previous, digest)


def _split(uri: str) -> SplitResult:
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a malformed port
        return parts
    except ValueError as exc:  # "http://[::1", "http://h:99999"
        raise InvalidInput(f"not a valid URI: {uri}") from exc


def check_redirect_uri(uri: str) -> str:
    """Absolute, no fragment; https except on loopback (RFC 8252 §7.3, RFC 9700 §2.1)."""
    parts = _split(uri)
    if parts.fragment or "#" in uri:
        raise InvalidInput(f"redirect URI must not carry a fragment: {uri}")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return uri
    raise InvalidInput(f"redirect URI must be https (http only on loopback): {uri}")


def check_resource(uri: str) -> str:
    """RFC 8707 §2: an absolute URI without a fragment."""
    parts = _split(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
        raise InvalidInput(f"resource must be an absolute http(s) URI without fragment: {uri}")
    return uri


def check_jwks_uri(uri: str) -> str:
    """RFC 7591 §2 ``jwks_uri``: absolute https (http only on loopback), no fragment, no credentials.

    The addresses it resolves to are checked by ``check_jwks_uri_address`` (``idp.upstream_addresses``)."""
    parts = _split(uri)
    if parts.fragment or "#" in uri or parts.username or parts.password or not parts.hostname:
        raise InvalidInput(f"jwks_uri must be an absolute URI without fragment or credentials: {uri}")
    if len(uri) > 500:
        raise InvalidInput("jwks_uri is longer than 500 characters")
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return uri
    raise InvalidInput(f"jwks_uri must be https (http only on loopback): {uri}")


async def check_jwks_uri_address(uri: str, addresses: UpstreamAddresses) -> None:
    """The hub will connect to it from inside Kominfo's network: every address it resolves to must be allowed."""
    try:
        await check_upstream_address(uri, addresses)
    except UpstreamRefused as exc:
        raise InvalidInput(f"jwks_uri: {exc}") from exc


@dataclass(frozen=True)
class ClientMetadata:
    """Checked client metadata (RFC 7591 §2 names), ready to store."""

    name: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    grant_types: list[str]
    scope: str
    auth_method: str
    resources: list[str]
    jwks: dict[str, Any] | None
    backchannel_logout_uri: str | None
    security: ClientSecurity = field(default_factory=lambda: ClientSecurity())
    jwks_uri: str | None = None


@dataclass(frozen=True)
class ClientSecurity:
    """FAPI 2.0 profile, PAR (RFC 9126 §6), DPoP (RFC 9449 §5.2) and the ID token algorithm of one client."""

    profile: str | None = None
    require_par: bool = False
    dpop_bound: bool = False
    id_token_alg: str | None = None


def check_client_security(security: ClientSecurity, auth_method: str, grant_types: tuple[str, ...]) -> ClientSecurity:
    """FAPI 2.0 Security Profile §5.3.2: PAR, DPoP-bound tokens, private_key_jwt (never client_secret_*)."""
    if security.profile is not None and security.profile not in PROFILES:
        raise InvalidInput(f"profile must be one of: {', '.join(PROFILES)}")
    if security.id_token_alg is not None and security.id_token_alg not in ID_TOKEN_ALGS:
        raise InvalidInput(f"id_token_signed_response_alg must be one of: {', '.join(ID_TOKEN_ALGS)}")
    if security.profile != "fapi2":
        return security
    if auth_method != "private_key_jwt":
        raise InvalidInput("the fapi2 profile needs private_key_jwt client authentication")
    if security.id_token_alg not in (None, *FAPI_SIGNING_ALGS):
        raise InvalidInput(f"the fapi2 profile signs ID tokens with {', '.join(FAPI_SIGNING_ALGS)} only")
    return ClientSecurity("fapi2", require_par=True, dpop_bound=True, id_token_alg=security.id_token_alg)


def check_client_metadata(
    *,
    name: str,
    redirect_uris: tuple[str, ...] = (),
    post_logout_redirect_uris: tuple[str, ...] = (),
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
    scope: str = "openid profile email",
    public: bool = False,
    auth_method: str | None = None,
    resources: tuple[str, ...] = (),
    jwks: dict[str, Any] | None = None,
    backchannel_logout_uri: str | None = None,
    security: ClientSecurity | None = None,
    jwks_uri: str | None = None,
) -> ClientMetadata:
    """Every rule a client's metadata must meet, for the CLI, the admin API and dynamic registration alike."""
    if not name.strip():
        raise InvalidInput("name is required")
    for grant in grant_types:
        if grant not in GRANT_TYPES:
            raise InvalidInput(f"grant '{grant}' is not supported (allowed: {', '.join(GRANT_TYPES)})")
    method = auth_method or ("none" if public else "client_secret_basic")
    if method not in AUTH_METHODS:
        raise InvalidInput(f"auth method must be one of: {', '.join(AUTH_METHODS)}")
    if public != (method == "none"):
        raise InvalidInput("public clients use auth method 'none', confidential clients another")
    if public and "client_credentials" in grant_types:
        raise InvalidInput("a public client cannot use client_credentials")
    if jwks and jwks_uri:
        raise InvalidInput("register the client's keys either by value (jwks) or by reference (jwks_uri), not both")
    if method == "private_key_jwt" and not (jwks or jwks_uri):
        raise InvalidInput("private_key_jwt needs the client's public keys (jwks or jwks_uri)")
    if jwks_uri:
        check_jwks_uri(jwks_uri)
    if "authorization_code" in grant_types and not redirect_uris:
        raise InvalidInput("authorization_code needs at least one redirect URI")
    uris = [check_redirect_uri(uri) for uri in redirect_uris]
    logout_uris = [check_redirect_uri(uri) for uri in post_logout_redirect_uris]
    checked_resources = [check_resource(uri) for uri in resources]
    if backchannel_logout_uri:
        check_redirect_uri(backchannel_logout_uri)
    checked_security = check_client_security(security or ClientSecurity(), method, grant_types)
    return ClientMetadata(
        name.strip(),
        uris,
        logout_uris,
        list(grant_types),
        " ".join(scope.split()),
        method,
        checked_resources,
        jwks,
        backchannel_logout_uri,
        checked_security,
        jwks_uri or None,
    )


async def add_client(
    session: AsyncSession,
    *,
    name: str,
    now: int,
    opd_slug: str | None = None,
    redirect_uris: tuple[str, ...] = (),
    post_logout_redirect_uris: tuple[str, ...] = (),
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
    scope: str = "openid profile email",
    public: bool = False,
    auth_method: str | None = None,
    resources: tuple[str, ...] = (),
    first_party: bool = False,
    status: str = "active",
    jwks: dict | None = None,
    backchannel_logout_uri: str | None = None,
    client_id: str | None = None,
    security: ClientSecurity | None = None,
    jwks_uri: str | None = None,
    addresses: UpstreamAddresses | None = None,
) -> tuple[Client, str | None]:
    """Create a client; returns it with the plain secret (shown once, never stored).

    ``addresses``: what the hub may connect to (a ``jwks_uri`` is checked against it; default: the built-in
    refusals only)."""
    if client_id is not None and not CLIENT_ID.fullmatch(client_id):
        raise InvalidInput("client id: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    meta = check_client_metadata(
        name=name,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris,
        grant_types=grant_types,
        scope=scope,
        public=public,
        auth_method=auth_method,
        resources=resources,
        jwks=jwks,
        backchannel_logout_uri=backchannel_logout_uri,
        security=security,
        jwks_uri=jwks_uri,
    )
    if meta.jwks_uri:
        await check_jwks_uri_address(meta.jwks_uri, addresses or UpstreamAddresses())
    opd_id = (await load_opd(session, opd_slug)).id if opd_slug else None
    client_id = client_id or new_client_id()
    if await session.scalar(select(Client.id).where(Client.client_id == client_id)) is not None:
        raise Conflict(f"client '{client_id}' already exists")
    secret = None if meta.auth_method in ("none", "private_key_jwt") else secrets.token_urlsafe(32)
    client = Client(
        client_id=client_id,
        secret_digest=digest_secret(secret) if secret else None,
        name=meta.name,
        opd_id=opd_id,
        redirect_uris=meta.redirect_uris,
        post_logout_redirect_uris=meta.post_logout_redirect_uris,
        grant_types=meta.grant_types,
        scope=meta.scope,
        auth_method=meta.auth_method,
        jwks=meta.jwks,
        resources=meta.resources,
        jwks_uri=meta.jwks_uri,
        first_party=first_party,
        status=status,
        backchannel_logout_uri=meta.backchannel_logout_uri,
        created_at=now,
        updated_at=now,
        profile=meta.security.profile,
        require_par=meta.security.require_par,
        dpop_bound=meta.security.dpop_bound,
        id_token_alg=meta.security.id_token_alg,
    )
    session.add(client)
    await session.flush()
    return client, secret


async def find_client(session: AsyncSession, client_id: str) -> Client | None:
    return await session.scalar(select(Client).where(Client.client_id == client_id))


async def load_client(session: AsyncSession, client_id: str) -> Client:
    client = await find_client(session, client_id)
    if client is None:
        raise NotFound(f"client '{client_id}' does not exist")
    return client


async def list_clients(session: AsyncSession) -> list[Client]:
    return list((await session.scalars(select(Client).order_by(Client.created_at))).all())


@dataclass(frozen=True)
class ClientUnit:
    status: str
    path: str  # the unit's OPD path ("/kota-palembang/dinkes/")
    slug: str


async def load_client_unit(session: AsyncSession, client_id: str) -> ClientUnit | None:
    """The client's status and the OPD unit Kominfo placed it in; None for a client with no unit."""
    query = (
        select(Client.status, OpdUnit.path, OpdUnit.slug)
        .join(OpdUnit, OpdUnit.id == Client.opd_id)
        .where(Client.client_id == client_id)
    )
    found = (await session.execute(query)).first()
    return None if found is None else ClientUnit(*found)
