"""``gerbang dpop token|proof``: DPoP (RFC 9449) for integrations that call a ``--require-dpop`` app from a shell.

curl cannot sign a proof; these two commands make the signed parts and leave the HTTP to curl:

    TOKEN=$(gerbang dpop token --key bapenda-dpop.pem --client ID --client-key bapenda-client.pem \\
            -d scope=budget.read -d resource=https://e-budgeting.apps.hub/ https://hub/auth/token)
    curl -H "Authorization: DPoP $TOKEN" \\
         -H "DPoP: $(gerbang dpop proof --key bapenda-dpop.pem --token "$TOKEN" GET https://hub/apps/...)" \\
         https://hub/apps/...

The key (EC P-256, PEM) is created on first use and stays on the caller's machine; every token is bound to it.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from pathlib import Path

import click

KEY_HELP = "EC P-256 private key (PEM); created when missing"


@click.group("dpop")
def dpop_group() -> None:
    """DPoP proofs and DPoP-bound tokens for shell integrations (RFC 9449)."""


@dpop_group.command("proof")
@click.option("--key", "key_file", type=click.Path(path_type=Path), required=True, help=KEY_HELP)
@click.option("--token", default=None, help="the access token the proof goes with (sets ath)")
@click.option("--nonce", default=None, help="a DPoP-Nonce the server asked for")
@click.argument("method")
@click.argument("url")
def dpop_proof(key_file: Path, token: str | None, nonce: str | None, method: str, url: str) -> None:
    """Print a one-time proof for METHOD URL."""
    from idp.dpop.client import load_or_create_key, make_proof

    click.echo(make_proof(load_or_create_key(key_file), method.upper(), url, access_token=token, nonce=nonce))


@dpop_group.command("token")
@click.option("--key", "key_file", type=click.Path(path_type=Path), required=True, help=KEY_HELP)
@click.option(
    "--client",
    "credentials",
    required=True,
    help="CLIENT_ID:CLIENT_SECRET (client_secret_basic), or CLIENT_ID with --client-key (private_key_jwt)",
)
@click.option(
    "--client-key",
    "client_key_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="the client's EC P-256 private key (PEM): authenticate with private_key_jwt (FAPI 2.0) instead of a secret",
)
@click.option("-d", "--data", "fields", multiple=True, help="a form field NAME=VALUE (repeatable)")
@click.option("--grant-type", default="client_credentials", show_default=True)
@click.argument("token_url")
def dpop_token(
    key_file: Path,
    credentials: str,
    client_key_file: Path | None,
    fields: tuple[str, ...],
    grant_type: str,
    token_url: str,
) -> None:
    """Ask TOKEN_URL for a DPoP-bound access token and print it (answering a use_dpop_nonce request)."""
    from idp.dpop.client import load_or_create_key, make_proof

    key = load_or_create_key(key_file)
    form = [("grant_type", grant_type), *(field.partition("=")[::2] for field in fields if "=" in field)]
    client_id, _, secret = credentials.partition(":")
    nonce = None
    for _attempt in range(2):
        auth_form, auth_headers = _client_authentication(client_id, secret, client_key_file, token_url)
        status, headers, body = _post(
            token_url,
            form + auth_form,
            {**auth_headers, "DPoP": make_proof(key, "POST", token_url, nonce=nonce)},
        )
        if status == 400 and body.get("error") == "use_dpop_nonce" and headers.get("DPoP-Nonce"):
            nonce = headers["DPoP-Nonce"]
            continue
        break
    if status != 200 or "access_token" not in body:
        raise click.ClickException(f"token request refused ({status}): {body.get('error_description', body)}")
    click.echo(body["access_token"])


def _client_authentication(
    client_id: str, secret: str, client_key_file: Path | None, token_url: str
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """client_secret_basic, or an RFC 7523 client assertion (private_key_jwt, ES256, single use, 60 s)."""
    if client_key_file is None:
        basic = base64.b64encode(f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(secret)}".encode()).decode()
        return [], {"Authorization": f"Basic {basic}"}
    if secret:
        raise click.UsageError("--client takes only the client id with --client-key")
    from idp.dpop.client import load_or_create_key, make_client_assertion

    assertion = make_client_assertion(load_or_create_key(client_key_file), client_id, token_url)
    return [
        ("client_id", client_id),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion),
    ], {}


def _post(url: str, form: list[tuple[str, str]], headers: dict[str, str]) -> tuple[int, Message, dict]:
    """Status, headers (case-insensitive) and JSON body."""
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the caller's URL)
            return response.status, response.headers, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            body = json.loads(error.read() or b"{}")
        except ValueError:
            body = {}
        return error.code, error.headers, body


def register(group: click.Group) -> None:
    group.add_command(dpop_group)
