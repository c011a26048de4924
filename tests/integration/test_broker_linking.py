"""``idp.federation.linking.resolve`` on real databases: which verified identifier may link which account.

(The upstream Gerbang of ``test_broker`` asserts no NIK; NIK and NIP matches are decided here.)"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from idp.accounts import add_user
from idp.federation.linking import create_account, resolve
from idp.federation.registry import UpstreamSpec, add_upstream
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import User
from tests.support.hub import TEST_UPSTREAM_ADDRESSES

NIK = "1671015203950002"


async def _scenario(database_url: str, check: Any, **spec: Any) -> Any:
    engine = build_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session, session.begin():
            now = int(time.time())
            row = await add_upstream(
                session,
                "inapas",
                UpstreamSpec(
                    name="INApas",
                    issuer="https://inapas.example.id",
                    client_id="c",
                    client_secret="s" * 20,
                    **{"link_by": "nik", **spec},
                ),
                secret=b"k" * 40,
                actor="test",
                now=now,
                addresses=TEST_UPSTREAM_ADDRESSES,
            )
            siti = await add_user(session, email="siti@example.id", name="Siti", password_hash="x", now=now, nik=NIK)
            return await check(session, row, siti)
    finally:
        await engine.dispose()


def run(database_url: str, check: Any, **spec: Any) -> Any:
    return asyncio.run(_scenario(database_url, check, **spec))


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "inapas-77", **extra}


def test_a_matching_nik_links_with_proof_or_at_once_when_authoritative(database_url: str) -> None:
    async def check(session, row, siti):  # type: ignore[no-untyped-def]
        asked = await resolve(session, row, claims(nik=NIK))
        row.authoritative = True
        at_once = await resolve(session, row, claims(nik=NIK))
        return asked, at_once, siti

    asked, at_once, siti = run(database_url, check)
    assert asked.kind == "link" and not asked.authoritative and asked.user.id == siti.id
    assert at_once.kind == "link" and at_once.authoritative


def test_authority_for_nik_does_not_extend_to_email(database_url: str) -> None:
    async def check(session, row, siti):  # type: ignore[no-untyped-def]
        return await resolve(session, row, claims(email="siti@example.id", email_verified=True))

    by_email = run(database_url, check, authoritative=True)
    assert by_email.kind == "link" and not by_email.authoritative  # verified email: proof still required


def test_unverified_email_or_nik_of_someone_else_is_refused(database_url: str) -> None:
    async def check(session, row, siti):  # type: ignore[no-untyped-def]
        unverified = await resolve(session, row, claims(email="siti@example.id", email_verified=False))
        row.link_by = "none"
        no_linking = await resolve(session, row, claims(nik=NIK, email="baru@example.id", email_verified=True))
        siti.disabled = True
        row.link_by = "nik"
        disabled = await resolve(session, row, claims(nik=NIK))
        return unverified, no_linking, disabled

    unverified, no_linking, disabled = run(database_url, check)
    assert unverified.kind == "refuse" and unverified.reason == "broker.taken"
    assert no_linking.kind == "refuse" and no_linking.reason == "broker.taken"  # the NIK belongs to Siti
    assert disabled.kind == "refuse"


def test_an_asn_upstream_creates_asn_accounts_with_their_nip(database_url: str) -> None:
    async def check(session, row, siti):  # type: ignore[no-untyped-def]
        fresh = claims(nip="198501012010011001", email="budi@bkn.example.id", email_verified=True, name="Budi")
        assert (await resolve(session, row, fresh)).kind == "create"
        user: User = await create_account(session, row, fresh, int(time.time()))
        again = await resolve(session, row, fresh)
        return user, again

    user, again = run(database_url, check, link_by="nip", audience="asn")
    assert user.kind == "asn" and user.nip == "198501012010011001" and user.email_verified
    assert again.kind == "signin" and again.user.id == user.id
