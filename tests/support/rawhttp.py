"""HTTP/1.1 over a raw socket: for requests no well-behaved client library will send (smuggling, odd paths)."""

from __future__ import annotations

import socket
import weakref
from dataclasses import dataclass
from urllib.parse import urlsplit

# Bytes read past the end of a response: with pipelining, the next response can arrive in the same
# recv() as the end of the one before it, and must be kept for the next read_response().
_UNREAD: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name.lower():
                return value
        return None


def connect(base_url: str, timeout: float = 10) -> socket.socket:
    parts = urlsplit(base_url)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def send_raw(base_url: str, request: bytes, timeout: float = 10) -> RawResponse:
    """Send ``request`` on a fresh connection and read one response."""
    with connect(base_url, timeout) as sock:
        sock.sendall(request)
        return read_response(sock)


def read_response(sock: socket.socket) -> RawResponse:
    buffer = _UNREAD.pop(sock, b"")
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"connection closed before a response head: {buffer!r}")
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = [(k.strip().lower(), v.strip()) for k, v in (line.split(":", 1) for line in lines[1:])]
    response = RawResponse(status, headers, b"")
    length = response.header("content-length")
    if length is not None:
        while len(rest) < int(length):
            data = sock.recv(65536)
            if not data:
                break
            rest += data
        response.body, rest = rest[: int(length)], rest[int(length) :]
    elif response.header("transfer-encoding") == "chunked":
        response.body, rest = _read_chunked(sock, rest)
    else:  # delimited by the connection's close: what was read so far is the start of the body
        response.body, rest = rest, b""
    if rest:
        _UNREAD[sock] = rest
    return response


def _read_chunked(sock: socket.socket, rest: bytes) -> tuple[bytes, bytes]:
    """The body of a chunked response and what was read past its end."""
    body = b""
    while True:
        while b"\r\n" not in rest:
            rest += sock.recv(65536)
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(rest) < size + 2:
            rest += sock.recv(65536)
        if size == 0:
            return body, rest[2:]
        body += rest[:size]
        rest = rest[size + 2 :]


def is_closed(sock: socket.socket, wait: float = 2.0) -> bool:
    """Whether the server closed the connection (EOF or reset) within ``wait`` seconds."""
    if _UNREAD.get(sock):
        return False
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
