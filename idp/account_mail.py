"""The messages the provider sends about an account: what each says, in Bahasa Indonesia then English."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from idp.provider import Provider
from idp.storage.models import User

SUBJECTS = {
    "verify_email": "Konfirmasi alamat email Anda / Confirm your email address",
    "account_exists": "Akun Gerbang Anda / Your Gerbang account",
    "nik_taken": "Pendaftaran dengan NIK Anda / A sign-up used your NIK",
    "reset_password": "Atur ulang kata sandi / Reset your password",
    "password_changed": "Kata sandi Anda diganti / Your password was changed",
    "change_email": "Konfirmasi alamat email baru / Confirm your new email address",
    "email_change_requested": "Permintaan ganti email / Email change requested",
}


def _when(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M")


async def _send(provider: Provider, to: str, template: str, **values: str) -> None:
    body = provider.pages.env.get_template(f"mail/{template}.txt").render(**values)
    await provider.mailer.send(to, SUBJECTS[template], body)


async def send_verification(provider: Provider, user: User) -> None:
    expires_at = provider.clock.now() + provider.settings.verify_link_ttl
    token = provider.links.build("verify-email", user.id, user.email, expires_at)
    link = f"{provider.issuer}/auth/verify-email?{urlencode({'token': token})}"
    await _send(provider, user.email, "verify_email", name=user.name, link=link, expires=_when(expires_at))


async def send_account_exists(provider: Provider, email: str) -> None:
    await _send(provider, email, "account_exists", login_link=f"{provider.issuer}/auth/login",
                reset_link=f"{provider.issuer}/auth/reset")


async def send_nik_taken(provider: Provider, owner: User) -> None:
    """To the NIK's owner, never to the registrant: the sign-up's answer does not say the NIK is taken."""
    await _send(provider, owner.email, "nik_taken", name=owner.name, when=_when(provider.clock.now()),
                login_link=f"{provider.issuer}/auth/login")


async def send_reset(provider: Provider, user: User) -> None:
    expires_at = provider.clock.now() + provider.settings.reset_link_ttl
    # Bound to the password-change time: once the password changes, every older reset link is dead.
    token = provider.links.build("reset-password", user.id, str(user.password_changed_at), expires_at)
    link = f"{provider.issuer}/auth/reset/confirm?{urlencode({'token': token})}"
    await _send(provider, user.email, "reset_password", name=user.name, link=link, expires=_when(expires_at))


async def send_password_changed(provider: Provider, user: User) -> None:
    await _send(provider, user.email, "password_changed", name=user.name, when=_when(provider.clock.now()),
                reset_link=f"{provider.issuer}/auth/reset")


async def send_email_change(provider: Provider, user: User, new_email: str) -> None:
    """A link to the new address (bound to both addresses), and a note to the old one."""
    expires_at = provider.clock.now() + provider.settings.verify_link_ttl
    token = provider.links.build("change-email", user.id, f"{user.email} {new_email}", expires_at)
    link = f"{provider.issuer}/account/email/confirm?{urlencode({'token': token})}"
    await _send(provider, new_email, "change_email", name=user.name, link=link, expires=_when(expires_at))
    await _send(provider, user.email, "email_change_requested", name=user.name, new_email=new_email,
                when=_when(provider.clock.now()), reset_link=f"{provider.issuer}/auth/reset")
