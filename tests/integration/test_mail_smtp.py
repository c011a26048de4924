"""Mail through a real SMTP conversation on loopback, and the file outbox, from the provider's Mailer."""

from __future__ import annotations

import email
from email.policy import default
from pathlib import Path

import pytest

from idp.mail import Mailer, MailNotConfigured
from tests.support.outbox import body_of, read_outbox
from tests.support.smtp_sink import run_smtp_sink

SENDER = "Gerbang <no-reply@palembang.go.id>"


async def test_mail_goes_through_smtp_when_configured() -> None:
    with run_smtp_sink() as sink:
        mailer = Mailer(SENDER, smtp_url=f"smtp://127.0.0.1:{sink.port}", outbox=None, timeout=5)
        await mailer.send("rina@example.id", "Konfirmasi / Confirm", "Halo Rina\n.\nbaris bertitik\n")
    [received] = sink.messages
    assert received.sender == "no-reply@palembang.go.id" and received.recipients == ["rina@example.id"]
    message = email.message_from_bytes(received.data, policy=default)
    assert message["Subject"] == "Konfirmasi / Confirm"
    assert "Halo Rina\n.\nbaris bertitik" in body_of(message)  # type: ignore[arg-type]


async def test_mail_goes_to_the_outbox_otherwise(tmp_path: Path) -> None:
    mailer = Mailer(SENDER, outbox=tmp_path / "outbox")
    await mailer.send("rina@example.id", "Halo", "Isi pesan\n")
    [message] = read_outbox(tmp_path / "outbox")
    assert message["To"] == "rina@example.id" and body_of(message) == "Isi pesan\n"
    assert not list((tmp_path / "outbox").glob(".*.tmp"))


async def test_mail_without_a_destination_is_an_error() -> None:
    with pytest.raises(MailNotConfigured):
        await Mailer(SENDER).send("rina@example.id", "Halo", "Isi\n")
