"""``GET /ledger/receipts/{request_id}`` on the hub: the calling client's own receipt, with its own token.

The token must be one the hub issued for the app the receipt is about (its ``aud`` names the app's resource) and
its ``client_id`` must be the receipt's: a client reads only its own receipts, and a receipt of another client
(or none) answers the same 404. The answer: ``{"receipt": {...}, "token": "<checkpoint JWS>~<proof>"}``, the same
``Gerbang-Receipt`` value the response carried (``gateway.integrity.receipts``), its audit path rebuilt from the
stored batch; ``token`` is ``null`` for a receipt whose batch has no Merkle tree head (recorded before they had one).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Receive, Scope, Send

from gateway.errors import GatewayError, MethodNotAllowed, NotFound, Unauthenticated
from gateway.headers import new_id
from gateway.integrity.ledger_store import BatchProver, load_receipts_of_request, read_row
from gateway.model import Route
from gateway.problem import send_problem
from gateway.token_verifier import InvalidToken, TokenVerifier
from idp.storage.gateway_models import LedgerReceipt

PREFIX = "/ledger/receipts/"


class ReceiptEndpoint:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        verifier: TokenVerifier,
        find_app: Callable[[str], Route | None],
    ) -> None:
        self._sessionmaker, self._verifier, self._find_app = sessionmaker, verifier, find_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_id(128)
        try:
            document = await self._answer(scope)
        except GatewayError as error:
            await send_problem(send, error, request_id)
            return
        body = json.dumps(document, ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"cache-control", b"no-store"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope) -> dict[str, object]:
        if scope["method"] not in ("GET", "HEAD"):
            raise MethodNotAllowed("only GET", headers=((b"allow", b"GET"),))
        wanted = scope["path"][len(PREFIX) :]
        token = _bearer(scope["headers"])
        if not wanted or len(wanted) > 128 or "/" in wanted:
            raise NotFound("there is no such receipt")
        async with self._sessionmaker() as session:
            rows = await load_receipts_of_request(session, wanted)
            for row in rows:
                proven = await self._prove_if_theirs(session, row, token)
                if proven is not None:
                    return proven
        raise NotFound("there is no such receipt for this client")

    async def _prove_if_theirs(self, session: AsyncSession, row: LedgerReceipt, token: str) -> dict[str, object] | None:
        route = self._find_app(row.app)
        if route is None or row.client_id is None:
            return None
        try:
            claims = await self._verifier.verify(token, route.resource)
        except InvalidToken:
            return None
        if claims.client_id != row.client_id:
            return None
        chained = read_row(row)
        proven = await BatchProver(session).prove(chained)
        return {"receipt": chained.as_json(), "token": proven.token() if proven is not None else None}


def _bearer(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].decode("latin-1").strip()
    raise Unauthenticated(
        "a bearer token of the calling client is required",
        headers=((b"www-authenticate", b'Bearer realm="gerbang-ledger"'),),
    )
