"""Changing, re-keying and removing OAuth clients (``gerbang clients update|rotate-secret|remove``, the admin API,
``gerbang apply``). Each change writes its audit entry (with a diff) in the caller's transaction.

Other instances see a change when their client cache entry expires (``idp.oauth.store``, a few seconds); the
instance that made it forgets its copy at once.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from idp.access_history import load_app_slugs_of_client
from idp.audit import append_audit
from idp.change_diff import build_diff
from idp.clients import HUB_CLIENT_IDS, check_client_metadata, digest_secret, load_client
from idp.errors import Conflict, InvalidInput
from idp.org import load_opd
from idp.profile_rule import ProfileGuard
from idp.storage.db import rows_affected
from idp.storage.models import AccessToken, Client, Consent, Grant, OpdUnit, RevokedToken

# What ``update_client`` may change; each is a list of strings except the text fields.
EDITABLE = (
    "name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "scope",
    "grant_types",
    "resources",
    "backchannel_logout_uri",
    "opd",
    "first_party",
)
MAX_GRACE_SECONDS = 30 * 86_400


async def client_view(session: AsyncSession, client: Client) -> dict[str, Any]:
    """The editable state of a client, as diffs and ``gerbang export`` show it."""
    opd = await session.scalar(select(OpdUnit.slug).where(OpdUnit.id == client.opd_id)) if client.opd_id else None
    return {
        "name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "scope": client.scope,
        "grant_types": list(client.grant_types),
        "resources": list(client.resources),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "opd": opd,
        "first_party": client.first_party,
    }


async def update_client(
    session: AsyncSession, client_id: str, changes: dict[str, Any], *, actor: str, now: int, profiles: ProfileGuard
) -> tuple[Client, dict[str, Any]]:
    """Apply ``changes`` (a subset of ``EDITABLE``) after checking the merged metadata and Kominfo's profile rule
    (``profiles``: a client that gains a restricted app's resource must follow FAPI 2.0); returns the diff."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"cannot change: {', '.join(unknown)}")
    client = await _load_editable(session, client_id)
    before = await client_view(session, client)
    merged = {**before, **changes}
    meta = check_client_metadata(
        name=merged["name"],
        redirect_uris=tuple(merged["redirect_uris"]),
        post_logout_redirect_uris=tuple(merged["post_logout_redirect_uris"]),
        grant_types=tuple(merged["grant_types"]),
        scope=merged["scope"],
        public=client.auth_method == "none",
        auth_method=client.auth_method,
        resources=tuple(merged["resources"]),
        jwks=client.jwks,
        jwks_uri=client.jwks_uri,
        backchannel_logout_uri=merged["backchannel_logout_uri"] or None,
    )
    client.name, client.redirect_uris, client.post_logout_redirect_uris = (
        meta.name,
        meta.redirect_uris,
        meta.post_logout_redirect_uris,
    )
    client.grant_types, client.scope, client.resources = meta.grant_types, meta.scope, meta.resources
    client.backchannel_logout_uri = meta.backchannel_logout_uri
    client.opd_id = (await load_opd(session, merged["opd"])).id if merged["opd"] else None
    client.first_party = bool(merged["first_party"])
    diff = build_diff(before, await client_view(session, client))
    if diff:
        client.updated_at = max(now, client.updated_at)
        await session.flush()
        await profiles.check(session, client_ids={client_id})
        await append_audit(
            session, actor=actor, action="client.update", target=f"client:{client_id}", detail={"diff": diff}, now=now
        )
    return client, diff


async def rotate_client_secret(
    session: AsyncSession, client_id: str, *, grace_seconds: int, actor: str, now: int
) -> tuple[str, int]:
    """A new secret (returned once, stored as a digest); the old one works ``grace_seconds`` more, then dies.

    Returns the new secret and the time the old one stops working. A secret replaced earlier whose grace
    period is still running ends now: at most one old secret is ever accepted."""
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise InvalidInput(f"the grace period must be between 0 and {MAX_GRACE_SECONDS} seconds")
    client = await _load_editable(session, client_id)
    if client.auth_method in ("none", "private_key_jwt") or not client.secret_digest:
        raise InvalidInput(f"client '{client_id}' has no secret (auth method {client.auth_method})")
    secret = secrets.token_urlsafe(32)
    client.previous_secret_digest = client.secret_digest if grace_seconds else None
    client.previous_secret_expires_at = now + grace_seconds if grace_seconds else None
    client.secret_digest = digest_secret(secret)
    client.updated_at = max(now, client.updated_at)
    await session.flush()
    await append_audit(
        session,
        actor=actor,
        action="client.rotate_secret",
        target=f"client:{client_id}",
        detail={"grace_seconds": grace_seconds, "old_secret_valid_until": now + grace_seconds},
        now=now,
    )
    return secret, now + grace_seconds


async def remove_client(session: AsyncSession, client_id: str, *, actor: str, now: int) -> dict[str, Any]:
    """Delete a client; its token families are revoked and its live access tokens denylisted. Refused while an app names the client: update or remove the app first."""
    client = await _load_editable(session, client_id)
    used_by = await load_app_slugs_of_client(session, client_id)
    if used_by:
        raise Conflict(f"client '{client_id}' is used by app(s) {', '.join(used_by)}: change or remove them first")
    before = await client_view(session, client)
    revoked = await session.execute(
        update(Grant)
        .where(Grant.client_id == client_id, Grant.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason="client_removed")
    )
    live = (
        await session.execute(
            select(AccessToken.jti, AccessToken.expires_at).where(
                AccessToken.client_id == client_id, AccessToken.expires_at > now
            )
        )
    ).all()
    known = (
        set(
            (
                await session.scalars(select(RevokedToken.jti).where(RevokedToken.jti.in_([jti for jti, _ in live])))
            ).all()
        )
        if live
        else set()
    )
    session.add_all(RevokedToken(jti=jti, expires_at=exp) for jti, exp in live if jti not in known)
    await session.execute(delete(Consent).where(Consent.client_id == client_id))
    await session.delete(client)
    await session.flush()
    await append_audit(
        session,
        actor=actor,
        action="client.remove",
        target=f"client:{client_id}",
        detail={"diff": build_diff(before, {}), "token_families": rows_affected(revoked)},
        now=now,
    )
    return before


async def _load_editable(session: AsyncSession, client_id: str) -> Client:
    if client_id in HUB_CLIENT_IDS:
        raise InvalidInput(f"client '{client_id}' is the hub's own and is managed by the hub")
    return await load_client(session, client_id)
