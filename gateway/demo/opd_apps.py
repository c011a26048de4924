"""The demo's sample OPD apps, each refusing traffic that did not come through the hub.

- Dishub parking (``session``): a browser app showing who the hub says is signed in.
- Dishub CCTV (``session``): a camera page with an MJPEG stream that never ends.
- BPKAD e-budgeting (``bearer``): a JSON API that Bapenda's integration calls with client_credentials.

Each is wrapped in ``gateway.assertion.GerbangAssertionMiddleware``: the two-line integration OPD
developers are asked to make.
"""

from __future__ import annotations

import asyncio
import base64
import html
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.assertion import AssertionVerifier, GerbangAssertionMiddleware, GerbangIdentity
from gateway.integrity.http_signatures import MessageSignatureVerifier
from idp.app_origins import default_apps_domain, default_resource

# A 1×1 baseline JPEG: enough for a browser to render each MJPEG frame.
FRAME = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEAYABgAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PT"
    "gyPC4zNDL/wAALCAABAAEBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIh"
    "MUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhI"
    "WGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/APn+"
    "iiigD//Z"
)
BOUNDARY = "gerbangframe"
BUDGET = [
    {"kode": "5.1.01", "uraian": "Belanja Pegawai", "pagu": 1_250_000_000_000},
    {"kode": "5.1.02", "uraian": "Belanja Barang dan Jasa", "pagu": 980_000_000_000},
    {"kode": "5.2.03", "uraian": "Belanja Modal Jalan, Jaringan, dan Irigasi", "pagu": 410_000_000_000},
]


def _identity(request: Request) -> GerbangIdentity:
    return request.scope["state"]["gerbang"]


def _who(identity: GerbangIdentity) -> str:
    name = identity.claims.get("name") or identity.sub
    roles = ", ".join(identity.roles) or "warga"
    return (
        f"<p>Masuk sebagai <strong id='who'>{html.escape(str(name))}</strong> "
        f"(<span id='sub'>{html.escape(str(identity.sub))}</span>; OPD: {html.escape(str(identity.opd or '-'))}; "
        f"peran: {html.escape(roles)}; acr {html.escape(str(identity.acr))})</p>"
    )


def address(issuer: str, apps_domain: str, slug: str) -> str:
    """A sample app's own origin + "/" (its address and its assertion audience)."""
    return default_resource(issuer, apps_domain or default_apps_domain(issuer), slug)


def parking_app(issuer: str, apps_domain: str = "") -> GerbangAssertionMiddleware:
    cctv = html.escape(address(issuer, apps_domain, "cctv"))

    async def home(request: Request) -> Response:
        identity = _identity(request)
        return HTMLResponse(
            "<h1>Parkir Dishub Kota Palembang</h1>"
            + _who(identity)
            + "<p>Tiket aktif: 2 (Jl. Sudirman, Pasar 16 Ilir). Retribusi dibayar non-tunai.</p>"
            f"<p><a href='{cctv}'>CCTV Dishub</a> · <a href='/.gerbang/logout'>Keluar</a></p>"
        )

    app = Starlette(routes=[Route("/", home)])
    return GerbangAssertionMiddleware(app, issuer=issuer, audience=address(issuer, apps_domain, "parkir"))


def cctv_app(issuer: str, apps_domain: str = "") -> GerbangAssertionMiddleware:
    parkir = html.escape(address(issuer, apps_domain, "parkir"))

    async def home(request: Request) -> Response:
        return HTMLResponse(
            "<h1>CCTV Dishub — 13 titik jalan</h1>"
            + _who(_identity(request))
            + "<img alt='Simpang Charitas' src='/stream' width='320' height='240'>"
            f"<p><a href='{parkir}'>Parkir Dishub</a></p>"
        )

    async def frames() -> AsyncIterator[bytes]:
        while True:  # a camera never stops; the gateway releases it when the viewer leaves
            yield (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(FRAME)}\r\n\r\n".encode()
                + FRAME
                + b"\r\n"
            )
            await asyncio.sleep(0.2)

    async def stream(_request: Request) -> Response:
        return StreamingResponse(frames(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}")

    app = Starlette(routes=[Route("/", home), Route("/stream", stream)])
    return GerbangAssertionMiddleware(app, issuer=issuer, audience=address(issuer, apps_domain, "cctv"))


def budget_app(issuer: str, apps_domain: str = "") -> GerbangAssertionMiddleware:
    async def lines(request: Request) -> Response:
        identity = _identity(request)
        return JSONResponse({"tahun": 2027, "opd": "bpkad", "diminta_oleh": identity.client_id, "anggaran": BUDGET})

    app = Starlette(routes=[Route("/api/anggaran", lines, methods=["GET", "POST"])])
    audience = address(issuer, apps_domain, "e-budgeting")
    verifier = AssertionVerifier(issuer=issuer, audience=audience)
    # e-budgeting's integrity mode is "ledger": it accepts only requests the hub signed (docs/integrity.md)
    signatures = MessageSignatureVerifier(verifier.message_key, origins=[audience.rstrip("/")])
    return GerbangAssertionMiddleware(app, verifier, signatures=signatures)
