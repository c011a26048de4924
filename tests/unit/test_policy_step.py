"""The policies step counts rule hits: ``gerbang_policy_rule_hits_total{rule,effect}`` per deciding rule and per
matched report-only rule (labelled ``report-only``), read back by ``rule_hits`` as /metrics would show them."""

from __future__ import annotations

import secrets
from pathlib import Path

from gateway.model import Principal, RequestHead, Route
from gateway.policy_step import PolicyDecider, rule_hits
from policies.watcher import PolicyWatcher

RULES = """
rules:
  - id: {prefix}-deny-writes
    effect: deny
    match: {{apps: [kas], methods: [POST]}}
  - id: {prefix}-allow-staff
    effect: allow
    match: {{apps: [kas], subject: {{roles: [bendahara]}}}}
  - id: {prefix}-trial-deletes
    effect: report-only
    would: deny
    match: {{apps: [kas], methods: [DELETE]}}
"""


def decider(tmp_path: Path) -> tuple[PolicyDecider, str]:
    prefix = "r" + secrets.token_hex(4)  # the counter is process-wide: names of our own
    (tmp_path / "10-rules.yaml").write_text(RULES.format(prefix=prefix), encoding="utf-8")
    return PolicyDecider(PolicyWatcher(tmp_path)), prefix


def call(policy: PolicyDecider, method: str, roles: tuple[str, ...] = ()) -> bool:
    route = Route(
        slug="kas",
        opd="bpkad",
        opd_path="/kota-palembang/bpkad/",
        upstreams=("http://127.0.0.1:9",),
        auth_mode="bearer",
        resource="https://hub.example/apps/kas/",
    )
    head = RequestHead(
        method=method,
        path="/apps/kas/x",
        query=b"",
        headers=(),
        client_ip="10.1.2.3",
        scheme="https",
        host="hub.example",
        request_id="req",
    )
    return policy.decide(Principal(sub="u1", roles=roles), route, head, "/x").allowed


def test_each_deciding_rule_and_report_only_hit_is_counted_with_its_effect(tmp_path: Path) -> None:
    policy, prefix = decider(tmp_path)
    assert call(policy, "POST", ("bendahara",)) is False  # deny overrides the matching allow
    assert call(policy, "GET", ("bendahara",)) is True
    assert call(policy, "GET", ("bendahara",)) is True
    assert call(policy, "DELETE", ("bendahara",)) is True  # report-only never changes the outcome
    assert call(policy, "GET") is True  # the default allow: no rule decided, nothing counted
    hits = {key: value for key, value in rule_hits().items() if key[0].startswith(prefix)}
    assert hits == {
        (f"{prefix}-deny-writes", "deny"): 1,
        (f"{prefix}-allow-staff", "allow"): 3,
        (f"{prefix}-trial-deletes", "report-only"): 1,
    }


def test_rules_remember_their_file_and_a_summary_of_their_match(tmp_path: Path) -> None:
    policy, prefix = decider(tmp_path)
    rules = {rule.id: rule for rule in PolicyWatcher(tmp_path).current.rules}
    assert Path(rules[f"{prefix}-deny-writes"].source).name == "10-rules.yaml"
    assert rules[f"{prefix}-deny-writes"].summary == "apps: kas; methods: POST"
    assert rules[f"{prefix}-allow-staff"].summary == "apps: kas; subject.roles: bendahara"


def test_rules_match_the_path_exactly_as_the_app_receives_it(tmp_path: Path) -> None:
    """Each app is on its own origin: nothing is stripped, so /apps/kas/rahasia is the app's own path."""
    (tmp_path / "10-rules.yaml").write_text(
        "rules:\n  - id: no-secrets\n    effect: deny\n    match: {apps: [kas], paths: [/apps/kas/rahasia]}\n",
        encoding="utf-8",
    )
    policy = PolicyDecider(PolicyWatcher(tmp_path))
    route = Route(
        slug="kas",
        opd="bpkad",
        opd_path="/kota-palembang/bpkad/",
        upstreams=("http://127.0.0.1:9",),
        auth_mode="bearer",
        resource="https://kas.apps.example/",
    )

    def allowed(path: str) -> bool:
        head = RequestHead(
            method="GET",
            path=path,
            query=b"",
            headers=(),
            client_ip="10.1.2.3",
            scheme="https",
            host="kas.apps.example",
            request_id="req",
        )
        return policy.decide(Principal(sub="u1"), route, head, path).allowed

    assert allowed("/apps/kas/rahasia") is False
    assert allowed("/rahasia") is True
