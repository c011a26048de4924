"""Outgoing email: SMTP when ``smtp_url`` is set, else one RFC 5322 file per message in ``mail_outbox``.

The file outbox is for the demo and tests (they read the raw message back). SMTP runs smtplib in a
worker thread so a slow mail server never blocks the event loop.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import anyio

log = logging.getLogger("gerbang.mail")


class MailNotConfigured(RuntimeError):
    """Neither an SMTP server nor a file outbox is configured."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://[user:pass@]host[:port][?starttls=1]`` or ``smtps://...`` (implicit TLS, port 465)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("smtp_url must look like smtp://host:port or smtps://user:password@host:465")
    implicit = parts.scheme == "smtps"
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 25),
        implicit_tls=implicit,
        starttls="starttls=1" in parts.query or "starttls=true" in parts.query,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def build_message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain="gerbang.local")
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    message.set_content(body)
    return message


class Mailer:
    def __init__(self, sender: str, smtp_url: str = "", outbox: Path | None = None, timeout: float = 10.0) -> None:
        self.sender = sender
        self._smtp = parse_smtp_url(smtp_url) if smtp_url else None
        self._outbox = outbox
        self._timeout = timeout

    async def send(self, to: str, subject: str, body: str) -> None:
        message = build_message(self.sender, to, subject, body)
        if self._smtp is not None:
            await anyio.to_thread.run_sync(self._deliver_smtp, message)
        elif self._outbox is not None:
            await anyio.to_thread.run_sync(self._write_outbox, message)
        else:
            raise MailNotConfigured("set GERBANG_SMTP_URL or GERBANG_MAIL_OUTBOX")

    def _write_outbox(self, message: EmailMessage) -> None:
        assert self._outbox is not None
        self._outbox.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.eml"
        temporary = self._outbox / f".{name}.tmp"
        temporary.write_bytes(message.as_bytes())
        os.replace(temporary, self._outbox / name)  # readers never see a half-written message

    def _deliver_smtp(self, message: EmailMessage) -> None:
        target = self._smtp
        assert target is not None
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if target.implicit_tls:
            client = smtplib.SMTP_SSL(target.host, target.port, timeout=self._timeout, context=context)
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=self._timeout)
        with client:
            if target.starttls:
                client.starttls(context=context)
            if target.username:
                client.login(target.username, target.password or "")
            client.send_message(message)
        log.info("mail sent to %s via %s", message["To"], target.host)
