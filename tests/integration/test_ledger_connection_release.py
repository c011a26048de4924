"""The app's connection goes back to the pool as soon as its answer is whole, not when the client has it.

A ledger app's answer is held until its receipt is durable (a group commit that lingers for the receipts of the
requests in flight), and any app's last bytes may wait on a slow client: neither holds the connection to the app.
Here the app may have one connection and a batch may linger up to a second for the receipts of exchanges under way:
the second request reaches the app while the first one's answer waits for its receipt, and both are written.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.assertion import AssertionVerifier, GerbangAssertionMiddleware
from gateway.integrity.http_signatures import MessageSignatureVerifier
from gateway.integrity.receipts import check_receipt_token
from tests.integration.test_integrity import build_gateway
from tests.support.budget_app import RESOURCE, bapenda_token, register_budget_app
from tests.support.hub import Hub, run_hub
from tests.support.server import run_server


def build_app(hub_url: str, origin: str, arrivals: dict[str, float]) -> Any:
    async def api(request: Request) -> Response:
        await request.body()
        name = request.path_params["rest"]
        arrivals[name] = time.monotonic()
        if name == "pertama":
            await asyncio.sleep(0.3)  # the second request arrives at the gateway meanwhile
        return JSONResponse({"ok": True})

    verifier = AssertionVerifier(issuer=hub_url, audience=RESOURCE, min_refresh_seconds=0.1)
    signatures = MessageSignatureVerifier(verifier.message_key, [origin])
    return GerbangAssertionMiddleware(
        Starlette(routes=[Route("/api/{rest:path}", api, methods=["POST"])]), verifier, signatures=signatures
    )


@pytest.fixture(params=["app-plane", "asgi"])
def one_connection(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[tuple[Hub, dict[str, float], str]]:
    arrivals: dict[str, float] = {}
    with run_hub(
        database_url,
        tmp_path,
        app_factory=build_gateway(request.param, []),
        assertion_reuse_seconds=0,
        upstream_connections_per_host=1,
        ledger_linger_seconds=1.0,
    ) as hub:
        with run_server(build_app(hub.url, hub.app_url("e-budgeting"), arrivals)) as app_url:
            asyncio.run(register_budget_app(database_url, hub.url, app_url, "ledger"))
            token = bapenda_token(hub)
            deadline = time.monotonic() + 15
            while post(hub, token, "siap").status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
            yield hub, arrivals, token


def post(hub: Hub, token: str, name: str) -> httpx.Response:
    return httpx.post(
        hub.app_url("e-budgeting") + f"/api/{name}",
        content=b'{"tahun": 2027}',
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        timeout=15,
    )


def test_a_held_answer_does_not_hold_the_apps_connection(one_connection: tuple[Hub, dict[str, float], str]) -> None:
    hub, arrivals, token = one_connection
    answers: dict[str, httpx.Response] = {}
    finished: dict[str, float] = {}

    def call(name: str) -> None:
        answers[name] = post(hub, token, name)
        finished[name] = time.monotonic()

    first = threading.Thread(target=call, args=("pertama",))
    first.start()
    time.sleep(0.1)  # the first request is at the app; the second waits for the app's only connection
    second = threading.Thread(target=call, args=("kedua",))
    second.start()
    first.join()
    second.join()
    assert answers["pertama"].status_code == answers["kedua"].status_code == 200
    # The first answer's receipt waits for the second exchange's (a batch lingers for exchanges under way, here up
    # to 1 s): the second reached the app on the connection the first answer no longer held. Had the held answer
    # kept it, the second could only have reached the app after the first was delivered, a whole linger later.
    assert arrivals["kedua"] < finished["pertama"], (arrivals, finished)
    assert finished["pertama"] - arrivals["pertama"] < 1.0, (arrivals, finished)
    jwks = httpx.get(f"{hub.url}/auth/jwks").json()
    for name in ("pertama", "kedua"):
        chained = check_receipt_token(answers[name].headers["gerbang-receipt"], jwks, hub.url)
        assert chained.receipt.path == f"/api/{name}" and chained.receipt.status == 200
