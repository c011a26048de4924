"""The routes of the SCIM 2.0 service provider (``idp.scim``) at ``/scim/v2``."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from idp.scim import bulk
from idp.scim import endpoints as scim
from idp.scim import group_endpoints as groups

PREFIX = "/scim/v2"
ALL = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def build_scim_routes() -> list[BaseRoute]:
    return [
        Route(f"{PREFIX}/ServiceProviderConfig", scim.service_provider_config_endpoint, methods=ALL),
        Route(f"{PREFIX}/ResourceTypes", scim.resource_types_endpoint, methods=ALL),
        Route(f"{PREFIX}/ResourceTypes/{{name}}", scim.resource_types_endpoint, methods=ALL),
        Route(f"{PREFIX}/Schemas", scim.schemas_endpoint, methods=ALL),
        Route(f"{PREFIX}/Schemas/{{id}}", scim.schemas_endpoint, methods=ALL),
        Route(f"{PREFIX}/Users", scim.users_list, methods=["GET"]),
        Route(f"{PREFIX}/Users", scim.user_create, methods=["POST"]),
        Route(f"{PREFIX}/Users/.search", scim.users_search, methods=["POST"]),
        Route(f"{PREFIX}/.search", scim.users_search, methods=["POST"]),  # §3.4.3 root search: Users are searchable
        Route(f"{PREFIX}/Users/{{id}}", scim.user_get, methods=["GET"]),
        Route(f"{PREFIX}/Users/{{id}}", scim.user_replace, methods=["PUT"]),
        Route(f"{PREFIX}/Users/{{id}}", scim.user_patch, methods=["PATCH"]),
        Route(f"{PREFIX}/Users/{{id}}", scim.user_delete, methods=["DELETE"]),
        Route(f"{PREFIX}/Groups", groups.groups_list, methods=["GET"]),
        Route(f"{PREFIX}/Groups", groups.group_create, methods=["POST"]),
        Route(f"{PREFIX}/Groups/{{id}}", groups.group_get, methods=["GET"]),
        Route(f"{PREFIX}/Groups/{{id}}", groups.group_replace, methods=["PUT"]),
        Route(f"{PREFIX}/Groups/{{id}}", groups.group_patch, methods=["PATCH"]),
        Route(f"{PREFIX}/Groups/{{id}}", groups.group_delete, methods=["DELETE"]),
        Route(f"{PREFIX}/Bulk", bulk.bulk_endpoint, methods=["POST"]),  # RFC 7644 §3.7
        Route(f"{PREFIX}/{{rest:path}}", scim.not_found, methods=ALL),
    ]
