"""User-facing text: Bahasa Indonesia first, English on request (``?lang=en``, remembered; ``ui_locales``).

The browser's Accept-Language is deliberately not used: the city's pages speak Indonesian unless
the person (or the app, with ``ui_locales``) asks otherwise.
"""

from __future__ import annotations

from starlette.requests import Request

LOCALES = ("id", "en")

TEXT: dict[str, dict[str, str]] = {
    "id": {
        "title.login": "Masuk", "title.consent": "Izin akses", "title.error": "Terjadi kesalahan",
        "title.logout": "Keluar", "title.logged_out": "Anda sudah keluar", "title.account": "Akun saya",
        "city": "Pemerintah Kota Palembang", "brand": "Gerbang — Layanan Masuk Tunggal",
        "login.heading": "Masuk ke layanan Kota Palembang", "login.for_app": "untuk melanjutkan ke",
        "login.login": "Email atau NIK", "login.password": "Kata sandi", "login.submit": "Masuk",
        "login.failed": "Email/NIK atau kata sandi salah.",
        "login.throttled": "Terlalu banyak percobaan. Coba lagi dalam beberapa saat.",
        "consent.heading": "meminta izin untuk mengakses data Anda:", "consent.allow": "Izinkan",
        "consent.deny": "Tolak", "consent.opd": "Dikelola oleh",
        "scope.openid": "Identitas Anda di Gerbang", "scope.profile": "Nama dan profil",
        "scope.email": "Alamat email", "scope.opd": "Unit kerja (OPD) dan peran Anda",
        "error.heading": "Permintaan tidak dapat diproses",
        "error.back": "Kembali ke aplikasi asal dan coba lagi.",
        "error.expired": "Sesi masuk sudah kedaluwarsa. Silakan mulai lagi dari aplikasi asal.",
        "error.csrf": "Formulir sudah kedaluwarsa atau tidak sah. Muat ulang halaman dan coba lagi.",
        "error.unavailable": "Layanan sedang tidak tersedia. Silakan coba beberapa saat lagi.",
        "logout.question": "Keluar dari semua layanan Kota Palembang?", "logout.submit": "Ya, keluar",
        "logged_out.body": "Anda telah keluar dari semua layanan.",
        "account.signed_in_as": "Masuk sebagai", "account.logout": "Keluar",
        "lang.switch": "English",
    },
    "en": {
        "title.login": "Sign in", "title.consent": "Access permission", "title.error": "Something went wrong",
        "title.logout": "Sign out", "title.logged_out": "You are signed out", "title.account": "My account",
        "city": "City Government of Palembang", "brand": "Gerbang — Single Sign-On",
        "login.heading": "Sign in to Palembang city services", "login.for_app": "to continue to",
        "login.login": "Email or NIK", "login.password": "Password", "login.submit": "Sign in",
        "login.failed": "Wrong email/NIK or password.",
        "login.throttled": "Too many attempts. Try again in a moment.",
        "consent.heading": "asks for permission to access your data:", "consent.allow": "Allow",
        "consent.deny": "Deny", "consent.opd": "Run by",
        "scope.openid": "Your Gerbang identity", "scope.profile": "Name and profile",
        "scope.email": "Email address", "scope.opd": "Your work unit (OPD) and roles",
        "error.heading": "The request cannot be processed",
        "error.back": "Go back to the application and try again.",
        "error.expired": "The sign-in has expired. Please start again from the application.",
        "error.csrf": "The form has expired or is not valid. Reload the page and try again.",
        "error.unavailable": "The service is temporarily unavailable. Please try again shortly.",
        "logout.question": "Sign out of all Palembang city services?", "logout.submit": "Yes, sign out",
        "logged_out.body": "You have been signed out of all services.",
        "account.signed_in_as": "Signed in as", "account.logout": "Sign out",
        "lang.switch": "Bahasa Indonesia",
    },
}


def pick_locale(request: Request, default: str = "id", ui_locales: str | None = None) -> str:
    candidates = [request.query_params.get("lang"), *(ui_locales or "").split(), request.cookies.get("gerbang_lang")]
    for candidate in candidates:
        if candidate and candidate[:2] in LOCALES:
            return candidate[:2]
    return default


def translator(locale: str):  # type: ignore[no-untyped-def]
    table = TEXT[locale]
    return lambda key: table.get(key, TEXT["id"].get(key, key))
