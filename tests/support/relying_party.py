"""A tiny real relying party that receives back-channel logout tokens."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class RelyingParty:
    """Answers ``failures`` with ``fail_status`` first, then 200; keeps every logout token it got."""

    fail_status: int = 503
    failures: int = 0
    tokens: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def receive(request: Request) -> Response:
            form = await request.form()
            with self.lock:
                self.tokens.append(str(form.get("logout_token")))
                failing = len(self.tokens) <= self.failures
            return Response(status_code=self.fail_status if failing else 200)

        return Starlette(routes=[Route("/backchannel-logout", receive, methods=["POST"])])

    def wait_for(self, count: int, seconds: float = 10) -> list[str]:
        deadline = time.monotonic() + seconds
        while len(self.tokens) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.tokens)
