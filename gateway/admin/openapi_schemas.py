"""JSON Schemas of the admin API's answers, for the OpenAPI document (``gateway.admin.openapi``).

They describe exactly what the handlers return (``registration.app_json``, ``accounts.user_json``, the
listings); the schemathesis test checks every answer against them.
"""

from __future__ import annotations

from typing import Any

from gateway.integrity.receipts import OUTCOMES

STRING: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
BOOL: dict[str, Any] = {"type": "boolean"}
STRINGS: dict[str, Any] = {"type": "array", "items": STRING}
NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
NULLABLE_INT: dict[str, Any] = {"type": ["integer", "null"]}


def record(**properties: dict[str, Any]) -> dict[str, Any]:
    """An object with exactly these properties, every one of them present."""
    return {"type": "object", "required": list(properties), "properties": properties, "additionalProperties": False}


def optional(schema: dict[str, Any], **properties: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with more properties that may be absent."""
    return {**schema, "properties": {**schema["properties"], **properties}}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


ROLE = record(opd=STRING, role=STRING)
UPSTREAM_IDP = record(
    slug=STRING,
    name=STRING,
    issuer=STRING,
    client_id=STRING,
    client_auth={"type": "string", "enum": ["private_key_jwt", "client_secret_basic"]},
    scope=STRING,
    link_by=STRING,
    authoritative=BOOL,
    acr_map={"type": "object", "additionalProperties": STRING},
    **{"for": STRING},
    enabled=BOOL,
    created_at=INT,
    updated_at=INT,
)
UPSTREAM_IDP["properties"]["public_jwk"] = {"type": "object", "description": "register this key at the upstream"}

# claims: what the app's assertions carried in the window (names only); null where none was recorded.
AFFECTED = record(id=STRING, name=STRING, email=STRING, claims={"type": ["array", "null"], "items": STRING})
REGISTER_ENTRY = record(
    app=STRING,
    name=STRING,
    opd=STRING,
    status=STRING,
    auth_mode=STRING,
    client_id=NULLABLE_STRING,
    scope=STRING,
    claims=STRINGS,
    purpose=STRING,
    legal_basis=STRING,
    retention=STRING,
    updated_at=NULLABLE_INT,
    updated_by=NULLABLE_STRING,
    flagged=BOOL,
)

RESPONSES: dict[str, dict[str, Any]] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status"],
        "properties": {"type": STRING, "title": STRING, "status": INT, "detail": STRING, "instance": STRING},
    },
    "Me": record(sub=STRING, kominfo=BOOL, admin_paths=STRINGS, operator_paths=STRINGS),
    "OpdUnit": record(slug=STRING, name=STRING, kind=STRING, path=STRING, parent=NULLABLE_STRING),
    "App": record(
        slug=STRING,
        name=STRING,
        description=STRING,
        opd=STRING,
        opd_path=STRING,
        status={"type": "string", "enum": ["pending", "active", "suspended", "rejected"]},
        auth_mode=STRING,
        upstreams=STRINGS,
        redirect_uris=STRINGS,
        scopes=STRINGS,
        contact=STRING,
        client_id=NULLABLE_STRING,
        resource=STRING,
        hosts=STRINGS,
        address=STRING,
        restricted=BOOL,
        client_profile=NULLABLE_STRING,
        jwks_uri=NULLABLE_STRING,
        case_insensitive_paths=BOOL,
        allow_ambiguous_paths=BOOL,
        websocket_origins=STRINGS,
        claims=STRINGS,
        integrity={"type": "string", "enum": ["none", "signed", "ledger"]},
        submitted_by=NULLABLE_STRING,
        reviewed_by=NULLABLE_STRING,
        reviewed_at=NULLABLE_INT,
        reason=NULLABLE_STRING,
        created_at=INT,
        updated_at=INT,
    ),
    "Approval": record(app=ref("App"), client_id=STRING, client_secret=NULLABLE_STRING),
    "Client": record(
        client_id=STRING,
        name=STRING,
        opd=NULLABLE_STRING,
        status=STRING,
        grant_types=STRINGS,
        redirect_uris=STRINGS,
        scope=STRING,
        auth_method=STRING,
        resources=STRINGS,
        first_party=BOOL,
        profile=NULLABLE_STRING,
        dpop_bound_access_tokens=BOOL,
        require_pushed_authorization_requests=BOOL,
        created_at=INT,
    ),
    "ClientStatus": record(client_id=STRING, status=STRING),
    "ClientSecurity": record(
        client_id=STRING,
        profile=NULLABLE_STRING,
        require_pushed_authorization_requests=BOOL,
        dpop_bound_access_tokens=BOOL,
        id_token_signed_response_alg=STRING,
    ),
    "InitialAccessToken": record(
        initial_access_token=STRING, expires_at=INT, opd=NULLABLE_STRING, registration_endpoint=STRING
    ),
    "User": record(
        id=STRING,
        email=STRING,
        name=STRING,
        kind=STRING,
        disabled=BOOL,
        mfa=BOOL,
        created_at=INT,
        roles={"type": "array", "items": ROLE},
    ),
    "EndedSessions": record(browser_sessions=INT, gateway_sessions=INT, token_families=INT, access_tokens=INT),
    "MfaReset": record(
        id=STRING,
        email=STRING,
        name=STRING,
        kind=STRING,
        disabled=BOOL,
        mfa=BOOL,
        created_at=INT,
        roles={"type": "array", "items": ROLE},
        removed=record(totp=BOOL, passkeys=INT, recovery_codes=INT),
        ended=record(browser_sessions=INT, gateway_sessions=INT, token_families=INT, access_tokens=INT),
    ),
    "SigningKey": record(
        kid=STRING,
        alg=STRING,
        created_at=INT,
        retired_at=NULLABLE_INT,
        expires_at=NULLABLE_INT,
        state={"type": "string", "enum": ["next", "active", "retired", "expired"]},
    ),
    "RotatedKey": record(kid=STRING, alg=STRING, created_at=INT),
    "RevokedKey": record(revoked=STRING, new_kid=NULLABLE_STRING),
    "Receipt": optional(
        record(
            seq=INT,
            request_id=STRING,
            at_ms=INT,
            app=STRING,
            client_id=NULLABLE_STRING,
            sub=NULLABLE_STRING,
            method=STRING,
            path=STRING,
            query_digest=STRING,
            request_digest=STRING,
            status=INT,
            response_digest=STRING,
            duration_us=INT,
            prev_hash=STRING,
            hash=STRING,
        ),
        outcome={"type": "string", "enum": list(OUTCOMES)},
    ),
    "AuditEntry": record(
        seq=INT, at=INT, actor=STRING, action=STRING, target=STRING, detail={"type": "object"}, hash=STRING
    ),
    "AuditReport": record(
        intact=BOOL,
        entries=INT,
        checkpoints=INT,
        last_seq=NULLABLE_INT,
        head_hash=NULLABLE_STRING,
        summary=STRING,
        first_fault={"oneOf": [{"type": "null"}, record(seq=NULLABLE_INT, kind=STRING, message=STRING)]},
    ),
    "Traffic": record(
        **{
            "from": INT,
            "to": INT,
            "minutes": INT,
            "opd": NULLABLE_STRING,
            "total": {"type": "object"},
            "opds": {"type": "array", "items": {"type": "object"}},
            "opd_count": INT,
            "apps": {"type": "array", "items": {"type": "object"}},
            "limit": INT,
            "offset": INT,
            "next_offset": NULLABLE_INT,
        }
    ),
    "Removed": record(removed=STRING),
    "RotatedSecret": record(client_id=STRING, client_secret=STRING, old_secret_valid_until=INT),
    "Policies": record(
        fingerprint=STRING,
        sources=STRINGS,
        rules={"type": "array", "items": {"type": "object"}},
        apps={"type": "array", "items": {"type": "object"}},
        limits={"type": "array", "items": {"type": "object"}},
    ),
    "UpstreamIdp": UPSTREAM_IDP,
    "UpstreamIdpList": record(items={"type": "array", "items": ref("UpstreamIdp")}),
    "RemovedIdp": record(removed=STRING),
    "DataRequest": record(
        id=INT,
        user_id=STRING,
        kind={"type": "string", "enum": ["export", "withdraw", "erase", "correct", "object", "restrict"]},
        status={"type": "string", "enum": ["open", "done", "refused", "cancelled"]},
        channel=STRING,
        actor=STRING,
        note=STRING,
        target=STRING,
        outcome=STRING,
        article=STRING,
        created_at=INT,
        due_at=INT,
        done_at=NULLABLE_INT,
        overdue=BOOL,
    ),
    "ProcessingRegister": record(items={"type": "array", "items": REGISTER_ENTRY}),
    "ProcessingRecord": REGISTER_ENTRY,
    "BreachIncident": record(
        app=STRING,
        since=INT,
        until=INT,
        affected={"type": "array", "items": AFFECTED},
        draft={"oneOf": [{"type": "null"}, record(subject=STRING, body=STRING)]},
    ),
    "BreachNotices": record(app=STRING, since=INT, until=INT, affected=INT, notified=INT, failed=INT),
    "LinkedIdentities": record(
        items={
            "type": "array",
            "items": record(idp=STRING, idp_name=STRING, subject=STRING, created_at=INT, last_login_at=NULLABLE_INT),
        }
    ),
}


def page_of(item: str, cursor: bool = False) -> dict[str, Any]:
    """A page of a list: ``next_offset`` (and ``next_after`` on keyset lists) is null on the last page."""
    properties: dict[str, Any] = {
        "items": {"type": "array", "items": ref(item)},
        "limit": INT,
        "offset": INT,
        "next_offset": NULLABLE_INT,
    }
    if cursor:
        properties["next_after"] = NULLABLE_STRING
    return record(**properties)
