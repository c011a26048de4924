"""The routes of citizen self-service: sign-up, email verification, password reset, second factors, /account."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from idp.endpoints.recovery import reset_confirm_page, reset_confirm_submit, reset_page, reset_submit
from idp.endpoints.register import register_page, register_submit, verify_email_page, verify_email_submit


def build_account_routes() -> list[BaseRoute]:
    return [
        Route("/auth/register", register_page, methods=["GET"]),
        Route("/auth/register", register_submit, methods=["POST"]),
        Route("/auth/verify-email", verify_email_page, methods=["GET"]),
        Route("/auth/verify-email", verify_email_submit, methods=["POST"]),
        Route("/auth/reset", reset_page, methods=["GET"]),
        Route("/auth/reset", reset_submit, methods=["POST"]),
        Route("/auth/reset/confirm", reset_confirm_page, methods=["GET"]),
        Route("/auth/reset/confirm", reset_confirm_submit, methods=["POST"]),
    ]
