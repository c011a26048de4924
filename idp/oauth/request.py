"""Starlette → authlib request adapter (authlib ships none for starlette).

Headers are starlette's case-insensitive ``Headers``: with a plain dict,
``headers.get("Authorization")`` misses and client_secret_basic fails.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from authlib.oauth2.rfc6749.requests import OAuth2Payload, OAuth2Request


class FormPayload(OAuth2Payload):
    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._datalist[key].append(value)
        # A repeated parameter keeps its first value here; authlib checks the datalist for repeats.
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class HubRequest(OAuth2Request):
    """An OAuth2Request over already-read parameters: the query (GET) or the form body (POST)."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str], params: Iterable[tuple[str, str]]) -> None:
        # Not calling OAuth2Request.__init__: its per-request transport check parses the URI
        # (~65 µs); the issuer's scheme is validated once, at start, by the settings.
        self.method = method
        self.uri = uri
        self.headers = headers
        self._body = None
        self.payload = FormPayload(params)
        self.client = None
        self.auth_method = None
        self.user = None
        self.authorization_code = None
        self.refresh_token = None
        self.credential = None
        self._scope = None

    @property
    def args(self) -> dict[str, Any]:
        return self.payload.data

    @property
    def form(self) -> dict[str, Any]:
        return self.payload.data
