"""The words of the brokered sign-in pages (merged into ``idp.i18n.TEXT``)."""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "id": {
        "broker.sign_in_with": "Masuk dengan",
        "broker.or": "atau masuk dengan",
        "broker.unknown": "Penyedia identitas ini tidak dikenal.",
        "broker.unavailable": "Layanan identitas sedang tidak dapat dihubungi. Silakan masuk dengan kata sandi "
        "Anda atau coba lagi nanti.",
        "broker.refused": "Jawaban dari layanan identitas tidak dapat diterima. Silakan masuk dengan kata sandi "
        "Anda atau coba lagi.",
        "broker.cancelled": "Masuk melalui layanan identitas dibatalkan.",
        "broker.refused_account": "Akun ini tidak dapat masuk melalui layanan identitas tersebut.",
        "broker.other_identity": "Akun Gerbang yang cocok sudah ditautkan ke identitas lain dari layanan ini.",
        "broker.taken": "Email atau NIK dari layanan identitas sudah dipakai akun lain yang belum terbukti "
        "milik Anda. Masuk dengan kata sandi akun tersebut.",
        "broker.no_email": "Layanan identitas tidak memberikan alamat email; akun tidak dapat dibuat.",
        "broker.proof_failed": "Kata sandi salah; akun belum ditautkan.",
        "broker.confirm_title": "Konfirmasi akun",
        "broker.create_heading": "Buat akun Gerbang dari identitas Anda di",
        "broker.create_body": "Data berikut akan disimpan di akun Gerbang Anda:",
        "broker.create_submit": "Buat akun dan masuk",
        "broker.link_heading": "Tautkan akun Gerbang yang sudah ada dengan",
        "broker.link_body": "Sudah ada akun Gerbang dengan identitas yang sama:",
        "broker.link_proof": "Masukkan kata sandi akun Gerbang tersebut (atau gunakan passkey-nya) sekali untuk "
        "membuktikan bahwa akun itu milik Anda.",
        "broker.link_authoritative": "Pemerintah Kota menetapkan layanan ini sebagai sumber resmi identitas "
        "tersebut; akun akan langsung ditautkan.",
        "broker.link_submit": "Tautkan dan masuk",
        "broker.link_passkey": "Buktikan dengan passkey akun itu",
        "broker.cancel": "Batal",
        "broker.field_name": "Nama",
        "broker.field_email": "Email",
        "broker.field_nik": "NIK",
        "broker.field_nip": "NIP",
        "broker.email_unverified": "(belum terverifikasi)",
        "identities.heading": "Identitas tertaut",
        "identities.none": "Belum ada identitas tertaut.",
        "identities.unlink": "Lepaskan",
        "identities.since": "sejak",
        "account.identity_unlinked": "Identitas dilepaskan.",
        "account.identity_kept": "Identitas tidak dapat dilepaskan: ini satu-satunya cara masuk ke akun Anda.",
    },
    "en": {
        "broker.sign_in_with": "Sign in with",
        "broker.or": "or sign in with",
        "broker.unknown": "This identity provider is not known.",
        "broker.unavailable": "The identity service cannot be reached right now. Sign in with your password or "
        "try again later.",
        "broker.refused": "The identity service's answer could not be accepted. Sign in with your password or "
        "try again.",
        "broker.cancelled": "Signing in through the identity service was cancelled.",
        "broker.refused_account": "This account cannot sign in through that identity service.",
        "broker.other_identity": "The matching Gerbang account is already linked to another identity there.",
        "broker.taken": "The email or NIK from the identity service belongs to another account not yet proven "
        "yours. Sign in with that account's password.",
        "broker.no_email": "The identity service gave no email address; no account can be created.",
        "broker.proof_failed": "Wrong password; the account was not linked.",
        "broker.confirm_title": "Confirm your account",
        "broker.create_heading": "Create a Gerbang account from your identity at",
        "broker.create_body": "This will be stored in your Gerbang account:",
        "broker.create_submit": "Create account and sign in",
        "broker.link_heading": "Link your existing Gerbang account with",
        "broker.link_body": "A Gerbang account with the same identity exists:",
        "broker.link_proof": "Enter that Gerbang account's password (or use its passkey) once to prove it is yours.",
        "broker.link_authoritative": "The city names this service the official source of that identity; the "
        "account is linked at once.",
        "broker.link_submit": "Link and sign in",
        "broker.link_passkey": "Prove it with that account's passkey",
        "broker.cancel": "Cancel",
        "broker.field_name": "Name",
        "broker.field_email": "Email",
        "broker.field_nik": "NIK",
        "broker.field_nip": "NIP",
        "broker.email_unverified": "(not verified)",
        "identities.heading": "Linked identities",
        "identities.none": "No linked identities yet.",
        "identities.unlink": "Unlink",
        "identities.since": "since",
        "account.identity_unlinked": "Identity unlinked.",
        "account.identity_kept": "This identity cannot be unlinked: it is the only way into your account.",
    },
}
