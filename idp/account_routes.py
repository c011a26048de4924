"""The routes of citizen self-service: sign-up, email verification, password reset, second factors, /account."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from idp.endpoints.account import (
    account_page,
    app_withdraw,
    consent_revoke,
    password_submit,
    profile_submit,
    session_end,
    sessions_end_all,
)
from idp.endpoints.account_data import data_download, data_page, delete_submit, privacy_page
from idp.endpoints.account_email import email_change_submit, email_confirm_page, email_confirm_submit
from idp.endpoints.account_mfa import (
    recovery_codes_download,
    recovery_codes_renew,
    totp_disable,
    totp_page,
    totp_submit,
)
from idp.endpoints.account_undo import undo_page, undo_submit
from idp.endpoints.mfa import mfa_page, mfa_submit, step_up_page
from idp.endpoints.passkeys import register_finish, register_options, remove, sign_in_finish, sign_in_options
from idp.endpoints.recovery import reset_confirm_page, reset_confirm_submit, reset_page, reset_submit
from idp.endpoints.register import register_page, register_submit, verify_email_page, verify_email_submit
from idp.pdp import notice


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
        Route("/auth/mfa", mfa_page, methods=["GET"]),
        Route("/auth/mfa", mfa_submit, methods=["POST"]),
        Route("/auth/mfa/step-up", step_up_page, methods=["GET"]),
        Route("/auth/passkey/options", sign_in_options, methods=["POST"]),
        Route("/auth/passkey", sign_in_finish, methods=["POST"]),
        Route("/account/passkeys/options", register_options, methods=["POST"]),
        Route("/account/passkeys", register_finish, methods=["POST"]),
        Route("/account/passkeys/delete", remove, methods=["POST"]),
        Route("/account", account_page, methods=["GET"]),
        Route("/account/profile", profile_submit, methods=["POST"]),
        Route("/account/password", password_submit, methods=["POST"]),
        Route("/account/email", email_change_submit, methods=["POST"]),
        Route("/account/email/confirm", email_confirm_page, methods=["GET"]),
        Route("/account/email/confirm", email_confirm_submit, methods=["POST"]),
        Route("/account/totp", totp_page, methods=["GET"]),
        Route("/account/totp", totp_submit, methods=["POST"]),
        Route("/account/totp/disable", totp_disable, methods=["POST"]),
        Route("/account/recovery-codes", recovery_codes_renew, methods=["POST"]),
        Route("/account/recovery-codes/download", recovery_codes_download, methods=["POST"]),
        Route("/account/consents/revoke", consent_revoke, methods=["POST"]),
        Route("/account/apps/withdraw", app_withdraw, methods=["POST"]),
        Route("/account/sessions/end", session_end, methods=["POST"]),
        Route("/account/sessions/end-all", sessions_end_all, methods=["POST"]),
        # UU PDP data rights (idp.pdp)
        Route("/account/privacy", privacy_page, methods=["GET"]),
        Route("/account/data", data_page, methods=["GET"]),
        Route("/account/data.json", data_download, methods=["GET"]),
        Route("/account/delete", delete_submit, methods=["POST"]),
        Route("/auth/privacy", notice.privacy_page, methods=["GET"]),
        Route("/auth/privacy", notice.privacy_submit, methods=["POST"]),
        Route("/account/undo", undo_page, methods=["GET"]),
        Route("/account/undo", undo_submit, methods=["POST"]),
    ]
