"""The browser sign-in as its five requests, one at a time, with what the database did during each.

    authorize → login page → password POST → resume → token     (code + PKCE, a first-party client: no consent)

``DatabaseMeter`` listens on the hub's engine (SQLAlchemy events, in the server's thread): transactions begun,
which of them wrote, statements. Used by the cost tests and the city benchmark's smoke test.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.hub import PASSWORD, authorize_url, csrf_from, interaction_from, pkce_pair, query_of

STEPS = ("authorize", "login_page", "password", "resume", "token")
WRITES = ("INSERT", "UPDATE", "DELETE")
# PostgreSQL's data-modifying common table expressions: ``WITH redeemed AS (UPDATE ...) SELECT ...`` writes too.
WRITING_CTE = re.compile(r"\bAS\s*\(\s*(INSERT|UPDATE|DELETE)\b")


def is_write(statement: str) -> bool:
    text = statement.lstrip().upper()
    return text.startswith(WRITES) or (text.startswith("WITH") and WRITING_CTE.search(text) is not None)


@dataclass
class StepCost:
    transactions: int = 0
    writing: int = 0  # transactions that wrote
    statements: int = 0
    enclosed: int = 0  # transactions with a BEGIN and a COMMIT/ROLLBACK of their own (not autocommit)

    @property
    def reading(self) -> int:
        return self.transactions - self.writing

    @property
    def round_trips(self) -> int:
        """Statements sent, BEGIN and COMMIT/ROLLBACK included (PostgreSQL; SQLite's driver begins on its own)."""
        return self.statements + 2 * self.enclosed


@dataclass
class DatabaseMeter:
    engine: AsyncEngine
    steps: dict[str, StepCost] = field(default_factory=dict)
    _current: StepCost | None = None
    _open: dict[int, bool] = field(default_factory=dict)  # connection id -> wrote in its transaction
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        sync = self.engine.sync_engine
        event.listen(sync, "begin", self._begin)
        event.listen(sync, "before_cursor_execute", self._statement)
        event.listen(sync, "commit", self._end)
        event.listen(sync, "rollback", self._end)

    def close(self) -> None:
        sync = self.engine.sync_engine
        event.remove(sync, "begin", self._begin)
        event.remove(sync, "before_cursor_execute", self._statement)
        event.remove(sync, "commit", self._end)
        event.remove(sync, "rollback", self._end)

    @contextmanager
    def step(self, name: str) -> Iterator[StepCost]:
        cost = self.steps.setdefault(name, StepCost())
        self._current = cost
        try:
            yield cost
        finally:
            self._current = None

    def _begin(self, connection: Any) -> None:
        with self._lock:
            if self._current is not None:
                self._current.transactions += 1
                if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                    self._current.enclosed += 1
            self._open[id(connection)] = False

    def _statement(self, connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        with self._lock:
            if self._current is not None:
                self._current.statements += 1
            if is_write(statement) and id(connection) in self._open:
                self._open[id(connection)] = True

    def _end(self, connection: Any) -> None:
        with self._lock:
            wrote = self._open.pop(id(connection), False)
            if wrote and self._current is not None:
                self._current.writing += 1


@dataclass
class SignIn:
    code: str
    tokens: dict[str, Any]


def sign_in_by_steps(
    http: httpx.Client,
    client_id: str,
    client_secret: str | None,
    login: str,
    meter: DatabaseMeter | None = None,
    redirect_uri: str = "http://127.0.0.1:9/cb",
) -> SignIn:
    """One full sign-in with a fresh cookie jar in ``http`` (which must not follow redirects)."""
    verifier, challenge = pkce_pair()

    def step(name: str) -> Any:
        return meter.step(name) if meter is not None else _nothing()

    with step("authorize"):
        first = http.get(authorize_url(client_id, challenge, redirect_uri=redirect_uri))
    assert first.status_code == 303 and "/auth/login" in first.headers["location"], first.text[:300]
    with step("login_page"):
        page = http.get(first.headers["location"])
    assert page.status_code == 200, page.text[:300]
    with step("password"):
        posted = http.post(
            "/auth/login",
            data={
                "login": login,
                "password": PASSWORD,
                "csrf_token": csrf_from(page.text),
                "interaction": interaction_from(first.headers["location"]),
            },
        )
    assert posted.status_code == 303 and "/auth/authorize/resume" in posted.headers["location"], posted.text[:300]
    with step("resume"):
        resumed = http.get(posted.headers["location"])
    assert resumed.status_code == 303 and resumed.headers["location"].startswith(redirect_uri), resumed.text[:300]
    code = query_of(resumed.headers["location"])["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    auth = (client_id, client_secret) if client_secret else None
    if auth is None:
        form["client_id"] = client_id
    with step("token"):
        token = http.post("/auth/token", data=form, auth=auth) if auth else http.post("/auth/token", data=form)
    assert token.status_code == 200, token.text[:300]
    return SignIn(code, token.json())


@contextmanager
def _nothing() -> Iterator[None]:
    yield
