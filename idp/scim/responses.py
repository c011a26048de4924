"""SCIM answers: RFC 7644 §3.12 errors and §3.4.2 list responses, as ``application/scim+json``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

MEDIA_TYPE = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


class ScimError(Exception):
    """An RFC 7644 §3.12 error: ``status``, optional ``scim_type`` (invalidFilter, uniqueness, ...), ``detail``."""

    def __init__(
        self, status: int, detail: str, scim_type: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = headers or {}

    def response(self) -> Response:
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(self.status), "detail": self.detail}
        if self.scim_type:
            body["scimType"] = self.scim_type
        return scim_json(body, self.status, self.headers)


def scim_json(body: Any, status: int = 200, headers: Mapping[str, str | None] | None = None) -> Response:
    """``headers`` whose value is ``None`` (a resource without a version yet) are left out."""
    given = {name: value for name, value in (headers or {}).items() if value is not None}
    return Response(
        json.dumps(body, ensure_ascii=False),
        status,
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "no-store", **given},
    )


def list_response(resources: list[dict[str, Any]], total: int, start_index: int) -> Response:
    return scim_json(
        {
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start_index,
            "itemsPerPage": len(resources),
            "Resources": resources,
        }
    )
