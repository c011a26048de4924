"""A personal data breach at one app (UU PDP Art. 46): who is affected, the notices, and the record.

The people affected are those whose identity the app received in the window, from the access history: the
gateway's assertions to the app and the token grants to its client, each person with the identity claims the
app's assertions carried in the window (``claims``: names only; ``None`` where none was recorded, as for a token
grant or a row from before claims were recorded), which the notice names (Art. 46 (2): what data). Erased accounts are not listed (nothing
maps their id to a person any more). Notices are drafted in Bahasa Indonesia; ``send_notices`` mails them
through the configured transport and records the incident in the audit chain (who declared it, the window,
how many were notified, never who).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.access_history import load_app_recipients, load_registered_app
from idp.audit import append_audit
from idp.i18n import TEXT
from idp.mail import Mailer
from idp.storage.models import Grant, User

JAKARTA = dt.timezone(dt.timedelta(hours=7), "WIB")
# gateway.claims.CLAIMS' order (idp never imports gateway): a notice lists the claims as the app's settings do.
CLAIM_ORDER = ("email", "name", "nik", "nip", "opd", "roles", "acr", "amr")


@dataclass(frozen=True)
class Affected:
    user_id: str
    name: str
    email: str
    claims: tuple[str, ...] | None = None  # what the app's assertions carried in the window; None: not recorded


@dataclass(frozen=True)
class Incident:
    app: str
    app_name: str
    opd_name: str
    since: int
    until: int
    affected: list[Affected]


async def load_incident(session: AsyncSession, app_slug: str, since: int, until: int) -> Incident:
    app = await load_registered_app(session, app_slug)
    if app is None:
        raise LookupError(app_slug)
    claims: dict[str, set[str]] = {}
    ids: set[str | None] = set()
    for user_id, names in await load_app_recipients(session, app_slug, since, until):
        ids.add(user_id)
        if names is not None:
            claims.setdefault(user_id, set()).update(names.split())
    if app.client_id:
        ids |= set(
            (
                await session.scalars(
                    select(Grant.user_id)
                    .where(
                        Grant.client_id == app.client_id,
                        Grant.created_at >= since,
                        Grant.created_at < until,
                        Grant.user_id.is_not(None),
                    )
                    .distinct()
                )
            ).all()
        )
    users = (
        (
            await session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)).order_by(User.email))
        ).all()
        if ids
        else []
    )
    return Incident(
        app_slug,
        app.name,
        app.opd_name,
        since,
        until,
        [Affected(*row, _in_order(claims[row[0]]) if row[0] in claims else None) for row in users],
    )


def _in_order(names: set[str]) -> tuple[str, ...]:
    return tuple(sorted(names, key=lambda name: (CLAIM_ORDER.index(name) if name in CLAIM_ORDER else 99, name)))


def _received(person: Affected) -> str:
    """What the app received, in words: the claims its assertions carried when they were recorded."""
    if not person.claims:
        return "nama, akun Gerbang, dan data yang Anda setujui"
    words = TEXT["id"]
    return "akun Gerbang, " + ", ".join(words.get(f"claim.{name}", name) for name in person.claims)


def _wib(at: int) -> str:
    return dt.datetime.fromtimestamp(at, JAKARTA).strftime("%d-%m-%Y %H:%M WIB")


def draft_notice(incident: Incident, person: Affected, contact: str) -> tuple[str, str]:
    """Subject and body of one notice (UU PDP Art. 46 (2): what data, when and how, and what is being done)."""
    subject = f"Pemberitahuan insiden data pribadi: {incident.app_name}"
    body = (
        f"Yth. {person.name},\n\n"
        f"Pemerintah Kota Palembang memberitahukan bahwa telah terjadi kegagalan pelindungan data pribadi pada "
        f"aplikasi {incident.app_name} yang dikelola oleh {incident.opd_name}.\n\n"
        f"Apa yang terjadi: aplikasi tersebut menerima identitas Anda ({_received(person)}) antara {_wib(incident.since)} dan {_wib(incident.until)}, dan data yang disimpan aplikasi "
        f"tersebut dalam rentang waktu itu mungkin telah diakses oleh pihak yang tidak berhak.\n\n"
        f"Yang sudah kami lakukan: insiden telah dicatat dan ditangani oleh Diskominfo Kota Palembang.\n\n"
        f"Yang sebaiknya Anda lakukan:\n"
        f"- Ganti kata sandi akun Gerbang Anda dan aktifkan verifikasi dua langkah di halaman Akun saya.\n"
        f"- Waspadai email, SMS atau telepon yang mengatasnamakan Pemerintah Kota Palembang dan meminta kata "
        f"sandi, kode OTP, atau data pribadi.\n"
        f"- Periksa riwayat akses dan catatan keamanan di halaman Akun saya.\n\n"
        f"Pertanyaan: {contact}\n\n"
        f"Pemberitahuan ini disampaikan sesuai Pasal 46 Undang-Undang Nomor 27 Tahun 2022 tentang Pelindungan "
        f"Data Pribadi.\n"
    )
    return subject, body


async def send_notices(
    sessionmaker: async_sessionmaker[AsyncSession],
    mailer: Mailer,
    incident: Incident,
    *,
    actor: str,
    contact: str,
    now: int,
) -> dict[str, Any]:
    sent = failed = 0
    for person in incident.affected:
        subject, body = draft_notice(incident, person, contact)
        try:
            await mailer.send(person.email, subject, body)
            sent += 1
        except Exception:  # one bad address does not stop the others; the count says so
            failed += 1
    summary = {
        "app": incident.app,
        "since": incident.since,
        "until": incident.until,
        "affected": len(incident.affected),
        "notified": sent,
        "failed": failed,
    }
    async with sessionmaker() as session, session.begin():
        await append_audit(
            session, actor=actor, action="pdp.breach", target=f"app:{incident.app}", detail=summary, now=now
        )
    return summary
