"""The admin API's lists at scale and its input edge, on a real hub (both backends): user search (contains,
prefix, exact NIK), keyset paging, audit filters, and the strict input rules (415, 413, control characters,
unknown parameters, the offset cap) — each a problem+json, never a 5xx."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.admin.request_input import MAX_BODY, MAX_OFFSET
from gateway.app import create_app
from idp.accounts import add_user
from idp.audit import append_audit
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.admin import KOMINFO, AdminClient, admin_token, run_seed
from tests.support.hub import run_hub

NIK = "1671011203900001"
PEOPLE = [
    ("siti.aminah@warga.example.id", "Siti  Aminah", NIK),
    ("budi@warga.example.id", "Budi Santoso", None),
    ("aminah.b@warga.example.id", "Nur Aminah", None),
    ("rahma@warga.example.id", "Ｓｉｔｉ Rahma", None),
]
AUDIT_AT = 1_700_000_000


@dataclass
class Lists:
    kominfo: AdminClient
    audit_actor: str


async def seed_people(database_url: str) -> None:
    engine = build_engine(database_url)
    now = int(time.time())
    async with build_sessionmaker(engine)() as session, session.begin():
        for email, name, nik in PEOPLE:
            await add_user(session, email=email, name=name, password_hash=None, now=now, nik=nik)
        for n in range(30):
            await add_user(
                session, email=f"warga{n:02d}@kota.example.id", name=f"Warga {n}", password_hash=None, now=now
            )
        for n in range(6):  # an hour apart, by two actors, on two targets
            await append_audit(
                session,
                actor=f"tester-{n % 2}",
                action="test.event",
                target=f"thing:{n % 3}",
                detail={"n": n},
                now=AUDIT_AT + 3600 * n,
            )
    await engine.dispose()


@pytest.fixture
def lists(database_url: str, tmp_path: Path) -> Iterator[Lists]:
    with run_hub(database_url, tmp_path, app_factory=create_app) as hub:
        run_seed(database_url, hub.seeded.users)
        asyncio.run(seed_people(database_url))
        kominfo = AdminClient(hub, admin_token(hub, KOMINFO))
        yield Lists(kominfo, "tester-1")
        kominfo.close()


def emails(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [user["email"] for user in response.json()["items"]]


def is_problem(response: httpx.Response, status: int) -> bool:
    return (
        response.status_code == status
        and response.headers["content-type"] == "application/problem+json"
        and response.json()["status"] == status
    )


def test_user_search_contains_prefix_and_nik(lists: Lists) -> None:
    api = lists.kominfo
    # contains: name (normalised: width, case, spaces) or email
    assert emails(api.get("/users", q="aminah")) == ["aminah.b@warga.example.id", "siti.aminah@warga.example.id"]
    assert emails(api.get("/users", q="SITI AMINAH")) == ["siti.aminah@warga.example.id"]
    assert emails(api.get("/users", q="ｓｉｔｉ  ＲＡＨＭＡ")) == ["rahma@warga.example.id"]
    # prefix: "aminah" starts one email and no name; "nur" starts a name
    assert emails(api.get("/users", q="aminah", match="prefix")) == ["aminah.b@warga.example.id"]
    assert emails(api.get("/users", q="nur", match="prefix")) == ["aminah.b@warga.example.id"]
    assert emails(api.get("/users", q="ur amin", match="prefix")) == []
    # LIKE's wildcards are plain characters in a search
    assert emails(api.get("/users", q="%")) == [] and emails(api.get("/users", q="_", match="prefix")) == []
    for special in ("*", "?", "[", "[a-z]", "%", "\\"):  # GLOB's and LIKE's wildcards, as plain characters
        assert emails(api.get("/users", q=special, match="prefix")) == [], special
    assert emails(api.get("/users", q="SITI  AMI", match="prefix")) == ["siti.aminah@warga.example.id"]
    # exact NIK, alone and through q; a partial NIK finds nobody
    assert emails(api.get("/users", nik=NIK)) == ["siti.aminah@warga.example.id"]
    assert emails(api.get("/users", q=NIK)) == ["siti.aminah@warga.example.id"]
    assert emails(api.get("/users", nik=NIK[:15])) == []


def test_keyset_pages_walk_the_same_users_as_offsets(lists: Lists) -> None:
    api = lists.kominfo
    by_offset: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = api.get("/users", limit=7, offset=offset).json()
        by_offset += [user["email"] for user in page["items"]]
        offset = page["next_offset"]
    by_cursor: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = api.get("/users", limit=7, **({"after": cursor} if cursor else {})).json()
        by_cursor += [user["email"] for user in page["items"]]
        pages += 1
        cursor = page["next_after"]
        if cursor is None:
            break
        assert cursor == page["items"][-1]["email"]
    assert by_cursor == by_offset == sorted(by_offset) and len(by_offset) == len(set(by_offset)) >= 36
    assert pages == -(-len(by_offset) // 7)
    # a cursor combines with a search
    assert emails(api.get("/users", q="warga2", after="warga24@kota.example.id")) == [
        f"warga{n}@kota.example.id" for n in range(25, 30)
    ]


def test_audit_filters_by_actor_target_and_time(lists: Lists) -> None:
    api = lists.kominfo

    def seqs_of(**params: object) -> list[int]:
        response = api.get("/audit", action="test.event", **params)
        assert response.status_code == 200, response.text
        return [entry["detail"]["n"] for entry in response.json()["items"]]

    assert seqs_of() == [5, 4, 3, 2, 1, 0]  # newest first
    assert seqs_of(actor=lists.audit_actor) == [5, 3, 1]
    assert seqs_of(target="thing:0") == [3, 0]
    assert seqs_of(since=AUDIT_AT + 3600 * 2, until=AUDIT_AT + 3600 * 4) == [3, 2]
    assert seqs_of(actor="tester-0", since=AUDIT_AT + 1) == [4, 2]
    newest = api.get("/audit", action="test.event", limit=2).json()["items"]
    assert seqs_of(before=newest[-1]["seq"]) == [3, 2, 1, 0]


@pytest.mark.parametrize(
    "path,params",
    [
        ("/users", {"q": "a\x00b"}),
        ("/users", {"nik": "\x00"}),
        ("/audit", {"actor": "x\x07"}),
        ("/users", {"offset": str(MAX_OFFSET + 1)}),
        ("/users", {"offset": "9" * 40}),
        ("/users", {"limit": "201"}),
        ("/audit", {"before": "9" * 5000}),  # past int()'s 4,300-digit limit: its ValueError must not escape
        ("/users", {"match": "fuzzy"}),
        ("/users", {"sort": "email"}),
        ("/apps", {"stauts": "pending"}),
        ("/clients", {"status": "rejected"}),
        ("/opd", {"kind": "planet"}),
        ("/audit", {"since": "-1"}),
        ("/users", {"limit": "١٠"}),  # Arabic-Indic digits: str.isdigit() says yes, int() would too
        ("/users", {"q": ""}),
    ],
)
def test_bad_query_input_is_a_400_problem(lists: Lists, path: str, params: dict[str, str]) -> None:
    assert is_problem(lists.kominfo.get(path, **params), 400)


def test_repeated_parameters_and_nul_in_paths_are_refused(lists: Lists) -> None:
    http = lists.kominfo.http
    assert is_problem(http.get("/users?q=a&q=b"), 400)
    assert is_problem(http.get("/apps/ab%00cd"), 400)
    assert is_problem(http.post("/users/ab%00cd/disable"), 400)
    invalid_utf8 = http.get("/users?q=%FF%FE")  # decoded with replacement characters: a search, not a crash
    assert invalid_utf8.status_code == 200 and invalid_utf8.json()["items"] == []
    assert lists.kominfo.get("/users", offset=str(MAX_OFFSET)).status_code == 200


def test_bodies_wrong_type_too_large_or_with_control_characters(lists: Lists) -> None:
    http = lists.kominfo.http
    body = {"opd": "dishub", "role": "operator"}
    user = lists.kominfo.get("/users", q="budi santoso").json()["items"][0]["id"]
    assert is_problem(
        http.post(
            f"/users/{user}/roles",
            content=b'{"opd":"dishub","role":"operator"}',
            headers={"content-type": "text/plain"},
        ),
        415,
    )
    assert is_problem(
        http.post(
            f"/users/{user}/roles",
            content=b"opd=dishub&role=operator",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        415,
    )
    assert is_problem(
        http.post(f"/users/{user}/roles", content=b" " * (MAX_BODY + 1), headers={"content-type": "application/json"}),
        413,
    )
    assert is_problem(
        http.post(f"/users/{user}/roles", content=b"{nope", headers={"content-type": "application/json"}), 400
    )
    for bad in (
        {**body, "opd": "dis\u0000hub"},
        {**body, "opd": " dishub"},
        {**body, "opd": "dishub\n"},
        {**body, "extra": 1},
    ):
        assert is_problem(http.post(f"/users/{user}/roles", json=bad), 400), bad
    assert is_problem(http.post("/apps/none/reject", json={"reason": "tidak\u0000lengkap"}), 400)
    # a lone surrogate, and a byte that is not UTF-8
    for raw in (b'{"opd":"\\ud800","role":"operator"}', b'{"opd":"dis\xffhub","role":"operator"}'):
        assert is_problem(
            http.post(f"/users/{user}/roles", content=raw, headers={"content-type": "application/json"}), 400
        ), raw
    charset = http.post(
        f"/users/{user}/roles",
        content=b'{"opd":"dishub","role":"operator"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 200, charset.text
    assert {"opd": "dishub", "role": "operator"} in charset.json()["roles"]
    # a reason may span lines
    assert is_problem(http.post("/apps/none/reject", json={"reason": "baris satu\nbaris dua"}), 404)
