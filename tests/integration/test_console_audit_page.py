"""The console's audit page as people read it: WIB times, names and emails, actions in words, targets by name,
the change itself; filters by actor, action, target, OPD and date range; paging."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.app import create_app
from idp.audit import append_audit
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.admin import KOMINFO, AdminClient, admin_token, run_seed
from tests.support.hub import Browser, Hub, run_hub

WIB = ZoneInfo("Asia/Jakarta")


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path, app_factory=create_app) as running:
        run_seed(database_url, running.seeded.users)
        yield running


def _rows(html: str) -> list[str]:
    return re.findall(r"<tr data-seq=\"\d+\">(.*?)</tr>", html.split("<tbody>")[1], re.S)


def _signed_in(hub: Hub) -> Browser:
    browser = Browser(hub)
    assert browser.login(browser.go("/admin/"), KOMINFO).status_code == 200
    return browser


async def _old_entries(database_url: str, count: int, at: int) -> None:
    engine = build_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session, session.begin():
            for n in range(count):
                await append_audit(
                    session,
                    actor="cli:ani@kominfo-1",
                    action="opd.update",
                    target="opd:bpkad",
                    detail={"diff": {"name": {"from": f"BPKAD {n}", "to": f"BPKAD {n + 1}"}}},
                    now=at,
                )
    finally:
        await engine.dispose()


def test_entries_read_as_sentences_with_names_and_the_change(hub: Hub) -> None:
    kominfo_api = AdminClient(hub, admin_token(hub, KOMINFO))
    changed = kominfo_api.http.patch("/apps/none", json={"name": "x"})
    assert changed.status_code == 404
    client_id = hub.client("Parkir Dishub")[0]
    patched = kominfo_api.http.patch(f"/clients/{client_id}", json={"name": "Parkir Dishub Online"})
    assert patched.status_code == 200, patched.text
    kominfo_api.close()
    browser = _signed_in(hub)
    page = browser.go("/admin/audit")
    assert page.status_code == 200 and "Waktu (WIB)" in page.text
    (row,) = [r for r in _rows(page.text) if "client.update" in r]
    today = datetime.now(WIB).strftime("%d-%m-%Y")
    assert f"{today} " in row and " WIB" in row
    assert "Admin Kominfo" in row or KOMINFO in row  # the actor by name and email, not an id
    assert KOMINFO in row and "mengubah klien OAuth" in row
    assert f"Parkir Dishub Online ({client_id})" in row
    assert "Parkir Dishub → Parkir Dishub Online" in row
    english = browser.go("/admin/audit?lang=en")
    assert "changed an OAuth client" in english.text and "Time (WIB)" in english.text
    browser.close()


def test_filters_and_paging(hub: Hub, database_url: str) -> None:
    last_month = int((datetime.now(WIB) - timedelta(days=30)).timestamp())
    asyncio.run(_old_entries(database_url, 55, last_month))
    browser = _signed_in(hub)
    everything = browser.go("/admin/audit?action=opd.update")
    assert len(_rows(everything.text)) == 50 and 'rel="next"' in everything.text
    second = browser.go("/admin/audit?action=opd.update&offset=50")
    assert len(_rows(second.text)) == 5 and 'rel="prev"' in second.text
    day = datetime.fromtimestamp(last_month, WIB).date()
    in_range = browser.go(f"/admin/audit?from={day}&to={day}&actor=cli:ani")
    assert len(_rows(in_range.text)) == 50
    assert _rows(browser.go(f"/admin/audit?from={day + timedelta(days=1)}&actor=cli:ani").text) == []
    by_opd = browser.go("/admin/audit?opd=bpkad&action=opd.")
    assert len(_rows(by_opd.text)) == 50
    assert _rows(browser.go("/admin/audit?opd=dishub&action=opd.update").text) == []
    assert len(_rows(browser.go("/admin/audit?target=bpkad&action=opd.update").text)) == 50
    bad = browser.go("/admin/audit?from=kemarin")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    unknown_unit = browser.go("/admin/audit?opd=tidak-ada")
    assert unknown_unit.status_code == 404
    browser.close()
