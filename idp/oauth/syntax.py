"""RFC 6749 Appendix A: the characters each protocol parameter may hold, checked once before authlib runs.

authlib quotes a bad value back in its error description and then refuses its own description (RFC 6749
§5.2 allows only %x20-21 / %x23-5B / %x5D-7E there): a ``"``, ``\\``, TAB or non-ASCII character in
``redirect_uri`` or ``response_type`` became a 500. A value outside its grammar is ``invalid_request`` here,
before anything quotes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

VSCHAR = re.compile(r"[\x20-\x7e]*")  # client_id, state, code, refresh_token, nonce, ...
NQCHAR_LIST = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")  # scope, response_type
URI = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")  # RFC 3986 characters only
# code_challenge (RFC 7636 §4.2); a code_verifier outside its grammar is the grant failing (idp.oauth.pkce).
UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]*")
DIGITS = re.compile(r"[0-9]{1,10}")

GRAMMAR = {
    "client_id": VSCHAR,
    "client_secret": VSCHAR,
    "state": VSCHAR,
    "code": VSCHAR,
    "refresh_token": VSCHAR,
    "nonce": VSCHAR,
    "grant_type": NQCHAR_LIST,
    "response_type": NQCHAR_LIST,
    "scope": NQCHAR_LIST,
    "prompt": NQCHAR_LIST,
    "acr_values": NQCHAR_LIST,
    "ui_locales": NQCHAR_LIST,
    "response_mode": NQCHAR_LIST,
    "code_challenge_method": NQCHAR_LIST,
    "redirect_uri": URI,
    "resource": URI,
    "request_uri": URI,
    "code_challenge": UNRESERVED,
    "max_age": DIGITS,
    "client_assertion_type": URI,
    "client_assertion": VSCHAR,
    "token": VSCHAR,
    "token_type_hint": NQCHAR_LIST,
    "id_token_hint": VSCHAR,
}


def find_malformed(params: Iterable[tuple[str, str]]) -> str | None:
    """The first parameter (by name) whose value is outside its grammar; ``None`` when all are well formed."""
    for name, value in params:
        grammar = GRAMMAR.get(name)
        if grammar is not None and (len(value) > 4096 or not grammar.fullmatch(value)):
            return name
    return None
