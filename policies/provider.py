"""The provider's decisions: which users may sign in to which client, which scopes a client may get.

Login: a matching ``deny`` login rule denies; a matching ``allow`` allows; otherwise clients marked
``restricted`` deny and every other client allows. Scopes: a scope named by a ``provider.scopes``
grant is guarded and only the grant's clients get it; unguarded scopes pass through (the client's
registration already bounds what it may ask for).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from policies.conditions import Condition, Facts
from policies.model import Decision, Subject


@dataclass(frozen=True, slots=True)
class LoginRule:
    id: str
    effect: str
    would: str | None
    clients: frozenset[str]  # "*" = every client
    checks: tuple[Condition, ...]

    def matches(self, subject: Subject, client_id: str, facts: Facts) -> bool:
        if "*" not in self.clients and client_id not in self.clients:
            return False
        return all(check.test(subject, facts) for check in self.checks)


@dataclass(frozen=True, slots=True)
class ProfileRule:
    """Clients of these apps must follow ``profile`` (``fapi2``): the apps named, and every restricted app."""

    id: str
    profile: str
    restricted_apps: bool
    apps: frozenset[str]

    def covers(self, slug: str, restricted: bool) -> bool:
        return slug in self.apps or (self.restricted_apps and restricted)


@dataclass(frozen=True, slots=True)
class ProviderPolicy:
    login_rules: tuple[LoginRule, ...] = ()
    restricted_clients: frozenset[str] = frozenset()
    guarded_scopes: Mapping[str, frozenset[str]] = field(default_factory=dict)  # scope → clients
    exchanges: tuple[tuple[str, frozenset[str], frozenset[str]], ...] = ()  # (rule id, clients, audiences)
    profile_rules: tuple[ProfileRule, ...] = ()

    def allowed_exchange(self, client_id: str, audience: str) -> str | None:
        """The id of the rule that lets this client exchange a token for this audience (RFC 8693), or None."""
        for rule_id, clients, audiences in self.exchanges:
            if client_id in clients and audience in audiences:
                return rule_id
        return None

    def decide_login(self, subject: Subject, client_id: str) -> Decision:
        facts = Facts(subject)
        denies: list[str] = []
        allows: list[str] = []
        reported: list[LoginRule] = []
        for rule in self.login_rules:
            if not rule.matches(subject, client_id, facts):
                continue
            if rule.effect == "deny":
                denies.append(rule.id)
            elif rule.effect == "allow":
                allows.append(rule.id)
            else:
                reported.append(rule)
        decision = self._outcome(client_id, denies, allows)
        if not reported:
            return decision
        would = self._outcome(
            client_id,
            denies + [r.id for r in reported if r.would == "deny"],
            allows + [r.id for r in reported if r.would == "allow"],
        )
        return Decision(
            decision.allowed, decision.rule_ids, decision.reason, None, tuple(r.id for r in reported), would.allowed
        )

    def _outcome(self, client_id: str, denies: list[str], allows: list[str]) -> Decision:
        if denies:
            return Decision(False, tuple(denies), f"sign-in denied by {', '.join(denies)}")
        if allows:
            return Decision(True, tuple(allows), f"sign-in allowed by {', '.join(allows)}")
        if client_id in self.restricted_clients:
            return Decision(False, (), f"client {client_id} is restricted and no login rule allows")
        return Decision(True, (), "default: client is not restricted")

    def allowed_scopes(self, client_id: str, requested: Iterable[str]) -> tuple[str, ...]:
        guarded = self.guarded_scopes
        granted: list[str] = []
        for scope in requested:
            clients = guarded.get(scope)
            if (clients is None or client_id in clients) and scope not in granted:
                granted.append(scope)
        return tuple(granted)
