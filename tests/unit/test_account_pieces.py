"""Pure pieces of citizen accounts: links, password policy, TOTP steps, sealing, recovery codes, logout claims."""

from __future__ import annotations

import pyotp
import pytest

from idp.backchannel import EVENT, build_logout_claims
from idp.links import LinkInvalid, LinkSigner
from idp.mail import build_message, parse_smtp_url
from idp.password_policy import PasswordRejected, check_new_password, load_common_passwords
from idp.recovery_codes import RecoveryCodes
from idp.storage.models import BrowserSession
from idp.totp import SecretBox, match_step

SECRET = b"s" * 40


def test_link_round_trip_and_refusals() -> None:
    signer = LinkSigner(SECRET)
    token = signer.build("reset-password", "user-1", "1700000000", expires_at=2_000)
    claims = signer.check(token, "reset-password", now=1_999)
    assert (claims.user_id, claims.binding, claims.expires_at) == ("user-1", "1700000000", 2_000)
    with pytest.raises(LinkInvalid):
        signer.check(token, "reset-password", now=2_000)  # expired at exactly exp
    with pytest.raises(LinkInvalid):
        signer.check(token, "verify-email", now=1_000)  # another purpose
    with pytest.raises(LinkInvalid):
        LinkSigner(b"o" * 40).check(token, "reset-password", now=1_000)  # another key
    payload, mac = token.split(".")
    for broken in ("", "a.b.c", f"{payload}x.{mac}", f"{payload}.{mac[:-1]}", "!!!.???", "x" * 700):
        with pytest.raises(LinkInvalid):
            signer.check(broken, "reset-password", now=1_000)
    assert signer.build("verify-email", "u", "a@b.id", 5) != signer.build("verify-email", "u", "a@b.id", 5)


@pytest.mark.parametrize(
    ("password", "key"),
    [
        ("short", "password.too_short"),
        ("x" * 129, "password.too_long"),
        ("password1", "password.common"),
        ("PALEMBANG123", "password.common"),
        ("rina@example.id", "password.personal"),
        ("rinawarga", "password.personal"),
    ],
)
def test_password_policy_refusals(password: str, key: str) -> None:
    with pytest.raises(PasswordRejected) as caught:
        check_new_password(password, email="rina@example.id", name="Rina Warga")
    assert caught.value.key == key


def test_password_policy_accepts_a_long_phrase_and_ships_its_list() -> None:
    check_new_password("jembatan ampera di waktu senja", email="rina@example.id", name="Rina")
    common = load_common_passwords()
    assert 5_000 < len(common) <= 10_000 and all(len(word) >= 8 for word in common)


def test_totp_step_matching_within_the_drift_window() -> None:
    secret = pyotp.random_base32()
    now = 1_800_000_015
    totp = pyotp.TOTP(secret)
    assert match_step(secret, totp.at(now), now) == now // 30
    assert match_step(secret, totp.at(now - 30), now) == now // 30 - 1
    assert match_step(secret, totp.at(now + 30), now) == now // 30 + 1
    assert match_step(secret, totp.at(now - 60), now) is None
    assert match_step(secret, " ".join(totp.at(now)[i : i + 3] for i in (0, 3)), now) == now // 30
    for bad in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦"):
        assert match_step(secret, bad, now) is None


def test_secret_box_binds_to_the_user() -> None:
    box = SecretBox(SECRET)
    sealed = box.seal("JBSWY3DPEHPK3PXP", "user-1")
    assert "JBSWY3DPEHPK3PXP" not in sealed and box.open(sealed, "user-1") == "JBSWY3DPEHPK3PXP"
    assert box.open(sealed, "user-2") is None  # copied to another account's row: useless
    assert SecretBox(b"o" * 40).open(sealed, "user-1") is None
    assert box.open("plain", "user-1") is None


def test_recovery_code_digests_ignore_formatting_only() -> None:
    codes = RecoveryCodes(SECRET)
    assert codes.digest("abcde-fghjk") == codes.digest(" ABCDE FGHJK ") == codes.digest("abcdefghjk")
    assert codes.digest("abcde-fghjk") != codes.digest("abcde-fghjm")
    assert codes.digest("abcde-fghjk") != RecoveryCodes(b"o" * 40).digest("abcde-fghjk")


def test_logout_token_claims() -> None:
    row = BrowserSession(sid="sid-1", user_id="user-1")
    claims = build_logout_claims("https://sso.palembang.go.id", "client-1", row, now=1_000)
    assert claims["events"] == {EVENT: {}} and "nonce" not in claims
    assert (claims["aud"], claims["sub"], claims["sid"], claims["iat"]) == ("client-1", "user-1", "sid-1", 1_000)
    assert claims["exp"] == 1_120 and len(str(claims["jti"])) == 32


def test_mail_message_and_smtp_url() -> None:
    message = build_message("Gerbang <no-reply@palembang.go.id>", "rina@example.id", "Halo / Hello", "Isi\n")
    raw = message.as_bytes()
    assert b"\r\n" in raw and b"Auto-Submitted: auto-generated" in raw and b"Message-ID: <" in raw
    target = parse_smtp_url("smtps://user%40kota:p%40ss@mail.palembang.go.id")
    assert (target.host, target.port, target.implicit_tls, target.username, target.password) == (
        "mail.palembang.go.id",
        465,
        True,
        "user@kota",
        "p@ss",
    )
    plain = parse_smtp_url("smtp://127.0.0.1:2525?starttls=1")
    assert (plain.port, plain.starttls, plain.implicit_tls, plain.username) == (2525, True, False, None)
    with pytest.raises(ValueError):
        parse_smtp_url("http://mail.example.id")
