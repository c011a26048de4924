"""``/auth/broker/confirm``: after an upstream sign-in that matched no linked account — the person confirms
the new account (the page shows what will be stored), or proves the existing account once (its password)
to link it. Kominfo's authoritative upstreams link a NIK/NIP match without the proof, on this same page.

Nothing is written before the confirming POST; then the account (or link) and its audit entry commit
together, and the parked claims are used up first so a double submit cannot create twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from idp.endpoints.broker import broker_failed, load_enabled_upstream, sign_in_federated
from idp.errors import GerbangError
from idp.federation.linking import create_account, link_identity, proposed_account, resolve
from idp.federation.logins import COOKIE
from idp.login_throttle import is_attempt_admitted
from idp.page_forms import PageRefused, read_page_form
from idp.provider import Provider
from idp.storage.models import FederationLogin, UpstreamIdp, User


def mask_nik(value: str | None) -> str | None:
    return f"{value[:6]}••••••{value[12:]}" if value else None


def mask_email(value: str | None) -> str | None:
    if not value:
        return None
    local, _, domain = value.partition("@")
    return f"{local[:2]}•••@{domain}"


async def _parked(
    request: Request, provider: Provider, value: str | None
) -> tuple[FederationLogin, UpstreamIdp] | None:
    login = await provider.federation_logins.load(value, request.cookies.get(COOKIE), parked=True)
    if login is None:
        return None
    row = await load_enabled_upstream(provider, login.idp_slug)
    return (login, row) if row is not None else None


@dataclass(frozen=True)
class LinkCandidate:
    """A parked upstream sign-in whose verified identifier matched ``user``: linking waits for proof."""

    login: FederationLogin
    row: UpstreamIdp
    user: User
    claims: dict[str, Any]


async def load_link_candidate(request: Request, provider: Provider) -> LinkCandidate | None:
    parked = await _parked(request, provider, request.cookies.get(COOKIE))
    if parked is None:
        return None
    login, row = parked
    claims: dict[str, Any] = dict(login.claims or {})
    async with provider.sessionmaker() as session:
        resolution = await resolve(session, row, claims)
    if resolution.kind != "link" or resolution.user is None:
        return None
    return LinkCandidate(login, row, resolution.user, claims)


async def write_link(provider: Provider, found: LinkCandidate, how: str, value: str | None) -> User | None:
    """Use the parked sign-in up, then link (both or nothing); ``None`` when it was used already or lost a race."""
    if value is None or not await provider.federation_logins.take(value):
        return None
    return await _write(provider, found.row, found.claims, "link", found.user, how)


async def confirm_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    value = request.cookies.get(COOKIE)
    parked = await _parked(request, provider, value)
    if parked is None:
        return provider.pages.error(request, "error.expired", 400)
    return await _render(request, provider, *parked)


async def _render(
    request: Request,
    provider: Provider,
    login: FederationLogin,
    row: UpstreamIdp,
    error_key: str | None = None,
    status: int = 200,
) -> Response:
    assert login.claims is not None
    async with provider.sessionmaker() as session:
        resolution = await resolve(session, row, login.claims)
    proposed = proposed_account(row, login.claims)
    existing = mask_email(resolution.user.email) if resolution.user is not None else None
    has_passkey = resolution.user is not None and bool(await provider.passkeys.list_for(resolution.user.id))
    return provider.pages.render(
        request,
        "broker_confirm.html",
        status=status,
        upstream=row.name,
        mode=resolution.kind,
        authoritative=resolution.authoritative,
        proposed={**proposed, "nik": mask_nik(proposed["nik"])},
        existing=existing,
        error_key=error_key,
        has_passkey=has_passkey,
    )


async def confirm_submit(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    try:
        form = await read_page_form(request, provider)
    except PageRefused as refused:
        return refused.render(request, provider)
    value = request.cookies.get(COOKIE)
    parked = await _parked(request, provider, value)
    if parked is None or value is None:
        return provider.pages.error(request, "error.expired", 400)
    login, row = parked
    claims: dict[str, Any] = dict(login.claims or {})
    if form.get("decision") != "confirm":
        await provider.federation_logins.take(value)
        return await broker_failed(request, provider, login.interaction, "broker.cancelled", 200, "declined")
    async with provider.sessionmaker() as session:
        resolution = await resolve(session, row, claims)
    extra_amr: tuple[str, ...] = ()
    if resolution.kind == "link" and not resolution.authoritative:
        assert resolution.user is not None
        proof = await _check_password(request, provider, resolution.user, form.get("password", "")[:128])
        if proof is not None:
            return await _render(
                request, provider, login, row, error_key=proof, status=429 if proof == "login.throttled" else 400
            )
        extra_amr = ("pwd",)
    if resolution.kind not in ("create", "link") or not await provider.federation_logins.take(value):
        return await broker_failed(
            request,
            provider,
            login.interaction,
            resolution.reason or "error.expired",
            409,
            f"confirm: {resolution.kind}",
        )
    user = await _write(
        provider,
        row,
        claims,
        resolution.kind,
        resolution.user,
        "authoritative" if resolution.authoritative else "password",
    )
    if user is None:
        return await broker_failed(request, provider, login.interaction, "broker.taken", 409, "write failed")
    return await sign_in_federated(request, provider, row, user, claims, login.interaction, extra_amr)


async def _check_password(request: Request, provider: Provider, user: User, password: str) -> str | None:
    """``None`` when the password proves the account; else the message to show."""
    if not await is_attempt_admitted(provider.throttle, request, "password", user.id):
        return "login.throttled"
    if not await provider.ctx.passwords.verify(user.password_hash, password):
        return "broker.proof_failed"
    return None


async def _write(
    provider: Provider, row: UpstreamIdp, claims: dict[str, Any], kind: str, user: User | None, how: str
) -> User | None:
    now = provider.clock.now()
    try:
        async with provider.sessionmaker() as session, session.begin():
            if kind == "create":
                return await create_account(session, row, claims, now)
            assert user is not None
            await link_identity(session, row, claims["sub"], user, now, how=how)
            return user
    except (GerbangError, IntegrityError):
        return None  # someone took the email/NIK or linked meanwhile: nothing was written
    except SQLAlchemyError:
        return None
