"""Rotating the hub's signing key: one owner for the CLI (``gerbang keys rotate``), the admin API and the console;
and revoking one that may have leaked (``gerbang keys revoke``).

The new key is published at once and signs ``key_activation_delay`` seconds later (relying parties that cache
the JWKS learn its ``kid`` first); the keys it replaces sign until then and stay published (they keep verifying
tokens already issued) ``retire_after`` seconds more. The audit entry is written in the caller's transaction, so the
rotation and its record commit together. Other instances pick the new key up on their next key refresh; the
caller reloads its own ``KeyRing`` after commit to sign with it at once.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.audit import append_audit
from idp.errors import InvalidInput
from idp.keys import decrypt_private_key, revoke_key, rotate_keys
from idp.settings import Settings
from idp.storage.models import SigningKey


async def rotate_signing_key(
    session: AsyncSession, settings: Settings, *, actor: str, now: int, alg: str | None = None
) -> SigningKey:
    """Add the next key (``alg``, default ``settings.signing_alg``): published now, signing after
    ``settings.key_activation_delay``, when the active key(s) retire; audited. Refused when the configured secret
    cannot open the keys in use."""
    await check_secret_opens_keys(session, settings.effective_secret, now)
    key = await rotate_keys(
        session,
        alg or settings.signing_alg,
        settings.effective_secret,
        now,
        settings.key_retire_after,
        activate_after=settings.key_activation_delay,
    )
    await append_audit(
        session,
        actor=actor,
        action="keys.rotate",
        target=f"key:{key.kid}",
        detail={"alg": key.alg, "retire_after": settings.key_retire_after, "activates_at": key.activates_at},
        now=now,
    )
    return key


async def revoke_signing_key(
    session: AsyncSession, settings: Settings, *, kid: str, actor: str, now: int
) -> SigningKey | None:
    """Stop trusting ``kid`` at once (a leaked key), audited; the new active key when ``kid`` was the active one.

    Tokens and assertions it signed stop verifying at the hub and at the gateway on each instance's next key
    refresh; the people and integrations holding them sign in or fetch a token again."""
    await check_secret_opens_keys(session, settings.effective_secret, now)
    replacement = await revoke_key(session, kid, settings.signing_alg, settings.effective_secret, now)
    await append_audit(
        session,
        actor=actor,
        action="keys.revoke",
        target=f"key:{kid}",
        detail={"replaced_by": replacement.kid if replacement else None},
        now=now,
    )
    return replacement


async def check_secret_opens_keys(session: AsyncSession, secret: bytes, now: int) -> None:
    """Refuse to touch the keys with a secret that cannot decrypt the ones in use: a key sealed under the wrong
    secret would become active and no hub instance could sign with it."""
    rows = (
        await session.scalars(
            select(SigningKey).where(or_(SigningKey.expires_at.is_(None), SigningKey.expires_at > now))
        )
    ).all()
    for row in rows:
        try:
            decrypt_private_key(row.private_key, secret, row.kid)
        except (InvalidTag, ValueError) as exc:
            raise InvalidInput(
                f"the configured secret (GERBANG_SECRET_KEY) cannot decrypt signing key {row.kid}: "
                "run this with the hub's own configuration; nothing was changed"
            ) from exc
