"""RFC 7644 §3.7 Bulk: several Users and Groups operations in one request.

POST /scim/v2/Bulk {BulkRequest: failOnErrors?, Operations: [{method, bulkId?, version?, path, data?}]}
  → the caller is authenticated once; the body is refused whole (413) past ``MAX_PAYLOAD_SIZE`` bytes or
    ``MAX_OPERATIONS`` operations (both advertised in ServiceProviderConfig, §5);
  → each operation runs through the same handler as its single request (``idp.scim.endpoints``,
    ``group_endpoints``): its own transaction (atomic: all of it or none), its own audit entry with the
    client as actor, its own deprovisioning;
  → ``bulkId:ID`` in a path or anywhere in data means the id of the resource the operation with that
    ``bulkId`` created (§3.7.2); an operation waits for the one it names, whatever their order; one naming
    an unknown, failed or circular bulkId fails (409) without running;
  → processing stops once ``failOnErrors`` operations failed (§3.7.3); the rest are not run nor listed;
  → one ``scim.bulk`` audit entry sums up the request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from idp.audit import append_audit
from idp.provider import Provider
from idp.scim import endpoints as users
from idp.scim import group_endpoints as groups
from idp.scim.auth import ScimCaller, authenticate
from idp.scim.discovery import MAX_OPERATIONS, MAX_PAYLOAD_SIZE
from idp.scim.responses import ScimError, scim_json

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
BULK_ID = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
REFERENCE = re.compile(r"bulkId:([A-Za-z0-9._~-]{1,64})")
PATH = re.compile(r"^/(Users|Groups)(?:/([^/?#]{1,200}))?$")
Handler = Callable[[Request, Provider, ScimCaller], Awaitable[Response]]

HANDLERS: dict[tuple[str, str, bool], Handler] = {
    ("POST", "Users", False): users.user_create.handler,  # type: ignore[attr-defined]
    ("PUT", "Users", True): users.user_replace.handler,  # type: ignore[attr-defined]
    ("PATCH", "Users", True): users.user_patch.handler,  # type: ignore[attr-defined]
    ("DELETE", "Users", True): users.user_delete.handler,  # type: ignore[attr-defined]
    ("POST", "Groups", False): groups.group_create.handler,  # type: ignore[attr-defined]
    ("PUT", "Groups", True): groups.group_replace.handler,  # type: ignore[attr-defined]
    ("PATCH", "Groups", True): groups.group_patch.handler,  # type: ignore[attr-defined]
    ("DELETE", "Groups", True): groups.group_delete.handler,  # type: ignore[attr-defined]
}


@dataclass
class Operation:
    index: int
    method: str
    path: str
    bulk_id: str | None
    version: str | None
    data: Any


async def bulk_endpoint(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    try:
        caller = await authenticate(request, provider)
        operations, fail_on_errors = parse_bulk(await _read_body(request))
    except ScimError as error:
        return error.response()
    results = await run_operations(request, provider, caller, operations, fail_on_errors)
    failed = sum(1 for result in results if int(result["status"]) >= 400)
    async with provider.sessionmaker() as session, session.begin():
        await append_audit(
            session,
            actor=caller.actor,
            action="scim.bulk",
            target=f"opd:{caller.unit_slug}",
            detail={"operations": len(operations), "run": len(results), "failed": failed},
            now=provider.clock.now(),
        )
    return scim_json({"schemas": [BULK_RESPONSE], "Operations": results})


async def _read_body(request: Request) -> Any:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/scim+json", "application/json"):
        raise ScimError(415 if media else 400, "send application/scim+json", "invalidSyntax")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_PAYLOAD_SIZE:
            raise ScimError(413, f"the bulk request is larger than maxPayloadSize ({MAX_PAYLOAD_SIZE} bytes)")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ScimError(400, "the body is not JSON", "invalidSyntax") from exc


def parse_bulk(body: Any) -> tuple[list[Operation], int | None]:
    """The operations and ``failOnErrors`` of a BulkRequest; every malformed part is a 400 (nothing runs)."""
    if not isinstance(body, dict) or BULK_REQUEST not in (body.get("schemas") or []):
        raise ScimError(400, f"a bulk request names the schema {BULK_REQUEST}", "invalidSyntax")
    raw = body.get("Operations")
    if not isinstance(raw, list) or not raw:
        raise ScimError(400, "Operations must be a non-empty list", "invalidSyntax")
    if len(raw) > MAX_OPERATIONS:
        raise ScimError(413, f"more than maxOperations ({MAX_OPERATIONS}) operations")
    fail_on_errors = body.get("failOnErrors")
    if fail_on_errors is not None and (
        not isinstance(fail_on_errors, int) or isinstance(fail_on_errors, bool) or fail_on_errors < 1
    ):
        raise ScimError(400, "failOnErrors must be a positive integer", "invalidValue")
    operations = [_operation(index, item) for index, item in enumerate(raw)]
    ids = [op.bulk_id for op in operations if op.bulk_id is not None]
    if len(ids) != len(set(ids)):
        raise ScimError(400, "each bulkId may be used once", "invalidValue")
    return operations, fail_on_errors


def _operation(index: int, item: Any) -> Operation:
    if not isinstance(item, dict):
        raise ScimError(400, f"operation {index}: not an object", "invalidSyntax")
    method, path = item.get("method"), item.get("path")
    bulk_id, version = item.get("bulkId"), item.get("version")
    if not isinstance(method, str) or method.upper() not in ("POST", "PUT", "PATCH", "DELETE"):
        raise ScimError(400, f"operation {index}: method must be POST, PUT, PATCH or DELETE", "invalidValue")
    if not isinstance(path, str) or not path:
        raise ScimError(400, f"operation {index}: path is required", "invalidPath")
    if bulk_id is not None and (not isinstance(bulk_id, str) or not BULK_ID.match(bulk_id)):
        raise ScimError(400, f"operation {index}: bulkId must be 1-64 URL-safe characters", "invalidValue")
    if method.upper() == "POST" and bulk_id is None:
        raise ScimError(400, f"operation {index}: a POST needs a bulkId (RFC 7644 §3.7)", "invalidValue")
    if version is not None and not isinstance(version, str):
        raise ScimError(400, f"operation {index}: version must be a string", "invalidValue")
    if method.upper() != "DELETE" and not isinstance(item.get("data"), dict):
        raise ScimError(400, f"operation {index}: data must be an object", "invalidSyntax")
    return Operation(index, method.upper(), path, bulk_id, version, item.get("data"))


async def run_operations(
    request: Request, provider: Provider, caller: ScimCaller, operations: list[Operation], fail_on_errors: int | None
) -> list[dict[str, Any]]:
    """In request order, except that an operation naming a bulkId waits until that operation has run."""
    created: dict[str, str] = {}  # bulkId → id of the resource it created
    failed_ids: set[str] = set()
    pending = list(operations)
    results: list[dict[str, Any]] = []
    errors = 0
    while pending and (fail_on_errors is None or errors < fail_on_errors):
        ready = next((op for op in pending if not (_references(op) - set(created) - failed_ids)), None)
        op = ready or pending[0]  # none ready: the first one names a bulkId nothing will create
        pending.remove(op)
        missing = _references(op) - set(created)
        if missing:
            result = _failed(
                op,
                ScimError(
                    409,
                    f"bulkId {sorted(missing)[0]} names no resource created in this "
                    "request (unknown, failed or circular)",
                    "invalidValue",
                ),
            )
        else:
            result = await _run(request, provider, caller, op, created)
        results.append(result)
        if int(result["status"]) >= 400:
            errors += 1
            if op.bulk_id:
                failed_ids.add(op.bulk_id)
    return results


def _references(op: Operation) -> set[str]:
    return set(REFERENCE.findall(op.path + json.dumps(op.data)))


def _resolve(value: Any, created: dict[str, str]) -> Any:
    if isinstance(value, str):
        return REFERENCE.sub(lambda match: created[match.group(1)], value)
    if isinstance(value, list):
        return [_resolve(item, created) for item in value]
    if isinstance(value, dict):
        return {key: _resolve(item, created) for key, item in value.items()}
    return value


async def _run(
    request: Request, provider: Provider, caller: ScimCaller, op: Operation, created: dict[str, str]
) -> dict[str, Any]:
    match = PATH.match(_resolve(op.path, created))
    handler = HANDLERS.get((op.method, match.group(1), match.group(2) is not None)) if match else None
    if match is None or handler is None:
        return _failed(op, ScimError(400, f"{op.method} {op.path[:80]} is not a bulk operation here", "invalidPath"))
    inner = _inner_request(request, op, match.group(2), _resolve(op.data, created))
    response = await users.answer(handler, inner, provider, caller)
    body = json.loads(response.body) if response.body else None
    result: dict[str, Any] = {"method": op.method, "status": str(response.status_code)}
    if op.bulk_id:
        result["bulkId"] = op.bulk_id
    if response.status_code >= 400:
        result["response"] = body
        return result
    if "location" in response.headers:
        result["location"] = response.headers["location"]
    if "etag" in response.headers:
        result["version"] = response.headers["etag"]
    if op.method == "POST" and op.bulk_id and isinstance(body, dict) and isinstance(body.get("id"), str):
        created[op.bulk_id] = body["id"]
    return result


def _inner_request(outer: Request, op: Operation, resource_id: str | None, data: Any) -> Request:
    """The operation as the single request it stands for, under the outer request's credentials."""
    body = json.dumps(data).encode() if data is not None else b""
    headers = [
        (b"authorization", outer.headers.get("authorization", "").encode("latin-1")),
        (b"content-type", b"application/scim+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if op.version:
        headers.append((b"if-match", op.version.encode("latin-1", "replace")))
    scope = {
        **outer.scope,
        "method": op.method,
        "path": f"/scim/v2{op.path}",
        "raw_path": b"",
        "query_string": b"",
        "headers": headers,
        "path_params": {"id": resource_id} if resource_id is not None else {},
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def _failed(op: Operation, error: ScimError) -> dict[str, Any]:
    result: dict[str, Any] = {
        "method": op.method,
        "status": str(error.status),
        "response": json.loads(error.response().body),
    }
    if op.bulk_id:
        result["bulkId"] = op.bulk_id
    return result
