"""The fixed choices the CLI's options offer, spelled out so ``--help`` imports no storage or crypto module.

Each tuple mirrors its owner's (``gateway.apps.AUTH_MODES`` and ``INTEGRITY_MODES``, ``idp.org.KINDS``, ``idp.clients``); a unit test
keeps them equal."""

from __future__ import annotations

APP_AUTH_MODES = ("session", "bearer", "none")
APP_INTEGRITY_MODES = ("none", "signed", "ledger")
OPD_KINDS = ("kota", "dinas", "badan", "sekretariat", "kecamatan", "kelurahan", "uptd", "puskesmas", "bagian")
GRANT_TYPES = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
)
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
PROFILES = ("fapi2",)
ID_TOKEN_ALGS = ("ES256", "PS256", "RS256", "EdDSA")
HUB_CLIENT_IDS = frozenset({"gerbang-gateway", "gerbang-console"})
