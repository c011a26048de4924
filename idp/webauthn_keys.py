"""Passkeys (W3C WebAuthn Level 2) on the ``webauthn`` package: ceremony options, verification, storage.

The relying-party id is the issuer's host and the only accepted origin the issuer's origin. Each
ceremony's challenge is stored server-side and deleted when used, so an assertion cannot be replayed;
a signature counter that does not grow (when the authenticator keeps one) marks a cloned key.

The ``webauthn`` package (with pyOpenSSL, pyasn1 and cbor2 behind it) is imported on the first ceremony,
not at start: it adds ~150 ms and several MiB to every worker for a feature used only while signing in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.clock import Clock
from idp.storage.db import rows_affected
from idp.storage.models import Passkey, User, WebAuthnChallenge

COOKIE = "gerbang_webauthn"
CEREMONY_TTL = 300
RP_NAME = "Gerbang Kota Palembang"


class PasskeyRejected(Exception):
    """The browser's response does not verify (or no challenge is waiting for it)."""


@dataclass(frozen=True)
class VerifiedAssertion:
    user_id: str
    user_verified: bool


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _from_base64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def credential_ref(credential_id: str) -> str:
    """What an undo link names a passkey by (credential ids can be 1.4 KB; links stay short)."""
    return hashlib.sha256(credential_id.encode()).hexdigest()[:32]


async def remove_passkeys_by_ref(session: AsyncSession, user_id: str, ref: str) -> None:
    """Remove the user's passkeys whose ``credential_ref`` is ``ref`` (an undo link's)."""
    ids = (await session.scalars(select(Passkey.credential_id).where(Passkey.user_id == user_id))).all()
    doomed = [credential_id for credential_id in ids if credential_ref(credential_id) == ref]
    if doomed:
        await session.execute(delete(Passkey).where(Passkey.credential_id.in_(doomed)))


class PasskeyService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, issuer: str) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        parts = urlsplit(issuer)
        self.rp_id = parts.hostname or "localhost"
        self.origin = f"{parts.scheme}://{parts.netloc}"

    async def registration_options(self, user: User) -> tuple[str, str]:
        """(cookie value, options JSON) for ``navigator.credentials.create``."""
        from webauthn import generate_registration_options, options_to_json
        from webauthn.helpers.structs import (
            AuthenticatorSelectionCriteria,
            PublicKeyCredentialDescriptor,
            ResidentKeyRequirement,
            UserVerificationRequirement,
        )

        existing = await self.list_for(user.id)
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=RP_NAME,
            user_id=user.id.encode(),
            user_name=user.email,
            user_display_name=user.name,
            exclude_credentials=[PublicKeyCredentialDescriptor(id=_from_base64url(p.credential_id)) for p in existing],
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED
            ),
        )
        cookie = await self._store_challenge("register", user.id, options.challenge)
        return cookie, options_to_json(options)

    async def authentication_options(self, purpose: str, user_id: str | None) -> tuple[str, str]:
        """Options for ``navigator.credentials.get``: discoverable (passwordless) or the user's own keys."""
        from webauthn import generate_authentication_options, options_to_json
        from webauthn.helpers.structs import (
            AuthenticatorTransport,
            PublicKeyCredentialDescriptor,
            UserVerificationRequirement,
        )

        allowed = []
        if user_id is not None:
            allowed = [
                PublicKeyCredentialDescriptor(
                    id=_from_base64url(p.credential_id),
                    transports=[
                        AuthenticatorTransport(t)
                        for t in p.transports
                        if t in AuthenticatorTransport._value2member_map_
                    ],
                )
                for p in await self.list_for(user_id)
            ]
        options = generate_authentication_options(
            rp_id=self.rp_id,
            allow_credentials=allowed,
            user_verification=UserVerificationRequirement.REQUIRED
            if purpose == "login"
            else UserVerificationRequirement.PREFERRED,
        )
        cookie = await self._store_challenge(purpose, user_id, options.challenge)
        return cookie, options_to_json(options)

    async def register(self, cookie: str | None, user: User, credential: dict[str, Any], name: str) -> Passkey:
        from webauthn import verify_registration_response
        from webauthn.helpers.exceptions import WebAuthnException

        challenge = await self._take_challenge(cookie, "register", user.id)
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise PasskeyRejected(str(exc)) from exc
        transports = credential.get("response", {}).get("transports") or []
        row = Passkey(
            credential_id=_base64url(verified.credential_id),
            user_id=user.id,
            public_key=_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            transports=[str(t) for t in transports][:8],
            name=name[:100] or "Passkey",
            created_at=self._clock.now(),
        )
        async with self._sessionmaker() as session, session.begin():
            if await session.get(Passkey, row.credential_id) is not None:
                raise PasskeyRejected("credential already registered")
            session.add(row)
        return row

    async def authenticate(
        self, cookie: str | None, purpose: str, user_id: str | None, credential: dict[str, Any]
    ) -> VerifiedAssertion:
        from webauthn import verify_authentication_response
        from webauthn.helpers.exceptions import WebAuthnException

        challenge = await self._take_challenge(cookie, purpose, user_id)
        credential_id = str(credential.get("id", ""))[:1400]
        async with self._sessionmaker() as session, session.begin():
            row = await session.get(Passkey, credential_id, with_for_update=True)
            if row is None or (user_id is not None and row.user_id != user_id):
                raise PasskeyRejected("unknown credential")
            try:
                verified = verify_authentication_response(
                    credential=credential,
                    expected_challenge=challenge,
                    expected_rp_id=self.rp_id,
                    expected_origin=self.origin,
                    credential_public_key=_from_base64url(row.public_key),
                    credential_current_sign_count=row.sign_count,
                    require_user_verification=purpose == "login",
                )
            except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
                raise PasskeyRejected(str(exc)) from exc
            row.sign_count, row.last_used_at = verified.new_sign_count, self._clock.now()
            return VerifiedAssertion(row.user_id, verified.user_verified)

    async def list_for(self, user_id: str) -> list[Passkey]:
        async with self._sessionmaker() as session:
            return list(
                (
                    await session.scalars(
                        select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at)
                    )
                ).all()
            )

    async def remove(self, user_id: str, credential_id: str) -> bool:
        """``True`` when the user had that passkey (and now has not)."""
        async with self._sessionmaker() as session, session.begin():
            result = await session.execute(
                delete(Passkey).where(Passkey.user_id == user_id, Passkey.credential_id == credential_id)
            )
            return bool(rows_affected(result))

    async def _store_challenge(self, purpose: str, user_id: str | None, challenge: bytes) -> str:
        value = secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._sessionmaker() as session, session.begin():
            await session.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at <= now))
            session.add(
                WebAuthnChallenge(
                    id_digest=_digest(value),
                    purpose=purpose,
                    user_id=user_id,
                    challenge=_base64url(challenge),
                    expires_at=now + CEREMONY_TTL,
                )
            )
        return value

    async def _take_challenge(self, cookie: str | None, purpose: str, user_id: str | None) -> bytes:
        """The waiting challenge, deleted as it is read: one verification per ceremony."""
        if not cookie or len(cookie) > 100:
            raise PasskeyRejected("no ceremony")
        async with self._sessionmaker() as session, session.begin():
            row = await session.get(WebAuthnChallenge, _digest(cookie))
            if row is None:
                raise PasskeyRejected("no ceremony")
            await session.delete(row)
        if row.expires_at <= self._clock.now() or row.purpose != purpose or row.user_id != user_id:
            raise PasskeyRejected("ceremony mismatch")
        return _from_base64url(row.challenge)


def parse_json_body(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise PasskeyRejected("body is not JSON") from exc
    if not isinstance(data, dict):
        raise PasskeyRejected("body is not an object")
    return data
