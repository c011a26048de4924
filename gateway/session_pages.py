"""The few pages the gateway itself shows on an app's host (Bahasa Indonesia first, English with ``?lang=en``)."""

from __future__ import annotations

from html import escape

STEP_UP_UNAVAILABLE = (
    '<!doctype html><html lang="id"><head><meta charset="utf-8"><title>Verifikasi dua langkah diperlukan</title>'
    "</head><body><h1>Layanan ini memerlukan verifikasi dua langkah</h1>"
    '<p>Aktifkan aplikasi autentikator (TOTP) atau passkey di <a href="{hub}/account">halaman akun Anda</a>, '
    'lalu buka layanan ini lagi.</p><p lang="en">This service needs a second factor: enrol one on your '
    '<a href="{hub}/account">account page</a>, then open it again.</p></body></html>'
)

_LOGOUT = {
    False: (
        "id",
        "Keluar dari Gerbang",
        "Keluar dari layanan ini dan dari semua layanan kota?",
        "Ya, keluar",
        "Permintaan keluar kedaluwarsa. Silakan tekan tombol sekali lagi.",
    ),
    True: (
        "en",
        "Sign out of Gerbang",
        "Sign out of this service and of every city service?",
        "Yes, sign out",
        "The sign-out request expired. Please press the button once more.",
    ),
}


def logout_page(token: str, english: bool, *, retry: bool = False) -> str:
    lang, title, question, button, again = _LOGOUT[english]
    note = f"<p>{again}</p>" if retry else ""
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="referrer" content="no-referrer"></head><body><h1>{title}</h1>{note}<p>{question}</p>'
        f'<form method="post" action="/.gerbang/logout"><input type="hidden" name="token" '
        f'value="{escape(token)}"><button type="submit">{button}</button></form></body></html>'
    )
