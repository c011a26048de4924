"""The compiled policy set and the access decision: one pure function call per request.

Decision order (docs/policies.md, "How a decision is made"):
1. a matching ``deny`` rule denies (deny overrides allow); when every matching deny rule holds only
   because of its ``acr_below``, ``required_acr`` names the level that lifts them (step-up);
2. an app's ``require_acr`` not met denies with ``required_acr`` set (the gateway may step up);
3. a matching ``allow`` rule allows;
4. otherwise the app's default: restricted apps (in the policy files or, via ``Request.restricted``,
   in the app registry) deny; other apps allow any authenticated caller
   (and anonymous callers too when the app sets ``allow_anonymous``).
``report-only`` rules are evaluated alongside and never change the outcome; ``would_allow`` says
what the outcome would have been had they been enforced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from policies.compiler import AppPolicy, CompiledRule, Index
from policies.conditions import Facts
from policies.limits import LimitSpec, RouteClass
from policies.model import Decision, Request, Subject
from policies.provider import ProfileRule, ProviderPolicy

_OPEN_APP = AppPolicy(slug="*")  # an app the files do not list: unrestricted
_MEMO_SIZE = 4096


def build_outcome(
    slug: str,
    app: AppPolicy,
    denies: tuple[str, ...],
    allows: tuple[str, ...],
    hint: str | None,
    acr_ok: bool,
    anonymous: bool,
    restricted: bool,
) -> Decision:
    """Steps 1-4 of the decision order above; ``hint`` is the step-up level a deny or an allow rule asks for."""
    if denies:
        return Decision(False, denies, f"denied by {', '.join(denies)}", hint)
    if not acr_ok:
        return Decision(False, (), f"app {slug} requires acr {app.require_acr}", app.require_acr)
    if allows:
        return Decision(True, allows, f"allowed by {', '.join(allows)}")
    if restricted:
        return Decision(False, (), f"app {slug} is restricted and no rule allows", hint)
    if anonymous and not app.allow_anonymous:
        return Decision(False, (), "authentication required")
    return Decision(True, (), "default: app is not restricted")


def _step_up(denies: tuple[CompiledRule, ...]) -> str | None:
    """The level that lifts every matched deny (the highest ``acr_below``); None if one cannot be lifted."""
    if any(rule.step_up is None for rule in denies):
        return None
    return max((rule.step_up for rule in denies if rule.step_up), key=lambda check: check.rank).acr


def _lowest_acr(rules: tuple[CompiledRule, ...]) -> str | None:
    checks = [rule.acr for rule in rules if rule.acr is not None]
    return min(checks, key=lambda check: check.rank).acr if checks else None


@dataclass(frozen=True)
class PolicySet:
    """Everything loaded from one policy directory, compiled. Immutable: reloads build a new one."""

    rules: tuple[CompiledRule, ...]
    apps: Mapping[str, AppPolicy]
    index: Index
    limits: tuple[LimitSpec, ...]
    provider: ProviderPolicy
    acr_levels: tuple[str, ...]
    sources: tuple[str, ...] = ()
    fingerprint: str = ""
    _limits_by_class: dict[str, tuple[LimitSpec, ...]] = field(default_factory=dict, repr=False)
    _ranks: dict[str | None, int] = field(default_factory=dict, repr=False)
    _memo: dict[tuple[object, ...], Decision] = field(default_factory=dict, repr=False, compare=False)
    # required_profile per (app, restricted): asked on every bearer request, fixed for the set's life.
    _profiles: dict[tuple[str, bool], ProfileRule | None] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._ranks.update((level, rank) for rank, level in enumerate(self.acr_levels))
        for route_class in ("app", "login", "token"):
            self._limits_by_class[route_class] = tuple(s for s in self.limits if s.route_class == route_class)

    def app(self, slug: str) -> AppPolicy:
        return self.apps.get(slug, _OPEN_APP)

    def candidates(self, request: Request) -> tuple[CompiledRule, ...]:
        by_method = self.index.get(request.app) or self.index["*"]
        found = by_method.get(request.method)
        return found if found is not None else by_method["*"]

    def decide(self, request: Request) -> Decision:
        facts = Facts(request)
        denies: tuple[str, ...] = ()
        deny_rules: tuple[CompiledRule, ...] = ()
        allows: tuple[str, ...] = ()
        reported: tuple[CompiledRule, ...] = ()
        short: tuple[CompiledRule, ...] = ()
        for rule in self.candidates(request):
            for test in rule.tests:  # the hot path: plain loops, no per-rule method call
                if not test(request, facts):
                    break
            else:
                if rule.acr is not None and not rule.acr.test(request, facts):
                    if rule.effect == "allow":
                        short += (rule,)
                elif rule.effect == "deny":
                    denies += (rule.id,)
                    deny_rules += (rule,)
                elif rule.effect == "allow":
                    allows += (rule.id,)
                else:
                    reported += (rule,)
        app = self.apps.get(request.app, _OPEN_APP)
        # An app's acr requirement is about people: a client acting alone (client_credentials) has no acr.
        acr_ok = app.require_rank < 0 or request.sub is None or self._ranks.get(request.acr, -1) >= app.require_rank
        # A public app (the registry's auth none) takes anonymous callers; rules may still deny them.
        anonymous = request.sub is None and request.client_id is None and not request.public
        restricted = app.restricted or request.restricted
        if deny_rules:
            hint = _step_up(deny_rules)
        else:
            hint = _lowest_acr(short) if short else None
        decision = self._outcome(request.app, app, denies, allows, hint, acr_ok, anonymous, restricted)
        if not reported:
            return decision
        would = self._outcome(
            request.app,
            app,
            denies + tuple(r.id for r in reported if r.would == "deny"),
            allows + tuple(r.id for r in reported if r.would == "allow"),
            None,
            acr_ok,
            anonymous,
            restricted,
        )
        return Decision(
            decision.allowed,
            decision.rule_ids,
            decision.reason,
            decision.required_acr,
            tuple(r.id for r in reported),
            would.allowed,
        )

    def _outcome(
        self,
        slug: str,
        app: AppPolicy,
        denies: tuple[str, ...],
        allows: tuple[str, ...],
        hint: str | None,
        acr_ok: bool,
        anonymous: bool,
        restricted: bool,
    ) -> Decision:
        # Outcomes repeat endlessly (same app, same rules): build each once and reuse the frozen value.
        key = (slug, denies, allows, hint, acr_ok, anonymous, restricted)
        decision = self._memo.get(key)
        if decision is None:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            decision = build_outcome(slug, app, denies, allows, hint, acr_ok, anonymous, restricted)
            self._memo[key] = decision
        return decision

    def limits_for(self, route_class: RouteClass) -> tuple[LimitSpec, ...]:
        return self._limits_by_class.get(route_class, ())

    def decide_login(self, subject: Subject, client_id: str) -> Decision:
        """May this user sign in to this client? (the provider asks before issuing a code)."""
        return self.provider.decide_login(subject, client_id)

    def allowed_scopes(self, client_id: str, requested: Iterable[str]) -> tuple[str, ...]:
        """The requested scopes this client may be granted, in the order requested."""
        return self.provider.allowed_scopes(client_id, requested)

    def required_profile(self, slug: str, registry_restricted: bool = False) -> ProfileRule | None:
        """The profile rule (``provider.profiles``) that binds the clients of app ``slug``, or None. An app is
        restricted when the policy files or the app registry (``registry_restricted``) say so."""
        key = (slug, registry_restricted)
        if key in self._profiles:
            return self._profiles[key]
        restricted = self.app(slug).restricted or registry_restricted
        found = next((rule for rule in self.provider.profile_rules if rule.covers(slug, restricted)), None)
        if len(self._profiles) < 10_000:  # slugs come from the registry, not from requests; bounded all the same
            self._profiles[key] = found
        return found

    def allowed_exchange(self, client_id: str, audience: str) -> str | None:
        """RFC 8693: the rule letting ``client_id`` exchange a user's token for ``audience``, or None."""
        return self.provider.allowed_exchange(client_id, audience)
