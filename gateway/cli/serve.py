"""``gerbang serve`` and ``gerbang demo``."""

from __future__ import annotations

import click


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
                proxy_headers=False, server_header=False, date_header=True, log_level="info", lifespan="on")


def register(group: click.Group) -> None:
    group.add_command(serve)
