"""The citizen's agreement before a ``session`` app first receives her identity, and again when its claims grow.

A session app signs people in through the gateway's first-party client (``gerbang-gateway``), so the provider's
per-client consent never asks. The app a sign-in is for is named by the request's validated ``redirect_uri``
(``{app origin}/.gerbang/callback``; the gateway client's redirect URIs are exactly the session apps' hosts), so
the agreement lives on the hub's origin, in the authorization pipeline (``check_consent``): no code, hence no
session and no assertion, reaches the app before the person agreed on a hub page (CSRF-protected, which an app
on its own origin can neither read nor forge). Agreements are per person and app, with the claim set agreed to
(``AppAgreement``); withdrawing on ``/account`` deletes it (``idp.pdp.withdraw.withdraw_app``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.access_history import load_app_by_host
from idp.app_claims import DEFAULT_CLAIMS, released_claims
from idp.storage.models import AppAgreement

CALLBACK_PATH = "/.gerbang/callback"  # the gateway's callback on every session app's host (gateway.session_client)


@dataclass(frozen=True)
class AppToAgree:
    """A session app as the agreement page names it, with the claims its assertion would carry now."""

    app_id: int
    slug: str
    name: str
    opd_name: str | None
    claims: tuple[str, ...]


async def load_app_to_agree(
    session: AsyncSession, apps_domain: str, redirect_uri: str, allowed_scopes: object
) -> AppToAgree | None:
    """The active session app whose callback ``redirect_uri`` is, or None."""
    parts = urlsplit(redirect_uri)
    host = (parts.hostname or "").lower()
    if parts.path != CALLBACK_PATH or not host:
        return None
    app = await load_app_by_host(session, host, apps_domain)
    if app is None or app.auth_mode != "session" or app.status != "active":
        return None
    keys = (app.slug,) if app.client_id is None else (app.client_id, app.slug)
    claims = released_claims(DEFAULT_CLAIMS if app.claims is None else tuple(app.claims), keys, allowed_scopes)
    return AppToAgree(app.app_id, app.slug, app.name, app.opd_name, claims)


async def has_agreed(session: AsyncSession, user_id: str, app: AppToAgree) -> bool:
    """Did the person agree to every claim the app would receive now? (A grown claim set asks again.)"""
    row = await session.scalar(
        select(AppAgreement).where(AppAgreement.user_id == user_id, AppAgreement.app_id == app.app_id)
    )
    return row is not None and set(app.claims) <= set(row.claims)


async def record_agreement(session: AsyncSession, user_id: str, app: AppToAgree, now: int) -> None:
    row = await session.scalar(
        select(AppAgreement).where(AppAgreement.user_id == user_id, AppAgreement.app_id == app.app_id)
    )
    if row is None:
        session.add(AppAgreement(user_id=user_id, app_id=app.app_id, claims=list(app.claims), agreed_at=now))
    else:
        row.claims, row.agreed_at = sorted(set(row.claims) | set(app.claims)), now


async def forget_agreement(session: AsyncSession, user_id: str, app_id: int) -> None:
    """Withdrawal: the next sign-in to the app asks again."""
    await session.execute(delete(AppAgreement).where(AppAgreement.user_id == user_id, AppAgreement.app_id == app_id))
