"""A signed app's WebSocket handshake carries the hub's message signature (RFC 9421), checked by the app's middleware.

The handshake is a GET without a body: it is signed like one (method, target, empty Content-Digest, assertion,
request id), so a handshake replayed to the app, sent to it around the hub, or unsigned is refused before the
WebSocket opens. The messages themselves are not signed (docs/integrity.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from yarl import URL

from gateway.app import create_app
from gateway.assertion import AssertionVerifier, GerbangAssertionMiddleware
from gateway.integrity.http_signatures import MessageSignatureVerifier
from tests.support.budget_app import RESOURCE, bapenda_token, register_budget_app
from tests.support.hub import Hub, run_hub
from tests.support.server import run_server

HOP = {"host", "connection", "upgrade", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}


@dataclass
class Board:
    """A live budget board: echoes messages, keeps the handshake headers it accepted."""

    handshakes: list[list[tuple[str, str]]] = field(default_factory=list)

    def build(self, hub_url: str, origin: str) -> Any:
        async def board(socket: WebSocket) -> None:
            self.handshakes.append([(k.decode("latin-1"), v.decode("latin-1")) for k, v in socket.scope["headers"]])
            await socket.accept()
            while True:
                text = await socket.receive_text()
                await socket.send_text(f"{socket.scope['state']['gerbang'].client_id}:{text}")

        verifier = AssertionVerifier(issuer=hub_url, audience=RESOURCE, min_refresh_seconds=0.1)
        signatures = MessageSignatureVerifier(verifier.message_key, [origin])
        return GerbangAssertionMiddleware(
            Starlette(routes=[WebSocketRoute("/api/papan", board)]), verifier, signatures=signatures
        )


@dataclass
class Signed:
    hub: Hub
    board: Board
    app_url: str
    board_url: str
    token: str


@pytest.fixture
def signed(database_url: str, tmp_path: Path) -> Iterator[Signed]:
    board = Board()
    with run_hub(database_url, tmp_path, app_factory=create_app) as hub:
        with run_server(board.build(hub.url, hub.app_url("e-budgeting"))) as board_url:
            asyncio.run(register_budget_app(database_url, hub.url, board_url, "signed"))
            yield Signed(hub, board, hub.app_url("e-budgeting"), board_url, bapenda_token(hub))


async def _exchange(url: str, headers: dict[str, str], text: str, deadline: float = 15) -> str | int:
    """Open a WebSocket, send ``text`` and return the answer; or the handshake's refusal status (404 retried
    while the registry catches up)."""
    give_up = time.monotonic() + deadline
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.ws_connect(
                    URL(url.replace("http://", "ws://"), encoded=True), headers=headers
                ) as socket:
                    await socket.send_str(text)
                    return await socket.receive_str()
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status == 404 and time.monotonic() < give_up:
                    await asyncio.sleep(0.2)
                    continue
                return exc.status


def _through_the_hub(signed: Signed, text: str) -> str | int:
    return asyncio.run(_exchange(signed.app_url + "/api/papan", {"authorization": f"Bearer {signed.token}"}, text))


def test_the_handshake_through_the_hub_is_signed_and_the_app_accepts_it(signed: Signed) -> None:
    client_id, _ = signed.hub.client("Bapenda Integrasi")
    assert _through_the_hub(signed, "pagu 2027") == f"{client_id}:pagu 2027"
    seen = dict(signed.board.handshakes[-1])
    assert seen["signature-input"].startswith(
        'gerbang=("@method" "@target-uri" "content-digest" "x-gerbang-assertion" "x-request-id")'
    )
    assert seen["content-digest"] == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"  # the empty body


def test_a_handshake_replayed_to_the_app_around_the_hub_is_refused(signed: Signed) -> None:
    assert isinstance(_through_the_hub(signed, "sekali"), str)
    captured = {name: value for name, value in signed.board.handshakes[-1] if name not in HOP}
    replayed = asyncio.run(_exchange(signed.board_url + "/api/papan", captured, "lagi", deadline=0))
    assert replayed == 403  # its nonce was used
    assert len(signed.board.handshakes) == 1


def test_an_unsigned_handshake_with_a_genuine_assertion_is_refused(signed: Signed) -> None:
    assert isinstance(_through_the_hub(signed, "sekali"), str)
    captured = dict(signed.board.handshakes[-1])
    unsigned = {"x-gerbang-assertion": captured["x-gerbang-assertion"]}  # the assertion alone, reused at once
    assert asyncio.run(_exchange(signed.board_url + "/api/papan", unsigned, "lagi", deadline=0)) == 403
    assert len(signed.board.handshakes) == 1
