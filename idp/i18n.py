"""User-facing text: Bahasa Indonesia first, English on request (``?lang=en``, remembered; ``ui_locales``).

The browser's Accept-Language is deliberately not used: the city's pages speak Indonesian unless
the person (or the app, with ``ui_locales``) asks otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from idp.pdp.text import PDP_TEXT
from idp.federation.text import TEXT as BROKER_TEXT

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
        "title.device": "Hubungkan perangkat", "device.heading": "Masukkan kode dari layar perangkat",
        "device.explain": "Kode terdiri dari 8 huruf, misalnya BCDF-GHJK. Huruf besar atau kecil sama saja.",
        "device.code": "Kode perangkat", "device.submit": "Lanjutkan", "device.code_is": "Kode perangkat:",
        "device.unknown": "Kode tidak dikenal atau sudah kedaluwarsa. Periksa kembali kode di layar.",
        "device.throttled": "Terlalu banyak percobaan kode. Tunggu sebentar lalu coba lagi.",
        "device.done_allowed": "Perangkat sudah terhubung", "device.done_denied": "Permintaan ditolak",
        "device.back_to_screen": "Silakan kembali ke layar perangkat:",
        "scope.openid": "Identitas Anda di Gerbang", "scope.profile": "Nama dan profil",
        "scope.email": "Alamat email", "scope.opd": "Unit kerja (OPD) dan peran Anda",
        "scope.nik": "Nomor Induk Kependudukan (NIK)", "scope.nip": "Nomor Induk Pegawai (NIP)",
        "error.heading": "Permintaan tidak dapat diproses",
        "error.back": "Kembali ke aplikasi asal dan coba lagi.",
        "error.expired": "Sesi masuk sudah kedaluwarsa. Silakan mulai lagi dari aplikasi asal.",
        "error.csrf": "Formulir sudah kedaluwarsa atau tidak sah. Muat ulang halaman dan coba lagi.",
        "error.unavailable": "Layanan sedang tidak tersedia. Silakan coba beberapa saat lagi.",
        "logout.question": "Keluar dari semua layanan Kota Palembang?", "logout.submit": "Ya, keluar",
        "logged_out.body": "Anda telah keluar dari semua layanan.",
        "account.signed_in_as": "Masuk sebagai", "account.logout": "Keluar",
        "title.register": "Daftar akun", "register.heading": "Buat akun Gerbang",
        "register.name": "Nama lengkap", "register.email": "Alamat email",
        "register.nik": "NIK (opsional, 16 digit sesuai KTP)", "register.submit": "Daftar",
        "register.have_account": "Sudah punya akun? Masuk", "register.link": "Belum punya akun? Daftar",
        "register.name_invalid": "Isi nama lengkap Anda.", "register.email_invalid": "Alamat email tidak valid.",
        "register.nik_invalid": "NIK tidak valid: harus 16 digit dengan kode wilayah dan tanggal lahir yang benar.",
        "register.sent_heading": "Periksa email Anda",
        "register.sent_body": "Kami telah mengirim email ke alamat yang Anda masukkan. Buka tautan di dalamnya untuk melanjutkan.",
        "password.too_short": "Kata sandi minimal 8 karakter.", "password.too_long": "Kata sandi maksimal 128 karakter.",
        "password.common": "Kata sandi ini terlalu umum dan mudah ditebak. Pilih yang lain.",
        "password.personal": "Jangan memakai nama atau alamat email Anda sebagai kata sandi.",
        "password.mismatch": "Kedua kata sandi tidak sama.", "password.confirm": "Ulangi kata sandi",
        "password.new": "Kata sandi baru", "password.current": "Kata sandi saat ini",
        "password.current_wrong": "Kata sandi saat ini salah.",
        "password.hint": "Minimal 8 karakter. Frasa panjang yang mudah Anda ingat lebih aman daripada kata pendek yang rumit.",
        "link.invalid": "Tautan ini tidak sah, sudah kedaluwarsa, atau sudah pernah dipakai. Minta tautan baru.",
        "verify.heading": "Konfirmasi alamat email", "verify.submit": "Konfirmasi email saya",
        "verify.done_heading": "Email terkonfirmasi", "verify.done_body": "Alamat email Anda sudah terkonfirmasi. Silakan masuk.",
        "title.reset": "Lupa kata sandi", "reset.heading": "Atur ulang kata sandi", "reset.submit": "Kirim tautan",
        "reset.link": "Lupa kata sandi?", "reset.sent_heading": "Periksa email Anda",
        "reset.sent_body": "Jika ada akun dengan alamat tersebut, kami telah mengirimkan tautan untuk mengatur ulang kata sandi.",
        "reset.choose_heading": "Pilih kata sandi baru", "reset.choose_submit": "Simpan kata sandi baru",
        "reset.done_heading": "Kata sandi diganti",
        "reset.done_body": "Kata sandi Anda sudah diganti dan semua sesi telah dikeluarkan. Silakan masuk dengan kata sandi baru.",
        "title.mfa": "Verifikasi dua langkah", "mfa.heading": "Masukkan kode verifikasi",
        "mfa.totp_label": "Kode 6 digit dari aplikasi autentikator", "mfa.submit": "Verifikasi",
        "mfa.failed": "Kode salah atau sudah dipakai.", "mfa.use_recovery": "Pakai kode pemulihan",
        "mfa.recovery_label": "Kode pemulihan", "mfa.recovery_heading": "Masukkan kode pemulihan",
        "mfa.use_passkey": "Pakai passkey",
        "totp.heading": "Aktifkan aplikasi autentikator",
        "totp.scan": "Pindai kode QR ini dengan aplikasi autentikator (mis. Google Authenticator, Aegis), atau masukkan kunci ini:",
        "totp.confirm": "Masukkan kode 6 digit yang ditampilkan aplikasi untuk mengaktifkan.", "totp.enable": "Aktifkan",
        "totp.enabled_heading": "Verifikasi dua langkah aktif",
        "totp.codes_intro": "Simpan kode pemulihan ini di tempat aman. Setiap kode hanya bisa dipakai sekali jika ponsel Anda hilang. Kode ini tidak akan ditampilkan lagi.",
        "totp.disable": "Nonaktifkan autentikator", "totp.regenerate": "Buat kode pemulihan baru",
        "account.profile": "Profil", "account.name": "Nama", "account.email": "Email", "account.nik": "NIK",
        "account.save": "Simpan", "account.saved": "Perubahan disimpan.",
        "account.password": "Ganti kata sandi", "account.password_changed": "Kata sandi diganti. Sesi lain telah dikeluarkan.",
        "account.security": "Keamanan", "account.totp_on": "Aplikasi autentikator: aktif",
        "account.totp_off": "Aplikasi autentikator: belum aktif", "account.totp_setup": "Aktifkan",
        "account.recovery_left": "Kode pemulihan tersisa", "account.apps": "Aplikasi terhubung",
        "account.no_apps": "Belum ada aplikasi yang terhubung.", "account.revoke": "Cabut akses",
        "account.granted": "Diizinkan", "account.sessions": "Sesi aktif", "account.device": "Perangkat",
        "account.ip": "Alamat IP", "account.last_seen": "Terakhir aktif", "account.this_session": "sesi ini",
        "account.end": "Akhiri", "account.end_all": "Keluar dari semua perangkat", "account.email_verified": "terkonfirmasi",
        "account.email_unverified": "belum terkonfirmasi", "account.resend": "Kirim ulang email konfirmasi",
        "account.level": "Tingkat masuk",
        "account.email_change": "Ganti email", "account.new_email": "Alamat email baru",
        "account.email_sent": "Kami telah mengirim tautan konfirmasi ke alamat baru. Alamat lama tetap berlaku sampai dikonfirmasi.",
        "account.history": "Riwayat akses", "account.history_intro": "Aplikasi Kota Palembang yang menerima identitas Anda.",
        "account.history_none": "Belum ada aplikasi yang menerima identitas Anda.", "account.when": "Waktu",
        "account.app": "Aplikasi", "account.opd": "Dikelola oleh", "account.data": "Data", "account.revoked": "dicabut",
        "account.via": "Melalui", "account.via_token": "token aplikasi", "account.via_gateway": "gateway",
        "account.data_assertion": "identitas (nama, OPD, peran, tingkat masuk)",
        "passkey.heading": "Passkey", "passkey.none": "Belum ada passkey.", "passkey.add": "Tambah passkey",
        "passkey.name": "Nama perangkat (mis. Ponsel saya)", "passkey.remove": "Hapus",
        "passkey.added": "Passkey ditambahkan.", "passkey.failed": "Passkey tidak dapat dipakai. Coba lagi.",
        "passkey.sign_in": "Masuk dengan passkey",
        "login.wait_before": "Coba lagi dalam", "login.wait_after": "menit, atau masuk dari perangkat yang pernah "
                                                                   "Anda pakai untuk masuk.",
        "login.reauth": "Demi keamanan, masuk sekali lagi sebelum mengubah cara masuk ke akun Anda.",
        "undo.heading": "Bukan saya yang melakukannya",
        "undo.question": "Semua sesi dan aplikasi yang terhubung ke akun Anda akan dikeluarkan, dan perubahan itu "
                         "dibatalkan bila masih bisa.",
        "undo.submit": "Keluarkan semua sesi", "undo.done_heading": "Akun Anda diamankan",
        "undo.done_body": "Semua sesi dan aplikasi telah dikeluarkan. Atur ulang kata sandi Anda sekarang lewat "
                          "\"Lupa kata sandi\" di halaman masuk.",
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
        "title.device": "Connect a device", "device.heading": "Enter the code shown on the device",
        "device.explain": "The code has 8 letters, for example BCDF-GHJK. Upper or lower case does not matter.",
        "device.code": "Device code", "device.submit": "Continue", "device.code_is": "Device code:",
        "device.unknown": "Unknown or expired code. Check the code on the screen again.",
        "device.throttled": "Too many code attempts. Wait a moment and try again.",
        "device.done_allowed": "The device is connected", "device.done_denied": "The request was denied",
        "device.back_to_screen": "Go back to the device's screen:",
        "scope.openid": "Your Gerbang identity", "scope.profile": "Name and profile",
        "scope.email": "Email address", "scope.opd": "Your work unit (OPD) and roles",
        "scope.nik": "National identity number (NIK)", "scope.nip": "Civil servant number (NIP)",
        "error.heading": "The request cannot be processed",
        "error.back": "Go back to the application and try again.",
        "error.expired": "The sign-in has expired. Please start again from the application.",
        "error.csrf": "The form has expired or is not valid. Reload the page and try again.",
        "error.unavailable": "The service is temporarily unavailable. Please try again shortly.",
        "logout.question": "Sign out of all Palembang city services?", "logout.submit": "Yes, sign out",
        "logged_out.body": "You have been signed out of all services.",
        "account.signed_in_as": "Signed in as", "account.logout": "Sign out",
        "title.register": "Create an account", "register.heading": "Create a Gerbang account",
        "register.name": "Full name", "register.email": "Email address",
        "register.nik": "NIK (optional, 16 digits as on your identity card)", "register.submit": "Sign up",
        "register.have_account": "Already have an account? Sign in", "register.link": "No account yet? Sign up",
        "register.name_invalid": "Enter your full name.", "register.email_invalid": "The email address is not valid.",
        "register.nik_invalid": "The NIK is not valid: 16 digits with a real region code and birth date.",
        "register.sent_heading": "Check your email",
        "register.sent_body": "We have sent an email to the address you entered. Open the link in it to continue.",
        "password.too_short": "The password must have at least 8 characters.",
        "password.too_long": "The password must have at most 128 characters.",
        "password.common": "This password is too common and easy to guess. Choose another one.",
        "password.personal": "Do not use your name or email address as your password.",
        "password.mismatch": "The two passwords differ.", "password.confirm": "Repeat the password",
        "password.new": "New password", "password.current": "Current password",
        "password.current_wrong": "The current password is wrong.",
        "password.hint": "At least 8 characters. A long phrase you remember is safer than a short complicated word.",
        "link.invalid": "This link is not valid, has expired, or was already used. Ask for a new one.",
        "verify.heading": "Confirm your email address", "verify.submit": "Confirm my email",
        "verify.done_heading": "Email confirmed", "verify.done_body": "Your email address is confirmed. Please sign in.",
        "title.reset": "Forgot password", "reset.heading": "Reset your password", "reset.submit": "Send link",
        "reset.link": "Forgot your password?", "reset.sent_heading": "Check your email",
        "reset.sent_body": "If an account exists for that address, we have sent it a link to reset the password.",
        "reset.choose_heading": "Choose a new password", "reset.choose_submit": "Save the new password",
        "reset.done_heading": "Password changed",
        "reset.done_body": "Your password was changed and every session was signed out. Sign in with the new password.",
        "title.mfa": "Two-step verification", "mfa.heading": "Enter your verification code",
        "mfa.totp_label": "6-digit code from your authenticator app", "mfa.submit": "Verify",
        "mfa.failed": "Wrong or already used code.", "mfa.use_recovery": "Use a recovery code",
        "mfa.recovery_label": "Recovery code", "mfa.recovery_heading": "Enter a recovery code",
        "mfa.use_passkey": "Use a passkey",
        "totp.heading": "Turn on an authenticator app",
        "totp.scan": "Scan this QR code with an authenticator app (e.g. Google Authenticator, Aegis), or enter this key:",
        "totp.confirm": "Enter the 6-digit code the app shows to turn it on.", "totp.enable": "Turn on",
        "totp.enabled_heading": "Two-step verification is on",
        "totp.codes_intro": "Keep these recovery codes somewhere safe. Each works once if you lose your phone. They will not be shown again.",
        "totp.disable": "Turn off the authenticator", "totp.regenerate": "Make new recovery codes",
        "account.profile": "Profile", "account.name": "Name", "account.email": "Email", "account.nik": "NIK",
        "account.save": "Save", "account.saved": "Changes saved.",
        "account.password": "Change password", "account.password_changed": "Password changed. Other sessions were signed out.",
        "account.security": "Security", "account.totp_on": "Authenticator app: on",
        "account.totp_off": "Authenticator app: off", "account.totp_setup": "Turn on",
        "account.recovery_left": "Recovery codes left", "account.apps": "Connected apps",
        "account.no_apps": "No connected apps yet.", "account.revoke": "Revoke access",
        "account.granted": "Allowed", "account.sessions": "Active sessions", "account.device": "Device",
        "account.ip": "IP address", "account.last_seen": "Last active", "account.this_session": "this session",
        "account.end": "End", "account.end_all": "Sign out everywhere", "account.email_verified": "confirmed",
        "account.email_unverified": "not confirmed", "account.resend": "Resend the confirmation email",
        "account.level": "Sign-in level",
        "account.email_change": "Change email", "account.new_email": "New email address",
        "account.email_sent": "We sent a confirmation link to the new address. The old address stays in use until it is confirmed.",
        "account.history": "Access history", "account.history_intro": "Palembang city apps that received your identity.",
        "account.history_none": "No app has received your identity yet.", "account.when": "When",
        "account.app": "App", "account.opd": "Run by", "account.data": "Data", "account.revoked": "revoked",
        "account.via": "Via", "account.via_token": "app token", "account.via_gateway": "gateway",
        "account.data_assertion": "identity (name, OPD, roles, sign-in level)",
        "passkey.heading": "Passkeys", "passkey.none": "No passkeys yet.", "passkey.add": "Add a passkey",
        "passkey.name": "Device name (e.g. My phone)", "passkey.remove": "Remove",
        "passkey.added": "Passkey added.", "passkey.failed": "The passkey could not be used. Try again.",
        "passkey.sign_in": "Sign in with a passkey",
        "login.wait_before": "Try again in", "login.wait_after": "minute(s), or sign in from a device you have "
                                                                 "signed in with before.",
        "login.reauth": "For your security, sign in once more before changing how you sign in to your account.",
        "undo.heading": "I did not do this",
        "undo.question": "Every session and connected app of your account will be signed out, and the change "
                         "undone where it still can be.",
        "undo.submit": "Sign out every session", "undo.done_heading": "Your account is secured",
        "undo.done_body": "Every session and app was signed out. Reset your password now with \"Forgot password\" "
                          "on the sign-in page.",
        "lang.switch": "Bahasa Indonesia",
    },
}
TEXT["id"].update(PDP_TEXT["id"])  # the data-rights pages (idp.pdp.text)
TEXT["en"].update(PDP_TEXT["en"])
for _locale, _words in BROKER_TEXT.items():  # the brokered sign-in pages keep their words apart
    TEXT[_locale].update(_words)


def pick_locale(request: Request, default: str = "id", ui_locales: str | None = None) -> str:
    candidates = [request.query_params.get("lang"), *(ui_locales or "").split(), request.cookies.get("gerbang_lang")]
    for candidate in candidates:
        if candidate and candidate[:2] in LOCALES:
            return candidate[:2]
    return default


def translator(locale: str, text: dict[str, dict[str, str]] = TEXT) -> Callable[[str], str]:
    """``key → words`` in ``locale``, falling back to Indonesian, then to the key itself (other tables too:
    the console keeps its own, ``gateway.admin.console_text``)."""
    table = text[locale]
    return lambda key: table.get(key, text["id"].get(key, key))


def remember_choice(request: Request, response: Response, secure: bool) -> None:
    """A ``?lang=`` choice sticks: the ``gerbang_lang`` cookie (a year, every path) remembers it."""
    chosen = request.query_params.get("lang")
    if chosen in LOCALES and request.cookies.get("gerbang_lang") != chosen:
        response.set_cookie("gerbang_lang", chosen, samesite="lax", secure=secure, path="/", max_age=365 * 86400)
