"""Self-registration (OpenID Connect Initiating User Registration): checking the form, creating the account.

Enumeration-safe: the caller answers the same page whether the email or NIK was free or taken; what
differs is only the mail sent to the address given (a verification link, or a note that an account
already exists), and both paths hash the password, so the timing class is the same too. A NIK that
already has an account is not linked to the new one: the account is made without it (the registrant's
mail is the same verification link a new NIK gets) and the NIK's owner is told instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import Enum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.accounts import normalise_email
from idp.errors import InvalidInput
from idp.nik import NikError, parse_nik
from idp.password_policy import PasswordRejected, check_new_password
from idp.storage.models import User

MAX_NAME = 200


@dataclass(frozen=True)
class Registration:
    name: str
    email: str
    password: str
    nik: str | None


@dataclass
class RegistrationInvalid(Exception):
    """Field name → i18n key of what is wrong with it; every problem at once."""

    problems: dict[str, str] = field(default_factory=dict)


class Outcome(Enum):
    CREATED = "created"
    EMAIL_TAKEN = "email_taken"


@dataclass(frozen=True)
class Created:
    outcome: Outcome
    user: User | None = None  # the new account (CREATED)
    nik_owner: User | None = None  # the NIK's existing owner, when the NIK was left off the new account


def check_registration(form: dict[str, str]) -> Registration:
    problems: dict[str, str] = {}
    name = " ".join(form.get("name", "").split())
    if not name or len(name) > MAX_NAME:
        problems["name"] = "register.name_invalid"
    email = ""
    try:
        email = normalise_email(form.get("email", "")[:254])
    except InvalidInput:
        problems["email"] = "register.email_invalid"
    nik: str | None = form.get("nik", "").strip().replace(" ", "") or None
    if nik is not None:
        try:
            nik = parse_nik(nik).value
        except NikError:
            problems["nik"] = "register.nik_invalid"
    password = form.get("password", "")
    try:
        check_new_password(password, email=email, name=name)
    except PasswordRejected as exc:
        problems["password"] = exc.key
    if password != form.get("password_confirm", ""):
        problems.setdefault("password_confirm", "password.mismatch")
    if problems:
        raise RegistrationInvalid(problems)
    return Registration(name=name, email=email, password=password, nik=nik)


async def create_account(
    sessionmaker: async_sessionmaker[AsyncSession],
    registration: Registration,
    password_hash: str,
    now: int,
    privacy_version: str | None = None,
) -> Created:
    """Insert the citizen unless the email is taken (one account per address); unverified email. A NIK
    that already has an account is left off the new one (the owner keeps it)."""
    for _attempt in range(2):  # a concurrent registration may take the email or NIK between check and insert
        async with sessionmaker() as session:
            try:
                async with session.begin():
                    if await session.scalar(select(User.id).where(User.email == registration.email)) is not None:
                        return Created(Outcome.EMAIL_TAKEN)
                    owner = (
                        await session.scalar(select(User).where(User.nik == registration.nik))
                        if registration.nik
                        else None
                    )
                    user = User(
                        id=str(uuid.uuid4()),
                        email=registration.email,
                        name=registration.name,
                        nik=None if owner else registration.nik,
                        password_hash=password_hash,
                        kind="citizen",
                        email_verified=False,
                        disabled=False,
                        created_at=now,
                        updated_at=now,
                        password_changed_at=now,
                        privacy_version=privacy_version,
                        privacy_accepted_at=privacy_version and now,
                    )
                    session.add(user)
                return Created(Outcome.CREATED, user, owner)
            except IntegrityError:
                continue
    return Created(Outcome.EMAIL_TAKEN)
