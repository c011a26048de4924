"""Error pages for people (``gateway.error_pages``): content negotiation on Accept, the page's words and headers."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.error_pages import HtmlErrors, build_page, wants_html
from gateway.errors import Forbidden, GatewayError, NotFound, ServiceUnavailable, TooManyRequests
from gateway.problem import send_problem

CHROME = b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (CHROME, True),
        (b"text/html", True),
        (b"*/*", False),
        (b"", False),
        (b"application/json", False),
        (b"application/problem+json, text/html;q=0.5", False),
        (b"text/html;q=0.9, application/json;q=0.8", True),
        (b"text/html;q=0", False),
        (b"text/html;q=banyak", False),
        (b"image/webp,*/*", False),
        (b"TEXT/HTML", True),
    ],
)
def test_only_a_request_that_prefers_html_gets_a_page(accept: bytes, html: bool) -> None:
    assert wants_html([(b"accept", accept)] if accept else []) is html


def problem_app(error: GatewayError) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send_problem(send, error, "req-123")

    return app


async def call(
    app: Any, accept: bytes, query: bytes = b"", cookie: bytes | None = None, method: str = "GET"
) -> tuple[int, dict[bytes, bytes], bytes]:
    headers = [(b"accept", accept)] + ([(b"cookie", cookie)] if cookie else [])
    scope = {"type": "http", "method": method, "path": "/x", "query_string": query, "headers": headers}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await HtmlErrors(app)(scope, receive, send)
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (Forbidden("policy rule x denied"), "Akses ditolak"),
        (NotFound("no app"), "Halaman tidak ditemukan"),
        (ServiceUnavailable("suspended"), "Layanan sedang tidak tersedia"),
        (GatewayError("boom"), "Terjadi kesalahan"),
    ],
)
async def test_a_browser_reads_bahasa_indonesia_with_the_request_id_and_no_internals(
    error: GatewayError, words: str
) -> None:
    status, headers, body = await call(problem_app(error), CHROME)
    page = body.decode()
    assert status == error.status and headers[b"content-type"] == b"text/html; charset=utf-8"
    assert words in page and "req-123" in page and 'lang="id"' in page
    assert error.detail not in page and "problem" not in page and "Traceback" not in page
    assert headers[b"x-request-id"] == b"req-123" and int(headers[b"content-length"]) == len(body)
    assert b"default-src 'none'" in headers[b"content-security-policy"]


async def test_throttled_says_how_long_to_wait_and_keeps_the_rate_limit_headers() -> None:
    error = TooManyRequests("limit", headers=((b"retry-after", b"7"), (b"ratelimit", b'"user";r=0;t=7')))
    status, headers, body = await call(problem_app(error), CHROME)
    assert status == 429 and "Tunggu 7 detik" in body.decode()
    assert headers[b"retry-after"] == b"7" and headers[b"ratelimit"] == b'"user";r=0;t=7'
    _, _, english = await call(problem_app(error), CHROME, query=b"lang=en")
    assert "Wait 7 seconds" in english.decode() and 'lang="en"' in english.decode()
    _, _, remembered = await call(problem_app(error), CHROME, cookie=b"a=b; gerbang_lang=en")
    assert "Too many requests" in remembered.decode()


async def test_api_clients_keep_problem_json() -> None:
    for accept in (b"application/json", b"*/*", b"application/problem+json"):
        status, headers, body = await call(problem_app(Forbidden("denied")), accept)
        assert status == 403 and headers[b"content-type"] == b"application/problem+json"
        assert b'"detail":"denied"' in body


async def test_starlettes_plain_not_found_becomes_a_page_but_other_plain_text_stays() -> None:
    async def plain(status: int, text: bytes) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                }
            )
            await send({"type": "http.response.body", "body": text})

        return app

    status, headers, body = await call(await plain(404, b"Not Found"), CHROME)
    assert status == 404 and b"Halaman tidak ditemukan" in body and b"Not Found" not in body
    assert len(headers[b"x-request-id"]) >= 16
    _, _, kept = await call(await plain(400, b"Permintaan masuk tidak sah"), CHROME)  # the app's own words
    assert kept == b"Permintaan masuk tidak sah"
    _, _, head = await call(await plain(404, b"Not Found"), CHROME, method="HEAD")
    assert head == b""


def test_every_status_has_words_in_both_languages() -> None:
    for status in (400, 401, 403, 404, 405, 408, 413, 429, 431, 500, 502, 503, 504):
        for language in ("id", "en"):
            page = build_page(status, "r", language).decode()
            assert "<h1" in page and 'name="viewport"' in page
