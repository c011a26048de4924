"""Where apps live (idp.app_origins) and the apps domain setting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.settings import Settings
from idp.app_origins import app_origin, default_apps_domain, default_resource, legacy_resource


@pytest.mark.parametrize(
    ("issuer", "domain"),
    [
        ("http://127.0.0.1:8000", "localhost"),
        ("http://localhost:8000", "localhost"),
        ("http://[::1]:8000", "localhost"),
        ("https://gerbang.palembang.go.id", "apps.gerbang.palembang.go.id"),
    ],
)
def test_the_apps_domain_is_derived_from_the_issuer(issuer: str, domain: str) -> None:
    assert default_apps_domain(issuer) == domain
    assert Settings(issuer=issuer, secret_key="s" * 40).apps_domain == domain


def test_an_app_origin_takes_the_issuers_scheme_and_port() -> None:
    assert app_origin("http://127.0.0.1:8000", "parkir.localhost") == "http://parkir.localhost:8000"
    assert (
        app_origin("https://gerbang.palembang.go.id", "parkir.apps.palembang.go.id")
        == "https://parkir.apps.palembang.go.id"
    )
    assert (
        default_resource("https://gerbang.palembang.go.id", "apps.palembang.go.id", "parkir")
        == "https://parkir.apps.palembang.go.id/"
    )
    assert (
        legacy_resource("https://gerbang.palembang.go.id/", "parkir") == "https://gerbang.palembang.go.id/apps/parkir/"
    )


def test_the_apps_domain_setting_is_normalised() -> None:
    assert Settings(apps_domain="Apps.Palembang.go.id.").apps_domain == "apps.palembang.go.id"


@pytest.mark.parametrize(
    "bad",
    [
        "https://apps.palembang.go.id",
        "apps.palembang.go.id:443",
        "10.0.0.1",
        "*.apps.palembang.go.id",
        "apps..palembang",
        "-apps.id",
        "apps palembang",
    ],
)
def test_an_apps_domain_that_is_not_a_dns_name_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="apps_domain"):
        Settings(apps_domain=bad)
