"""The open-loop browser sign-in: new citizens arrive at a fixed rate whether or not earlier ones are done.

Each sign-in is one citizen with a cookie jar of her own, the whole journey a relying party sends her on:
    authorize → login page → password POST → resume → token (code + PKCE S256, client_secret_basic)
behind the city's load balancer (``X-Forwarded-For``: her own address; the hub trusts 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import aiohttp

from loadtests.signin.citizens import nik_of

STEPS = ("authorize", "login_page", "password", "resume", "token")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class RelyingParty:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass
class Outcomes:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {step: [] for step in STEPS})
    errors: Counter[str] = field(default_factory=Counter)  # "step: kind"
    completed: int = 0
    started: int = 0
    refresh_tokens: list[str] = field(default_factory=list)


def basic_auth(client_id: str, client_secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1: both parts form-encoded, then HTTP Basic."""
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


class StepFailed(Exception):
    def __init__(self, step: str, kind: str) -> None:
        super().__init__(f"{step}: {kind}")
        self.step, self.kind = step, kind


async def run_open_loop(
    party: RelyingParty,
    password: str,
    users: int,
    rate: float,
    seconds: float,
    connector: aiohttp.BaseConnector,
    keep_refresh_tokens: int = 0,
) -> Outcomes:
    """Start ``rate`` sign-ins a second for ``seconds``; wait for the last to end (each at most 30 s)."""
    outcomes = Outcomes()
    tasks = []
    begun = time.monotonic()
    for index in range(int(rate * seconds)):
        delay = begun + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        outcomes.started += 1
        citizen = random.randint(1, users)
        tasks.append(asyncio.create_task(_one(party, citizen, password, connector, outcomes, keep_refresh_tokens)))
    await asyncio.gather(*tasks)
    return outcomes


async def _one(
    party: RelyingParty,
    citizen: int,
    password: str,
    connector: aiohttp.BaseConnector,
    outcomes: Outcomes,
    keep_refresh_tokens: int,
) -> None:
    address = f"10.{citizen >> 16 & 255}.{citizen >> 8 & 255}.{citizen & 255}"
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP-address host
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=connector,
        connector_owner=False,
        cookie_jar=jar,
        timeout=timeout,
        headers={"X-Forwarded-For": address},
    ) as http:
        try:
            tokens = await _sign_in(http, party, nik_of(citizen), password, outcomes)
        except StepFailed as failed:
            outcomes.errors[f"{failed.step}: {failed.kind}"] += 1
            return
    outcomes.completed += 1
    if tokens.get("refresh_token") and len(outcomes.refresh_tokens) < keep_refresh_tokens:
        outcomes.refresh_tokens.append(tokens["refresh_token"])


async def _sign_in(
    http: aiohttp.ClientSession, party: RelyingParty, login: str, password: str, outcomes: Outcomes
) -> dict[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": party.client_id,
            "redirect_uri": party.redirect_uri,
            "scope": "openid profile",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    login_url = await _redirect(http, outcomes, "authorize", "GET", f"{party.issuer}/auth/authorize?{query}")
    page = await _page(http, outcomes, "login_page", party.issuer + login_url)
    found = CSRF.search(page)
    if found is None:
        raise StepFailed("login_page", "no CSRF token")
    interaction = parse_qs(urlsplit(login_url).query)["interaction"][0]
    resume_url = await _redirect(
        http,
        outcomes,
        "password",
        "POST",
        f"{party.issuer}/auth/login",
        data={"login": login, "password": password, "csrf_token": found[1], "interaction": interaction},
    )
    back = await _redirect(http, outcomes, "resume", "GET", party.issuer + resume_url)
    code = parse_qs(urlsplit(back).query).get("code", [""])[0]
    if not code:
        raise StepFailed("resume", "no code")
    return await _token(
        http,
        party,
        outcomes,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": party.redirect_uri,
            "code_verifier": verifier,
        },
    )


async def _redirect(
    http: aiohttp.ClientSession,
    outcomes: Outcomes,
    step: str,
    method: str,
    url: str,
    data: dict[str, str] | None = None,
) -> str:
    started = time.monotonic()
    try:
        async with http.request(method, url, data=data, allow_redirects=False) as response:
            await response.read()
            if response.status not in (302, 303):
                raise StepFailed(step, f"HTTP {response.status}")
            location = response.headers.get("Location", "")
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise StepFailed(step, type(exc).__name__) from exc
    outcomes.latencies[step].append(time.monotonic() - started)
    return location


async def _page(http: aiohttp.ClientSession, outcomes: Outcomes, step: str, url: str) -> str:
    started = time.monotonic()
    try:
        async with http.get(url, allow_redirects=False) as response:
            text = await response.text()
            if response.status != 200:
                raise StepFailed(step, f"HTTP {response.status}")
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise StepFailed(step, type(exc).__name__) from exc
    outcomes.latencies[step].append(time.monotonic() - started)
    return text


async def _token(
    http: aiohttp.ClientSession, party: RelyingParty, outcomes: Outcomes, form: dict[str, str]
) -> dict[str, str]:
    started = time.monotonic()
    try:
        async with http.post(
            f"{party.issuer}/auth/token", data=form, headers=basic_auth(party.client_id, party.client_secret)
        ) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                raise StepFailed("token", f"HTTP {response.status} {body.get('error', '')}".strip())
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        raise StepFailed("token", type(exc).__name__) from exc
    outcomes.latencies["token"].append(time.monotonic() - started)
    return dict(body)
