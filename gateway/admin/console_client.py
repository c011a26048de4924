"""The console's own OAuth client: first party, allowed to ask for tokens for the admin API (RFC 8707).

Like ``gateway.session_auth.ensure_gateway_client``, every instance derives the same secret from the
settings secret and stores only its digest; provisioning runs at start-up and is idempotent.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.http import admin_resource
from idp.clients import CONSOLE_CLIENT_ID, digest_secret, find_client
from idp.storage.insert_if_absent import insert_if_absent
from idp.storage.models import Client

CONSOLE_SCOPE = "openid profile email opd"


def console_client_secret(secret: bytes) -> str:
    return hmac.new(secret, b"gerbang-console-client", hashlib.sha256).hexdigest()


async def ensure_console_client(session: AsyncSession, issuer: str, secret: bytes, now: int) -> None:
    base = issuer.rstrip("/")
    wanted = {
        "redirect_uris": [f"{base}/admin/callback"],
        "resources": [admin_resource(issuer)],
        "secret_digest": digest_secret(console_client_secret(secret)),
    }
    created = await insert_if_absent(
        session,
        Client,
        "client_id",
        dict(
            client_id=CONSOLE_CLIENT_ID,
            name="Konsol Kominfo",
            post_logout_redirect_uris=[f"{base}/admin/"],
            grant_types=["authorization_code", "refresh_token"],
            scope=CONSOLE_SCOPE,
            auth_method="client_secret_basic",
            first_party=True,
            status="active",
            created_at=now,
            updated_at=now,
            **wanted,
        ),
    )
    if created:
        return
    client = await find_client(session, CONSOLE_CLIENT_ID)
    if client is not None and any(getattr(client, name) != value for name, value in wanted.items()):
        for name, value in wanted.items():
            setattr(client, name, value)
        client.updated_at = now
