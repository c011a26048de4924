"""The admin API's data-protection endpoints (UU PDP), Kominfo only: the data subject request queue (record a
counter request, carry it out, refuse it), the processing register (Art. 31) and breach incidents (Art. 46).

Each handler calls the workflow the console and CLI call (``idp.pdp``); the caller's token, input checks,
problem+json errors and the audit entries are the admin API's as everywhere (``gateway.admin.http``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from starlette.responses import Response

from gateway.admin.actor import check_kominfo
from gateway.admin.bodies import LINE, PARAGRAPH, Reason, Strict
from gateway.admin.http import Call, json_response, page_response
from gateway.errors import NotFound
from idp.clients import CLIENT_ID
from idp.mail import Mailer
from idp.pdp.breach import Incident, draft_notice, load_incident, send_notices
from idp.pdp.fulfil import Fulfilment, fulfil_request, record_counter_request, refuse_request
from idp.pdp.register import LEGAL_BASES, load_register, save_record
from idp.pdp.requests import KINDS, list_requests, load_request, request_json
from idp.provider import Provider

CONTACT = "Diskominfo Kota Palembang"
Target = Annotated[
    str,
    Field(
        max_length=200,
        pattern=f"^((client|app):{CLIENT_ID.pattern})?$",
        description="client:<client_id> or app:<slug> (withdraw, object)",
    ),
]


class CounterRequest(Strict):
    """A request a citizen made in person at a service counter; the caller is recorded as the official."""

    person: Annotated[str, Field(min_length=3, max_length=254, pattern=LINE, description="email or NIK")]
    kind: Literal["export", "withdraw", "erase", "correct", "object", "restrict"]
    note: Annotated[str, Field(max_length=2000, pattern=PARAGRAPH)] = ""
    target: Target = ""


class RequestFulfilment(Strict):
    """What carrying the request out needs: the app (withdraw, object) or the corrected fields (correct)."""

    target: Target = ""
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=LINE)] | None = None
    email: Annotated[str, Field(min_length=3, max_length=254, pattern=LINE)] | None = None
    nik: Annotated[str, Field(max_length=16, pattern=r"^[0-9]*$")] | None = None


class RegisterEntry(Strict):
    purpose: Annotated[str, Field(max_length=4000, pattern=PARAGRAPH)] = ""
    legal_basis: Literal[
        "", "consent", "contract", "legal_obligation", "vital_interest", "public_task", "legitimate_interest"
    ] = ""
    retention: Annotated[str, Field(max_length=200, pattern=r"^[^\u0000-\u001f\u007f]*$")] = ""


class BreachNotice(Strict):
    since: Annotated[int, Field(ge=0, le=2**62)]
    until: Annotated[int, Field(ge=0, le=2**62)] | None = None


assert set(KINDS) == set(CounterRequest.model_fields["kind"].annotation.__args__)  # type: ignore[union-attr]
assert set(LEGAL_BASES) < set(RegisterEntry.model_fields["legal_basis"].annotation.__args__)  # type: ignore[union-attr]


class PdpApi:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    async def requests(self, call: Call) -> Response:
        check_kominfo(call.actor)
        page = call.page()
        rows = await list_requests(call.session, status=call.param("status"), limit=page.limit + 1, offset=page.offset)
        return page_response([request_json(row, call.now) for row in rows], page)

    async def request(self, call: Call) -> Response:
        check_kominfo(call.actor)
        row = await load_request(call.session, _request_id(call))
        if row is None:
            raise NotFound("no such data request")
        return json_response(request_json(row, call.now))

    async def record(self, call: Call) -> Response:
        check_kominfo(call.actor)
        body = await call.body(CounterRequest)
        row = await record_counter_request(
            call.session, body.person, body.kind, actor=call.actor.sub, now=call.now, note=body.note, target=body.target
        )
        return json_response(request_json(row, call.now), 201)

    async def fulfil(self, call: Call) -> Response:
        check_kominfo(call.actor)
        body = await call.body(RequestFulfilment)
        row = await fulfil_request(
            self.provider,
            _request_id(call),
            Fulfilment(body.target, body.name, body.email, body.nik),
            actor=call.actor.sub,
        )
        return json_response(request_json(row, self.provider.clock.now()))

    async def refuse(self, call: Call) -> Response:
        check_kominfo(call.actor)
        body = await call.body(Reason)
        row = await refuse_request(self.provider, _request_id(call), body.reason, actor=call.actor.sub)
        return json_response(request_json(row, self.provider.clock.now()))

    async def register(self, call: Call) -> Response:
        check_kominfo(call.actor)
        return json_response({"items": await load_register(call.session)})

    async def save_register(self, call: Call) -> Response:
        check_kominfo(call.actor)
        body = await call.body(RegisterEntry)
        slug = call.request.path_params["slug"]
        try:
            await save_record(
                call.session,
                slug,
                purpose=body.purpose,
                legal_basis=body.legal_basis,
                retention=body.retention,
                actor=call.actor.sub,
                now=call.now,
            )
        except LookupError:
            raise NotFound(f"app '{slug}' does not exist") from None
        entry = next(e for e in await load_register(call.session) if e["app"] == slug)
        return json_response(entry)

    async def breach(self, call: Call) -> Response:
        """Who the app received in the window, and the draft notice; nothing is sent."""
        check_kominfo(call.actor)
        incident = await self._incident(
            call, call.request.path_params["slug"], call.int_param("since") or 0, call.int_param("until")
        )
        draft = None
        if incident.affected:
            subject, text = draft_notice(incident, incident.affected[0], CONTACT)
            draft = {"subject": subject, "body": text}
        return json_response(
            {
                "app": incident.app,
                "since": incident.since,
                "until": incident.until,
                "affected": [
                    {"id": p.user_id, "name": p.name, "email": p.email, "claims": p.claims} for p in incident.affected
                ],
                "draft": draft,
            }
        )

    async def notify(self, call: Call) -> Response:
        """Send the notices and record the incident in the audit chain (who declared it, counts, never who)."""
        check_kominfo(call.actor)
        body = await call.body(BreachNotice)
        incident = await self._incident(call, call.request.path_params["slug"], body.since, body.until)
        settings = self.provider.settings
        mailer = Mailer(settings.mail_from, settings.smtp_url, settings.effective_mail_outbox)
        sessionmaker = self.provider.sessionmaker
        return json_response(
            await send_notices(sessionmaker, mailer, incident, actor=call.actor.sub, contact=CONTACT, now=call.now), 201
        )

    async def _incident(self, call: Call, app: str, since: int, until: int | None) -> Incident:
        """The window [since, until); an empty one (until <= since) affects nobody."""
        end = max(since, call.now + 1 if until is None else until)
        try:
            return await load_incident(call.session, app, since, end)
        except LookupError:
            raise NotFound(f"app '{app}' does not exist") from None

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", "/pdp/requests", self.requests),
            ("POST", "/pdp/requests", self.record),
            ("GET", "/pdp/requests/{id}", self.request),
            ("POST", "/pdp/requests/{id}/fulfil", self.fulfil),
            ("POST", "/pdp/requests/{id}/refuse", self.refuse),
            ("GET", "/pdp/register", self.register),
            ("PUT", "/pdp/register/{slug}", self.save_register),
            ("GET", "/pdp/breaches/{slug}", self.breach),
            ("POST", "/pdp/breaches/{slug}", self.notify),
        ]


def _request_id(call: Call) -> int:
    raw = call.request.path_params["id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
        raise NotFound("no such data request")
    return int(raw)
