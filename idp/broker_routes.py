"""The routes of identity brokering (``idp.federation``): sign-in through an upstream, confirmation, logout."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from idp.endpoints.broker import broker_callback, broker_start
from idp.endpoints.broker_confirm import confirm_page, confirm_submit
from idp.endpoints.broker_logout import backchannel_logout, identity_unlink, logged_out
from idp.endpoints.broker_passkey import link_passkey_finish, link_passkey_options


def build_broker_routes() -> list[BaseRoute]:
    return [
        Route("/auth/broker/confirm", confirm_page, methods=["GET"]),
        Route("/auth/broker/confirm", confirm_submit, methods=["POST"]),
        Route("/auth/broker/logged-out", logged_out, methods=["GET"]),
        Route("/auth/broker/passkey/options", link_passkey_options, methods=["POST"]),
        Route("/auth/broker/passkey", link_passkey_finish, methods=["POST"]),
        Route("/auth/broker/{slug}/start", broker_start, methods=["GET"]),
        Route("/auth/broker/{slug}/callback", broker_callback, methods=["GET"]),
        Route("/auth/broker/{slug}/backchannel-logout", backchannel_logout, methods=["POST"]),
        Route("/account/identities/unlink", identity_unlink, methods=["POST"]),
    ]
