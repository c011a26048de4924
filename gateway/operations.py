"""``/healthz``, ``/readyz`` and ``/metrics``: what the load balancer and Prometheus ask.

``/healthz`` answers 200 while the process runs. ``/metrics`` names apps and upstream
addresses, so only clients in ``metrics_networks`` see it (404 for everyone else).
``/readyz`` answers 503 with a JSON body naming what is wrong when the database is
unreachable or a critical check fails. Other subsystems add checks with ``add_check``: a
check returns ``None`` when healthy, otherwise a short public description; a failing
non-critical check reports "degraded" and stays 200.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from starlette.types import Scope, Send

from gateway.errors import NotFound
from gateway.headers import build_request_id
from gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from gateway.metrics import GatewayMetrics
from gateway.problem import send_problem
from idp.client_address import Network, is_trusted, resolve_client_ip
from idp.context import IdpContext

log = logging.getLogger("gerbang.gateway")

Check = Callable[[], Awaitable[str | None]]
CHECK_TIMEOUT = 2.0


class Operations:
    paths = frozenset({"/healthz", "/readyz", "/metrics"})

    def __init__(
        self,
        context: IdpContext,
        metrics: GatewayMetrics,
        trusted_proxies: tuple[Network, ...],
        metrics_networks: tuple[Network, ...],
    ) -> None:
        self.metrics, self.trusted_proxies, self.metrics_networks = metrics, trusted_proxies, metrics_networks
        self.checks: list[tuple[str, Check, bool]] = [("database", self._database(context), True)]

    def add_check(self, name: str, check: Check, *, critical: bool = True) -> None:
        self.checks.append((name, check, critical))

    async def handle(self, scope: Scope, send: Send) -> None:
        path = scope["path"]
        if path == "/healthz":
            await _answer(send, 200, b"application/json", b'{"status":"ok"}')
        elif path == "/readyz":
            status, document = await self.readiness()
            await _answer(send, status, b"application/json", json.dumps(document).encode())
        elif self._may_read_metrics(scope):
            await _answer(send, 200, METRICS_CONTENT_TYPE, self.metrics.render())
        else:
            await send_problem(send, NotFound("not found"), build_request_id(scope["headers"]))

    def _may_read_metrics(self, scope: Scope) -> bool:
        client = scope.get("client")
        client_ip, _ = resolve_client_ip(client[0] if client else "", scope["headers"], self.trusted_proxies)
        return is_trusted(client_ip, self.metrics_networks)

    async def readiness(self) -> tuple[int, dict[str, object]]:
        results: dict[str, str] = {}
        ready, degraded = True, False
        for name, check, critical in self.checks:
            problem = await _run(name, check)
            results[name] = problem or "ok"
            if problem:
                ready = ready and not critical
                degraded = True
        state = "unavailable" if not ready else ("degraded" if degraded else "ready")
        return (200 if ready else 503), {"status": state, "checks": results}

    @staticmethod
    def _database(context: IdpContext) -> Check:
        async def check() -> str | None:
            async with context.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            return None

        return check


async def _run(name: str, check: Check) -> str | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await check()
    except Exception as exc:  # any failure of a check is "not ready", never a crash of /readyz
        log.warning("readiness check %s failed: %r", name, exc)
        return "unreachable"


async def _answer(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
