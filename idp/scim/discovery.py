"""RFC 7644 §4 discovery: ServiceProviderConfig, ResourceTypes and the Schemas of what this provider stores.

The schemas are scim2-models' own definitions cut down to the attributes Gerbang keeps, so a client (or a
compliance checker) reads exactly what round-trips."""

from __future__ import annotations

from functools import cache
from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    Group,
    Patch,
    ResourceType,
    SchemaExtension,
    ServiceProviderConfig,
    Sort,
    User,
)

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
KEPT = {
    CORE_USER: ("userName", "name", "displayName", "active", "emails", "groups"),
    ENTERPRISE: ("employeeNumber", "organization", "department"),
    CORE_GROUP: ("displayName", "members"),
}
KEPT_SUB = {"groups": ("value", "$ref", "display"), "members": ("value", "$ref", "display")}
MAX_RESULTS = 200
MAX_OPERATIONS = 100  # RFC 7644 §3.7 Bulk (idp.scim.bulk), advertised below and enforced there
MAX_PAYLOAD_SIZE = 1024 * 1024


def service_provider_config(base: str) -> dict[str, Any]:
    config = ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=True, max_operations=MAX_OPERATIONS, max_payload_size=MAX_PAYLOAD_SIZE),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="OAuth Bearer Token",
                primary=True,
                description="An access token of this hub (client_credentials, scope scim, resource "
                f"{base}/), for a client Kominfo placed in an OPD unit",
            )
        ],
    )
    body = config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    body["meta"] = {"resourceType": "ServiceProviderConfig", "location": f"{base}/ServiceProviderConfig"}
    return body


def resource_types(base: str) -> list[dict[str, Any]]:
    user = ResourceType(
        id="User",
        name="User",
        endpoint="/Users",
        description="ASN accounts",
        schema_=CORE_USER,
        schema_extensions=[SchemaExtension(schema_=ENTERPRISE, required=True)],
    )
    group = ResourceType(
        id="Group", name="Group", endpoint="/Groups", description="An OPD unit's role", schema_=CORE_GROUP
    )
    out = []
    for resource in (user, group):
        body = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        body["meta"] = {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/{resource.id}"}
        out.append(body)
    return out


@cache
def _schema_bodies() -> tuple[dict[str, Any], ...]:
    bodies = []
    for model in (User, EnterpriseUser, Group):
        body = model.to_schema().model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        kept = KEPT[body["id"]]
        body["attributes"] = [_trim(a) for a in body["attributes"] if a["name"] in kept]
        bodies.append(body)
    return tuple(bodies)


REQUIRED = ("active", "department")  # every account has a state and (SCIM-provisioned) a unit: never removed


def _trim(attribute: dict[str, Any]) -> dict[str, Any]:
    if attribute["name"] in REQUIRED:
        attribute = {**attribute, "required": True}
    if attribute["name"] in KEPT_SUB and attribute.get("subAttributes"):
        keep = KEPT_SUB[attribute["name"]]
        attribute = {**attribute, "subAttributes": [s for s in attribute["subAttributes"] if s["name"] in keep]}
    return attribute


def schemas(base: str, units: list[str]) -> list[dict[str, Any]]:
    """``units``: the OPD units the caller may place people in, published as ``department``'s canonical values
    (RFC 7643 §7) so a provisioning system can offer them."""
    out = []
    for body in _schema_bodies():
        body = {**body, "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{body['id']}"}}
        if body["id"] == ENTERPRISE:
            body["attributes"] = [
                {**a, "canonicalValues": units} if a["name"] == "department" else a for a in body["attributes"]
            ]
        out.append(body)
    return out
