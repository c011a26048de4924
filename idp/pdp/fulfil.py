"""Staff fulfil or refuse a data subject request (UU PDP Art. 6-11, 30-43), and the citizen is told.

A request taken at a service counter (or any request still open) is carried out here by a Kominfo official,
through the same workflows the citizen's own buttons use:

    export    the official hands over the export (``/admin/pdp/permintaan/{id}/data.json``), then marks it done
    correct   name, email or NIK changed (the audit names the fields, never the values)
    withdraw  consent withdrawn for one client (``client:<id>``) or one gateway app (``app:<slug>``)
    object    the same as withdraw: the person objects to one app's processing (Art. 10)
    restrict  the account is disabled (no app receives the identity any more) until an official enables it
    erase     the account is disabled at once and erased after the grace period (the request stays open until then)

Every outcome is written on the request (``outcome``, shown to the citizen on ``/account/privacy``), audited as
``pdp.request_fulfil`` or ``pdp.request_refuse`` (kinds, ids and counts only), and mailed to the citizen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from idp.access_history import end_gateway_sessions, load_app_name
from idp.account_edits import update_user
from idp.audit import append_audit
from idp.credentials import end_all_sessions, revoke_user_grants
from idp.errors import Conflict, InvalidInput, NotFound
from idp.pdp.deletion import request_deletion
from idp.pdp.requests import ARTICLES, KINDS, build_request, load_request
from idp.pdp.withdraw import withdraw_app, withdraw_consent
from idp.provider import Provider
from idp.storage.db import rows_affected
from idp.storage.models import Client, DataRequest, User

JAKARTA = dt.timezone(dt.timedelta(hours=7), "WIB")
KIND_WORDS = {
    "export": "salinan data pribadi",
    "correct": "perbaikan data",
    "withdraw": "penarikan persetujuan",
    "object": "keberatan atas pemrosesan",
    "restrict": "pembatasan pemrosesan",
    "erase": "penghapusan akun",
}
STATUS_WORDS = {"open": "sedang diproses", "done": "selesai", "refused": "ditolak", "cancelled": "dibatalkan"}


@dataclass(frozen=True)
class Fulfilment:
    """What the official supplies: the app for withdraw/object, the corrected fields for correct."""

    target: str = ""
    name: str | None = None
    email: str | None = None
    nik: str | None = None


async def record_counter_request(
    session: AsyncSession, person: str, kind: str, *, actor: str, now: int, note: str = "", target: str = ""
) -> DataRequest:
    """A request made in person at a service counter, with the official as actor."""
    person = person.strip()[:254]
    user_id = await session.scalar(select(User.id).where((User.email == person.lower()) | (User.nik == person)))
    if user_id is None:
        raise NotFound("no account has this email or NIK")
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
    if target:
        await _check_target(session, target)
    row = build_request(user_id, kind, now, actor=actor, channel="counter", note=note, target=target)
    session.add(row)
    await session.flush()
    await append_audit(
        session,
        actor=actor,
        action="pdp.request",
        target=f"user:{user_id}",
        detail={"kind": kind, "channel": "counter", "request": row.id},
        now=now,
    )
    return row


async def fulfil_request(provider: Provider, request_id: int, values: Fulfilment, *, actor: str) -> DataRequest:
    row = await _load_open(provider, request_id)
    target = values.target or row.target
    outcome = await _carry_out(provider, row, target, values, actor)
    now = provider.clock.now()
    async with provider.sessionmaker() as session, session.begin():
        status = "open" if row.kind == "erase" else "done"  # the erasure job closes an erasure
        done = await session.execute(
            update(DataRequest)
            .where(DataRequest.id == row.id, DataRequest.status == "open")
            .values(
                status=status, outcome=outcome[:2000], target=target[:200], done_at=None if status == "open" else now
            )
        )
        if not rows_affected(done):
            raise Conflict("another official closed this request meanwhile")
        await append_audit(
            session,
            actor=actor,
            action="pdp.request_fulfil",
            target=f"user:{row.user_id}",
            detail={"kind": row.kind, "request": row.id, "target": target[:200]},
            now=now,
        )
        fresh = await session.get(DataRequest, row.id, populate_existing=True)
    assert fresh is not None
    await notify_citizen(provider, fresh)
    return fresh


async def refuse_request(provider: Provider, request_id: int, reason: str, *, actor: str) -> DataRequest:
    """Refused with a reason the citizen reads (e.g. the person could not be identified)."""
    if not reason.strip():
        raise InvalidInput("a refusal needs a reason the citizen can read")
    row = await _load_open(provider, request_id)
    now = provider.clock.now()
    async with provider.sessionmaker() as session, session.begin():
        done = await session.execute(
            update(DataRequest)
            .where(DataRequest.id == row.id, DataRequest.status == "open")
            .values(status="refused", outcome=reason.strip()[:2000], done_at=now)
        )
        if not rows_affected(done):
            raise Conflict("another official closed this request meanwhile")
        await append_audit(
            session,
            actor=actor,
            action="pdp.request_refuse",
            target=f"user:{row.user_id}",
            detail={"kind": row.kind, "request": row.id},
            now=now,
        )
        fresh = await session.get(DataRequest, row.id, populate_existing=True)
    assert fresh is not None
    await notify_citizen(provider, fresh)
    return fresh


async def _load_open(provider: Provider, request_id: int) -> DataRequest:
    async with provider.sessionmaker() as session:
        row = await load_request(session, request_id)
    if row is None:
        raise NotFound(f"request {request_id} does not exist")
    if row.status != "open":
        raise Conflict(f"request {request_id} is already {row.status}")
    return row


async def _carry_out(provider: Provider, row: DataRequest, target: str, values: Fulfilment, actor: str) -> str:
    user_id = row.user_id
    if row.kind == "export":
        return "Salinan data pribadi telah diserahkan."
    if row.kind == "correct":
        return await _correct(provider, user_id, values, actor)
    if row.kind in ("withdraw", "object"):
        return await _withdraw(provider, user_id, target, actor)
    if row.kind == "restrict":
        return await _restrict(provider, user_id, actor)
    erase_after = await request_deletion(provider, user_id, actor=actor, channel="counter", record=False)
    return f"Akun dinonaktifkan; data pribadi dihapus pada {_wib(erase_after)}."


async def _correct(provider: Provider, user_id: str, values: Fulfilment, actor: str) -> str:
    if values.name is None and values.email is None and values.nik is None:
        raise InvalidInput("a correction names at least one of name, email, nik")
    async with provider.sessionmaker() as session, session.begin():
        user = await session.get(User, user_id, with_for_update=True)
        if user is None:
            raise NotFound("the account no longer exists")
        diff = await update_user(
            session,
            user,
            name=values.name,
            email=values.email,
            nik=values.nik,
            actor=actor,
            now=provider.clock.now(),
            private=True,
        )
    words = {"name": "nama", "email": "email", "nik": "NIK"}
    changed = ", ".join(words[field] for field in sorted(diff) if field in words)
    return f"Data diperbaiki: {changed}." if changed else "Data sudah sesuai; tidak ada yang diubah."


async def _withdraw(provider: Provider, user_id: str, target: str, actor: str) -> str:
    async with provider.sessionmaker() as session:
        name = await _check_target(session, target)
    kind, _, key = target.partition(":")
    if kind == "client":
        await withdraw_consent(provider, user_id, key, actor=actor, channel="counter", record=False)
    else:
        await withdraw_app(provider, user_id, key, actor=actor, channel="counter", record=False)
    return f"Persetujuan untuk {name} telah dicabut; aplikasi tidak lagi menerima identitas Anda."


async def _restrict(provider: Provider, user_id: str, actor: str) -> str:
    now = provider.clock.now()
    async with provider.sessionmaker() as session, session.begin():
        user = await session.get(User, user_id, with_for_update=True)
        if user is None:
            raise NotFound("the account no longer exists")
        user.disabled, user.updated_at = True, max(now, user.updated_at)
        families = await revoke_user_grants(session, user_id, now, "restricted")
        await end_gateway_sessions(session, user_id, now)
        await append_audit(
            session,
            actor=actor,
            action="user.disable",
            target=f"user:{user_id}",
            detail={"reason": "pdp.restrict", "token_families": families},
            now=now,
        )
    await end_all_sessions(provider, user_id)
    return (
        "Pemrosesan dibatasi: akun dinonaktifkan dan tidak ada aplikasi yang menerima identitas Anda sampai "
        "pembatasan dicabut oleh Diskominfo."
    )


async def _check_target(session: AsyncSession, target: str) -> str:
    """``client:<id>`` or ``app:<slug>``: the name to tell the citizen; refuses anything else."""
    kind, _, key = target.partition(":")
    if kind == "client":
        name = await session.scalar(select(Client.name).where(Client.client_id == key[:64]))
    elif kind == "app":
        name = await load_app_name(session, key[:64])
    else:
        raise InvalidInput("target must be client:<client_id> or app:<slug>")
    if name is None:
        raise NotFound(f"{target} does not exist")
    return name


async def notify_citizen(provider: Provider, row: DataRequest) -> None:
    """Mail the citizen the status of their request (a failure is logged by the mailer, never fatal here)."""
    async with provider.sessionmaker() as session:
        email = await session.scalar(select(User.email).where(User.id == row.user_id))
    if email is None:
        return
    subject, body = draft_status_mail(row, provider.issuer)
    try:
        await provider.mailer.send(email, subject, body)
    except Exception:  # the status stays on /account/privacy; a mail outage must not undo the work
        return


def draft_status_mail(row: DataRequest, issuer: str) -> tuple[str, str]:
    what = KIND_WORDS.get(row.kind, row.kind)
    status = STATUS_WORDS.get(row.status, row.status)
    subject = f"Permintaan {what} Anda: {status}"
    body = (
        f"Permintaan {what} Anda (nomor {row.id}, dicatat {_wib(row.created_at)}) {status}.\n\n"
        f"{row.outcome}\n\n"
        f"Status semua permintaan Anda dapat dilihat di {issuer}/account/privacy\n\n"
        f"Dasar hukum: {ARTICLES.get(row.kind, '')} Undang-Undang Nomor 27 Tahun 2022 tentang Pelindungan "
        f"Data Pribadi.\n\n"
        f"(English: your data request #{row.id} is {row.status}. See {issuer}/account/privacy)\n"
    )
    return subject, body


def request_words(row: Any) -> dict[str, str]:
    """The citizen-facing words of a request row (``/account/privacy``)."""
    return {"kind": KIND_WORDS.get(row.kind, row.kind), "status": STATUS_WORDS.get(row.status, row.status)}


def _wib(at: int) -> str:
    return dt.datetime.fromtimestamp(at, JAKARTA).strftime("%d-%m-%Y %H:%M WIB")
