"""RFC 8707 resource indicators: the APIs a token is for become its ``aud``."""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid, unknown, or not allowed for this client."""

    error = "invalid_target"


def requested_resources(datalist: dict[str, list[str]]) -> list[str]:
    resources = datalist.get("resource", [])
    for uri in resources:
        try:
            parts = urlsplit(uri)
        except ValueError as exc:  # "http://[::1": not a URI at all
            raise InvalidTargetError("'resource' must be an absolute URI without a fragment.") from exc
        if not parts.scheme or not parts.netloc or parts.fragment or "#" in uri:
            raise InvalidTargetError("'resource' must be an absolute URI without a fragment.")
    return list(dict.fromkeys(resources))


def check_resources_allowed(resources: list[str], allowed: list[str]) -> None:
    denied = [uri for uri in resources if uri not in allowed]
    if denied:
        raise InvalidTargetError("The client may not obtain tokens for the requested resource.")


def narrow_resources(requested: list[str], granted: list[str]) -> list[str]:
    """At the token endpoint a client may narrow the resources of its grant, never widen them (§2.2)."""
    if not requested:
        return granted
    if any(uri not in granted for uri in requested):
        raise InvalidTargetError("The requested resource was not part of the authorization.")
    return requested
