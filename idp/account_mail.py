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
    "credential_changed": "Cara masuk akun Anda berubah / A sign-in method of your account changed",
}

# What changed, as the mail says it (Bahasa Indonesia, English); the key is the undo link's event.
CHANGES = {
    "passkey_added": (
        "Sebuah passkey baru ditambahkan ke akun Gerbang Anda",
        "A new passkey was added to your Gerbang account",
    ),
    "passkey_removed": (
        "Sebuah passkey dihapus dari akun Gerbang Anda",
        "A passkey was removed from your Gerbang account",
    ),
    "totp_enabled": (
        "Aplikasi autentikator diaktifkan untuk akun Gerbang Anda",
        "An authenticator app was turned on for your Gerbang account",
    ),
    "totp_disabled": (
        "Aplikasi autentikator dimatikan untuk akun Gerbang Anda",
        "The authenticator app of your Gerbang account was turned off",
    ),
    "recovery_codes": (
        "Kode pemulihan baru dibuat untuk akun Gerbang Anda (kode lama tidak berlaku lagi)",
        "New recovery codes were made for your Gerbang account (the old ones no longer work)",
    ),
    "password_changed": ("Kata sandi akun Gerbang Anda diganti", "The password of your Gerbang account was changed"),
    "email_change_requested": (
        "Ada permintaan mengganti alamat email akun Gerbang Anda",
        "Someone asked to change the email address of your Gerbang account",
    ),
    "email_changed": (
        "Alamat email akun Gerbang Anda diganti; pesan ini dikirim ke alamat lama",
        "The email address of your Gerbang account was changed; this message goes to the old address",
    ),
}


def _when(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M")


async def _send(provider: Provider, to: str, template: str, **values: object) -> None:
    body = provider.pages.env.get_template(f"mail/{template}.txt").render(**values)
    await provider.mailer.send(to, SUBJECTS[template], body)


async def send_verification(provider: Provider, user: User) -> None:
    expires_at = provider.clock.now() + provider.settings.verify_link_ttl
    token = provider.links.build("verify-email", user.id, user.email, expires_at)
    link = f"{provider.issuer}/auth/verify-email?{urlencode({'token': token})}"
    await _send(provider, user.email, "verify_email", name=user.name, link=link, expires=_when(expires_at))


async def send_account_exists(provider: Provider, email: str) -> None:
    await _send(
        provider,
        email,
        "account_exists",
        login_link=f"{provider.issuer}/auth/login",
        reset_link=f"{provider.issuer}/auth/reset",
    )


async def send_nik_taken(provider: Provider, owner: User) -> None:
    """To the NIK's owner, never to the registrant: the sign-up's answer does not say the NIK is taken."""
    await _send(
        provider,
        owner.email,
        "nik_taken",
        name=owner.name,
        when=_when(provider.clock.now()),
        login_link=f"{provider.issuer}/auth/login",
    )


async def send_reset(provider: Provider, user: User) -> None:
    expires_at = provider.clock.now() + provider.settings.reset_link_ttl
    # Bound to the password-change time: once the password changes, every older reset link is dead.
    token = provider.links.build("reset-password", user.id, str(user.password_changed_at), expires_at)
    link = f"{provider.issuer}/auth/reset/confirm?{urlencode({'token': token})}"
    await _send(provider, user.email, "reset_password", name=user.name, link=link, expires=_when(expires_at))


async def send_password_changed(provider: Provider, user: User) -> None:
    """Passkeys and the authenticator app survive a password change (they are factors of their own, each added
    after a fresh sign-in and announced by mail); the mail lists the passkeys so a stranger's one stands out."""
    passkeys = [f"{key.name} ({_when(key.created_at)} UTC)" for key in await provider.passkeys.list_for(user.id)]
    await _send(
        provider,
        user.email,
        "password_changed",
        name=user.name,
        when=_when(provider.clock.now()),
        reset_link=f"{provider.issuer}/auth/reset",
        passkeys=passkeys,
        undo_link=build_undo_link(provider, user, "password_changed"),
    )


def build_undo_link(provider: Provider, user: User, event: str, ref: str = "") -> str:
    """ "I did not do this": a signed, expiring, single-use link (``idp.endpoints.account_undo``)."""
    expires_at = provider.clock.now() + provider.settings.undo_link_ttl
    token = provider.links.build("undo-change", user.id, f"{event}:{ref}", expires_at)
    return f"{provider.issuer}/account/undo?{urlencode({'token': token})}"


async def send_credential_changed(
    provider: Provider, user: User, event: str, *, ref: str = "", to: str | None = None
) -> None:
    """Tell the account holder a sign-in method was added or removed, with the "I did not do this" link."""
    what_id, what_en = CHANGES[event]
    now = provider.clock.now()
    passkeys = [f"{key.name} ({_when(key.created_at)} UTC)" for key in await provider.passkeys.list_for(user.id)]
    await _send(
        provider,
        to or user.email,
        "credential_changed",
        name=user.name,
        what_id=what_id,
        what_en=what_en,
        when=_when(now),
        expires=_when(now + provider.settings.undo_link_ttl),
        passkeys=passkeys,
        undo_link=build_undo_link(provider, user, event, ref),
        reset_link=f"{provider.issuer}/auth/reset",
    )


async def send_email_change(provider: Provider, user: User, new_email: str) -> None:
    """A link to the new address (bound to both addresses), and a note to the old one."""
    expires_at = provider.clock.now() + provider.settings.verify_link_ttl
    token = provider.links.build("change-email", user.id, f"{user.email} {new_email}", expires_at)
    link = f"{provider.issuer}/account/email/confirm?{urlencode({'token': token})}"
    await _send(provider, new_email, "change_email", name=user.name, link=link, expires=_when(expires_at))
    await _send(
        provider,
        user.email,
        "email_change_requested",
        name=user.name,
        new_email=new_email,
        when=_when(provider.clock.now()),
        reset_link=f"{provider.issuer}/auth/reset",
        undo_link=build_undo_link(provider, user, "email_change_requested"),
    )
