"""The profile rule at issue time: a client outside the profile Kominfo's policy requires of an app's clients gets
no code and no token for that app (``idp.profile_rule``), however it asks: authorization code, PAR, refresh token,
client_credentials, device grant or token exchange.

The refusal is ``unauthorized_client`` (RFC 6749 §4.1.2.1 and §5.2, RFC 8628 §3.2, RFC 9126 §2.3): the client
authenticated and its request is well formed, but this client is not authorized to obtain it. ``invalid_client``
would tell it that its credentials are wrong (and count as a failed authentication), ``invalid_target`` that the
resource is, and ``invalid_grant`` that its grant is: none of them is true, and retrying would not help.

Tokens of a client that follows a profile carry it (``gerbang_profile``), so the gateway can refuse a token for
a bound app that was issued outside the profile without asking the provider (``gateway.authenticate``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from authlib.oauth2.rfc6749 import UnauthorizedClientError
from sqlalchemy.ext.asyncio import AsyncSession

from idp.oauth.state import Preloaded, current
from idp.profile_rule import ProfileBreach, find_breach, load_served_apps
from idp.settings import Settings
from idp.storage.models import Client
from policies.engine import PolicySet

PROFILE_CLAIM = "gerbang_profile"


def find_issue_breach(policy: PolicySet, client: Client, audiences: list[str]) -> ProfileBreach | None:
    """The breach of issuing ``client`` a code or token for ``audiences`` (``current().served_apps`` preloaded)."""
    apps = current().served_apps
    if apps is None:
        raise RuntimeError("the apps a client serves were not preloaded before authlib ran")
    return find_breach(policy, client.client_id, client.profile, apps, audiences)


def refusal(breach: ProfileBreach) -> UnauthorizedClientError:
    return UnauthorizedClientError(
        f"The city's policy ({breach.rule_id}) requires the {breach.profile} profile of every client of "
        f"app '{breach.app}'; this client does not follow it."
    )


def check_issue_profile(policy: PolicySet, client: Client, audiences: list[str]) -> None:
    breach = find_issue_breach(policy, client, audiences)
    if breach is not None:
        raise refusal(breach)


def profile_claims(client: Client) -> dict[str, Any]:
    """The claim recording the profile the token was issued under (none for a client without one)."""
    return {PROFILE_CLAIM: client.profile} if client.profile else {}


async def preload_served_apps(
    session: AsyncSession, settings: Settings, state: Preloaded, client_ids: set[str], resources: Iterable[str]
) -> None:
    """Before authlib runs: the apps these clients serve or these resources name (the code's, the grant's, the
    device code's and the requested ones)."""
    state.served_apps = await load_served_apps(
        session, settings.issuer, settings.apps_domain, client_ids=client_ids, resources=resources
    )


def resources_at_token_endpoint(form: dict[str, list[str]], state: Preloaded) -> set[str]:
    """Every audience a token request could end up with: requested (``resource``, RFC 8693 ``audience``) and
    carried by what it redeems."""
    found = set(form.get("resource", [])) | set(form.get("audience", []))
    for row in (state.code, state.grant, state.device):
        if row is not None:
            found.update(row.resources or ())
    return found
