"""The identity claims a ``session`` or ``bearer`` app's assertion may carry, and which of them policy releases.

Pure data and one function, shared by the gateway (``gateway.claims``: what the assertion carries) and the
provider (``idp.app_agreement``: what the citizen is asked to agree to before a session app first receives it),
so the page names exactly what the app gets.
"""

from __future__ import annotations

CLAIMS = ("email", "name", "nik", "nip", "opd", "roles", "acr", "amr")
DEFAULT_CLAIMS = ("name", "opd", "roles", "acr")
GUARDED = ("nik", "nip")  # released only where policy allows, as the provider's guarded scopes


def released_claims(claims: tuple[str, ...], keys: tuple[str, ...], allowed_scopes: object) -> tuple[str, ...]:
    """``claims`` less the guarded ones no policy rule releases to any of ``keys`` (the app's client id, slug).

    ``allowed_scopes``: ``policies.engine.PolicySet.allowed_scopes`` (client id, requested) → granted."""
    out = []
    for claim in claims:
        released = any(claim in allowed_scopes(key, (claim,)) for key in keys)  # type: ignore[operator]
        if claim in GUARDED and not released:
            continue
        out.append(claim)
    return tuple(out)
