"""Signed requests and receipts on a real hub (both databases): a tampering proxy between the gateway and the app,
replays, receipts verified offline and fetched by the calling client, client digests, fail-closed ledger."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.assertion import AssertionVerifier, GerbangAssertionMiddleware
from gateway.integrity.http_signatures import MessageSignatureVerifier, format_content_digest
from gateway.integrity.receipts import chain_hash, check_receipt_token, read_chained
from idp.storage.db import build_engine
from tests.support.budget_app import RESOURCE, bapenda_token, register_budget_app
from tests.support.hub import Hub, run_hub
from tests.support.server import run_server
from tests.support.tampering_proxy import Tamper

BODY = b'{"tahun": 2027, "pagu": 1250000000}'


@dataclass
class Budget:
    """The app (BPKAD's e-budgeting) behind the verifier; it keeps every body it accepted."""

    accepted: list[bytes] = field(default_factory=list)
    app: Any = None

    def build(self, hub_url: str, origin: str) -> Any:
        async def api(request: Request) -> Response:
            body = await request.body()
            self.accepted.append(body)
            if request.path_params["rest"] == "laporan":  # a report larger than the gateway holds
                return Response(b"L" * int(request.query_params["ukuran"]), media_type="text/plain")
            return JSONResponse({"diterima": len(body), "client": request.state.gerbang.client_id})

        verifier = AssertionVerifier(issuer=hub_url, audience=RESOURCE, min_refresh_seconds=0.1)
        signatures = MessageSignatureVerifier(verifier.message_key, [origin])
        return GerbangAssertionMiddleware(
            Starlette(routes=[Route("/api/{rest:path}", api, methods=["GET", "POST"])]), verifier, signatures=signatures
        )


@dataclass
class City:
    hub: Hub
    budget: Budget
    tamper: Tamper
    app_url: str
    token: str
    database_url: str
    front: str = "app-plane"
    apps: list[Any] = field(default_factory=list)  # the GatewayApp serving (its app plane's count)

    def post(self, body: bytes = BODY, path: str = "/api/anggaran?tahun=2027", **headers: str) -> httpx.Response:
        return httpx.post(
            self.app_url + path,
            content=body,
            timeout=10,
            headers={"authorization": f"Bearer {self.token}", "content-type": "application/json", **headers},
        )


def build_gateway(front: str, built: list[Any]) -> Any:
    """The gateway as ``gerbang serve`` runs it: app hosts on the app plane; or (``asgi``) without the app plane,
    app hosts on the ASGI path (``gateway.pipeline.handle_request``), as under any other server."""

    def factory(settings: Any) -> Any:
        app = create_app(settings)
        if front == "asgi":
            app.app_plane = None
        built.append(app)
        return app

    return factory


@pytest.fixture(params=["app-plane", "asgi"])
def city(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[City]:
    budget, tamper, built = Budget(), Tamper(), []
    with run_hub(
        database_url,
        tmp_path,
        app_factory=build_gateway(request.param, built),
        assertion_reuse_seconds=0,
        integrity_buffer_bytes=4096,
        ledger_hold_bytes=65536,
    ) as hub:
        budget_app = budget.build(hub.url, hub.app_url("e-budgeting"))
        with run_server(budget_app) as app_url, run_server(tamper) as tamper_url:
            tamper.target = app_url
            asyncio.run(register_budget_app(database_url, hub.url, tamper_url, "ledger"))
            running = City(
                hub,
                budget,
                tamper,
                hub.app_url("e-budgeting"),
                bapenda_token(hub),
                database_url,
                request.param,
                built,
            )
            deadline = time.monotonic() + 15
            while running.post().status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
            budget.accepted.clear()
            yield running


def test_signed_request_reaches_the_app_and_the_receipt_verifies_offline(city: City) -> None:
    plane = city.apps[0].app_plane
    served = plane.served if plane is not None else 0
    answer = city.post()
    assert answer.status_code == 200, answer.text
    assert (plane.served == served + 1) if city.front == "app-plane" else plane is None  # the front under test
    assert city.budget.accepted == [BODY]
    jwks = httpx.get(f"{city.hub.url}/auth/jwks").json()
    receipt = check_receipt_token(answer.headers["gerbang-receipt"], jwks, city.hub.url).receipt
    assert receipt.request_id == answer.headers["x-request-id"] and receipt.app == "e-budgeting"
    assert receipt.request_digest == hashlib.sha256(BODY).hexdigest()
    assert receipt.response_digest == hashlib.sha256(answer.content).hexdigest() and receipt.status == 200
    assert receipt.query_digest == hashlib.sha256(b"tahun=2027").hexdigest() and receipt.path == "/api/anggaran"
    # The calling client fetches the same receipt with its own token; nobody else does.
    url = f"{city.hub.url}/ledger/receipts/{receipt.request_id}"
    fetched = httpx.get(url, headers={"authorization": f"Bearer {city.token}"})
    assert (
        fetched.status_code == 200
        and fetched.json()["receipt"]["hash"] == check_receipt_token(fetched.json()["token"], jwks, city.hub.url).hash
    )
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": "Bearer not-a-token"}).status_code == 404
    other = f"{city.hub.url}/ledger/receipts/{'0' * 32}"
    assert httpx.get(other, headers={"authorization": f"Bearer {city.token}"}).status_code == 404
    # A receipt edited by its holder no longer verifies: against its chain hash, or (hash recomputed) against the
    # batch's signed Merkle tree head.
    checkpoint, _, encoded = answer.headers["gerbang-receipt"].partition("~")
    proof = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    proof["receipt"]["status"] = 500

    def forged() -> str:
        return checkpoint + "~" + base64.urlsafe_b64encode(json.dumps(proof).encode()).decode().rstrip("=")

    with pytest.raises(ValueError, match="chain hash"):
        check_receipt_token(forged(), jwks, city.hub.url)
    edited = read_chained(proof["receipt"])
    proof["receipt"]["hash"] = chain_hash(edited.prev_hash, edited.receipt)
    with pytest.raises(ValueError, match="audit path"):
        check_receipt_token(forged(), jwks, city.hub.url)


def test_a_response_too_large_to_hold_streams_and_its_receipt_is_fetched_by_request_id(city: City) -> None:
    answer = city.post(path="/api/laporan?ukuran=400000")
    assert answer.status_code == 200 and answer.content == b"L" * 400_000
    assert "gerbang-receipt" not in answer.headers  # the head went out before the receipt existed
    url = f"{city.hub.url}/ledger/receipts/{answer.headers['x-request-id']}"
    fetched = httpx.get(url, headers={"authorization": f"Bearer {city.token}"})
    assert fetched.status_code == 200, fetched.text
    jwks = httpx.get(f"{city.hub.url}/auth/jwks").json()
    receipt = check_receipt_token(fetched.json()["token"], jwks, city.hub.url).receipt
    assert receipt.response_digest == hashlib.sha256(answer.content).hexdigest() and receipt.status == 200
    assert receipt.request_digest == hashlib.sha256(BODY).hexdigest()


@pytest.mark.parametrize("mode", ["body", "path", "assertion"])
def test_a_request_altered_between_gateway_and_app_is_refused(city: City, mode: str) -> None:
    assert city.post().status_code == 200  # a first request: its assertion is the one swapped in next
    city.budget.accepted.clear()
    city.tamper.mode = mode
    answer = city.post()
    assert answer.status_code == 403, answer.text
    assert city.budget.accepted == []


def test_a_replayed_signed_request_is_refused(city: City) -> None:
    assert city.post().status_code == 200
    sent = city.tamper.last
    replay = httpx.request(
        sent["method"], city.tamper.target + sent["path"], headers=sent["headers"], content=sent["body"]
    )
    assert replay.status_code == 403 and "replay" in replay.text
    assert city.budget.accepted == [BODY]


def test_a_client_digest_is_checked_while_streaming_and_a_mismatch_never_reaches_the_app(city: City) -> None:
    big = b"x" * 10_000  # over integrity_buffer_bytes: streamed with the client's digest, refused without
    assert city.post(big).status_code == 413
    good = city.post(big, **{"content-digest": format_content_digest(hashlib.sha256(big).digest())})
    assert good.status_code == 200 and city.budget.accepted == [big]
    wrong = city.post(big, **{"content-digest": format_content_digest(hashlib.sha256(b"other").digest())})
    assert wrong.status_code == 400 and wrong.headers["content-type"] == "application/problem+json"
    assert city.budget.accepted == [big]  # the app never got the mismatching body whole
    assert city.post(b"{}", **{"content-digest": "sha-512=:AAAA:"}).status_code == 400


def test_the_ledger_fails_closed_when_it_cannot_record(city: City) -> None:
    assert city.post().status_code == 200
    asyncio.run(_execute(city.database_url, "ALTER TABLE ledger_receipts RENAME TO ledger_receipts_gone"))
    try:
        first = city.post()
        assert first.status_code == 503 and first.headers["content-type"] == "application/problem+json"
        city.budget.accepted.clear()
        refused = city.post()  # the ledger is closed: not forwarded at all
        assert refused.status_code == 503 and city.budget.accepted == []
    finally:
        asyncio.run(_execute(city.database_url, "ALTER TABLE ledger_receipts_gone RENAME TO ledger_receipts"))
    time.sleep(2.1)
    assert city.post().status_code == 200


async def _execute(database_url: str, statement: str) -> None:
    engine = build_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


def test_app_operators_list_their_app_receipts_and_others_do_not(city: City) -> None:
    from tests.support.admin import BPKAD_OPERATOR, DISHUB_ADMIN, admin_token, run_seed

    sent = [city.post() for _ in range(3)]
    run_seed(city.database_url, city.hub.seeded.users)
    operator = {"authorization": f"Bearer {admin_token(city.hub, BPKAD_OPERATOR)}"}
    url = f"{city.hub.url}/admin/api/apps/e-budgeting/receipts"
    seen, after = [], None
    while True:  # two at a time, by the keyset cursor
        page = httpx.get(url, params={"limit": 2, **({"after": after} if after else {})}, headers=operator)
        assert page.status_code == 200, page.text
        seen += [item["request_id"] for item in page.json()["items"]]
        after = page.json()["next_after"]
        if after is None:
            break
    assert seen[-3:] == [answer.headers["x-request-id"] for answer in sent]
    other = httpx.get(url, headers={"authorization": f"Bearer {admin_token(city.hub, DISHUB_ADMIN)}"})
    assert other.status_code in (403, 404)


def test_a_ledger_app_answers_503_while_redis_is_down_and_a_signed_app_still_answers(
    database_url: str, tmp_path: Path
) -> None:
    from tests.support.hub import free_port

    budget = Budget()
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with run_hub(database_url, tmp_path, app_factory=create_app, redis_url=dead_redis) as hub:
        budget_app = budget.build(hub.url, hub.app_url("e-budgeting"))
        with run_server(budget_app) as app_url:
            asyncio.run(register_budget_app(database_url, hub.url, app_url, "ledger"))
            city = City(hub, budget, Tamper(), hub.app_url("e-budgeting"), bapenda_token(hub), database_url)
            deadline = time.monotonic() + 15
            while (answer := city.post()).status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert answer.status_code == 503 and budget.accepted == [], answer.text
            asyncio.run(_execute(database_url, "UPDATE apps SET integrity = 'signed', updated_at = updated_at + 5"))
            deadline = time.monotonic() + 15
            while (answer := city.post()).status_code == 503 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert answer.status_code == 200 and budget.accepted == [BODY]
