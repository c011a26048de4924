"""``gerbang serve`` and ``gerbang demo``."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from types import FrameType
from typing import Any

import click

# The gateway resolves client addresses itself (trusted_proxies): uvicorn must not rewrite them.
# The guarded protocol adds the request-head deadline and size cap uvicorn lacks (gateway.server_protocol).
SERVER_OPTIONS: dict[str, Any] = {
    "http": "gateway.server_protocol:GuardedHttpToolsProtocol",
    "proxy_headers": False,
    "server_header": False,
    "date_header": True,
    "log_level": "info",
    "log_config": None,  # structlog owns logging (idp.logging.configure_logging, run by the app factory)
    "access_log": False,  # traffic is in /metrics; per-request lines would cost CPU on the hot path
    "lifespan": "on",
    "timeout_keep_alive": 5,
}

# glibc gives threads that allocate their own malloc arenas (up to 8 per core), and a worker's threads (the
# database driver's, the thread pool's) then each keep pages of their own. Two arenas measured 3 MiB less
# resident memory per worker under load, at no measurable CPU cost. An operator's MALLOC_ARENA_MAX wins.
MALLOC_ARENAS = "2"
M_ARENA_MAX = -8  # glibc's mallopt parameter number
# Each argon2id check allocates 19 MiB. glibc serves the first from mmap and returns it on free, but then raises
# its mmap threshold (dynamically, up to 32 MiB) so the next ones come from the arenas, which keep the pages:
# measured +95 MiB resident after 40 checks on 4 threads (the city run's 120 -> 205-229 MiB). A fixed threshold
# (which also stops the dynamic one) sends every large block back to the system when freed: +0 MiB.
# The one block a worker keeps for the next check on purpose is idp.passwords.BLOCKS (no page faults per check).
MMAP_THRESHOLD = str(1024 * 1024)
M_MMAP_THRESHOLD = -3


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=1, show_default=True)
def serve(host: str, port: int, workers: int) -> None:
    """Run the hub (provider, gateway, console) from settings."""
    import uvicorn

    from gateway.cli import load_settings

    refuse_unknown_settings()
    settings = load_settings()  # fail fast, every problem at once, before forking workers
    log_startup_summary(settings, [f"http://{host}:{port} ({workers} worker{'s' if workers != 1 else ''})"])
    limit_malloc_arenas()
    fix_mmap_threshold()
    # uvicorn re-raises the signal it stopped on once it has shut down; a stop asked for is a clean exit.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # SIGTERM: uvicorn closes the listening socket, closes idle keep-alive connections, lets requests in
    # flight finish for up to the grace period, then runs the lifespan shutdown and exits 0.
    uvicorn.run(
        "gateway.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvicorn annotates an int; it hands the value to asyncio.wait_for, which takes a float.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,  # type: ignore[arg-type]
        **SERVER_OPTIONS,
        **limit_options(settings),
    )


def limit_options(settings: Any) -> dict[str, Any]:
    """Server options that follow the settings: a client's WebSocket message is capped as the upstream's is
    (uvicorn's own default is 16 MiB)."""
    return {"ws_max_size": settings.websocket_max_message_bytes}


def refuse_unknown_settings() -> None:
    """Unknown keys in the configuration file and unknown GERBANG_* variables stop the hub, each named."""
    from gateway.config_check import check_configuration
    from gateway.settings import Settings

    problems = check_configuration(Settings)
    if problems:
        click.echo("Gerbang cannot start: the configuration has problems:", err=True)
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)


def log_startup_summary(settings: Any, listeners: list[str]) -> None:
    """One structured line: issuer, database (no password), Redis, mail, policies, apps, listeners."""
    import structlog

    from gateway.startup_summary import build_summary
    from idp.logging import configure_logging

    configure_logging(settings.log_json, settings.log_level)
    summary = build_summary(settings, listeners=listeners)
    log = structlog.get_logger("gerbang.serve")
    (log.warning if "warning" in summary else log.info)("gerbang.start", **summary)


def limit_malloc_arenas() -> bool:
    """Cap glibc's malloc arenas: in the environment for the workers uvicorn spawns (glibc reads it when a
    process starts), and with ``mallopt`` for this process (one worker serves in it). False without glibc."""
    os.environ.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENAS)
    try:
        arenas = int(os.environ["MALLOC_ARENA_MAX"])
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError, ValueError):
        return False  # not glibc, or a value glibc would ignore too


def fix_mmap_threshold() -> bool:
    """Large blocks (argon2id's 19 MiB) always mmapped and returned when freed: in the environment for spawned
    workers (``MALLOC_MMAP_THRESHOLD_``), with ``mallopt`` for this process. An operator's value wins."""
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD)
    try:
        threshold = int(os.environ["MALLOC_MMAP_THRESHOLD_"])
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError, ValueError):
        return False


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(0)


def register(group: click.Group) -> None:
    group.add_command(serve)
