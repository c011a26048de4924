"""gateway.websocket_origin: the app's origins come from its route; "null" never matches anything."""

from __future__ import annotations

import pytest

from gateway.errors import Forbidden
from gateway.model import RequestHead, Route
from gateway.websocket_origin import app_origins, check_websocket_origin

ROUTE = Route(
    slug="peta",
    opd="dishub",
    opd_path="/kota/dishub/",
    upstreams=("http://10.0.0.5",),
    auth_mode="none",
    resource="https://peta.apps.hub.example/",
    hosts=("peta.apps.hub.example", "peta.palembang.go.id"),
)


def head(*origins: bytes) -> RequestHead:
    return RequestHead(
        method="GET",
        path="/ws",
        query=b"",
        headers=tuple((b"origin", o) for o in origins),
        client_ip="10.1.1.1",
        scheme="https",
        host="peta.apps.hub.example",
        request_id="r",
    )


def test_the_apps_origins_are_its_own_hosts_with_the_hubs_scheme_and_port_never_the_hubs() -> None:
    assert app_origins(ROUTE, "https://hub.example/sso") == {
        "https://peta.apps.hub.example",
        "https://peta.palembang.go.id",
    }
    assert app_origins(ROUTE, "http://127.0.0.1:8000") == {
        "http://peta.apps.hub.example:8000",
        "http://peta.palembang.go.id:8000",
    }


@pytest.mark.parametrize(
    "origin",
    [
        b"https://hub.example",
        b"https://parkir.apps.hub.example",
        b"http://peta.apps.hub.example",
        b"https://peta.apps.hub.example:8443",
    ],
)
def test_the_hubs_and_another_apps_pages_may_not_open_the_apps_websocket(origin: bytes) -> None:
    with pytest.raises(Forbidden):
        check_websocket_origin(ROUTE, head(origin), "https://hub.example")
    check_websocket_origin(ROUTE, head(b"https://Peta.Apps.Hub.Example:443"), "https://hub.example")


@pytest.mark.parametrize("issuer", ["https://hub.example/sso", "https://hub.example"])
def test_null_origin_is_refused_whatever_the_issuer(issuer: str) -> None:
    with pytest.raises(Forbidden):
        check_websocket_origin(ROUTE, head(b"null"), issuer)


def test_two_origin_headers_are_refused() -> None:
    with pytest.raises(Exception, match="Origin"):
        check_websocket_origin(ROUTE, head(b"https://hub.example", b"https://evil.example"), "https://hub.example")
