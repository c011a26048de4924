"""Error pages for people: a browser that asks for HTML gets a page, not problem+json (issue 15).

``HtmlErrors`` wraps the hub's dispatcher. When the request's ``Accept`` prefers ``text/html`` over JSON (a
browser navigating), an error answer is rewritten on its way out: a ``application/problem+json`` body from the
gateway or the admin API, or starlette's bare ``text/plain`` 404/405/500 on the hub, becomes a short page in
Bahasa Indonesia (English with ``?lang=en`` or the hub's ``gerbang_lang`` cookie): what happened, what to do,
the request id to quote. The status and every other header (``Retry-After``, ``RateLimit``, ``X-Request-Id``,
``WWW-Authenticate``) stay. API clients (``Accept: application/json``, ``*/*`` or none) keep problem+json
(content negotiation, RFC 9110 §12.5.1). Never a stack trace, never the problem's English detail.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, Sequence

from starlette.types import Message, Receive, Scope, Send

from gateway.headers import new_id

ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]
_REWRITTEN = (b"application/problem+json", b"text/plain")
_HTML_TYPES = (b"text/html", b"application/xhtml+xml")
_JSON_TYPES = (b"application/json", b"application/problem+json")

# status → (title, what happened, what to do); Bahasa Indonesia first.
TEXT: dict[str, dict[int, tuple[str, str, str]]] = {
    "id": {
        400: (
            "Permintaan tidak dapat diproses",
            "Alamat atau isian yang dikirim tidak sesuai.",
            "Periksa alamatnya, kembali ke halaman sebelumnya, lalu coba lagi.",
        ),
        401: (
            "Perlu masuk",
            "Halaman ini hanya untuk pengguna yang sudah masuk.",
            "Masuk melalui aplikasi yang Anda gunakan, lalu buka halaman ini lagi.",
        ),
        403: (
            "Akses ditolak",
            "Anda tidak memiliki izin untuk membuka halaman ini.",
            "Jika menurut Anda seharusnya bisa, hubungi OPD pengelola aplikasi dan sebutkan kode permintaan di bawah.",
        ),
        404: (
            "Halaman tidak ditemukan",
            "Alamat ini tidak ada di layanan Pemerintah Kota Palembang.",
            "Periksa kembali alamatnya, atau buka layanan dari halaman awal.",
        ),
        405: (
            "Permintaan tidak dapat diproses",
            "Halaman ini tidak menerima cara permintaan tersebut.",
            "Kembali ke halaman sebelumnya dan coba lagi.",
        ),
        429: (
            "Terlalu banyak permintaan",
            "Anda mengirim terlalu banyak permintaan dalam waktu singkat.",
            "Tunggu {wait}, lalu coba lagi.",
        ),
        500: (
            "Terjadi kesalahan",
            "Terjadi kesalahan di pihak kami, bukan karena Anda.",
            "Coba lagi beberapa saat lagi. Bila terus berulang, hubungi Diskominfo dan sebutkan kode permintaan "
            "di bawah.",
        ),
        502: (
            "Aplikasi tidak menjawab",
            "Aplikasi yang Anda buka sedang tidak dapat dihubungi.",
            "Coba lagi beberapa saat lagi.",
        ),
        503: (
            "Layanan sedang tidak tersedia",
            "Layanan ini sedang dihentikan sementara atau dalam pemeliharaan.",
            "Coba lagi nanti. Informasi layanan: Diskominfo Kota Palembang.",
        ),
    },
    "en": {
        400: (
            "The request could not be processed",
            "The address or the data sent is not valid.",
            "Check the address, go back to the previous page and try again.",
        ),
        401: (
            "Sign-in needed",
            "This page is only for people who are signed in.",
            "Sign in through the app you are using, then open this page again.",
        ),
        403: (
            "Access denied",
            "You are not allowed to open this page.",
            "If you think you should be, contact the OPD that runs the app and quote the request code below.",
        ),
        404: (
            "Page not found",
            "This address does not exist on the City of Palembang's services.",
            "Check the address, or open the service from its home page.",
        ),
        405: (
            "The request could not be processed",
            "This page does not accept that kind of request.",
            "Go back to the previous page and try again.",
        ),
        429: ("Too many requests", "You sent too many requests in a short time.", "Wait {wait}, then try again."),
        500: (
            "Something went wrong",
            "Something went wrong on our side, not yours.",
            "Try again in a moment. If it keeps happening, contact Diskominfo and quote the request code below.",
        ),
        502: ("The app is not answering", "The app you opened cannot be reached right now.", "Try again in a moment."),
        503: (
            "Service unavailable",
            "This service is paused or under maintenance.",
            "Try again later. Service information: Diskominfo Kota Palembang.",
        ),
    },
}
CHROME = {
    "id": ("Pemerintah Kota Palembang", "Kode permintaan", "English", "Halaman awal"),
    "en": ("City of Palembang", "Request code", "Bahasa Indonesia", "Home page"),
}
STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f3f5f7;"
    "color:#1d2733;line-height:1.5}header{background:#8a1c1c;color:#fff;padding:.8rem 1.2rem}"
    "main{max-width:36rem;margin:2rem auto;background:#fff;padding:1.4rem 1.6rem;border-radius:10px;"
    "box-shadow:0 2px 10px #0002;overflow-wrap:anywhere}h1{font-size:1.35rem;margin-top:0}"
    "code{font-size:.95rem}a{color:#8a1c1c}@media (max-width:40rem){main{margin:1rem .6rem}}"
)


def wants_html(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """``Accept`` ranks an HTML type above JSON; ``*/*`` alone (curl, API clients) does not count."""
    accept = b",".join(value for name, value in headers if name == b"accept").lower()
    if b"html" not in accept:
        return False
    html_q = json_q = 0.0
    for part in accept.split(b","):
        media, _, params = part.strip().partition(b";")
        q = _quality(params)
        if media.strip() in _HTML_TYPES:
            html_q = max(html_q, q)
        elif media.strip() in _JSON_TYPES:
            json_q = max(json_q, q)
    return html_q > 0 and html_q >= json_q


def _quality(params: bytes) -> float:
    for param in params.split(b";"):
        name, _, value = param.strip().partition(b"=")
        if name.lower() == b"q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def pick_language(scope: Scope) -> str:
    return pick_language_of(scope.get("query_string", b""), scope["headers"])


def pick_language_of(query: bytes, headers: Sequence[tuple[bytes, bytes]]) -> str:
    """``?lang=en|id`` first, then the hub's ``gerbang_lang`` cookie; Bahasa Indonesia by default."""
    if b"lang=en" in query:
        return "en"
    if b"lang=id" in query:
        return "id"
    for name, value in headers:
        if name == b"cookie" and b"gerbang_lang=en" in value:
            return "en"
    return "id"


def build_page(status: int, request_id: str, language: str, retry_after: str | None = None) -> bytes:
    texts = TEXT[language]
    title, what, todo = texts.get(status) or texts[500 if status >= 500 else 400]
    city, code_label, other, home = CHROME[language]
    wait = _wait_words(retry_after, language)
    switch = "en" if language == "id" else "id"
    page = (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · Gerbang</title><style>{STYLE}</style></head><body>"
        f"<header>{html.escape(city)} · Gerbang</header><main>"
        f'<h1 id="error-title">{html.escape(title)}</h1><p id="error-what">{html.escape(what)}</p>'
        f'<p id="error-todo">{html.escape(todo.format(wait=wait))}</p>'
        f'<p class="muted">{html.escape(code_label)}: <code id="request-id">{html.escape(request_id)}</code>'
        f" · {status}</p>"
        f'<p><a href="/">{home}</a> · <a href="?lang={switch}" lang="{switch}">'
        f"{other}</a></p></main></body></html>"
    )
    return page.encode()


def _wait_words(retry_after: str | None, language: str) -> str:
    seconds = int(retry_after) if retry_after and retry_after.isdigit() else 0
    if language == "en":
        return f"{seconds} seconds" if seconds else "a moment"
    return f"{seconds} detik" if seconds else "sebentar"


class HtmlErrors:
    """ASGI wrapper: error answers to a browser's navigation become pages (see the module docstring)."""

    def __init__(self, app: ASGI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not wants_html(scope["headers"]):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        rewriting = False

        async def send_page(message: Message) -> None:
            nonlocal held, rewriting
            if message["type"] == "http.response.start":
                content_type = _header(message["headers"], b"content-type") or b""
                status = message["status"]
                if (
                    status >= 400
                    and content_type.split(b";")[0].strip() in _REWRITTEN
                    and (content_type.startswith(b"application/problem") or status in (404, 405, 500))
                ):
                    held, rewriting = message, True
                    return
                await send(message)
            elif rewriting:
                if message.get("more_body"):
                    return  # the problem document is dropped, never shown
                assert held is not None
                await _send_page(send, held, scope)
            else:
                await send(message)

        await self.app(scope, receive, send_page)


async def _send_page(send: Send, start: Message, scope: Scope) -> None:
    language = pick_language(scope)
    headers, body = build_page_answer(start["status"], start["headers"], language, head=scope.get("method") == "HEAD")
    await send({"type": "http.response.start", "status": start["status"], "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_page_answer(
    status: int, problem_headers: list[tuple[bytes, bytes]], language: str, *, head: bool = False
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The page's headers and body in place of a problem answer's: status headers (request id, Retry-After,
    RateLimit, WWW-Authenticate) kept, the problem's type and security headers replaced by the page's.
    Used by ``HtmlErrors`` and by the app plane (``gateway.app_plane``), which has no ASGI messages."""
    headers = [
        (name, value)
        for name, value in problem_headers
        if name.lower()
        not in (b"content-type", b"content-length", b"content-security-policy", b"x-content-type-options")
    ]
    request_id = (_header(headers, b"x-request-id") or b"").decode("latin-1") or new_id(128)
    if _header(headers, b"x-request-id") is None:
        headers.append((b"x-request-id", request_id.encode()))
    retry = _header(headers, b"retry-after")
    body = b"" if head else build_page(status, request_id, language, retry.decode("latin-1") if retry else None)
    headers += [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (
            b"content-security-policy",
            b"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (b"x-content-type-options", b"nosniff"),
    ]
    if _header(headers, b"cache-control") is None:
        headers.append((b"cache-control", b"no-store"))
    return headers, body


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None
