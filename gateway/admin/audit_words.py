"""Audit actions in words, for the console's audit page (an action not listed is shown as recorded)."""

from __future__ import annotations

ACTION_WORDS: dict[str, dict[str, str]] = {
    "id": {
        "app.submit": "mengajukan aplikasi", "app.approve": "menyetujui aplikasi", "app.reject": "menolak aplikasi",
        "app.create": "mendaftarkan aplikasi", "app.update": "mengubah aplikasi", "app.remove": "menghapus aplikasi",
        "app.suspend": "menghentikan sementara aplikasi", "app.resume": "mengaktifkan kembali aplikasi",
        "client.create": "membuat klien OAuth", "client.update": "mengubah klien OAuth",
        "client.remove": "menghapus klien OAuth", "client.delete": "klien menghapus dirinya (RFC 7592)",
        "client.register": "mendaftarkan klien secara otomatis (RFC 7591)",
        "client.rotate_secret": "mengganti rahasia klien", "client.status": "mengubah status klien",
        "client.approve": "menyetujui klien", "client.suspend": "menghentikan klien", "client.resume":
            "mengaktifkan kembali klien", "client.initial_token": "menerbitkan token pendaftaran awal",
        "opd.create": "menambah unit OPD", "opd.update": "mengubah unit OPD", "opd.move": "memindahkan unit OPD",
        "opd.remove": "menghapus unit OPD",
        "user.create": "membuat akun", "user.update": "mengubah akun", "user.roles": "mengubah peran",
        "user.role_grant": "memberi peran", "user.role_revoke": "mencabut peran", "user.disable": "menonaktifkan akun",
        "user.enable": "mengaktifkan akun", "user.end_sessions": "mengakhiri semua sesi",
        "user.reset_mfa": "mengatur ulang faktor kedua",
        "keys.rotate": "merotasi kunci penanda tangan", "keys.revoke": "mencabut kunci penanda tangan",
        "audit.checkpoint": "menandatangani titik periksa audit",
        "logout.backchannel": "mengirim logout back-channel",
    },
    "en": {
        "app.submit": "submitted an app", "app.approve": "approved an app", "app.reject": "rejected an app",
        "app.create": "registered an app", "app.update": "changed an app", "app.remove": "removed an app",
        "app.suspend": "suspended an app", "app.resume": "resumed an app",
        "client.create": "created an OAuth client", "client.update": "changed an OAuth client",
        "client.remove": "removed an OAuth client", "client.delete": "a client deleted itself (RFC 7592)",
        "client.register": "registered a client automatically (RFC 7591)",
        "client.rotate_secret": "rotated a client secret", "client.status": "changed a client's status",
        "client.approve": "approved a client", "client.suspend": "suspended a client",
        "client.resume": "resumed a client", "client.initial_token": "issued an initial access token",
        "opd.create": "added an OPD unit", "opd.update": "changed an OPD unit", "opd.move": "moved an OPD unit",
        "opd.remove": "removed an OPD unit",
        "user.create": "created an account", "user.update": "changed an account", "user.roles": "changed roles",
        "user.role_grant": "granted a role", "user.role_revoke": "revoked a role", "user.disable":
            "disabled an account", "user.enable": "enabled an account", "user.end_sessions": "ended every session",
        "user.reset_mfa": "reset the second factors",
        "keys.rotate": "rotated the signing key", "keys.revoke": "revoked a signing key",
        "audit.checkpoint": "signed an audit checkpoint", "logout.backchannel": "sent a back-channel logout",
    },
}


def action_words(locale: str) -> dict[str, str]:
    return ACTION_WORDS.get(locale, ACTION_WORDS["id"])
