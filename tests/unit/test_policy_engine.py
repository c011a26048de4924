"""The access decision: OPD inheritance, deny overrides, report-only, defaults, acr, scopes, clients, paths."""

from __future__ import annotations

from datetime import datetime

import pytest

from policies import explain
from tests.support.policies import policy_from, request

APPS = """
apps:
  - slug: secret
    restricted: true
  - slug: strong
    require_acr: "2"
  - slug: public
    allow_anonymous: true
"""


def test_a_rule_for_an_opd_covers_its_whole_subtree() -> None:
    policy = policy_from(
        APPS,
        """
    rules:
      - id: dinkes
        effect: allow
        match: {apps: [secret], subject: {opds: [dinkes]}}
      - id: kecamatan
        effect: allow
        match: {apps: [secret], subject: {opds: ["/kota/kec-ilir-barat/"]}}
    """,
    )
    puskesmas = request(app="secret", opd_paths=("/kota/dinkes/puskesmas-plaju/",))
    kelurahan = request(app="secret", opd_paths=("/kota/kec-ilir-barat/kel-bukit-lama/",))
    dinkes_itself = request(app="secret", opd_paths=("/kota/dinkes/",))
    assert policy.decide(puskesmas).rule_ids == ("dinkes",)
    assert policy.decide(kelurahan).rule_ids == ("kecamatan",)
    assert policy.decide(dinkes_itself).allowed


@pytest.mark.parametrize(
    "paths",
    [
        ("/kota/dishub/",),  # another OPD
        ("/kota/",),  # the parent: inheritance goes down, never up
        ("/kota/dinkes-lama/",),  # a slug that merely starts the same way
        (),  # a citizen: no OPD at all
    ],
)
def test_opd_rules_do_not_reach_outside_the_subtree(paths: tuple[str, ...]) -> None:
    policy = policy_from(
        APPS,
        """
    rules:
      - id: dinkes
        effect: allow
        match: {apps: [secret], subject: {opds: [dinkes]}}
    """,
    )
    decision = policy.decide(request(app="secret", opd_paths=paths))
    assert not decision.allowed and decision.rule_ids == ()


def test_deny_overrides_allow_whatever_the_order() -> None:
    for order in ((0, 1), (1, 0)):
        rules = [
            """
      - id: allow-all
        effect: allow
        match: {apps: ["*"]}""",
            """
      - id: no-delete
        effect: deny
        match: {methods: [delete]}""",
        ]
        policy = policy_from("rules:" + "".join(rules[i] for i in order))
        assert policy.decide(request(method="DELETE")).rule_ids == ("no-delete",)
        assert not policy.decide(request(method="DELETE")).allowed
        assert policy.decide(request(method="GET")).rule_ids == ("allow-all",)


def test_report_only_is_reported_and_never_enforced() -> None:
    policy = policy_from(
        APPS,
        """
    rules:
      - id: trial-deny
        effect: report-only
        would: deny
        match: {apps: [app]}
      - id: trial-allow
        effect: report-only
        would: allow
        match: {apps: [secret]}
    """,
    )
    would_deny = policy.decide(request(app="app"))
    assert (would_deny.allowed, would_deny.report_only, would_deny.would_allow) == (True, ("trial-deny",), False)
    assert would_deny.rule_ids == ()
    would_allow = policy.decide(request(app="secret"))
    assert (would_allow.allowed, would_allow.report_only, would_allow.would_allow) == (False, ("trial-allow",), True)
    assert policy.decide(request(app="other")).would_allow is None


def test_defaults_restricted_deny_open_allow_authenticated_only() -> None:
    policy = policy_from(APPS)
    assert not policy.decide(request(app="secret")).allowed
    assert policy.decide(request(app="unlisted")).allowed
    assert policy.decide(request(app="unlisted", sub=None, client_id="machine")).allowed
    anonymous = policy.decide(request(app="unlisted", sub=None))
    assert not anonymous.allowed and anonymous.reason == "authentication required"
    assert policy.decide(request(app="public", sub=None)).allowed
    # the app registry may mark an app restricted too: either source makes it default deny
    assert not policy.decide(request(app="unlisted", restricted=True)).allowed


def test_app_require_acr_denies_with_the_level_to_step_up_to() -> None:
    policy = policy_from(APPS)
    for acr in (None, "1", "unknown-level"):
        decision = policy.decide(request(app="strong", acr=acr))
        assert (decision.allowed, decision.required_acr) == (False, "2")
    assert policy.decide(request(app="strong", acr="2")).allowed
    assert policy.decide(request(app="strong", acr="3")).allowed


def test_rule_acr_is_a_minimum_and_a_restricted_app_hints_the_lowest_step_up() -> None:
    policy = policy_from(
        APPS,
        """
    rules:
      - id: with-passkey
        effect: allow
        match: {apps: [secret], acr: 3}
      - id: with-otp
        effect: allow
        match: {apps: [secret], acr: 2}
    """,
    )
    assert policy.decide(request(app="secret", acr="2")).rule_ids == ("with-otp",)
    assert policy.decide(request(app="secret", acr="3")).rule_ids == ("with-passkey", "with-otp")
    short = policy.decide(request(app="secret", acr="1"))
    assert (short.allowed, short.required_acr) == (False, "2")


def test_a_deny_below_an_acr_level_asks_for_step_up() -> None:
    policy = policy_from(
        APPS,
        """
    rules:
      - id: exports-need-passkey
        effect: deny
        match: {paths: [/export], acr_below: 3}
      - id: exports-need-otp
        effect: deny
        match: {paths: [/export], acr_below: 2}
      - id: no-exports-at-night
        effect: deny
        match: {paths: [/export], time: [{start: "22:00", end: "06:00"}]}
    """,
    )
    password_only = policy.decide(request(path="/export", acr="1"))
    assert password_only.rule_ids == ("exports-need-passkey", "exports-need-otp")
    assert password_only.required_acr == "3"  # the level that lifts both
    assert policy.decide(request(path="/export", acr="3")).allowed
    night = policy.decide(request(path="/export", acr="1", at=datetime.fromisoformat("2026-01-05T23:00:00+07:00")))
    assert night.required_acr is None  # no sign-in level lifts the night rule
    assert policy.decide(request(path="/other", acr="1")).allowed


def test_scopes_are_all_required_and_clients_listed() -> None:
    policy = policy_from(
        APPS,
        """
    rules:
      - id: integration
        effect: allow
        match: {apps: [secret], clients: [sipkd], scopes: [budget.read, budget.write]}
    """,
    )
    both = {"budget.read", "budget.write", "openid"}
    assert policy.decide(request(app="secret", sub=None, client_id="sipkd", scopes=both)).allowed
    assert not policy.decide(request(app="secret", sub=None, client_id="sipkd", scopes={"budget.read"})).allowed
    assert not policy.decide(request(app="secret", sub=None, client_id="other", scopes=both)).allowed


def test_roles_users_and_methods() -> None:
    policy = policy_from(
        APPS,
        """
    rules:
      - id: readers
        effect: allow
        match: {apps: [secret], methods: [get, head], subject: {roles: [auditor, kepala]}}
      - id: owner
        effect: allow
        match: {apps: [secret], subject: {users: [u-owner]}}
    """,
    )
    assert policy.decide(request(app="secret", roles=("asn", "kepala"))).rule_ids == ("readers",)
    assert not policy.decide(request(app="secret", method="POST", roles=("kepala",))).allowed
    assert policy.decide(request(app="secret", method="PATCH", sub="u-owner")).rule_ids == ("owner",)
    assert not policy.decide(request(app="secret", roles=("asn",))).allowed


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/api", "/api", True),
        ("/api", "/api/x/y", True),
        ("/api", "/apix", False),
        ("/api/", "/api", False),
        ("/api/", "/api/x", True),
        ("/reports/*.pdf", "/reports/jan.pdf", True),
        ("/reports/*.pdf", "/reports/2026/jan.pdf", False),
        ("/reports/**.pdf", "/reports/2026/jan.pdf", True),
        ("/api/*/export", "/api/v1/export", True),
        ("/api/*/export", "/api/v1/export/more", False),
        ("/v?/x", "/v2/x", True),
        ("/v[12]/x", "/v3/x", False),
        ("/v[!12]/x", "/v3/x", True),
        ("/a.b", "/aXb", False),
    ],
)
def test_path_prefixes_and_globs(pattern: str, path: str, matches: bool) -> None:
    policy = policy_from(
        APPS,
        f"""
    rules:
      - id: paths
        effect: allow
        match: {{apps: [secret], paths: ["{pattern}"]}}
    """,
    )
    assert policy.decide(request(app="secret", path=path)).allowed is matches


@pytest.mark.parametrize(
    ("ip", "inside"),
    [
        ("10.1.2.3", True),
        ("10.255.255.255", True),
        ("11.0.0.1", False),
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        (None, False),
        ("not-an-ip", False),
    ],
)
def test_source_ip_cidrs(ip: str | None, inside: bool) -> None:
    policy = policy_from(
        APPS,
        """
    rules:
      - id: office
        effect: allow
        match: {apps: [secret], ips: [10.0.0.0/8, "2001:db8::/32"]}
      - id: outside
        effect: deny
        match: {apps: [app], not_ips: [10.0.0.0/8, "2001:db8::/32"]}
    """,
    )
    assert policy.decide(request(app="secret", ip=ip)).allowed is inside
    assert policy.decide(request(app="app", ip=ip)).allowed is inside


def test_rules_for_any_app_reach_unlisted_apps_and_unnamed_methods() -> None:
    policy = policy_from("""
    rules:
      - id: everywhere
        effect: deny
        match: {apps: ["*"], paths: [/admin]}
      - id: only-posts
        effect: deny
        match: {apps: [x], methods: [POST]}
    """)
    assert policy.decide(request(app="never-named", method="PROPFIND", path="/admin")).rule_ids == ("everywhere",)
    assert policy.decide(request(app="x", method="POST")).rule_ids == ("only-posts",)
    assert policy.decide(request(app="x", method="PUT")).allowed


def test_explain_names_the_failing_condition_and_agrees_with_decide() -> None:
    policy = policy_from(
        APPS,
        """
    rules:
      - id: dinkes
        effect: allow
        match: {apps: [secret], subject: {opds: [dinkes]}}
      - id: elsewhere
        effect: allow
        match: {apps: [other]}
      - id: office
        effect: allow
        match: {apps: [secret], ips: [10.0.0.0/8]}
    """,
    )
    result = explain(policy, request(app="secret", opd_paths=("/kota/dinkes/pkm/",), ip="192.0.2.1"))
    traces = {trace.rule_id: trace for trace in result.traces}
    assert traces["dinkes"].matched and traces["dinkes"].failed is None
    assert (traces["elsewhere"].failed, traces["elsewhere"].detail) == ("apps", "app 'secret' is not one of other")
    assert traces["office"].failed == "ips" and "192.0.2.1" in traces["office"].detail
    assert result.decision.rule_ids == ("dinkes",) and result.app_restricted


CASE_RULES = """
rules:
  - id: no-admin
    effect: deny
    match: {paths: [/Admin, "/reports/*.PDF"]}
"""


@pytest.mark.parametrize("path", ["/admin", "/ADMIN", "/aDmIn/users", "/reports/x.pdf", "/REPORTS/Y.Pdf"])
def test_case_insensitive_app_matches_paths_without_case(path: str) -> None:
    policy = policy_from(CASE_RULES)
    assert not policy.decide(request(path=path, case_insensitive_paths=True)).allowed


def test_case_sensitive_app_matches_paths_as_written() -> None:
    policy = policy_from(CASE_RULES)
    assert not policy.decide(request(path="/Admin")).allowed
    assert policy.decide(request(path="/admin")).allowed


@pytest.mark.parametrize("never_matching", ["/a//b", "/a/./b", "/a/../b", "/a/%7Euser", "/a/%2f", "/a/%61"])
def test_a_path_pattern_no_normalised_request_can_have_is_refused(never_matching: str) -> None:
    with pytest.raises(Exception, match="path"):
        policy_from(f"""
        rules:
          - id: r
            effect: deny
            match: {{paths: ["{never_matching}"]}}
        """)
