"""The access log: one structured line per request, for the hub's own paths and the app plane alike.

    {"event": "access", "request_id", "host", "app", "method", "path", "status", "bytes", "duration_ms",
     "user", "client"}

The path is logged without its query (queries carry codes, tokens and personal data). The app plane's steps
tell the line which app and which caller it served through ``note_route``/``note_principal`` (a context
variable set for the request; the steps do not read it). Every request is logged by default; with
``access_log_sample`` below 1 a share of successful requests is, while every 4xx/5xx still is.

The line is rendered here (the text ``json.dumps`` would give) and written to standard output directly, in the shape of the
other JSON log lines (``logger``, ``level``, ``timestamp``): through structlog and the logging module a line
cost ~120 µs, written directly ~21 µs (one run on a shared machine), on a hop whose whole budget is ~40 µs.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from json.encoder import (
    encode_basestring as _encode_string,  # C-accelerated; as json.dumps(ensure_ascii=False)
)
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from gateway.headers import build_request_id
from gateway.model import Principal

Dispatch = Callable[[Scope, Receive, Send], Awaitable[None]]
Write = Callable[[str], object]


def write_stdout(line: str) -> None:
    """``sys.stdout`` looked up per line: a test's capture (or a redirect) sees it."""
    sys.stdout.write(line)


@dataclass(slots=True)
class AccessNote:
    """What the app plane learnt about a request while serving it."""

    app: str | None = None
    user: str | None = None
    client: str | None = None


_NOTE: ContextVar[AccessNote | None] = ContextVar("gerbang_access_note", default=None)


def note_route(slug: str) -> None:
    note = _NOTE.get()
    if note is not None:
        note.app = slug


def note_principal(principal: Principal) -> None:
    note = _NOTE.get()
    if note is not None:
        note.user, note.client = principal.sub, principal.client_id


class AccessLog:
    def __init__(
        self, sample: float = 1.0, chance: Callable[[], float] = random.random, write: Write = write_stdout
    ) -> None:
        self.sample = sample
        self._chance = chance
        self._write = write

    async def handle(self, scope: Scope, receive: Receive, send: Send, dispatch: Dispatch) -> None:
        note = AccessNote()
        token = _NOTE.set(note)
        started = time.perf_counter()
        answer = _Answer()

        async def sending(message: Message) -> None:
            answer.see(message)
            await send(message)

        try:
            await dispatch(scope, receive, sending)
        finally:
            _NOTE.reset(token)
            status = answer.status or (101 if scope["type"] == "websocket" else 500)
            self.write_line(
                answer.request_id or build_request_id(scope["headers"]),
                _host(scope),
                note,
                scope.get("method", "GET"),
                scope["path"],
                status,
                answer.size,
                started,
            )

    def begin(self) -> AccessNote:
        """The app plane's requests (``gateway.app_plane``): a note for the steps, in the request's own task."""
        note = AccessNote()
        _NOTE.set(note)
        return note

    def write_line(
        self,
        request_id: str,
        host: str | None,
        note: AccessNote,
        method: str,
        path: str,
        status: int,
        size: int,
        started: float,
    ) -> None:
        if status >= 400 or self.sample >= 1 or self._chance() < self.sample:
            # The line json.dumps would write for this dict, without building the dict (a third of the cost).
            self._write(
                f'{{"event": "access", "request_id": {_string(request_id)}, "host": {_string(host)}, '
                f'"app": {_string(note.app)}, "method": {_string(method)}, "path": {_string(path)}, '
                f'"status": {status}, "bytes": {size}, '
                f'"duration_ms": {round((time.perf_counter() - started) * 1000, 2)!r}, '
                f'"user": {_string(note.user)}, "client": {_string(note.client)}, '
                f'"logger": "gerbang.access", "level": "info", "timestamp": "{_now_iso()}"}}\n'
            )


def _string(value: str | None) -> str:
    return "null" if value is None else _encode_string(value)


@dataclass(slots=True)
class _Answer:
    status: int = 0
    size: int = 0
    request_id: str | None = None

    def see(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            for name, value in message.get("headers", ()):
                if name == b"x-request-id":
                    self.request_id = value.decode("latin-1")
        elif kind == "http.response.body":
            self.size += len(message.get("body", b""))
        elif kind == "websocket.accept":
            self.status = 101
        elif kind == "websocket.close" and not self.status:
            self.status = 403  # refused before the handshake completed
        elif kind == "websocket.send":
            self.size += len(message.get("bytes") or b"") + len((message.get("text") or "").encode())


def _host(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"host":
            return value.decode("latin-1")
    return None


_second: list[Any] = [-1, ""]  # the last whole second formatted, and its text


def _now_iso() -> str:
    """UTC, ISO 8601 with microseconds and ``Z``, as structlog's TimeStamper writes it."""
    seconds = time.time()
    whole = int(seconds)
    if whole != _second[0]:
        _second[0], _second[1] = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{_second[1]}.{int(seconds % 1 * 1e6):06d}Z"
