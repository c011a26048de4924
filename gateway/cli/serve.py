"""``gerbang serve`` and ``gerbang demo``."""

from __future__ import annotations

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


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=1, show_default=True)
def serve(host: str, port: int, workers: int) -> None:
    """Run the hub (provider, gateway, console) from settings."""
    import uvicorn

    from gateway.cli import load_settings

    load_settings()  # fail fast, every problem at once, before forking workers
    uvicorn.run("gateway.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
                **SERVER_OPTIONS)


def register(group: click.Group) -> None:
    group.add_command(serve)
