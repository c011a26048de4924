"""The routes of the SCIM 2.0 service provider (``idp.scim``) at ``/scim/v2``.

The handlers are imported on the first SCIM request, not at start-up: ``scim2_models`` builds its pydantic
models on import (1.6 s and 11 MiB per worker, measured), and most workers of a city's hub never serve
SCIM (BKN's provisioning runs against one hub at a time, a few times a day).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

PREFIX = "/scim/v2"
ALL = ["GET", "POST", "PUT", "PATCH", "DELETE"]
Handler = Callable[[Request], Awaitable[Response]]
USERS, GROUPS, BULK = "idp.scim.endpoints", "idp.scim.group_endpoints", "idp.scim.bulk"


def lazy(module: str, name: str) -> Handler:
    """An endpoint that imports ``module`` when it is first called and hands the request to its ``name``."""
    found: list[Handler] = []

    async def endpoint(request: Request) -> Response:
        if not found:
            found.append(getattr(importlib.import_module(module), name))
        return await found[0](request)

    endpoint.__name__ = name
    return endpoint


def build_scim_routes() -> list[BaseRoute]:
    return [
        Route(f"{PREFIX}/ServiceProviderConfig", lazy(USERS, "service_provider_config_endpoint"), methods=ALL),
        Route(f"{PREFIX}/ResourceTypes", lazy(USERS, "resource_types_endpoint"), methods=ALL),
        Route(f"{PREFIX}/ResourceTypes/{{name}}", lazy(USERS, "resource_types_endpoint"), methods=ALL),
        Route(f"{PREFIX}/Schemas", lazy(USERS, "schemas_endpoint"), methods=ALL),
        Route(f"{PREFIX}/Schemas/{{id}}", lazy(USERS, "schemas_endpoint"), methods=ALL),
        Route(f"{PREFIX}/Users", lazy(USERS, "users_list"), methods=["GET"]),
        Route(f"{PREFIX}/Users", lazy(USERS, "user_create"), methods=["POST"]),
        Route(f"{PREFIX}/Users/.search", lazy(USERS, "users_search"), methods=["POST"]),
        # §3.4.3 root search: Users are searchable
        Route(f"{PREFIX}/.search", lazy(USERS, "users_search"), methods=["POST"]),
        Route(f"{PREFIX}/Users/{{id}}", lazy(USERS, "user_get"), methods=["GET"]),
        Route(f"{PREFIX}/Users/{{id}}", lazy(USERS, "user_replace"), methods=["PUT"]),
        Route(f"{PREFIX}/Users/{{id}}", lazy(USERS, "user_patch"), methods=["PATCH"]),
        Route(f"{PREFIX}/Users/{{id}}", lazy(USERS, "user_delete"), methods=["DELETE"]),
        Route(f"{PREFIX}/Groups", lazy(GROUPS, "groups_list"), methods=["GET"]),
        Route(f"{PREFIX}/Groups", lazy(GROUPS, "group_create"), methods=["POST"]),
        Route(f"{PREFIX}/Groups/{{id}}", lazy(GROUPS, "group_get"), methods=["GET"]),
        Route(f"{PREFIX}/Groups/{{id}}", lazy(GROUPS, "group_replace"), methods=["PUT"]),
        Route(f"{PREFIX}/Groups/{{id}}", lazy(GROUPS, "group_patch"), methods=["PATCH"]),
        Route(f"{PREFIX}/Groups/{{id}}", lazy(GROUPS, "group_delete"), methods=["DELETE"]),
        Route(f"{PREFIX}/Bulk", lazy(BULK, "bulk_endpoint"), methods=["POST"]),  # RFC 7644 §3.7
        Route(f"{PREFIX}/{{rest:path}}", lazy(USERS, "not_found"), methods=ALL),
    ]
