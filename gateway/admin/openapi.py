"""The admin API's OpenAPI 3.1 document, built from the route table and the pydantic request bodies.

Every (method, path) of ``AdminApi.routes()`` must have an entry in ``OPERATIONS``; ``build_openapi`` fails
at start-up otherwise, so the document cannot silently fall behind the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway.admin.bodies import AppSubmission, InitialTokenRequest, OptionalReason, Reason, RoleGrant

PAGE = ("limit", "offset")


@dataclass(frozen=True)
class Operation:
    summary: str
    who: str
    query: tuple[str, ...] = ()
    body: type[BaseModel] | None = None
    status: int = 200
    listing: bool = False


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/me"): Operation("The caller's administrative scope", "any admin role"),
    ("GET", "/opd"): Operation("List OPD units (the tree, by materialised path)", "any admin role; own subtree",
                               (*PAGE, "under", "kind", "q"), listing=True),
    ("GET", "/apps"): Operation("List apps", "any admin role; own subtree (operators: own unit)",
                                (*PAGE, "status", "opd", "q"), listing=True),
    ("POST", "/apps"): Operation("Submit an app for review (stored as pending)", "operator of the unit, its OPD "
                                 "admin, or Kominfo", body=AppSubmission, status=201),
    ("GET", "/apps/{slug}"): Operation("One app", "any admin role; own subtree"),
    ("POST", "/apps/{slug}/approve"): Operation("Approve: creates the OAuth client and activates the route in one "
                                                "transaction; the client secret is shown only here", "kominfo-admin"),
    ("POST", "/apps/{slug}/reject"): Operation("Reject a pending app with a reason", "kominfo-admin", body=Reason),
    ("POST", "/apps/{slug}/suspend"): Operation("Kill switch: the route answers 503 and the app's client and tokens "
                                                "are refused", "kominfo-admin", body=OptionalReason),
    ("POST", "/apps/{slug}/resume"): Operation("Undo a suspension", "kominfo-admin"),
    ("GET", "/clients"): Operation("List OAuth clients", "kominfo-admin; opd-admin for their subtree",
                                   (*PAGE, "status", "opd", "q"), listing=True),
    ("POST", "/clients/{client_id}/{action}"): Operation(
        "Review a client: action is approve (pending → active), suspend or resume", "kominfo-admin"),
    ("POST", "/initial-access-tokens"): Operation(
        "Issue a single-use initial access token for dynamic client registration (RFC 7591) at "
        "/auth/clients; shown once", "kominfo-admin", body=InitialTokenRequest, status=201),
    ("GET", "/users"): Operation("Search users", "kominfo-admin (everyone); opd-admin (their subtree's ASN)",
                                 (*PAGE, "q", "opd", "disabled"), listing=True),
    ("POST", "/users/{id}/disable"): Operation("Disable an account and end its sessions and tokens",
                                               "kominfo-admin; opd-admin for users wholly in their subtree"),
    ("POST", "/users/{id}/enable"): Operation("Enable an account", "as disable"),
    ("POST", "/users/{id}/end-sessions"): Operation("End every session and token family of a user", "as disable"),
    ("POST", "/users/{id}/roles"): Operation("Grant a role in an OPD unit (never to oneself)",
                                             "kominfo-admin; opd-admin inside their subtree (not kominfo-admin)",
                                             body=RoleGrant),
    ("DELETE", "/users/{id}/roles"): Operation("Revoke a role", "as grant", body=RoleGrant),
    ("GET", "/keys"): Operation("List hub signing keys", "kominfo-admin", PAGE, listing=True),
    ("POST", "/keys/rotate"): Operation("Rotate the hub signing key", "kominfo-admin", status=201),
    ("GET", "/audit"): Operation("Read the audit log, newest first", "kominfo-admin",
                                 (*PAGE, "action", "actor", "target", "before"), listing=True),
    ("GET", "/audit/verify"): Operation("Verify the audit hash chain and its signed checkpoints", "kominfo-admin"),
    ("GET", "/policies"): Operation("The active policy set (read-only)", "any admin role"),
    ("GET", "/traffic"): Operation(
        "Traffic per OPD and per app over the last minutes (requests, 4xx incl. 429, 5xx, 429, p95 latency; totals "
        "and per-minute series; apps busiest first, paginated)", "any admin role; own subtree (operators: own unit)",
        (*PAGE, "opd", "minutes")),
}

QUERY: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
    "offset": {"type": "integer", "minimum": 0, "default": 0},
    "before": {"type": "integer", "minimum": 1, "description": "only entries with a smaller seq"},
    "disabled": {"type": "string", "enum": ["true", "false"]},
    "status": {"type": "string", "maxLength": 200},
    "opd": {"type": "string", "maxLength": 64},
    "minutes": {"type": "integer", "minimum": 5, "maximum": 180, "default": 60},
}

PATH_PARAMS: dict[str, dict[str, Any]] = {
    "slug": {"type": "string", "maxLength": 63}, "id": {"type": "string", "maxLength": 36},
    "client_id": {"type": "string", "maxLength": 64}, "action": {"type": "string", "enum": ["approve", "suspend",
                                                                                          "resume"]}}
PROBLEM = {"type": "object", "required": ["type", "title", "status"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"}, "instance": {"type": "string"}}}
PAGE_SCHEMA = {"type": "object", "required": ["items", "limit", "offset", "next_offset"], "properties": {
    "items": {"type": "array", "items": {"type": "object"}}, "limit": {"type": "integer"},
    "offset": {"type": "integer"}, "next_offset": {"type": ["integer", "null"]}}}


def build_openapi(issuer: str, routes: list[tuple[str, str, Any]]) -> dict[str, Any]:
    missing = [f"{method} {path}" for method, path, _ in routes if (method, path) not in OPERATIONS]
    if missing:
        raise RuntimeError(f"admin API endpoints missing from the OpenAPI document: {', '.join(missing)}")
    models = [AppSubmission, Reason, OptionalReason, RoleGrant, InitialTokenRequest]
    _, defs = models_json_schema([(model, "validation") for model in models],
                                 ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = {**defs.get("$defs", {}), "Problem": PROBLEM, "Page": PAGE_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for method, path, _ in routes:
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, OPERATIONS[(method, path)])
    paths["/openapi.json"] = {"get": {"operationId": "openapi", "summary": "This document", "security": [],
                                      "responses": {"200": {"description": "OpenAPI 3.1",
                                                            "content": {"application/json": {}}}}}}
    return {"openapi": "3.1.0",
            "info": {"title": "Gerbang admin API", "version": "1",
                     "description": "Kominfo's console API. Bearer access tokens from this hub with aud "
                                    f"{issuer.rstrip('/')}/admin/api/ (RFC 8707). Errors are RFC 9457 problems."},
            "servers": [{"url": f"{issuer.rstrip('/')}/admin/api"}],
            "security": [{"bearer": []}],
            "components": {"schemas": schemas, "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (RFC 9068)"}}},
            "paths": paths}


def _operation(method: str, path: str, op: Operation) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    ok: dict[str, Any] = {"description": "OK", "content": {"application/json": {"schema": (
        {"$ref": "#/components/schemas/Page"} if op.listing else {"type": "object"})}}}
    responses: dict[str, Any] = {str(op.status): ok}
    for status, text in (("400", "Bad input"), ("401", "No or invalid token"), ("403", "Outside the caller's scope"),
                         ("404", "Not found"), ("409", "Conflicts with the current state"),
                         ("503", "Storage unavailable")):
        responses[status] = {"description": text, "content": problem}
    parameters = [{"name": name, "in": "path", "required": True, "schema": PATH_PARAMS[name]}
                  for name in PATH_PARAMS if "{" + name + "}" in path]
    parameters += [{"name": name, "in": "query", "required": False,
                    "schema": QUERY.get(name, {"type": "string", "maxLength": 200})} for name in op.query]
    operation: dict[str, Any] = {
        "operationId": (method.lower() + path.replace("/", "_").replace("{", "").replace("}", "")
                        .replace("-", "_")),
        "summary": op.summary, "description": f"Allowed: {op.who}.", "parameters": parameters,
        "responses": responses}
    if op.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}}}
    return operation
