"""NIK and NIP linking end to end: a second Gerbang hub stands in for INApas (NIK, scope ``nik``) and SSO ASN (NIP,
scope ``nip``) and asserts the identifiers in its ID token; the city's hub links by them only with the local
password, or at once when Kominfo marks the upstream authoritative, and refuses what must not link."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import NoResultFound

from idp.accounts import add_user
from idp.federation.registry import UpstreamSpec, update_upstream
from idp.passwords import hash_sync
from idp.storage.models import FederatedIdentity, User
from tests.integration.test_broker import choose_upstream, claims_of, redeem, start_at_client
from tests.support.broker_pair import SECRET_KEY, SLUG, BrokerPair, TwoSiteBrowser, in_database, run_broker_pair
from tests.support.hub import PASSWORD, TEST_UPSTREAM_ADDRESSES

NIK_SITI, NIK_BUDI, NIK_TAKEN, NIK_OFF = "1671015203950003", "1671011507880004", "1671014101900005", "1671016606850006"
NIP_ANDI = "198703152010011002"


@pytest.fixture
def pair(database_url: str, tmp_path: Path, _sqlite_template: Path) -> Iterator[BrokerPair]:
    upstream_db = tmp_path / "upstream.db"
    shutil.copy(_sqlite_template, upstream_db)
    with run_broker_pair(
        database_url,
        f"sqlite+aiosqlite:///{upstream_db}",
        tmp_path,
        link_by="nik",
        scope="openid profile email nik nip",
    ) as running:
        people(
            running.upstream.settings.database_url,
            [
                ("siti.inapas@example.id", "Siti Aminah", {"nik": NIK_SITI}),
                ("budi.inapas@example.id", "Budi Santoso", {"nik": NIK_BUDI}),
                ("baru.nik@example.id", "Warga Baru", {"nik": NIK_TAKEN}),
                ("nonaktif.inapas@example.id", "Nonaktif", {"nik": NIK_OFF}),
                ("andi@bkn.example.id", "Andi ASN", {"nip": NIP_ANDI}),
            ],
        )
        people(
            running.broker.settings.database_url,
            [
                ("siti@example.id", "Siti (lokal)", {"nik": NIK_SITI}),
                ("budi@example.id", "Budi (lokal)", {"nik": NIK_BUDI}),
                ("orang.lain@example.id", "Pemilik NIK", {"nik": NIK_TAKEN}),
                ("nonaktif@example.id", "Akun Nonaktif", {"nik": NIK_OFF, "disabled": True}),
                ("andi@palembang.go.id", "Andi (lokal)", {"nip": NIP_ANDI, "kind": "asn"}),
            ],
        )
        yield running


def people(database_url: str, rows: list[tuple[str, str, dict[str, Any]]]) -> None:
    async def op(session: Any) -> None:
        for email, name, fields in rows:
            user = await add_user(
                session,
                email=email,
                name=name,
                password_hash=hash_sync(PASSWORD),
                now=int(time.time()),
                nik=fields.get("nik"),
            )
            user.nip, user.disabled = fields.get("nip"), fields.get("disabled", False)
            user.kind = fields.get("kind", user.kind)

    in_database(database_url, op)


def set_upstream(pair: BrokerPair, **spec: Any) -> None:
    in_database(
        pair.broker.settings.database_url,
        lambda s: update_upstream(
            s,
            SLUG,
            UpstreamSpec(**spec),
            secret=SECRET_KEY.encode(),
            actor="test",
            now=int(time.time()),
            addresses=TEST_UPSTREAM_ADDRESSES,
        ),
    )


def local(pair: BrokerPair, email: str) -> User:
    async def op(session: Any) -> User:
        return (await session.scalars(select(User).where(User.email == email))).one()

    return in_database(pair.broker.settings.database_url, op)


def links(pair: BrokerPair) -> list[FederatedIdentity]:
    async def op(session: Any) -> list[FederatedIdentity]:
        return list((await session.scalars(select(FederatedIdentity))).all())

    return in_database(pair.broker.settings.database_url, op)


def upstream_sign_in(pair: BrokerPair, login: str) -> tuple[TwoSiteBrowser, Any, str]:
    browser = TwoSiteBrowser(pair)
    page, verifier = start_at_client(browser)
    return browser, browser.upstream_login(choose_upstream(browser, page), login), verifier


def test_the_upstream_asserts_nik_only_for_the_nik_scope(pair: BrokerPair) -> None:
    """The upstream Gerbang releases ``nik`` (and ``nip``) behind their own scopes, in the ID token."""
    browser, confirm, _ = upstream_sign_in(pair, "siti.inapas@example.id")
    assert confirm.url.path == "/auth/broker/confirm" and 'id="existing-account"' in confirm.text  # matched by NIK
    assert NIK_SITI not in confirm.text  # never shown in full
    meta = browser.http.get(f"{pair.upstream.url}/.well-known/openid-configuration").json()
    browser.close()
    assert {"nik", "nip"} <= set(meta["scopes_supported"]) and {"nik", "nip"} <= set(meta["claims_supported"])


def test_a_matching_nik_links_only_with_the_local_password(pair: BrokerPair) -> None:
    browser, confirm, verifier = upstream_sign_in(pair, "siti.inapas@example.id")
    assert 'id="existing-account"' in confirm.text and 'name="password"' in confirm.text
    assert "si•••@example.id" in confirm.text  # the account the NIK matched, not the upstream's email
    wrong = browser.confirm(confirm, password="bukan-kata-sandinya-2026")
    assert wrong.status_code == 400 and links(pair) == []
    claims = claims_of(redeem(pair, browser.confirm(wrong, password=PASSWORD), verifier))
    siti = local(pair, "siti@example.id")
    assert claims["sub"] == siti.id and claims["amr"] == ["fed", "pwd"]
    [link] = links(pair)
    assert link.user_id == siti.id and siti.email == "siti@example.id"  # the local account is kept as it was


def test_an_authoritative_upstream_links_a_matching_nik_without_the_password(pair: BrokerPair) -> None:
    set_upstream(pair, authoritative=True)
    browser, confirm, verifier = upstream_sign_in(pair, "budi.inapas@example.id")
    assert confirm.url.path == "/auth/broker/confirm" and 'name="password"' not in confirm.text
    claims = claims_of(redeem(pair, browser.confirm(confirm), verifier))
    assert claims["sub"] == local(pair, "budi@example.id").id


def test_a_nik_held_by_another_account_is_never_given_to_a_new_one(pair: BrokerPair) -> None:
    """Linking by email: the upstream's NIK belongs to someone else here, so no account is created with it."""
    set_upstream(pair, link_by="email")
    _, refused, _ = upstream_sign_in(pair, "baru.nik@example.id")
    assert refused.status_code == 409 and 'name="password"' in refused.text
    assert links(pair) == []
    with pytest.raises(NoResultFound):
        local(pair, "baru.nik@example.id")


def test_a_disabled_account_is_not_linked_by_its_nik(pair: BrokerPair) -> None:
    set_upstream(pair, authoritative=True)
    _, refused, _ = upstream_sign_in(pair, "nonaktif.inapas@example.id")
    assert refused.status_code == 409 and links(pair) == []


def test_without_the_nik_scope_nothing_links_by_nik(pair: BrokerPair) -> None:
    """An upstream asked only for email asserts no NIK: Siti's NIK cannot match, a new account is offered."""
    set_upstream(pair, scope="openid profile email", authoritative=True)
    _, confirm, _ = upstream_sign_in(pair, "siti.inapas@example.id")
    assert confirm.url.path == "/auth/broker/confirm" and 'id="existing-account"' not in confirm.text
    assert "167101" not in confirm.text


def test_sso_asn_links_by_nip_and_refuses_a_citizen_account(pair: BrokerPair) -> None:
    set_upstream(pair, link_by="nip", audience="asn")
    browser, confirm, verifier = upstream_sign_in(pair, "andi@bkn.example.id")
    assert 'id="existing-account"' in confirm.text and 'name="password"' in confirm.text
    claims = claims_of(redeem(pair, browser.confirm(confirm, password=PASSWORD), verifier))
    andi = local(pair, "andi@palembang.go.id")
    assert claims["sub"] == andi.id and andi.kind == "asn"
    # The same NIP on a citizen account: an ASN upstream never signs citizens in.
    in_database(pair.broker.settings.database_url, lambda s: _unlink_and_make_citizen(s, andi.id))
    _, refused, _ = upstream_sign_in(pair, "andi@bkn.example.id")
    assert refused.status_code == 409 and links(pair) == []


async def _unlink_and_make_citizen(session: Any, user_id: str) -> None:
    from sqlalchemy import delete

    await session.execute(delete(FederatedIdentity).where(FederatedIdentity.user_id == user_id))
    user = await session.get(User, user_id)
    user.kind = "citizen"


def test_a_new_person_gets_the_asserted_nik_after_seeing_it_masked(pair: BrokerPair) -> None:
    """No local account holds this NIK or email: the confirmation shows the NIK masked; the account stores it."""
    people(pair.upstream.settings.database_url, [("rahmat@example.id", "Rahmat", {"nik": "1671012012990007"})])
    browser, confirm, verifier = upstream_sign_in(pair, "rahmat@example.id")
    assert 'id="proposed-nik">167101••••••0007<' in confirm.text and "1671012012990007" not in confirm.text
    claims = claims_of(redeem(pair, browser.confirm(confirm), verifier))
    rahmat = local(pair, "rahmat@example.id")
    assert claims["sub"] == rahmat.id and rahmat.nik == "1671012012990007" and rahmat.password_hash is None
