"""A ledger app's exchanges that end early still leave a receipt (both databases, both fronts).

The request reached the app, which may have acted on it (a payment booked, a budget line changed), so the
ledger records it even when the client never received the whole answer: the app never answered in time
(``no-response``, status the gateway's 504), the client left mid-response (``client-gone``), or the app's answer
broke off (``upstream-cut``). Such a receipt is written in the background (nobody waits for it), verifies
offline like any other and passes ``gerbang ledger verify``; a delivered answer's receipt has no ``outcome``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.assertion import AssertionVerifier, GerbangAssertionMiddleware
from gateway.integrity.http_signatures import MessageSignatureVerifier
from gateway.integrity.ledger_store import verify_stored
from gateway.integrity.ledger_verify import LedgerReport
from gateway.integrity.receipts import ChainedReceipt, check_receipt_token
from idp.storage.db import build_engine, build_sessionmaker
from tests.integration.test_integrity import build_gateway
from tests.support.budget_app import RESOURCE, bapenda_token, register_budget_app
from tests.support.hub import Hub, run_hub
from tests.support.server import run_server

BODY = b'{"tahun": 2027, "pagu": 1250000000}'
PIECE = b"R" * 8192


@dataclass
class Treasury:
    """BPKAD's app: answers slowly, streams, or breaks off, as each path says; counts what it was asked."""

    calls: list[str] = field(default_factory=list)

    def build(self, hub_url: str, origin: str) -> Any:
        async def api(request: Request) -> Response:
            await request.body()
            name = request.path_params["rest"]
            self.calls.append(name)
            if name == "diam":  # booked, but the answer comes after the gateway stopped waiting
                await asyncio.sleep(4)
                return JSONResponse({"dibukukan": True})
            if name == "aliran":
                return StreamingResponse(_pieces(40, 0.05), media_type="text/plain")
            if name == "putus":
                return StreamingResponse(_pieces(12, 0.0, fail=True), media_type="text/plain")
            return JSONResponse({"ok": True})

        verifier = AssertionVerifier(issuer=hub_url, audience=RESOURCE, min_refresh_seconds=0.1)
        signatures = MessageSignatureVerifier(verifier.message_key, [origin])
        return GerbangAssertionMiddleware(
            Starlette(routes=[Route("/api/{rest:path}", api, methods=["POST"])]), verifier, signatures=signatures
        )


async def _pieces(count: int, pause: float, *, fail: bool = False) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield PIECE
        await asyncio.sleep(pause)
    if fail:
        raise RuntimeError("the app's report generator failed mid-answer")  # uvicorn cuts the connection


@dataclass
class Ledgered:
    hub: Hub
    treasury: Treasury
    app_url: str
    token: str
    database_url: str

    def post(self, path: str, timeout: float = 15) -> httpx.Response:
        return httpx.post(self.app_url + path, content=BODY, timeout=timeout, headers=self.headers())

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}", "content-type": "application/json"}

    def receipt(self, request_id: str) -> ChainedReceipt:
        """The receipt fetched by the calling client and verified offline; it is written in the background."""
        url = f"{self.hub.url}/ledger/receipts/{request_id}"
        deadline = time.monotonic() + 10
        while (found := httpx.get(url, headers=self.headers())).status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert found.status_code == 200, found.text
        jwks = httpx.get(f"{self.hub.url}/auth/jwks").json()
        return check_receipt_token(found.json()["token"], jwks, self.hub.url)


async def _verify(database_url: str, jwks: dict[str, Any]) -> LedgerReport:
    engine = build_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session:
            return await verify_stored(session, {key["kid"]: key for key in jwks["keys"]})
    finally:
        await engine.dispose()


@pytest.fixture(params=["app-plane", "asgi"])
def ledgered(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Ledgered]:
    treasury, built = Treasury(), []
    with run_hub(
        database_url,
        tmp_path,
        app_factory=build_gateway(request.param, built),
        assertion_reuse_seconds=0,
        ledger_hold_bytes=65536,
        upstream_read_timeout=1.5,
    ) as hub:
        with run_server(treasury.build(hub.url, hub.app_url("e-budgeting"))) as app_url:
            asyncio.run(register_budget_app(database_url, hub.url, app_url, "ledger"))
            running = Ledgered(hub, treasury, hub.app_url("e-budgeting"), bapenda_token(hub), database_url)
            deadline = time.monotonic() + 15
            while running.post("/api/ok").status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
            treasury.calls.clear()
            yield running


def test_a_delivered_answer_has_a_receipt_without_an_outcome(ledgered: Ledgered) -> None:
    answer = ledgered.post("/api/ok")
    assert answer.status_code == 200 and "gerbang-receipt" in answer.headers
    receipt = ledgered.receipt(answer.headers["x-request-id"]).receipt
    assert receipt.outcome is None and receipt.status == 200
    assert receipt.response_digest == hashlib.sha256(answer.content).hexdigest()


def test_a_request_the_app_never_answered_in_time_has_a_no_response_receipt(ledgered: Ledgered) -> None:
    answer = ledgered.post("/api/diam")
    assert answer.status_code == 504 and answer.headers["content-type"] == "application/problem+json"
    assert ledgered.treasury.calls == ["diam"]  # the app got it, and may have booked it
    receipt = ledgered.receipt(answer.headers["x-request-id"]).receipt
    assert (receipt.outcome, receipt.status) == ("no-response", 504)
    assert receipt.request_digest == hashlib.sha256(BODY).hexdigest()
    assert receipt.response_digest == hashlib.sha256(b"").hexdigest()


def test_a_client_that_leaves_mid_answer_still_leaves_a_receipt(ledgered: Ledgered) -> None:
    with (
        httpx.Client(timeout=15) as client,
        client.stream("POST", ledgered.app_url + "/api/aliran", content=BODY, headers=ledgered.headers()) as answer,
    ):
        assert answer.status_code == 200  # over the hold size: streamed, no Gerbang-Receipt header
        request_id = answer.headers["x-request-id"]
        next(answer.iter_raw())  # the first piece, then the client goes
    receipt = ledgered.receipt(request_id).receipt
    assert (receipt.outcome, receipt.status) == ("client-gone", 200)
    assert receipt.request_digest == hashlib.sha256(BODY).hexdigest()
    assert receipt.response_digest != hashlib.sha256(PIECE * 40).hexdigest()  # what passed, not the whole


def test_an_answer_the_app_broke_off_has_an_upstream_cut_receipt(ledgered: Ledgered) -> None:
    with pytest.raises(httpx.HTTPError):  # the client sees a truncation, never a clean end
        ledgered.post("/api/putus").read()
    requests = [row for row in _all_receipts(ledgered) if row.receipt.path == "/api/putus"]
    assert [(row.receipt.outcome, row.receipt.status) for row in requests] == [("upstream-cut", 200)]


def test_early_endings_keep_the_chain_intact(ledgered: Ledgered) -> None:
    ledgered.post("/api/diam")
    ledgered.post("/api/ok")
    _all_receipts(ledgered, at_least=2)
    jwks = httpx.get(f"{ledgered.hub.url}/auth/jwks").json()
    report = asyncio.run(_verify(ledgered.database_url, jwks))
    assert report.intact and report.receipts >= 2, report.summary()


def _all_receipts(ledgered: Ledgered, at_least: int = 1) -> list[ChainedReceipt]:
    from tests.support.admin import BPKAD_OPERATOR, admin_token, run_seed

    run_seed(ledgered.database_url, ledgered.hub.seeded.users)
    operator = {"authorization": f"Bearer {admin_token(ledgered.hub, BPKAD_OPERATOR)}"}
    url = f"{ledgered.hub.url}/admin/api/apps/e-budgeting/receipts"
    deadline = time.monotonic() + 10
    while True:
        items = httpx.get(url, params={"limit": 100}, headers=operator).json()["items"]
        if len(items) >= at_least or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    from gateway.integrity.receipts import read_chained

    return [read_chained(item) for item in items]
