"""Kominfo's upstream identity providers: one owner for the CLI (``gerbang idps``), the admin API and the console.

Every change is audited in the caller's transaction. The client secret and the private key (``private_key_jwt``
toward the upstream) are sealed at rest; they are never shown again, only the public JWK of the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.audit import append_audit
from idp.errors import Conflict, InvalidInput, NotFound
from idp.federation.sealing import seal, unseal
from idp.storage.models import UpstreamIdp
from idp.upstream_addresses import UpstreamAddresses, UpstreamRefused, check_upstream_address

SLUG = re.compile(r"^[a-z][a-z0-9-]{1,63}$")
ACR = re.compile(r"^[A-Za-z0-9:._/-]{1,200}$")
LINK_BY = ("nik", "nip", "email", "none")
AUDIENCES = ("citizens", "asn", "all")
LOCAL_ACRS = ("1", "2")


@dataclass(frozen=True)
class UpstreamSpec:
    """What Kominfo gives for an upstream; ``None`` on update means "leave as it is"."""

    name: str | None = None
    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    private_key_pem: str | None = None
    scope: str | None = None
    link_by: str | None = None
    authoritative: bool | None = None
    acr_map: dict[str, str] | None = None
    audience: str | None = None
    enabled: bool | None = None
    generate_key: bool = False  # a new EC P-256 key made here (the private key never leaves the hub)


@dataclass(frozen=True)
class UpstreamCredentials:
    """An upstream's credentials, opened for one token request."""

    client_secret: str | None
    private_key_pem: str | None
    key_id: str | None


def parse_acr_map(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["UPSTREAM=LOCAL", ...]`` (``--acr-map``) → a dict; local levels are "1" or "2"."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        upstream, sep, local = pair.rpartition("=")
        if not sep or not ACR.match(upstream) or local not in LOCAL_ACRS:
            raise InvalidInput(f"acr map '{pair}': expected UPSTREAM=LOCAL with LOCAL 1 or 2")
        mapping[upstream] = local
    return mapping


def check_issuer(issuer: str) -> str:
    """An https URL (http only on loopback), no query or fragment (OIDC Discovery §4)."""
    try:
        parts = urlsplit(issuer)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise InvalidInput("issuer is not a valid URL") from exc
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not loopback) or not parts.hostname:
        raise InvalidInput("issuer must be an https URL")
    if parts.query or parts.fragment or parts.username:
        raise InvalidInput("issuer must have no query, fragment or user info")
    return issuer.rstrip("/") if parts.path in ("", "/") else issuer


async def check_issuer_address(issuer: str, addresses: UpstreamAddresses) -> None:
    """The hub connects to the issuer (discovery, and the endpoints it names): its host, and every address a
    name resolves to now, must be allowed (``idp.upstream_addresses``; checked again at every connect)."""
    try:
        await check_upstream_address(issuer, addresses)
    except UpstreamRefused as exc:
        raise InvalidInput(f"issuer: {exc}") from exc


def public_jwk_of(private_key_pem: str) -> dict[str, Any]:
    """The public JWK (with its RFC 7638 thumbprint as ``kid``) the upstream registers for our key."""
    key = _load_key(private_key_pem)
    jwk = key.as_dict(private=False)
    jwk.update(kid=key.thumbprint(), use="sig", alg="ES256" if isinstance(key, ECKey) else "RS256")
    return jwk


def new_private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


def _load_key(private_key_pem: str) -> ECKey | RSAKey:
    for cls in (ECKey, RSAKey):
        try:
            key = cls.import_key(private_key_pem)
        except Exception:  # joserfc raises several types for "not this kind of key"
            continue
        if not key.is_private:
            raise InvalidInput("the key file holds a public key; give the private key")
        if isinstance(key, ECKey) and key.curve_name != "P-256":
            raise InvalidInput("EC keys must be on P-256 (ES256)")
        return key
    raise InvalidInput("the key file is not a PEM EC (P-256) or RSA private key")


def open_credentials(row: UpstreamIdp, secret: bytes) -> UpstreamCredentials:
    return UpstreamCredentials(
        client_secret=unseal(row.client_secret, secret, row.slug, "client_secret") if row.client_secret else None,
        private_key_pem=unseal(row.private_key, secret, row.slug, "private_key") if row.private_key else None,
        key_id=row.key_id,
    )


def describe(row: UpstreamIdp, secret: bytes | None = None) -> dict[str, Any]:
    """The public view (API, CLI ``--json``): never the secret or the private key."""
    record: dict[str, Any] = {
        "slug": row.slug,
        "name": row.name,
        "issuer": row.issuer,
        "client_id": row.client_id,
        "client_auth": "private_key_jwt" if row.private_key else "client_secret_basic",
        "scope": row.scope,
        "link_by": row.link_by,
        "authoritative": row.authoritative,
        "acr_map": dict(row.acr_map),
        "for": row.audience,
        "enabled": row.enabled,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if row.private_key and secret is not None:
        record["public_jwk"] = public_jwk_of(unseal(row.private_key, secret, row.slug, "private_key"))
    return record


async def list_upstreams(session: AsyncSession, *, enabled_only: bool = False) -> list[UpstreamIdp]:
    query = select(UpstreamIdp).order_by(UpstreamIdp.slug)
    if enabled_only:
        query = query.where(UpstreamIdp.enabled.is_(True))
    return list((await session.scalars(query)).all())


async def load_upstream(session: AsyncSession, slug: str) -> UpstreamIdp:
    row = await session.scalar(select(UpstreamIdp).where(UpstreamIdp.slug == slug))
    if row is None:
        raise NotFound(f"no upstream identity provider '{slug}'")
    return row


async def load_enabled_upstream(session: AsyncSession, slug: str) -> UpstreamIdp | None:
    return await session.scalar(select(UpstreamIdp).where(UpstreamIdp.slug == slug[:64], UpstreamIdp.enabled.is_(True)))


async def add_upstream(
    session: AsyncSession,
    slug: str,
    spec: UpstreamSpec,
    *,
    secret: bytes,
    actor: str,
    now: int,
    addresses: UpstreamAddresses,
) -> UpstreamIdp:
    """``addresses``: what the hub may connect to (``idp.upstream_addresses``); the issuer must pass it."""
    if not SLUG.match(slug):
        raise InvalidInput("slug: 2-64 lowercase letters, digits and dashes, starting with a letter")
    if not (spec.name and spec.issuer and spec.client_id):
        raise InvalidInput("name, issuer and client id are required")
    if await session.scalar(select(UpstreamIdp.id).where(UpstreamIdp.slug == slug)) is not None:
        raise Conflict(f"upstream identity provider '{slug}' already exists")
    row = UpstreamIdp(
        slug=slug,
        name="",
        issuer="",
        client_id="",
        scope="openid profile email",
        link_by="email",
        authoritative=False,
        acr_map={},
        audience="all",
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    _apply(row, spec, secret)
    _check_credentials(row)
    await check_issuer_address(row.issuer, addresses)
    session.add(row)
    await session.flush()
    await append_audit(
        session, actor=actor, action="idps.add", target=f"idp:{slug}", detail=_audit_detail(row), now=now
    )
    return row


async def update_upstream(
    session: AsyncSession,
    slug: str,
    spec: UpstreamSpec,
    *,
    secret: bytes,
    actor: str,
    now: int,
    addresses: UpstreamAddresses,
) -> UpstreamIdp:
    row = await load_upstream(session, slug)
    _apply(row, spec, secret)
    _check_credentials(row)
    if spec.issuer is not None:
        await check_issuer_address(row.issuer, addresses)
    row.updated_at = now
    await append_audit(
        session,
        actor=actor,
        action="idps.update",
        target=f"idp:{slug}",
        detail={
            **_audit_detail(row),
            "new_secret": spec.client_secret is not None,
            "new_key": spec.private_key_pem is not None,
        },
        now=now,
    )
    return row


async def remove_upstream(session: AsyncSession, slug: str, *, actor: str, now: int) -> None:
    """Forget the upstream and every identity linked through it (the accounts stay)."""
    row = await load_upstream(session, slug)
    await session.delete(row)
    await session.flush()
    await append_audit(session, actor=actor, action="idps.remove", target=f"idp:{slug}", detail={}, now=now)


def _apply(row: UpstreamIdp, spec: UpstreamSpec, secret: bytes) -> None:
    if spec.name is not None:
        if not spec.name.strip() or len(spec.name) > 200:
            raise InvalidInput("name: 1-200 characters")
        row.name = spec.name.strip()
    if spec.issuer is not None:
        row.issuer = check_issuer(spec.issuer)
    if spec.client_id is not None:
        if not 0 < len(spec.client_id) <= 200:
            raise InvalidInput("client id: 1-200 characters")
        row.client_id = spec.client_id
    if spec.scope is not None:
        if "openid" not in spec.scope.split():
            raise InvalidInput("scope must include openid")
        row.scope = " ".join(spec.scope.split())
    if spec.link_by is not None:
        if spec.link_by not in LINK_BY:
            raise InvalidInput(f"link by: one of {', '.join(LINK_BY)}")
        row.link_by = spec.link_by
    if spec.audience is not None:
        if spec.audience not in AUDIENCES:
            raise InvalidInput(f"for: one of {', '.join(AUDIENCES)}")
        row.audience = spec.audience
    if spec.acr_map is not None:
        row.acr_map = parse_acr_map([f"{k}={v}" for k, v in spec.acr_map.items()])
    for name in ("authoritative", "enabled"):
        if getattr(spec, name) is not None:
            setattr(row, name, bool(getattr(spec, name)))
    if spec.client_secret is not None:
        if len(spec.client_secret) < 16:
            raise InvalidInput("client secret: at least 16 characters")
        row.client_secret, row.private_key, row.key_id = (
            seal(spec.client_secret, secret, row.slug, "client_secret"),
            None,
            None,
        )
    pem = new_private_key_pem() if spec.generate_key else spec.private_key_pem
    if pem is not None:
        jwk = public_jwk_of(pem)
        row.private_key = seal(pem, secret, row.slug, "private_key")
        row.key_id, row.client_secret = jwk["kid"], None


def _check_credentials(row: UpstreamIdp) -> None:
    """Rules across fields (a Conflict: the combination, not one value, is wrong)."""
    if not row.client_secret and not row.private_key:
        raise InvalidInput("give a client secret (--client-secret-stdin) or a private key (--private-key-file)")
    if row.authoritative and row.link_by in ("none", "email"):
        raise Conflict(
            "an upstream can be authoritative only for NIK or NIP (--link-by nik|nip), never for email addresses"
        )


def _audit_detail(row: UpstreamIdp) -> dict[str, Any]:
    return {
        "issuer": row.issuer,
        "client_id": row.client_id,
        "link_by": row.link_by,
        "authoritative": row.authoritative,
        "acr_map": dict(row.acr_map),
        "for": row.audience,
        "enabled": row.enabled,
        "client_auth": "private_key_jwt" if row.private_key else "client_secret",
    }
