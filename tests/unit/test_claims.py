"""Per-app assertion claims (``gateway.claims``, ``gateway.assertion_issuer.build_claims``)."""

from __future__ import annotations

import pytest

from gateway.assertion_issuer import build_claims
from gateway.claims import CLAIMS, DEFAULT_CLAIMS, check_claims, parse_claims, released_claims
from gateway.model import Principal, Route
from idp.errors import InvalidInput
from idp.i18n import TEXT
from idp.pdp.breach import CLAIM_ORDER
from policies.provider import ProviderPolicy

PERSON = Principal(
    sub="u-1",
    client_id="gerbang-gateway",
    name="Siti",
    opd="dishub",
    roles=("operator",),
    acr="2",
    amr=("pwd", "otp"),
    email="siti@example.id",
    nik="1671015203950002",
    nip="198001012005011001",
)


def route(claims: tuple[str, ...] = DEFAULT_CLAIMS) -> Route:
    return Route(
        slug="parkir",
        opd="dishub",
        opd_path="/k/dishub/",
        upstreams=("http://u",),
        auth_mode="session",
        resource="http://parkir.localhost/",
        claims=claims,
    )


def test_the_default_set_is_what_apps_always_received() -> None:
    claims = build_claims(PERSON, route(), "http://hub", 100, 30)
    assert {k for k in claims if k not in ("iss", "aud", "iat", "exp", "jti")} == {
        "sub",
        "client_id",
        "name",
        "opd",
        "roles",
        "acr",
    }


def test_an_app_receives_exactly_its_claims_and_never_more() -> None:
    claims = build_claims(PERSON, route(("email", "nik", "amr")), "http://hub", 100, 30)
    assert (claims["email"], claims["nik"], claims["amr"]) == ("siti@example.id", "1671015203950002", ["pwd", "otp"])
    assert not {"name", "opd", "roles", "acr", "nip"} & set(claims)
    bare = build_claims(PERSON, route(()), "http://hub", 100, 30)
    assert set(bare) == {"iss", "aud", "iat", "exp", "jti", "sub", "client_id"}
    anonymous = build_claims(Principal(), route(("email", "nik", "roles")), "http://hub", 100, 30)
    assert "email" not in anonymous and "nik" not in anonymous and anonymous["roles"] == []


@pytest.mark.parametrize("text", ["email,nikk", "password", "sub", "iss", "roles;drop"])
def test_unknown_claim_names_are_refused_with_the_known_ones(text: str) -> None:
    with pytest.raises(InvalidInput, match="known: email, name"):
        parse_claims(text)


def test_claims_are_kept_in_one_order_once() -> None:
    assert parse_claims("roles, email roles,nik") == ("email", "nik", "roles")
    assert check_claims([]) == ()


def test_nik_and_nip_only_where_a_guarded_scope_rule_allows() -> None:
    rules = ProviderPolicy(guarded_scopes={"nik": frozenset({"disdukcapil-web", "adminduk"})})
    wanted = ("email", "nik", "nip", "roles")
    assert released_claims(wanted, ("parkir-web", "parkir"), rules.allowed_scopes) == ("email", "nip", "roles")
    assert released_claims(wanted, ("disdukcapil-web", "x"), rules.allowed_scopes) == wanted
    assert released_claims(wanted, ("adminduk",), rules.allowed_scopes) == wanted  # the rule names the app's slug


def test_the_breach_notice_knows_every_claim_in_the_settings_order() -> None:
    assert CLAIM_ORDER == CLAIMS  # idp cannot import gateway.claims: its copy must not drift


def test_every_claim_has_a_readable_label_in_both_languages() -> None:
    for locale in ("id", "en"):
        assert all(f"claim.{name}" in TEXT[locale] for name in CLAIMS), locale
