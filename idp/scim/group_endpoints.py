"""The SCIM Group routes (``idp.scim.groups``): list, read, create, replace, patch, delete."""

from __future__ import annotations

from scim2_models import Context, Group, PatchOp
from starlette.requests import Request
from starlette.responses import Response

from idp.provider import Provider
from idp.scim.auth import ScimCaller
from idp.scim.deprovision import end_sessions_after_commit
from idp.scim.endpoints import base_of, read_json, scim_endpoint
from idp.scim.groups import build_group, list_group_keys, load_members, parse_group_name, set_members
from idp.scim.responses import ScimError, list_response, scim_json
from idp.scim.users import check_version


def _read_group(body: object, context: Context) -> Group:
    try:
        return Group.model_validate(body, scim_ctx=context)
    except Exception as exc:  # pydantic and SCIM validation errors
        raise ScimError(400, f"the group is not valid: {str(exc).splitlines()[0][:200]}", "invalidValue") from exc


def _member_ids(group: Group) -> set[str]:
    return {m.value for m in group.members or [] if m.value}


async def _current(provider: Provider, caller: ScimCaller, group_id: str) -> tuple[str, str, Group]:
    slug, role = parse_group_name(group_id)
    async with provider.sessionmaker() as session:
        members = await load_members(session, caller, slug, role)
    if not members:
        raise ScimError(404, f"no group {group_id[:80]}")
    return slug, role, build_group(slug, role, members, base_of(provider))


async def _answer(provider: Provider, caller: ScimCaller, slug: str, role: str, status: int = 200) -> Response:
    async with provider.sessionmaker() as session:
        group = build_group(slug, role, await load_members(session, caller, slug, role), base_of(provider))
    headers = {"ETag": group.meta.version, "Location": group.meta.location} if group.meta else {}
    return scim_json(group.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE), status, headers)


async def _write(provider: Provider, caller: ScimCaller, slug: str, role: str, members: set[str], how: str) -> None:
    async with provider.sessionmaker() as session, session.begin():
        removed = await set_members(session, caller, slug, role, members, provider.clock.now(), how)
    for user_id in removed:
        await end_sessions_after_commit(provider, user_id)


@scim_endpoint
async def groups_list(request: Request, provider: Provider, caller: ScimCaller) -> Response:
    wanted = request.query_params.get("filter")
    async with provider.sessionmaker() as session:
        keys = await list_group_keys(session, caller)
        if wanted:  # groups filter by name only: displayName eq "dinkes/perawat"
            name = (
                wanted.partition(" eq ")[2].strip().strip('"') if wanted.lower().startswith("displayname eq ") else None
            )
            if name is None:
                raise ScimError(400, 'groups filter on displayName eq "UNIT/ROLE" only', "invalidFilter")
            keys = [k for k in keys if f"{k[0]}/{k[1]}" == name]
        groups = [
            build_group(slug, role, await load_members(session, caller, slug, role), base_of(provider))
            for slug, role in keys
        ]
    return list_response([g.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE) for g in groups], len(groups), 1)


@scim_endpoint
async def group_get(request: Request, provider: Provider, caller: ScimCaller) -> Response:
    slug, role, _ = await _current(provider, caller, request.path_params["id"])
    return await _answer(provider, caller, slug, role)


@scim_endpoint
async def group_create(request: Request, provider: Provider, caller: ScimCaller) -> Response:
    group = _read_group(await read_json(request), Context.RESOURCE_CREATION_REQUEST)
    slug, role = parse_group_name(group.display_name or "")
    async with provider.sessionmaker() as session:
        if await load_members(session, caller, slug, role):
            raise ScimError(409, "this group exists", "uniqueness")
    await _write(provider, caller, slug, role, _member_ids(group), "create")
    return await _answer(provider, caller, slug, role, 201)


@scim_endpoint
async def group_replace(request: Request, provider: Provider, caller: ScimCaller) -> Response:
    slug, role, current = await _current(provider, caller, request.path_params["id"])
    check_version(current, request.headers.get("if-match"))  # type: ignore[arg-type]
    group = _read_group(await read_json(request), Context.RESOURCE_REPLACEMENT_REQUEST)
    await _write(provider, caller, slug, role, _member_ids(group), "replace")
    return await _answer(provider, caller, slug, role)


@scim_endpoint
async def group_patch(request: Request, provider: Provider, caller: ScimCaller) -> Response:
    slug, role, current = await _current(provider, caller, request.path_params["id"])
    check_version(current, request.headers.get("if-match"))  # type: ignore[arg-type]
    try:
        patch = PatchOp[Group].model_validate(await read_json(request), scim_ctx=Context.RESOURCE_PATCH_REQUEST)
        patch.patch(current)
    except ScimError:
        raise
    except Exception as exc:
        raise ScimError(400, f"the patch is not valid: {str(exc).splitlines()[0][:200]}", "invalidSyntax") from exc
    await _write(provider, caller, slug, role, _member_ids(current), "patch")
    return await _answer(provider, caller, slug, role)


@scim_endpoint
async def group_delete(request: Request, provider: Provider, caller: ScimCaller) -> Response:
    slug, role, current = await _current(provider, caller, request.path_params["id"])
    check_version(current, request.headers.get("if-match"))  # type: ignore[arg-type]
    await _write(provider, caller, slug, role, set(), "delete")
    return Response(status_code=204)
