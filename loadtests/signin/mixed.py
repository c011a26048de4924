"""Mixed load with a CPU thief: are there refusals the limits did not call for when the server is starved?

For ``seconds``, open-loop at fixed rates and all at once: browser sign-ins (``browser.run_open_loop``),
refresh-token rotations (a pool of tokens, each rotated by one request at a time) and client_credentials
requests. A third of the way in, a second job busy-loops for ``steal_seconds`` on the server's cores (one
process per ``steal_processes``: with the server's workers on two cores, one thief takes about half a core).

Every answer is counted by kind; a 429 or 503 is a refusal. With the limits sized for the offered load (the
shipped policies, each caller behind the balancer with its own address), any refusal is one the limits did not
call for: a worker's own stall counted against Redis's health (the issue's breaker failure).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from loadtests.signin.browser import Outcomes, RelyingParty, basic_auth, run_open_loop
from loadtests.signin.token_loops import TokenRun, post_token


@dataclass
class MixedRun:
    signins: Outcomes
    refresh: TokenRun
    client_credentials: TokenRun
    steal_began: float
    steal_seconds: float
    seconds: float

    def refusals(self) -> int:
        refused = sum(n for kind, n in self.signins.errors.items() if "HTTP 429" in kind or "HTTP 503" in kind)
        for paced in (self.refresh, self.client_credentials):
            refused += sum(n for kind, n in paced.errors.items() if kind.startswith(("HTTP 429", "HTTP 503")))
        return refused


def _busy(until: float) -> None:
    while time.monotonic() < until:
        pass


async def run_mixed(
    party: RelyingParty,
    service: dict[str, str],
    password: str,
    users: int,
    refresh_tokens: list[str],
    rates: tuple[float, float, float],
    seconds: float,
    steal_seconds: float,
    steal_processes: int,
    connector: aiohttp.BaseConnector,
) -> MixedRun:
    """``rates``: sign-ins, refreshes and client_credentials per second."""
    signin_rate, refresh_rate, credentials_rate = rates
    token_url = f"{party.issuer}/auth/token"
    pool: deque[str] = deque(refresh_tokens)
    refresh, credentials = TokenRun(), TokenRun()
    party_auth = basic_auth(party.client_id, party.client_secret)
    service_auth = basic_auth(service["client_id"], service["client_secret"])
    credentials_form = {"grant_type": "client_credentials", "scope": "api", "resource": service["resource"]}

    async def rotate(http: aiohttp.ClientSession, index: int) -> None:
        if not pool:
            refresh.errors["no token free (all in flight)"] += 1
            return
        token = pool.popleft()
        form = {"grant_type": "refresh_token", "refresh_token": token}
        body = await post_token(
            http, token_url, form, party_auth, refresh, f"10.251.{index // 256 % 256}.{index % 256}"
        )
        if body is not None and "refresh_token" in body:
            pool.append(body["refresh_token"])

    async def credential(http: aiohttp.ClientSession, index: int) -> None:
        address = f"10.252.{index // 256 % 256}.{index % 256}"
        await post_token(http, token_url, credentials_form, service_auth, credentials, address)

    began = time.monotonic()
    steal_at = began + seconds / 3
    thieves: list[multiprocessing.Process] = []

    async def steal() -> None:
        await asyncio.sleep(max(0.0, steal_at - time.monotonic()))
        until = time.monotonic() + steal_seconds
        for _ in range(steal_processes):
            thief = multiprocessing.Process(target=_busy, args=(until,), daemon=True)
            thief.start()
            thieves.append(thief)

    async with aiohttp.ClientSession(connector=connector, connector_owner=False, timeout=_TIMEOUT) as http:
        signins, *_ = await asyncio.gather(
            run_open_loop(party, password, users, signin_rate, seconds, connector),
            _paced(refresh_rate, seconds, lambda i: rotate(http, i)),
            _paced(credentials_rate, seconds, lambda i: credential(http, i)),
            steal(),
        )
    for thief in thieves:
        thief.join(timeout=steal_seconds + 5)
    return MixedRun(signins, refresh, credentials, steal_at - began, steal_seconds, time.monotonic() - began)


_TIMEOUT = aiohttp.ClientTimeout(total=30)


async def _paced(rate: float, seconds: float, send: Callable[[int], Awaitable[None]]) -> None:
    if rate <= 0:
        return
    began = time.monotonic()
    tasks = []
    for index in range(int(rate * seconds)):
        delay = began + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(index)))
    await asyncio.gather(*tasks)
