"""A real gateway (uvicorn, loopback) in front of real tiny upstreams."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gateway.app import GatewayApp, create_app
from gateway.cli.serve import SERVER_OPTIONS, limit_options
from gateway.default_steps import StaticRouteTable
from gateway.model import Route
from gateway.settings import Settings
from tests.support.hub import HUB_POLICIES, LOOPBACK_UPSTREAMS
from tests.support.server import run_server
from tests.support.upstream import Upstream

ISSUER = "http://127.0.0.1:8000"


def build_route(slug: str, upstreams: tuple[str, ...], **fields: Any) -> Route:
    values: dict[str, Any] = {
        "opd": "dishub",
        "opd_path": "/kota-palembang/dishub/",
        "auth_mode": "none",
        "resource": f"http://{slug}.localhost:8000/",
        "hosts": (f"{slug}.localhost",),
    }
    values.update(fields)
    return Route(slug=slug, upstreams=upstreams, **values)


@dataclass
class Hub:
    url: str
    app: GatewayApp
    upstreams: list[Upstream] = field(default_factory=list)
    upstream_urls: list[str] = field(default_factory=list)

    def app_url(self, slug: str) -> str:
        """The app's own origin on this hub's port: ``http://{slug}.localhost:{port}`` (no trailing slash)."""
        return f"http://{slug}.localhost:{self.url.rsplit(':', 1)[1]}"


@contextmanager
def start_upstream(name: str = "upstream") -> Iterator[tuple[Upstream, str]]:
    upstream = Upstream(name)
    with run_server(upstream) as url:
        yield upstream, url


@contextmanager
def start_hub(
    directory: Path,
    template: Path,
    routes: list[Route],
    *,
    server: dict[str, Any] | None = None,
    steps: dict[str, Any] | None = None,
    **settings: Any,
) -> Iterator[Hub]:
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "gerbang.db"
    shutil.copy(template, database)
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "data_dir": directory,
        "policy_dir": HUB_POLICIES,
        "database_url": f"sqlite+aiosqlite:///{database}",
        "upstream_allow": LOOPBACK_UPSTREAMS,
    }
    values.update(settings)
    built = Settings(**values)
    app = create_app(built, routes=StaticRouteTable(routes), **(steps or {}))
    options = {key: value for key, value in SERVER_OPTIONS.items() if key in ("http", "proxy_headers")}
    options.update(limit_options(built))
    options.update(server or {})
    with run_server(app, **options) as url:  # as ``gerbang serve`` runs it
        yield Hub(url, app)


@pytest.fixture
def hub_factory(tmp_path: Path, _sqlite_template: Path) -> Iterator[Any]:
    """Start hubs and upstreams for one test: ``hub_factory(routes_builder, upstreams=N, **settings)``."""
    with ExitStack() as stack:
        count = 0

        def make(
            routes: Any = None,
            *,
            upstreams: int = 1,
            server: dict[str, Any] | None = None,
            steps: dict[str, Any] | None = None,
            **settings: Any,
        ) -> Hub:
            nonlocal count
            count += 1
            started = [stack.enter_context(start_upstream(f"upstream-{i}")) for i in range(upstreams)]
            urls = [url for _, url in started]
            built = routes(urls) if routes else [build_route("echo", tuple(urls))]
            hub = stack.enter_context(
                start_hub(tmp_path / f"hub{count}", _sqlite_template, built, server=server, steps=steps, **settings)
            )
            hub.upstreams = [upstream for upstream, _ in started]
            hub.upstream_urls = urls
            return hub

        yield make


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> Iterator[Hub]:
    """One shared hub with an ``echo`` app (auth none), a ``suspended`` app and a ``locked`` bearer app."""
    with start_upstream() as (upstream, url):
        routes = [
            build_route("echo", (url,)),
            build_route("suspended", (url,), status="suspended"),
            build_route("locked", (url,), auth_mode="bearer"),
        ]
        with start_hub(tmp_path_factory.mktemp("hub"), _sqlite_template, routes, max_body_bytes=1 << 20) as started:
            started.upstreams, started.upstream_urls = [upstream], [url]
            yield started
