"""Which identity claims an app's assertion carries (``X-Gerbang-Assertion``), per app, and no more.

Always: ``iss``, ``aud``, ``iat``, ``exp``, ``jti``, ``sub`` (when a person is signed in) and ``client_id``. Beyond
those, each app carries what Kominfo set for it (``apps.claims``; ``gerbang apps add|update --claims``, the admin
API, the console, ``apply``) out of ``CLAIMS``; an app with nothing set carries ``DEFAULT_CLAIMS``. Personal
identifiers are bounded by policy as the provider bounds them for clients: ``nik`` only reaches an app whose
client id or slug a guarded-scope rule for ``nik`` names (``policies/default/30-provider.yaml``), and ``nip``
the same for a rule guarding ``nip``; with no rule guarding the scope, it passes as for clients.
"""

from __future__ import annotations

from collections.abc import Iterable

from idp.app_claims import CLAIMS, DEFAULT_CLAIMS, GUARDED, released_claims
from idp.errors import InvalidInput

__all__ = ("CLAIMS", "DEFAULT_CLAIMS", "GUARDED", "check_claims", "parse_claims", "released_claims")


def check_claims(values: Iterable[str]) -> tuple[str, ...]:
    """The claims in ``CLAIMS``' order, each once; an unknown name is refused with the list of known ones."""
    given = {value.strip() for value in values if value.strip()}
    unknown = sorted(given - set(CLAIMS))
    if unknown:
        raise InvalidInput(f"unknown claim(s) {', '.join(unknown)}; known: {', '.join(CLAIMS)}")
    return tuple(claim for claim in CLAIMS if claim in given)


def parse_claims(text: str) -> tuple[str, ...]:
    """``--claims email,nik,roles`` (commas or spaces)."""
    return check_claims(text.replace(",", " ").split())
