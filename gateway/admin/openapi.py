"""The admin API's OpenAPI 3.1 document, built from the route table, the query table of
``gateway.admin.request_input``, the pydantic request bodies and the answer schemas of
``gateway.admin.openapi_schemas``.

Every (method, path) of ``AdminApi.routes()`` must have an entry in ``OPERATIONS``; ``build_openapi`` fails
at start-up otherwise, so the document cannot silently fall behind the API. The same entry's ``query`` is
what the server accepts: any other query parameter is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway.admin.bodies import (
    AppSubmission,
    ClientSecurityRequest,
    InitialTokenRequest,
    OptionalReason,
    Reason,
    RoleGrant,
)
from gateway.admin.edit_bodies import AppChanges, ClientChanges, OpdChanges, SecretRotation, UserChanges
from gateway.admin.idp_api import UpstreamAddition, UpstreamChange
from gateway.admin.openapi_schemas import RESPONSES, page_of, ref
from gateway.admin.pdp_api import BreachNotice, CounterRequest, RegisterEntry, RequestFulfilment
from gateway.admin.request_input import QUERY, TEXT_PATTERN

PAGE = ("limit", "offset")


@dataclass(frozen=True)
class Operation:
    summary: str
    who: str
    answer: str  # a schema of ``openapi_schemas.RESPONSES``; a listing answers a page of it
    query: tuple[str, ...] = ()  # keys of ``request_input.QUERY``
    body: type[BaseModel] | None = None
    status: int = 200
    listing: bool = False
    cursor: bool = False  # the page carries ``next_after`` (keyset paging)
    conflicts: bool = False  # may answer 409

    def query_names(self) -> dict[str, str]:
        """Query parameter name → ``QUERY`` key, as ``AdminHttp.endpoint`` takes it."""
        return {QUERY[key].name: key for key in self.query}


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/me"): Operation("The caller's administrative scope", "any admin role", "Me"),
    ("GET", "/opd"): Operation(
        "List OPD units (the tree, by materialised path)",
        "any admin role; own subtree",
        "OpdUnit",
        (*PAGE, "under", "kind", "q"),
        listing=True,
    ),
    ("GET", "/apps"): Operation(
        "List apps",
        "any admin role; own subtree (operators: own unit)",
        "App",
        (*PAGE, "app_status", "opd", "q"),
        listing=True,
    ),
    ("POST", "/apps"): Operation(
        "Submit an app for review (stored as pending)",
        "operator of the unit, its OPD admin, or Kominfo",
        "App",
        body=AppSubmission,
        status=201,
        conflicts=True,
    ),
    ("GET", "/apps/{slug}"): Operation("One app", "any admin role; own subtree", "App"),
    ("GET", "/apps/{slug}/receipts"): Operation(
        "The app's receipts in the integrity ledger, oldest first; page with "
        "`after` (a seq); `since` in Unix seconds (docs/integrity.md)",
        "any admin role; own subtree",
        "Receipt",
        ("limit", "after", "since"),
        listing=True,
        cursor=True,
    ),
    ("POST", "/apps/{slug}/approve"): Operation(
        "Approve: creates the OAuth client and activates the route in one "
        "transaction; the client secret is shown only here",
        "kominfo-admin",
        "Approval",
        conflicts=True,
    ),
    ("POST", "/apps/{slug}/reject"): Operation(
        "Reject a pending app with a reason", "kominfo-admin", "App", body=Reason, conflicts=True
    ),
    ("POST", "/apps/{slug}/suspend"): Operation(
        "Kill switch: the route answers 503 and the app's client and tokens are refused",
        "kominfo-admin",
        "App",
        body=OptionalReason,
        conflicts=True,
    ),
    ("POST", "/apps/{slug}/resume"): Operation("Undo a suspension", "kominfo-admin", "App", conflicts=True),
    ("GET", "/clients"): Operation(
        "List OAuth clients",
        "kominfo-admin; opd-admin for their subtree",
        "Client",
        (*PAGE, "client_status", "opd", "q"),
        listing=True,
    ),
    ("POST", "/clients/{client_id}/{action}"): Operation(
        "Review a client: action is approve (pending → active), suspend or resume",
        "kominfo-admin",
        "ClientStatus",
        conflicts=True,
    ),
    ("PUT", "/clients/{client_id}/security"): Operation(
        "Set a client's FAPI 2.0 profile (fapi2: PAR, private_key_jwt, DPoP), PAR and DPoP requirements and ID "
        "token algorithm",
        "kominfo-admin",
        "ClientSecurity",
        body=ClientSecurityRequest,
        conflicts=True,
    ),
    ("POST", "/initial-access-tokens"): Operation(
        "Issue a single-use initial access token for dynamic client registration (RFC 7591) at "
        "/auth/clients; shown once",
        "kominfo-admin",
        "InitialAccessToken",
        body=InitialTokenRequest,
        status=201,
    ),
    ("GET", "/users"): Operation(
        "Search users, ordered by email. `q` matches name and email (`match`: contains or prefix); `nik` looks "
        "one NIK up exactly. Deep pages: `after` = the previous page's `next_after`",
        "kominfo-admin (everyone); opd-admin (their subtree's ASN)",
        "User",
        (*PAGE, "after", "q", "match", "nik", "opd", "disabled"),
        listing=True,
        cursor=True,
    ),
    ("POST", "/users/{id}/disable"): Operation(
        "Disable an account and end its sessions and tokens",
        "kominfo-admin; opd-admin for users wholly in their subtree",
        "User",
    ),
    ("POST", "/users/{id}/enable"): Operation("Enable an account", "as disable", "User"),
    ("POST", "/users/{id}/end-sessions"): Operation(
        "End every session and token family of a user", "as disable", "EndedSessions"
    ),
    ("POST", "/users/{id}/reset-mfa"): Operation(
        "Reset a user's second factors (TOTP, passkeys, recovery codes) and end every session and token family",
        "as disable",
        "MfaReset",
    ),
    ("POST", "/users/{id}/roles"): Operation(
        "Grant a role in an OPD unit (never to oneself)",
        "kominfo-admin; opd-admin inside their subtree (not kominfo-admin)",
        "User",
        body=RoleGrant,
        conflicts=True,
    ),
    ("DELETE", "/users/{id}/roles"): Operation("Revoke a role", "as grant", "User", body=RoleGrant, conflicts=True),
    ("GET", "/keys"): Operation("List hub signing keys", "kominfo-admin", "SigningKey", PAGE, listing=True),
    ("POST", "/keys/rotate"): Operation("Rotate the hub signing key", "kominfo-admin", "RotatedKey", status=201),
    ("POST", "/keys/{kid}/revoke"): Operation(
        "Revoke a signing key that may have leaked: unpublished at once, it verifies nothing more (every instance "
        "at its next key refresh); revoking the active key puts a new one in its place first",
        "kominfo-admin",
        "RevokedKey",
        conflicts=True,
    ),
    ("GET", "/audit"): Operation(
        "Read the audit log, newest first; page deep with `before` (a seq)",
        "kominfo-admin",
        "AuditEntry",
        (*PAGE, "action", "actor", "target", "since", "until", "before"),
        listing=True,
    ),
    ("GET", "/audit/verify"): Operation(
        "Verify the audit hash chain and its signed checkpoints", "kominfo-admin", "AuditReport"
    ),
    ("GET", "/policies"): Operation(
        "The active policy set (read-only): each rule with its file, effect, match "
        "and hits (gerbang_policy_rule_hits_total)",
        "any admin role",
        "Policies",
    ),
    ("GET", "/traffic"): Operation(
        "Traffic per OPD and per app over the last minutes (requests, 4xx incl. 429, 5xx, 429, p95 latency; totals "
        "and per-minute series; apps busiest first, paginated)",
        "any admin role; own subtree (operators: own unit)",
        "Traffic",
        (*PAGE, "traffic_opd", "minutes"),
    ),
    ("GET", "/idps"): Operation(
        "Upstream identity providers (INApas, SSO ASN); secrets are never shown", "kominfo-admin", "UpstreamIdpList"
    ),
    ("POST", "/idps"): Operation(
        "Add an upstream identity provider (`gerbang idps add`)",
        "kominfo-admin",
        "UpstreamIdp",
        body=UpstreamAddition,
        status=201,
        conflicts=True,
    ),
    ("GET", "/idps/{slug}"): Operation("One upstream identity provider", "kominfo-admin", "UpstreamIdp"),
    ("PATCH", "/idps/{slug}"): Operation(
        "Change an upstream identity provider (only the fields given)",
        "kominfo-admin",
        "UpstreamIdp",
        body=UpstreamChange,
        conflicts=True,
    ),
    ("DELETE", "/idps/{slug}"): Operation(
        "Remove an upstream and the identities linked through it (the accounts stay)", "kominfo-admin", "RemovedIdp"
    ),
    ("GET", "/users/{id}/identities"): Operation(
        "Upstream identities linked to a user", "kominfo-admin", "LinkedIdentities"
    ),
    # Edits (gateway.admin.edits_api): every change audited with a diff.
    ("PATCH", "/apps/{slug}"): Operation(
        "Change an app (fields sent are changed; null clears client_id, resource "
        "and the extra hosts; hosts replaces them); every gateway routes by it "
        "within seconds",
        "kominfo-admin",
        "App",
        body=AppChanges,
        conflicts=True,
    ),
    ("DELETE", "/apps/{slug}"): Operation(
        "Remove an app (404 on every gateway within seconds)", "kominfo-admin", "Removed"
    ),
    ("PATCH", "/clients/{client_id}"): Operation(
        "Change a client's metadata (not its secret)", "kominfo-admin", "Client", body=ClientChanges, conflicts=True
    ),
    ("DELETE", "/clients/{client_id}"): Operation(
        "Remove a client: its token families are revoked; refused while an app names it",
        "kominfo-admin",
        "Removed",
        conflicts=True,
    ),
    ("POST", "/clients/{client_id}/secret/rotate"): Operation(
        "New client secret, shown only here; the old one works for grace_seconds more, then dies",
        "kominfo-admin",
        "RotatedSecret",
        body=SecretRotation,
    ),
    ("PATCH", "/users/{id}"): Operation(
        "Change a user's name, email or NIK (null removes the NIK)",
        "as disable",
        "User",
        body=UserChanges,
        conflicts=True,
    ),
    ("PATCH", "/opd/{slug}"): Operation(
        "Rename an OPD unit, change its kind, or move it (with its subtree) under another parent (null: a root)",
        "kominfo-admin",
        "OpdUnit",
        body=OpdChanges,
    ),
    ("DELETE", "/opd/{slug}"): Operation(
        "Remove an OPD unit; refused while sub-units, members, apps, clients or initial access tokens belong to it",
        "kominfo-admin",
        "Removed",
        conflicts=True,
    ),
    # UU PDP (gateway.admin.pdp_api): Kominfo's queue, register and breach workflow; every change audited.
    ("GET", "/pdp/requests"): Operation(
        "Data subject requests, earliest deadline first (3 x 24 h; `overdue`)",
        "kominfo-admin",
        "DataRequest",
        (*PAGE, "request_status"),
        listing=True,
    ),
    ("POST", "/pdp/requests"): Operation(
        "Record a request made at a service counter (the caller as the official)",
        "kominfo-admin",
        "DataRequest",
        body=CounterRequest,
        status=201,
    ),
    ("GET", "/pdp/requests/{id}"): Operation("One data subject request", "kominfo-admin", "DataRequest"),
    ("POST", "/pdp/requests/{id}/fulfil"): Operation(
        "Carry an open request out (correct, withdraw/object for target, restrict, erase after the grace period, "
        "export handed over); the citizen is mailed and sees the outcome on /account/privacy",
        "kominfo-admin",
        "DataRequest",
        body=RequestFulfilment,
        conflicts=True,
    ),
    ("POST", "/pdp/requests/{id}/refuse"): Operation(
        "Refuse an open request with a reason the citizen reads",
        "kominfo-admin",
        "DataRequest",
        body=Reason,
        conflicts=True,
    ),
    ("GET", "/pdp/register"): Operation(
        "The processing register (Art. 31): per app the claims it receives, its "
        "purpose, legal basis and retention; `flagged`: no purpose",
        "kominfo-admin",
        "ProcessingRegister",
    ),
    ("PUT", "/pdp/register/{slug}"): Operation(
        "Fill in an app's purpose, legal basis and retention", "kominfo-admin", "ProcessingRecord", body=RegisterEntry
    ),
    ("GET", "/pdp/breaches/{slug}"): Operation(
        "The people whose identity the app received in the window [since, until) (default: all of its history "
        "until now) and the draft notice; nothing is sent",
        "kominfo-admin",
        "BreachIncident",
        ("since", "until"),
    ),
    ("POST", "/pdp/breaches/{slug}"): Operation(
        "Send the breach notices (Art. 46) and record the incident in the audit chain",
        "kominfo-admin",
        "BreachNotices",
        body=BreachNotice,
        status=201,
    ),
}

PATH_PARAMS: dict[str, dict[str, Any]] = {
    "slug": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": TEXT_PATTERN},
    "id": {"type": "string", "minLength": 1, "maxLength": 36, "pattern": TEXT_PATTERN},
    "client_id": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": TEXT_PATTERN},
    "kid": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": TEXT_PATTERN},
    "action": {"type": "string", "enum": ["approve", "suspend", "resume"]},
}
ERRORS = (
    ("400", "Bad input"),
    ("401", "No or invalid token"),
    ("403", "Outside the caller's scope"),
    ("404", "Not found"),
    ("503", "Storage unavailable"),
)
BODY_ERRORS = (("413", "Body larger than 64 KiB"), ("415", "Body not application/json"))


def build_openapi(issuer: str, routes: list[tuple[str, str, Any]]) -> dict[str, Any]:
    missing = [f"{method} {path}" for method, path, _ in routes if (method, path) not in OPERATIONS]
    if missing:
        raise RuntimeError(f"admin API endpoints missing from the OpenAPI document: {', '.join(missing)}")
    models: list[type[BaseModel]] = [
        AppSubmission,
        Reason,
        OptionalReason,
        RoleGrant,
        InitialTokenRequest,
        UpstreamAddition,
        UpstreamChange,
        AppChanges,
        ClientChanges,
        SecretRotation,
        UserChanges,
        OpdChanges,
        CounterRequest,
        RequestFulfilment,
        RegisterEntry,
        BreachNotice,
    ]
    _, defs = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = {**defs.get("$defs", {}), **RESPONSES}
    paths: dict[str, dict[str, Any]] = {}
    for method, path, _ in routes:
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, OPERATIONS[(method, path)])
    paths["/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gerbang admin API",
            "version": "1",
            "description": "Kominfo's console API. Bearer access tokens from this hub with aud "
            f"{issuer.rstrip('/')}/admin/api/ (RFC 8707). Errors are RFC 9457 problems. "
            "Unknown or repeated query parameters are refused (400).",
        },
        "servers": [{"url": f"{issuer.rstrip('/')}/admin/api"}],
        "security": [{"bearer": []}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (RFC 9068)"}},
        },
        "paths": paths,
    }


def _operation(method: str, path: str, op: Operation) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": ref("Problem")}}
    answer = page_of(op.answer, op.cursor) if op.listing else ref(op.answer)
    responses: dict[str, Any] = {
        str(op.status): {"description": "OK", "content": {"application/json": {"schema": answer}}}
    }
    errors = (
        ERRORS
        + (BODY_ERRORS if op.body is not None else ())
        + ((("409", "Conflicts with the current state"),) if op.conflicts else ())
    )
    for status, text in errors:
        responses[status] = {"description": text, "content": problem}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMS[name]}
        for name in PATH_PARAMS
        if "{" + name + "}" in path
    ]
    parameters += [
        {
            "name": QUERY[key].name,
            "in": "query",
            "required": False,
            "description": QUERY[key].description,
            "schema": QUERY[key].json_schema(),
        }
        for key in op.query
    ]
    operation: dict[str, Any] = {
        "operationId": (method.lower() + path.replace("/", "_").replace("{", "").replace("}", "").replace("-", "_")),
        "summary": op.summary,
        "description": f"Allowed: {op.who}.",
        "parameters": parameters,
        "responses": responses,
    }
    if op.body is not None:
        required = any(field.is_required() for field in op.body.model_fields.values())  # else {} is assumed
        operation["requestBody"] = {
            "required": required,
            "content": {"application/json": {"schema": ref(op.body.__name__)}},
        }
    return operation
