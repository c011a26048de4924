"""Kominfo's decisions on OAuth clients: initial access tokens for dynamic registration (RFC 7591 §3), and
approving, suspending or resuming a client (dynamically registered clients start ``pending``)."""

from __future__ import annotations

from typing import Any

from gateway.admin.actor import Actor, check_kominfo
from gateway.admin.bodies import ClientSecurityRequest, InitialTokenRequest
from gateway.errors import BadRequest, Conflict
from idp.audit import append_audit
from idp.client_registration import issue_initial_token
from idp.clients import ClientSecurity, check_client_security, load_client
from idp.errors import InvalidInput
from idp.profile_rule import ProfileGuard

TRANSITIONS = {
    "approve": (("pending",), "active"),
    "suspend": (("active", "pending"), "suspended"),
    "resume": (("suspended",), "active"),
}


async def create_initial_token(
    session: Any, actor: Actor, body: InitialTokenRequest, issuer: str, now: int
) -> dict[str, Any]:
    check_kominfo(actor)
    token, row = await issue_initial_token(
        session, created_by=actor.sub, opd_slug=body.opd, ttl=body.ttl_seconds, now=now
    )
    return {
        "initial_access_token": token,
        "expires_at": row.expires_at,
        "opd": body.opd,
        "registration_endpoint": f"{issuer.rstrip('/')}/auth/clients",
    }


async def change_client_status(session: Any, actor: Actor, client_id: str, action: str, now: int) -> dict[str, Any]:
    check_kominfo(actor)
    allowed, status = TRANSITIONS[action]
    client = await load_client(session, client_id)
    if client.first_party:
        raise Conflict("the hub's own clients are not reviewed here")
    if client.status not in allowed:
        raise Conflict(f"cannot {action} client '{client_id}': it is {client.status}")
    client.status, client.updated_at = status, now
    await append_audit(
        session,
        actor=actor.sub,
        action=f"client.{action}",
        target=f"client:{client_id}",
        detail={"status": status},
        now=now,
    )
    return {"client_id": client_id, "status": status}


async def set_client_security(
    session: Any, actor: Actor, client_id: str, body: ClientSecurityRequest, now: int, profiles: ProfileGuard
) -> dict[str, Any]:
    """Kominfo puts a client under the FAPI 2.0 profile (or only PAR / DPoP); the same rules as the CLI's. Taking
    the profile away from a client of a restricted app breaks Kominfo's profile rule (``profiles``): refused."""
    check_kominfo(actor)
    client = await load_client(session, client_id)
    if client.first_party:
        raise Conflict("the hub's own clients are not changed here")
    try:
        security = check_client_security(
            ClientSecurity(
                body.profile,
                body.require_pushed_authorization_requests,
                body.dpop_bound_access_tokens,
                body.id_token_signed_response_alg,
            ),
            client.auth_method,
            tuple(client.grant_types),
        )
    except InvalidInput as exc:
        raise BadRequest(exc.message) from exc
    client.profile, client.require_par = security.profile, security.require_par
    client.dpop_bound, client.id_token_alg, client.updated_at = security.dpop_bound, security.id_token_alg, now
    await session.flush()
    try:
        await profiles.check(session, client_ids={client_id})
    except InvalidInput as exc:
        raise BadRequest(exc.message) from exc
    document = client_security_json(client)
    await append_audit(
        session, actor=actor.sub, action="client.security", target=f"client:{client_id}", detail=document, now=now
    )
    return document


def client_security_json(client: Any) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "profile": client.profile,
        "require_pushed_authorization_requests": bool(client.require_par),
        "dpop_bound_access_tokens": bool(client.dpop_bound),
        "id_token_signed_response_alg": client.id_token_alg or "ES256",
    }
