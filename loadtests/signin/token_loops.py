"""Closed-loop token endpoint load: refresh-token rotation and client_credentials, ``concurrency`` callers each
sending its next request when the last one is answered, for ``seconds``. Each caller is a back end of its own
behind the balancer (its own ``X-Forwarded-For``), as relying parties and integrations are."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from loadtests.signin.browser import basic_auth


@dataclass
class TokenRun:
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


async def refresh_loop(
    token_url: str,
    client_id: str,
    client_secret: str,
    refresh_tokens: list[str],
    seconds: float,
    connector: aiohttp.BaseConnector,
) -> TokenRun:
    """Each caller rotates its own refresh token (a rotated one is never sent again)."""
    run = TokenRun()
    auth = basic_auth(client_id, client_secret)

    async def caller(token: str, http: aiohttp.ClientSession, deadline: float, address: str) -> None:
        while time.monotonic() < deadline:
            form = {"grant_type": "refresh_token", "refresh_token": token}
            body = await post_token(http, token_url, form, auth, run, address)
            if body is None or "refresh_token" not in body:
                return
            token = body["refresh_token"]

    await _run(run, seconds, connector, [lambda http, d, a, t=t: caller(t, http, d, a) for t in refresh_tokens])
    return run


async def client_credentials_loop(
    token_url: str,
    client_id: str,
    client_secret: str,
    resource: str,
    scope: str,
    concurrency: int,
    seconds: float,
    connector: aiohttp.BaseConnector,
) -> TokenRun:
    run = TokenRun()
    auth = basic_auth(client_id, client_secret)
    form = {"grant_type": "client_credentials", "scope": scope, "resource": resource}

    async def caller(http: aiohttp.ClientSession, deadline: float, address: str) -> None:
        while time.monotonic() < deadline:
            if await post_token(http, token_url, form, auth, run, address) is None:
                await asyncio.sleep(0.01)

    await _run(run, seconds, connector, [caller] * concurrency)
    return run


async def _run(run: TokenRun, seconds: float, connector: aiohttp.BaseConnector, callers: list) -> None:  # type: ignore[type-arg]
    started = time.monotonic()
    async with aiohttp.ClientSession(
        connector=connector, connector_owner=False, timeout=aiohttp.ClientTimeout(total=30)
    ) as http:
        await asyncio.gather(
            *(
                caller(http, started + seconds, f"10.250.{index // 256}.{index % 256}")
                for index, caller in enumerate(callers)
            )
        )
    run.seconds = time.monotonic() - started


async def post_token(
    http: aiohttp.ClientSession, url: str, form: dict[str, str], auth: dict[str, str], run: TokenRun, address: str
) -> dict[str, str] | None:
    try:
        async with http.post(url, data=form, headers={**auth, "X-Forwarded-For": address}) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                run.errors[f"HTTP {response.status} {body.get('error', '')}".strip()] += 1
                return None
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        run.errors[type(exc).__name__] += 1
        return None
    run.ok += 1
    return dict(body)
