"""What every scenario needs from the hub: discovery, a token by client_credentials, the login form.

Endpoints come from ``/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0 §4), never
from hard-coded paths. Settings come from the environment (see loadtests/README.md).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from locust.clients import HttpSession


def setting(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise RuntimeError(f"set {name} (see loadtests/README.md)")
    return value


def load_discovery(client: HttpSession) -> dict[str, Any]:
    with client.get("/.well-known/openid-configuration", name="discovery", catch_response=True) as response:
        if response.status_code != 200:
            response.failure(f"discovery answered {response.status_code}")
            raise RuntimeError("no discovery document")
        return dict(response.json())


@dataclass(slots=True)
class AccessToken:
    value: str
    expires_at: float

    def is_fresh(self, margin_s: float = 30.0) -> bool:
        return time.monotonic() < self.expires_at - margin_s


def fetch_client_credentials_token(
    client: HttpSession, token_endpoint: str, client_id: str, secret: str, resource: str, scope: str
) -> AccessToken | None:
    """RFC 6749 §4.4 with the RFC 8707 ``resource`` parameter, client_secret_basic."""
    form = {"grant_type": "client_credentials", "resource": resource}
    if scope:
        form["scope"] = scope
    with client.post(
        token_endpoint, data=form, auth=(client_id, secret), name="token (client_credentials)", catch_response=True
    ) as response:
        if response.status_code != 200:
            response.failure(f"token endpoint answered {response.status_code}: {response.text[:120]}")
            return None
        body = response.json()
        return AccessToken(body["access_token"], time.monotonic() + float(body.get("expires_in", 300)))


@dataclass(slots=True)
class Form:
    action: str
    fields: dict[str, str]


class _FormParser(HTMLParser):
    """The first <form> holding a ``csrf_token`` field: its action and its hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = Form(values.get("action", ""), {})
        elif tag == "input" and self._current is not None and values.get("name"):
            self._current.fields[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._current is not None:
            self.forms.append(self._current)
            self._current = None


def find_form(page_url: str, html: str, required_field: str = "csrf_token") -> Form | None:
    parser = _FormParser()
    parser.feed(html)
    for form in parser.forms:
        if required_field in form.fields:
            return Form(urljoin(page_url, form.action or page_url), form.fields)
    return None


def is_login_page(html: str) -> bool:
    return re.search(r"""name=["']password["']""", html) is not None


def app_origin(base: str, slug: str) -> str:
    """An app's own origin (Gerbang serves every app at ``{slug}.{apps domain}`` with the hub's scheme and port).

    GERBANG_LT_APPS_DOMAIN names the apps domain; unset, it is derived as Gerbang derives it: ``localhost``
    for a loopback hub, else ``apps.`` + the hub's host name."""
    parts = urlsplit(base)
    host = parts.hostname or ""
    loopback = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
    domain = setting("GERBANG_LT_APPS_DOMAIN", "localhost" if loopback else f"apps.{host}")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{slug}.{domain}{port}"
