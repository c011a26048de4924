"""The access log: one structured line per request for the hub and the app plane (request id, host, app, method,
path without its query, status, bytes, duration, user or client), sampled or off by setting."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.access_log import AccessLog, note_route
from gateway.app import create_app
from gateway.apps import add_app
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.hub import TEST_UPSTREAM_ADDRESSES, run_hub
from tests.support.server import run_server
from tests.support.upstream import Upstream


async def _register(database_url: str, issuer: str, upstream: str) -> None:
    engine = build_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session, session.begin():
            await add_app(
                session,
                addresses=TEST_UPSTREAM_ADDRESSES,
                slug="info",
                opd_slug="dishub",
                upstreams=(upstream,),
                auth_mode="none",
                issuer=issuer,
                now=int(time.time()),
            )
    finally:
        await engine.dispose()


def _access(output: str) -> list[dict[str, Any]]:
    """The access lines among what was written to standard output."""
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "access"]


def test_one_line_per_request_for_the_app_plane_and_the_hub(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        run_server(Upstream("info")) as upstream,
        run_hub(database_url, tmp_path, app_factory=create_app, registry_refresh_seconds=0.2) as hub,
    ):
        asyncio.run(_register(database_url, hub.url, upstream))
        info = hub.app_url("info")  # the app's own origin
        with httpx.Client(base_url=hub.url, timeout=10) as http:
            deadline = time.monotonic() + 10
            while http.get(f"{info}/echo").status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
            capsys.readouterr()
            app = http.get(f"{info}/echo?token=rahasia&nik=1671015203950002", headers={"x-request-id": "req-123456789"})
            hub_page = http.get("/.well-known/openid-configuration")
            missing = http.get(f"{hub.app_url('tidak-ada')}/")  # no such app: refused by Host
            lines = _access(capsys.readouterr().out)
    assert app.status_code == 200 and missing.status_code == 404
    assert len(lines) == 3
    first, second, third = lines
    assert first["app"] == "info" and first["path"] == "/echo" and first["status"] == 200
    assert first["method"] == "GET" and first["host"] == info.split("//")[1]
    assert first["bytes"] == len(app.content) and first["duration_ms"] >= 0
    assert first["request_id"] == app.headers["x-request-id"] == "req-123456789"
    assert "rahasia" not in str(lines) and "1671015203950002" not in str(lines)
    assert (second["app"], second["path"], second["status"], second["bytes"]) == (
        None,
        "/.well-known/openid-configuration",
        200,
        len(hub_page.content),
    )
    assert (third["status"], third["app"]) == (404, None)


def _run(sample: float, chance: float, status: int) -> list[dict[str, Any]]:
    async def dispatch(scope: Any, receive: Any, send: Any) -> None:
        note_route("parkir")
        await send({"type": "http.response.start", "status": status, "headers": [(b"x-request-id", b"abc")]})
        await send({"type": "http.response.body", "body": b"12345"})

    async def send(_message: Any) -> None:
        return None

    scope = {"type": "http", "method": "POST", "path": "/apps/parkir/x", "headers": [(b"host", b"hub")]}
    written: list[str] = []
    log = AccessLog(sample, chance=lambda: chance, write=written.append)
    asyncio.run(log.handle(scope, None, send, dispatch))
    return _access("".join(written))


@pytest.mark.parametrize(
    ("sample", "chance", "status", "logged"),
    [
        (1.0, 0.99, 200, True),
        (0.1, 0.05, 200, True),
        (0.1, 0.5, 200, False),
        (0.0, 0.0, 200, False),
        (0.0, 0.99, 404, True),
        (0.0, 0.99, 503, True),
    ],
)
def test_sampling_keeps_a_share_of_successes_and_every_error(
    sample: float, chance: float, status: int, logged: bool
) -> None:
    lines = _run(sample, chance, status)
    assert bool(lines) == logged
    if logged:
        assert lines[0]["app"] == "parkir" and lines[0]["bytes"] == 5 and lines[0]["request_id"] == "abc"


def test_the_log_can_be_switched_off(database_url: str, tmp_path: Path) -> None:
    from gateway.settings import Settings

    on = create_app(Settings(data_dir=tmp_path, database_url=database_url))
    off = create_app(Settings(data_dir=tmp_path, database_url=database_url, access_log=False))
    assert isinstance(on.access_log, AccessLog) and on.access_log.sample == 1.0 and off.access_log is None
