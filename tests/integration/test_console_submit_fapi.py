"""The console's app submission carries what the admin API's does for FAPI 2.0 apps: the client profile and the
client's ``jwks_uri`` (labels in Bahasa Indonesia, English on ``?lang=en``); approval makes a fapi2
private_key_jwt client; a wrong profile, a profile without keys or a refused key address is a readable 400."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.app import create_app
from idp.storage.gateway_models import App
from idp.storage.models import Client
from tests.support.admin import DISHUB_ADMIN, KOMINFO, run_seed
from tests.support.cli_env import audit_entries, run_query
from tests.support.hub import Browser, Hub, csrf_from, run_hub

JWKS_URI = "http://127.0.0.1:9/jwks.json"  # loopback: allowed in tests (GERBANG_UPSTREAM_ALLOW)


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path, app_factory=create_app) as running:
        people = run_seed(database_url, running.seeded.users)
        running.seeded.users.update(people.users)
        yield running


def _signed_in(hub: Hub, email: str) -> Browser:
    browser = Browser(hub)
    assert browser.login(browser.go("/admin/"), email).status_code == 200
    return browser


def _form(csrf: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "slug": "e-budgeting",
        "name": "E-Budgeting BPKAD",
        "description": "Anggaran yang tidak bisa diubah diam-diam",
        "opd": "dishub",
        "upstreams": "http://127.0.0.1:9",
        "auth_mode": "bearer",
        "redirect_uris": "https://ebudget.example.id/cb",
        "scopes": "budget.read",
        "contact": "tik@dishub.example.id",
        **fields,
    }


def test_the_form_offers_the_fapi_fields_in_both_languages(hub: Hub) -> None:
    operator = _signed_in(hub, DISHUB_ADMIN)
    page = operator.go("/admin/ajukan")
    assert 'name="client_profile"' in page.text and 'value="fapi2"' in page.text and 'name="jwks_uri"' in page.text
    assert "Profil keamanan" in page.text and "URI JWKS klien" in page.text
    assert 'aria-describedby="jwks-uri-hint"' in page.text
    english = operator.go("/admin/ajukan?lang=en")
    assert "Security profile" in english.text and "Client JWKS URI" in english.text
    operator.close()


def test_a_fapi2_submission_is_approved_as_a_fapi2_private_key_jwt_client(hub: Hub, database_url: str) -> None:
    operator = _signed_in(hub, DISHUB_ADMIN)
    csrf = csrf_from(operator.go("/admin/ajukan").text)
    done = operator.submit("/admin/aksi/ajukan", _form(csrf, client_profile="fapi2", jwks_uri=JWKS_URI))
    assert done.status_code == 200, done.text
    (stored,) = run_query(database_url, select(App.client_profile, App.client_jwks_uri, App.status))
    assert tuple(stored) == ("fapi2", JWKS_URI, "pending")
    submitted = audit_entries(database_url)[-1]
    assert submitted.action == "app.submit" and submitted.detail["client_profile"] == "fapi2"
    assert submitted.detail["jwks_uri"] == JWKS_URI
    operator.close()

    kominfo = _signed_in(hub, KOMINFO)
    queue = kominfo.go("/admin/antrean")
    approved = kominfo.submit("/admin/aksi/aplikasi/e-budgeting/approve", {"csrf_token": csrf_from(queue.text)})
    assert approved.status_code == 200, approved.text
    (client,) = run_query(
        database_url,
        select(Client.profile, Client.auth_method, Client.jwks_uri, Client.require_par, Client.dpop_bound).where(
            Client.name == "E-Budgeting BPKAD"
        ),
    )
    assert tuple(client) == ("fapi2", "private_key_jwt", JWKS_URI, True, True)
    kominfo.close()


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"client_profile": "fapi2"}, "jwks_uri"),  # private_key_jwt needs the client's keys
        ({"client_profile": "fapi1"}, "client_profile"),
        ({"jwks_uri": "https://169.254.169.254/jwks.json"}, "link-local"),
        ({"jwks_uri": "ftp://kunci.example.id/jwks.json"}, "jwks_uri"),
    ],
)
def test_bad_fapi_fields_get_a_readable_page_and_nothing_is_stored(
    hub: Hub, database_url: str, fields: dict[str, str], words: str
) -> None:
    operator = _signed_in(hub, DISHUB_ADMIN)
    csrf = csrf_from(operator.go("/admin/ajukan").text)
    refused = operator.submit("/admin/aksi/ajukan", _form(csrf, **fields))
    assert refused.status_code == 400 and words in refused.text and "text/html" in refused.headers["content-type"]
    assert run_query(database_url, select(App.slug)) == []
    operator.close()
