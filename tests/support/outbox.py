"""Reading the provider's file outbox: one raw RFC 5322 message per file."""

from __future__ import annotations

import email
import re
import time
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from urllib.parse import urlsplit


def read_outbox(outbox: Path) -> list[EmailMessage]:
    if not outbox.exists():
        return []
    files = sorted(outbox.glob("*.eml"), key=lambda path: path.stat().st_mtime_ns)
    return [email.message_from_bytes(path.read_bytes(), policy=default) for path in files]  # type: ignore[misc]


def messages_to(outbox: Path, address: str) -> list[EmailMessage]:
    return [m for m in read_outbox(outbox) if m["To"] == address]


def wait_for_messages(outbox: Path, address: str, count: int, seconds: float = 10) -> list[EmailMessage]:
    """Messages to ``address`` once ``count`` have arrived (some are sent after the HTTP answer)."""
    deadline = time.monotonic() + seconds
    while len(found := messages_to(outbox, address)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content().replace("\r\n", "\n")  # RFC 5322 files end lines with CRLF


def link_in(message: EmailMessage, path: str) -> str:
    """The first link to ``path`` in the message, as a path with query (for the test client)."""
    match = re.search(r"https?://\S+" + re.escape(path) + r"\S*", body_of(message))
    assert match, f"no {path} link in the message"
    parts = urlsplit(match.group(0))
    return f"{parts.path}?{parts.query}"
