"""The console's data-protection pages (UU PDP), Kominfo only: the processing register (Art. 31), the data subject
request queue with its 3 x 24 h deadlines (requests taken at a service counter are recorded with the official as
actor), the security event log with filters and a JSON Lines export, and the breach workflow (Art. 46).

Reads and changes go through ``idp.pdp`` and ``idp.security_events``, as the CLI's do; plumbing (sign-in, CSRF,
re-authentication age, rendering) is ``Console``'s.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.admin.actor import Actor, check_kominfo, load_actor
from gateway.admin.console_auth import ConsoleAuth
from gateway.admin.console_text import TEXT
from gateway.admin.http import as_gateway_error, query_text
from gateway.errors import BadRequest, NotFound
from idp.accounts import load_user, load_user_id_matching
from idp.context import IdpContext
from idp.errors import NotFound as RecordNotFound
from idp.mail import Mailer
from idp.pdp.breach import draft_notice, load_incident, send_notices
from idp.pdp.export import build_export
from idp.pdp.fulfil import Fulfilment, fulfil_request, record_counter_request, refuse_request
from idp.pdp.register import LEGAL_BASES, load_register, save_record
from idp.pdp.requests import KINDS, list_requests, load_request, load_targets, request_json
from idp.provider import Provider
from idp.security_events import KINDS as EVENT_KINDS
from idp.security_events import EventFilter, export_security_events, list_security_events

if TYPE_CHECKING:
    from gateway.admin.console import Console

JAKARTA = dt.timezone(dt.timedelta(hours=7))
CONTACT = "Diskominfo Kota Palembang"
TEXT["id"].update(
    {
        "nav.pdp": "Pelindungan data",
        "pdp.register": "Register pemrosesan",
        "pdp.requests": "Permintaan subjek data",
        "pdp.security": "Log keamanan",
        "pdp.breach": "Insiden kebocoran",
        "pdp.flagged": "Tujuan belum diisi",
        "pdp.claims": "Data yang diterima",
        "pdp.purpose": "Tujuan",
        "pdp.legal_basis": "Dasar hukum",
        "pdp.retention": "Masa simpan",
        "pdp.save": "Simpan",
        "pdp.export": "Ekspor",
        "pdp.deadline": "Tenggat",
        "pdp.overdue": "LEWAT TENGGAT",
        "pdp.counter": "Catat permintaan di loket",
        "pdp.person": "Email atau NIK warga",
        "pdp.kind": "Jenis",
        "pdp.note": "Catatan",
        "pdp.record": "Catat",
        "pdp.done": "Selesai",
        "pdp.filter": "Saring",
        "pdp.since": "Sejak",
        "pdp.until": "Sampai",
        "pdp.affected": "Orang terdampak",
        "pdp.claims_unrecorded": "klaim tidak tercatat",
        "pdp.send": "Kirim pemberitahuan",
        "pdp.draft": "Draf pemberitahuan",
        "pdp.app": "Aplikasi",
        "pdp.none": "Tidak ada.",
        "done.pdp_saved": "Tersimpan",
        "done.pdp_recorded": "Permintaan dicatat",
        "done.pdp_sent": "Pemberitahuan terkirim: {notified}",
        "error.pdp_person": "Warga tidak ditemukan.",
        "error.pdp_time": "Waktu tidak sah (YYYY-MM-DDTHH:MM, WIB).",
        "pdp.open": "Buka",
        "pdp.request": "Permintaan",
        "pdp.article": "Dasar hukum",
        "pdp.target": "Aplikasi",
        "pdp.fulfil": "Laksanakan",
        "pdp.refuse": "Tolak",
        "pdp.reason": "Alasan penolakan (dibaca warga)",
        "pdp.outcome": "Hasil",
        "pdp.download_export": "Unduh data warga (untuk diserahkan)",
        "pdp.correct_fields": "Data yang benar (kosongkan yang tidak diubah)",
        "pdp.name": "Nama",
        "pdp.email": "Email",
        "pdp.nik": "NIK",
        "pdp.whole_account": "Seluruh akun",
        "done.pdp_fulfilled": "Permintaan dilaksanakan; warga diberi tahu",
        "done.pdp_refused": "Permintaan ditolak; warga diberi tahu",
        "pdp.kind.export": "Salinan data",
        "pdp.kind.correct": "Perbaikan",
        "pdp.kind.withdraw": "Tarik persetujuan",
        "pdp.kind.object": "Keberatan",
        "pdp.kind.restrict": "Pembatasan",
        "pdp.kind.erase": "Penghapusan",
    }
)
TEXT["en"].update(
    {
        "nav.pdp": "Data protection",
        "pdp.register": "Processing register",
        "pdp.requests": "Data subject requests",
        "pdp.security": "Security log",
        "pdp.breach": "Breach incidents",
        "pdp.flagged": "No purpose filled in",
        "pdp.claims": "Data received",
        "pdp.purpose": "Purpose",
        "pdp.legal_basis": "Legal basis",
        "pdp.retention": "Retention",
        "pdp.save": "Save",
        "pdp.export": "Export",
        "pdp.deadline": "Deadline",
        "pdp.overdue": "OVERDUE",
        "pdp.counter": "Record a request made at a counter",
        "pdp.person": "Citizen's email or NIK",
        "pdp.kind": "Kind",
        "pdp.note": "Note",
        "pdp.record": "Record",
        "pdp.done": "Done",
        "pdp.filter": "Filter",
        "pdp.since": "Since",
        "pdp.until": "Until",
        "pdp.affected": "People affected",
        "pdp.claims_unrecorded": "claims not recorded",
        "pdp.send": "Send the notices",
        "pdp.draft": "Draft notice",
        "pdp.app": "App",
        "pdp.none": "None.",
        "done.pdp_saved": "Saved",
        "done.pdp_recorded": "Request recorded",
        "done.pdp_sent": "Notices sent: {notified}",
        "error.pdp_person": "No such citizen.",
        "error.pdp_time": "Not a valid time (YYYY-MM-DDTHH:MM, WIB).",
        "pdp.open": "Open",
        "pdp.request": "Request",
        "pdp.article": "Legal basis",
        "pdp.target": "App",
        "pdp.fulfil": "Carry out",
        "pdp.refuse": "Refuse",
        "pdp.reason": "Reason for refusing (the citizen reads it)",
        "pdp.outcome": "Outcome",
        "pdp.download_export": "Download the citizen's data (to hand over)",
        "pdp.correct_fields": "The correct data (leave unchanged fields empty)",
        "pdp.name": "Name",
        "pdp.email": "Email",
        "pdp.nik": "NIK",
        "pdp.whole_account": "The whole account",
        "done.pdp_fulfilled": "Request carried out; the citizen was told",
        "done.pdp_refused": "Request refused; the citizen was told",
        "pdp.kind.export": "Copy of data",
        "pdp.kind.correct": "Correction",
        "pdp.kind.withdraw": "Withdraw consent",
        "pdp.kind.object": "Objection",
        "pdp.kind.restrict": "Restriction",
        "pdp.kind.erase": "Erasure",
    }
)


def parse_wib(value: str | None, default: int | None) -> int | None:
    """A console time field: ``YYYY-MM-DDTHH:MM`` in Asia/Jakarta (what ``<input type=datetime-local>`` sends)."""
    if not value:
        return default
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest("time must be YYYY-MM-DDTHH:MM (WIB)") from None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=JAKARTA)).timestamp())


class PdpPages:
    def __init__(self, console: Console, context: IdpContext, auth: ConsoleAuth, provider: Provider) -> None:
        self._console = console
        self._context = context
        self._auth = auth
        self._provider = provider

    def routes(self) -> list[Route]:
        return [
            Route("/admin/pdp", self.register),
            Route("/admin/pdp/register.jsonl", self.register_export),
            Route("/admin/pdp/permintaan", self.requests),
            Route("/admin/pdp/keamanan", self.security),
            Route("/admin/pdp/keamanan.jsonl", self.security_export),
            Route("/admin/pdp/insiden", self.breach),
            Route("/admin/aksi/pdp/register/{slug}", self.save_register, methods=["POST"]),
            Route("/admin/aksi/pdp/permintaan", self.record_request, methods=["POST"]),
            Route("/admin/pdp/permintaan/{id}", self.request_page),
            Route("/admin/pdp/permintaan/{id}/data.json", self.request_export),
            Route("/admin/aksi/pdp/permintaan/{id}/selesai", self.finish_request, methods=["POST"]),
            Route("/admin/aksi/pdp/permintaan/{id}/tolak", self.refuse, methods=["POST"]),
            Route("/admin/aksi/pdp/insiden", self.send_breach, methods=["POST"]),
        ]

    # --- pages ---------------------------------------------------------------------------------------------
    async def register(self, request: Request) -> Response:
        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            check_kominfo(actor)
            return {"entries": await load_register(session), "bases": LEGAL_BASES}

        return await self._console.page(request, "pdp_register.html", load)

    async def requests(self, request: Request) -> Response:
        status = query_text(request, "status")

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            check_kominfo(actor)
            page = self._console.page_of(request)
            now = self._context.clock.now()
            found = await list_requests(session, status=status, limit=page.limit + 1, offset=page.offset)
            return {
                "requests": [request_json(row, now) for row in found[: page.limit]],
                "kinds": KINDS,
                "status": status or "",
                **self._console.pager(request, page, found),
            }

        return await self._console.page(request, "pdp_requests.html", load)

    async def security(self, request: Request) -> Response:
        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            check_kominfo(actor)
            page = self._console.page_of(request)
            where = await self._event_filter(session, request)
            found = await list_security_events(session, where, limit=page.limit + 1, offset=page.offset)
            return {
                "events": found[: page.limit],
                "kinds": EVENT_KINDS,
                "query": dict(request.query_params),
                "export_query": request.url.query,
                **self._console.pager(request, page, found),
            }

        return await self._console.page(request, "pdp_security.html", load)

    async def breach(self, request: Request) -> Response:
        params = request.query_params

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            check_kominfo(actor)
            context: dict[str, Any] = {"query": dict(params), "incident": None, "draft": None}
            if params.get("app"):
                incident = await self._incident(session, params.get("app"), params.get("since"), params.get("until"))
                context["incident"] = incident
                if incident.affected:
                    context["draft"] = draft_notice(incident, incident.affected[0], CONTACT)
            return context

        return await self._console.page(request, "pdp_breach.html", load)

    # --- exports -------------------------------------------------------------------------------------------
    async def register_export(self, request: Request) -> Response:
        async def produce(session: AsyncSession) -> Any:
            for entry in await load_register(session):
                yield json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n"

        return await self._export(request, produce, "processing-register.jsonl")

    async def security_export(self, request: Request) -> Response:
        async def produce(session: AsyncSession) -> Any:
            async for line in export_security_events(session, await self._event_filter(session, request)):
                yield line

        return await self._export(request, produce, "security-events.jsonl")

    async def _export(
        self, request: Request, produce: Any, filename: str, media_type: str = "application/jsonl"
    ) -> Response:
        signed_in = await self._auth.load(request)
        if signed_in is None:
            return RedirectResponse("/admin/login", status_code=303)
        try:
            async with self._context.sessionmaker() as session:
                check_kominfo(await load_actor(session, signed_in.user_id))
                lines = [line async for line in produce(session)]
        except Exception as exc:
            return self._console.error(request, signed_in, as_gateway_error(exc))

        async def body() -> Any:
            for line in lines:
                yield line.encode()

        return StreamingResponse(
            body(),
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
        )

    # --- actions -------------------------------------------------------------------------------------------
    async def save_register(self, request: Request) -> Response:
        slug = request.path_params["slug"]

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            check_kominfo(actor)
            try:
                await save_record(
                    session,
                    slug,
                    purpose=form.get("purpose", ""),
                    retention=form.get("retention", ""),
                    legal_basis=form.get("legal_basis", ""),
                    actor=actor.sub,
                    now=now,
                )
            except LookupError:
                raise NotFound(f"app '{slug}' does not exist") from None
            except ValueError as exc:
                raise BadRequest(str(exc)) from None
            return {"title_key": "done.pdp_saved", "back": "/admin/pdp"}

        return await self._console.action(request, act)

    async def record_request(self, request: Request) -> Response:
        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            check_kominfo(actor)
            try:
                row = await record_counter_request(
                    session,
                    form.get("person", ""),
                    form.get("kind", ""),
                    actor=actor.sub,
                    now=now,
                    note=form.get("note", ""),
                    target=form.get("target", "").strip(),
                )
            except RecordNotFound:
                raise NotFound(self._console.translate(request)("error.pdp_person")) from None
            return {"title_key": "done.pdp_recorded", "back": f"/admin/pdp/permintaan/{row.id}"}

        return await self._console.action(request, act)

    async def finish_request(self, request: Request) -> Response:
        """Carry the request out (``idp.pdp.fulfil``): the form carries the app and the corrected fields."""
        raw = request.path_params["id"]

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            check_kominfo(actor)
            request_id = _request_id(raw)
            values = Fulfilment(
                target=form.get("target", "").strip(),
                name=form.get("name") or None,
                email=form.get("email") or None,
                nik=form.get("nik") or None,
            )
            await fulfil_request(self._provider, request_id, values, actor=actor.sub)
            return {"title_key": "done.pdp_fulfilled", "back": f"/admin/pdp/permintaan/{request_id}"}

        return await self._console.action(request, act)

    async def refuse(self, request: Request) -> Response:
        raw = request.path_params["id"]

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            check_kominfo(actor)
            request_id = _request_id(raw)
            await refuse_request(self._provider, request_id, form.get("reason", ""), actor=actor.sub)
            return {"title_key": "done.pdp_refused", "back": f"/admin/pdp/permintaan/{request_id}"}

        return await self._console.action(request, act)

    async def request_page(self, request: Request) -> Response:
        raw = request.path_params["id"]

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            check_kominfo(actor)
            request_id = _request_id(raw)
            row = await load_request(session, request_id)
            if row is None:
                raise NotFound(f"request {request_id} does not exist")
            person = await load_user(session, row.user_id)
            targets = await load_targets(session, row.user_id)
            return {"r": request_json(row, self._context.clock.now()), "person": person, "targets": targets}

        return await self._console.page(request, "pdp_request.html", load)

    async def request_export(self, request: Request) -> Response:
        """The person's export, for the official to hand over (printed or on a medium) at the counter."""
        raw = request.path_params["id"]
        issuer, now = self._context.settings.issuer, self._context.clock.now()

        async def produce(session: AsyncSession) -> Any:
            request_id = _request_id(raw)
            row = await load_request(session, request_id)
            if row is None or row.kind != "export":
                raise NotFound(f"request {request_id} is not an export request")
            yield json.dumps(await build_export(session, row.user_id, now, issuer), ensure_ascii=False, indent=1)

        return await self._export(request, produce, f"gerbang-data-{raw[:10]}.json", "application/json")

    async def send_breach(self, request: Request) -> Response:
        settings = self._context.settings

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            check_kominfo(actor)
            incident = await self._incident(session, form.get("app"), form.get("since"), form.get("until"))
            mailer = Mailer(settings.mail_from, settings.smtp_url, settings.effective_mail_outbox)
            summary = await send_notices(
                self._context.sessionmaker, mailer, incident, actor=actor.sub, contact=CONTACT, now=now
            )
            return {
                "title_key": "done.pdp_sent",
                "args": {"notified": summary["notified"]},
                "back": "/admin/pdp/insiden",
            }

        return await self._console.action(request, act)

    # --- parsing -------------------------------------------------------------------------------------------
    async def _incident(self, session: AsyncSession, app: str | None, since: str | None, until: str | None) -> Any:
        start = parse_wib(since, None)
        end = parse_wib(until, self._context.clock.now() + 1)
        if start is None or end is None or end <= start:
            raise BadRequest("give the window: since (and until) in WIB, since before until")
        try:
            return await load_incident(session, app or "", start, end)
        except LookupError:
            raise NotFound(f"app '{app}' does not exist") from None

    async def _event_filter(self, session: AsyncSession, request: Request) -> EventFilter:
        params = request.query_params
        kind = params.get("kind") or None
        if kind is not None and kind not in EVENT_KINDS:
            raise BadRequest(f"kind must be one of {', '.join(EVENT_KINDS)}")
        user_id = None
        if person := (params.get("user") or "").strip():
            user_id = await load_user_id_matching(session, person) or person
        return EventFilter(
            kind=kind,
            user_id=user_id,
            client_id=params.get("client") or None,
            since=parse_wib(params.get("since"), None),
            until=parse_wib(params.get("until"), None),
        )


def _request_id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
        raise NotFound(f"request '{raw[:20]}' does not exist")
    return int(raw)
