"""Registration input checks for apps (gateway.apps) and Host parsing for host-based routing."""

from __future__ import annotations

import pytest

from gateway.apps import check_host, check_slug, check_upstream, default_app_resource
from gateway.registry import host_name
from idp.errors import InvalidInput


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000", "https://parkir.internal/", "http://10.0.0.5:8080/base/"])
def test_upstream_urls_are_accepted_without_trailing_slash(url: str) -> None:
    assert check_upstream(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://host/",
        "127.0.0.1:9000",
        "http://",
        "http://u:p@host/",
        "http://host/?a=1",
        "http://host/#x",
        "http://host:99999/",
        "file:///etc/passwd",
        "javascript:alert(1)",
    ],
)
def test_bad_upstream_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        check_upstream(url)


@pytest.mark.parametrize(
    "slug", ["Parkir", "-parkir", "parkir-", "parkir/x", "", "a" * 64, "par kir", "parkir_1", "parkir.x"]
)
def test_bad_slugs_are_refused(slug: str) -> None:
    with pytest.raises(InvalidInput):
        check_slug(slug)


def test_host_is_lowercased_and_checked() -> None:
    assert check_host("Parkir.Palembang.go.id") == "parkir.palembang.go.id"
    for bad in ("10.0.0.1", "parkir_x.go.id", "-a.go.id", "a..b", "host:80"):
        with pytest.raises(InvalidInput):
            check_host(bad)


def test_default_resource_is_the_apps_own_origin() -> None:
    assert (
        default_app_resource("https://gerbang.palembang.go.id", "parkir", "apps.palembang.go.id")
        == "https://parkir.apps.palembang.go.id/"
    )
    assert default_app_resource("http://127.0.0.1:8000", "parkir") == "http://parkir.localhost:8000/"


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Parkir.Example:8443", "parkir.example"),
        ("parkir.example.", "parkir.example"),
        ("[::1]:80", "[::1]:80"),
        ("parkir.example", "parkir.example"),
    ],
)
def test_host_name_of_host_header(header: str, name: str) -> None:
    assert host_name(header) == name
