"""The console puts a client under the FAPI 2.0 profile (or only PAR / DPoP) with the admin API's rules: only a
private_key_jwt client may take the profile, FAPI algorithms only, Kominfo only, audited."""

from __future__ import annotations

from joserfc.jwk import ECKey
from sqlalchemy import select

from idp.storage.models import Client
from tests.integration.test_console_edits import _signed_in, hub  # noqa: F401 (fixture)
from tests.support.admin import DISHUB_ADMIN
from tests.support.cli_env import audit_entries, run_query
from tests.support.flows import register_client
from tests.support.hub import Hub, csrf_from


def stored(database_url: str, client_id: str) -> tuple:
    (row,) = run_query(
        database_url,
        select(Client.profile, Client.require_par, Client.dpop_bound, Client.id_token_alg).where(
            Client.client_id == client_id
        ),
    )
    return tuple(row)


def test_kominfo_sets_the_fapi2_profile_from_the_console(hub: Hub, database_url: str) -> None:  # noqa: F811
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    client_id, _ = register_client(
        hub,
        name="Bapenda FAPI",
        redirect_uris=("https://pajak.example/cb",),
        auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    kominfo = _signed_in(hub)
    form = kominfo.go(f"/admin/ubah/klien/{client_id}")
    assert form.status_code == 200 and 'id="client-security"' in form.text and "FAPI 2.0" in form.text
    csrf = csrf_from(form.text)
    done = kominfo.submit(
        f"/admin/aksi/keamanan/klien/{client_id}", {"csrf_token": csrf, "profile": "fapi2", "id_token_alg": "PS256"}
    )
    assert done.status_code == 200 and 'id="changes"' in done.text
    assert stored(database_url, client_id) == ("fapi2", True, True, "PS256")  # the profile implies PAR and DPoP
    entry = audit_entries(database_url)[-1]
    assert entry.action == "client.security" and entry.detail["profile"] == "fapi2"
    assert 'value="fapi2" selected' in kominfo.go(f"/admin/ubah/klien/{client_id}").text
    for refused in (
        {"profile": "fapi2", "id_token_alg": "RS256"},  # FAPI signs with PS256, ES256 or EdDSA
        {"profile": "fapi3", "id_token_alg": "ES256"},  # not a profile
        {"profile": "", "id_token_alg": "HS256"},
    ):  # not an algorithm
        answer = kominfo.submit(f"/admin/aksi/keamanan/klien/{client_id}", {"csrf_token": csrf, **refused})
        assert answer.status_code == 400, (refused, answer.text[:300])
    assert stored(database_url, client_id) == ("fapi2", True, True, "PS256")
    plain = kominfo.submit(
        f"/admin/aksi/keamanan/klien/{client_id}",
        {"csrf_token": csrf, "profile": "", "require_par": "on", "id_token_alg": "ES256"},
    )
    assert plain.status_code == 200 and stored(database_url, client_id) == (None, True, False, "ES256")
    kominfo.close()


def test_a_secret_client_cannot_take_the_profile_and_opd_admins_cannot_change_it(
    hub: Hub,  # noqa: F811
    database_url: str,
) -> None:
    client_id, _ = hub.client("Parkir Dishub")
    kominfo = _signed_in(hub)
    csrf = csrf_from(kominfo.go(f"/admin/ubah/klien/{client_id}").text)
    refused = kominfo.submit(
        f"/admin/aksi/keamanan/klien/{client_id}", {"csrf_token": csrf, "profile": "fapi2", "id_token_alg": "ES256"}
    )
    assert refused.status_code == 400 and "private_key_jwt" in refused.text
    assert stored(database_url, client_id)[0] is None
    kominfo.close()
    dishub = _signed_in(hub, DISHUB_ADMIN)
    page = dishub.go("/admin/")
    answer = dishub.submit(
        f"/admin/aksi/keamanan/klien/{client_id}",
        {"csrf_token": csrf_from(page.text), "profile": "", "dpop_bound": "on", "id_token_alg": "ES256"},
    )
    assert answer.status_code == 403 and stored(database_url, client_id)[2] is False
    dishub.close()
