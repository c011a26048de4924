"""A proxy between the gateway and an app that changes what passes, as an attacker on that hop would: one byte of the
body, the path, or the assertion (swapped for the previous request's, or one set by the test). It remembers the last
request as the gateway sent it, so a test can replay it straight to the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Tamper:
    """A proxy between the gateway and the app: passes requests on, changed as ``mode`` says."""

    target: str = ""
    mode: str = "none"
    last: dict[str, Any] = field(default_factory=dict)  # the last request as the gateway sent it
    previous_assertion: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k != b"host"]
        path = scope["raw_path"].decode() + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        assertion = dict(headers).get("x-gerbang-assertion", "")
        self.last = {"method": scope["method"], "path": path, "headers": list(headers), "body": body}
        if self.mode == "body":
            body = body[:-2] + bytes([body[-2] ^ 1]) + body[-1:]
        elif self.mode == "path":
            path = path.replace("/api/anggaran", "/api/anggaran-x")
        elif self.mode == "assertion" and self.previous_assertion:
            headers = [(k, self.previous_assertion if k == "x-gerbang-assertion" else v) for k, v in headers]
        self.previous_assertion = assertion
        async with httpx.AsyncClient() as client:
            answer = await client.request(scope["method"], self.target + path, headers=headers, content=body)
        await send(
            {
                "type": "http.response.start",
                "status": answer.status_code,
                "headers": [(b"content-type", answer.headers.get("content-type", "text/plain").encode())],
            }
        )
        await send({"type": "http.response.body", "body": answer.content})
