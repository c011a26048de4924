"""The SCIM routes under ``/scim/v2``: discovery, then Users (and Groups, ``group_endpoints``).

Each handler authenticates the client (``auth``), reads, writes in one transaction, and, when a person left
or moved, ends their sessions after the commit (``deprovision``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from scim2_models import Context, PatchOp, SearchRequest
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from idp.provider import Provider
from idp.scim.auth import ScimCaller, authenticate
from idp.scim.deprovision import end_sessions_after_commit
from idp.scim.discovery import MAX_RESULTS, resource_types, schemas, service_provider_config
from idp.scim.filters import build_condition
from idp.scim.responses import ScimError, list_response, scim_json
from idp.scim.user_writes import Effects, create_user, delete_user, replace_user
from idp.scim.users import (
    ATTRIBUTES,
    SORTABLE,
    UserModel,
    build_resource,
    check_version,
    dump,
    in_subtree,
    input_of,
    load_subtree_slugs,
    load_visible,
    load_written,
    read_input,
    search_users,
)

MAX_BODY = 64 * 1024
Handler = Callable[[Request, Provider, ScimCaller], Awaitable[Response]]


def scim_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        provider: Provider = request.app.state.provider
        try:
            caller = await authenticate(request, provider)
        except ScimError as error:
            return error.response()
        except SQLAlchemyError:
            return ScimError(503, "storage is unavailable", headers={"Retry-After": "5"}).response()
        return await answer(handler, request, provider, caller)

    endpoint.handler = handler  # type: ignore[attr-defined]  # what a Bulk operation runs (idp.scim.bulk)
    return endpoint


async def answer(handler: Handler, request: Request, provider: Provider, caller: ScimCaller) -> Response:
    """One SCIM operation for an authenticated caller; every failure becomes an RFC 7644 §3.12 error."""
    try:
        return await handler(request, provider, caller)
    except ScimError as error:
        return error.response()
    except IntegrityError:
        return ScimError(409, "a concurrent change holds this value", "uniqueness").response()
    except SQLAlchemyError:
        return ScimError(503, "storage is unavailable", headers={"Retry-After": "5"}).response()


def base_of(provider: Provider) -> str:
    return f"{provider.issuer}/scim/v2"


async def read_json(request: Request) -> Any:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/scim+json", "application/json"):
        raise ScimError(415 if media else 400, "send application/scim+json", "invalidSyntax")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ScimError(413, "the body is too large")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ScimError(400, "the body is not JSON", "invalidSyntax") from exc


def _split(value: str | None) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def _csv(request: Request, name: str) -> list[str] | None:
    return _split(request.query_params.get(name))


async def _respond_user(provider: Provider, user_id: str, request: Request, status: int = 200) -> Response:
    async with provider.sessionmaker() as session:
        user, account = await load_written(session, user_id)
        model = build_resource(user, account, base_of(provider))
    headers = {"ETag": model.meta.version, "Location": model.meta.location} if model.meta else {}
    return scim_json(dump(model, _csv(request, "attributes"), _csv(request, "excludedAttributes")), status, headers)


async def _after(provider: Provider, effects: Effects) -> None:
    if effects.end_sessions:
        await end_sessions_after_commit(provider, effects.user_id)


# --- discovery ---------------------------------------------------------------------------------------------
def _only_get(request: Request) -> None:
    if request.method != "GET":
        raise ScimError(405, "discovery endpoints are read-only", headers={"Allow": "GET"})


@scim_endpoint
async def service_provider_config_endpoint(request: Request, provider: Provider, _caller: ScimCaller) -> Response:
    _only_get(request)
    return scim_json(service_provider_config(base_of(provider)))


@scim_endpoint
async def resource_types_endpoint(request: Request, provider: Provider, _caller: ScimCaller) -> Response:
    _only_get(request)
    found = resource_types(base_of(provider))
    wanted = request.path_params.get("name")
    if wanted is None:
        return list_response(found, len(found), 1)
    match = [r for r in found if r["id"] == wanted]
    if not match:
        raise ScimError(404, f"no resource type {wanted[:40]}")
    return scim_json(match[0])


@scim_endpoint
async def schemas_endpoint(request: Request, provider: Provider, caller: ScimCaller) -> Response:
    _only_get(request)
    async with provider.sessionmaker() as session:
        units = await load_subtree_slugs(session, caller.subtree)
    found = schemas(base_of(provider), units)
    wanted = request.path_params.get("id")
    if wanted is None:
        return list_response(found, len(found), 1)
    match = [s for s in found if s["id"] == wanted]
    if not match:
        raise ScimError(404, f"no schema {wanted[:80]}")
    return scim_json(match[0])


# --- Users -------------------------------------------------------------------------------------------------
@scim_endpoint
async def users_list(request: Request, provider: Provider, caller: ScimCaller) -> Response:
    """RFC 7644 §3.4.2: filter, sortBy/sortOrder, startIndex (1-based) and count (≤ 200)."""
    query: dict[str, Any] = {k: v for k, v in request.query_params.items()}
    for name in ("startIndex", "count"):
        if name in query:
            query[name] = _whole(query[name], name)
    return await _search(provider, caller, query)


@scim_endpoint
async def users_search(request: Request, provider: Provider, caller: ScimCaller) -> Response:
    """RFC 7644 §3.4.3: the same query as a POST body (a SearchRequest), for filters too long for a URL."""
    body = await read_json(request)
    try:
        search: SearchRequest = SearchRequest.model_validate(body, scim_ctx=Context.SEARCH_REQUEST)
    except Exception as exc:  # pydantic and SCIM validation errors
        raise ScimError(400, "the search request is not valid", "invalidSyntax") from exc
    query: dict[str, Any] = {
        "filter": search.filter,
        "sortBy": search.sort_by,
        "sortOrder": search.sort_order.value if search.sort_order else None,
        "startIndex": search.start_index,
        "count": search.count,
        "attributes": ",".join(search.attributes or []) or None,
        "excludedAttributes": ",".join(search.excluded_attributes or []) or None,
    }
    return await _search(provider, caller, {k: v for k, v in query.items() if v is not None})


def _whole(raw: str, name: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise ScimError(400, f"{name} must be an integer", "invalidValue") from exc


async def _search(provider: Provider, caller: ScimCaller, query: dict[str, Any]) -> Response:
    start = max(1, int(query.get("startIndex", 1)))
    count = min(max(0, int(query.get("count", 100))), MAX_RESULTS)
    condition = in_subtree(caller.subtree)
    if query.get("filter"):
        condition = condition & build_condition(str(query["filter"]), ATTRIBUTES)
    sort_by = str(query.get("sortBy") or "id").lower().removeprefix("urn:ietf:params:scim:schemas:core:2.0:user:")
    if sort_by not in SORTABLE:
        raise ScimError(400, f"sorting by {sort_by[:40]} is not supported", "invalidValue")
    column = SORTABLE[sort_by]
    order = column.desc() if query.get("sortOrder") == "descending" else column.asc()
    async with provider.sessionmaker() as session:
        total, rows = await search_users(session, condition, order, start, count)
        base = base_of(provider)
        attributes, excluded = _split(query.get("attributes")), _split(query.get("excludedAttributes"))
        resources = [dump(build_resource(user, account, base), attributes, excluded) for user, account in rows]
    return list_response(resources, total, start)


@scim_endpoint
async def user_get(request: Request, provider: Provider, caller: ScimCaller) -> Response:
    async with provider.sessionmaker() as session:
        model = build_resource(*await load_visible(session, caller, request.path_params["id"]), base_of(provider))
    version = model.meta.version if model.meta else None
    if version and request.headers.get("if-none-match") == version:
        return Response(status_code=304, headers={"ETag": version})
    return await _respond_user(provider, request.path_params["id"], request)


@scim_endpoint
async def user_create(request: Request, provider: Provider, caller: ScimCaller) -> Response:
    data = read_input(await read_json(request), Context.RESOURCE_CREATION_REQUEST)
    async with provider.sessionmaker() as session, session.begin():
        effects = await create_user(session, caller, data, provider.clock.now())
    return await _respond_user(provider, effects.user_id, request, 201)


@scim_endpoint
async def user_replace(request: Request, provider: Provider, caller: ScimCaller) -> Response:
    data = read_input(await read_json(request), Context.RESOURCE_REPLACEMENT_REQUEST)
    async with provider.sessionmaker() as session, session.begin():
        user, account = await load_visible(session, caller, request.path_params["id"])
        check_version(build_resource(user, account, base_of(provider)), request.headers.get("if-match"))
        effects = await replace_user(session, caller, user, account, data, provider.clock.now(), "replace")
    await _after(provider, effects)
    return await _respond_user(provider, effects.user_id, request)


@scim_endpoint
async def user_patch(request: Request, provider: Provider, caller: ScimCaller) -> Response:
    body = await read_json(request)
    try:
        patch = PatchOp[UserModel].model_validate(body, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    except Exception as exc:  # scim2-models raises pydantic and SCIM errors for bad operations
        raise ScimError(400, f"the patch is not valid: {str(exc).splitlines()[0][:200]}", "invalidSyntax") from exc
    async with provider.sessionmaker() as session, session.begin():
        user, account = await load_visible(session, caller, request.path_params["id"])
        model = build_resource(user, account, base_of(provider))
        check_version(model, request.headers.get("if-match"))
        try:
            patch.patch(model)
        except Exception as exc:
            raise ScimError(400, f"the patch cannot apply: {str(exc).splitlines()[0][:200]}", "invalidPath") from exc
        effects = await replace_user(
            session, caller, user, account, input_of(model, user.name), provider.clock.now(), "patch"
        )
    await _after(provider, effects)
    return await _respond_user(provider, effects.user_id, request)


@scim_endpoint
async def user_delete(request: Request, provider: Provider, caller: ScimCaller) -> Response:
    async with provider.sessionmaker() as session:
        user, account = await load_visible(session, caller, request.path_params["id"])
        check_version(build_resource(user, account, base_of(provider)), request.headers.get("if-match"))
    await end_sessions_after_commit(provider, user.id)  # before the rows go: relying parties are told
    async with provider.sessionmaker() as session, session.begin():
        user, _ = await load_visible(session, caller, user.id)
        await delete_user(session, caller, user, provider.clock.now())
    return Response(status_code=204)


@scim_endpoint
async def not_found(request: Request, _provider: Provider, _caller: ScimCaller) -> Response:
    raise ScimError(404, "there is no SCIM endpoint here")
