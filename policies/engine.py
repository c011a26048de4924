"""The compiled policy set and the access decision: one pure function call per request.

Decision order (docs/policies.md, "How a decision is made"):
1. a matching ``deny`` rule denies (deny overrides allow);
2. an app's ``require_acr`` not met denies with ``required_acr`` set (the gateway may step up);
3. a matching ``allow`` rule allows;
4. otherwise the app's default: restricted apps deny; other apps allow any authenticated caller
   (and anonymous callers too when the app sets ``allow_anonymous``).
``report-only`` rules are evaluated alongside and never change the outcome; ``would_allow`` says
what the outcome would have been had they been enforced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from policies.compiler import ACR_SHORT, MATCH, AppPolicy, CompiledRule, Index
from policies.conditions import Facts
from policies.limits import LimitSpec, RouteClass
from policies.model import Decision, Request, Subject
from policies.provider import ProviderPolicy

_OPEN_APP = AppPolicy(slug="*")


@dataclass(frozen=True, slots=True)
class _Hits:
    denies: tuple[str, ...]
    allows: tuple[str, ...]
    acr_hint: str | None  # lowest acr that would let a restricted app's allow rule match


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
        app = self.apps.get(request.app, _OPEN_APP)
        denies: list[str] = []
        allows: list[str] = []
        reported: list[CompiledRule] = []
        acr_short: list[CompiledRule] = []
        for rule in self.candidates(request):
            outcome = rule.evaluate(request, facts)
            if outcome == MATCH:
                if rule.effect == "deny":
                    denies.append(rule.id)
                elif rule.effect == "allow":
                    allows.append(rule.id)
                else:
                    reported.append(rule)
            elif outcome == ACR_SHORT and rule.effect == "allow":
                acr_short.append(rule)
        hint = min((r.acr for r in acr_short if r.acr), key=lambda a: a.rank, default=None)
        decision = self._outcome(app, request, _Hits(tuple(denies), tuple(allows), hint.acr if hint else None))
        if not reported:
            return decision
        would = self._outcome(app, request, _Hits(
            tuple(denies) + tuple(r.id for r in reported if r.would == "deny"),
            tuple(allows) + tuple(r.id for r in reported if r.would == "allow"), None))
        return Decision(decision.allowed, decision.rule_ids, decision.reason, decision.required_acr,
                        tuple(r.id for r in reported), would.allowed)

    def _outcome(self, app: AppPolicy, request: Request, hits: _Hits) -> Decision:
        if hits.denies:
            return Decision(False, hits.denies, f"denied by {', '.join(hits.denies)}")
        if app.require_rank >= 0 and self._ranks.get(request.acr, -1) < app.require_rank:
            return Decision(False, (), f"app {app.slug} requires acr {app.require_acr}", app.require_acr)
        if hits.allows:
            return Decision(True, hits.allows, f"allowed by {', '.join(hits.allows)}")
        if app.restricted:
            return Decision(False, (), f"app {app.slug} is restricted and no rule allows", hits.acr_hint)
        if request.anonymous and not app.allow_anonymous:
            return Decision(False, (), "authentication required")
        return Decision(True, (), "default: app is not restricted")

    def limits_for(self, route_class: RouteClass) -> tuple[LimitSpec, ...]:
        return self._limits_by_class.get(route_class, ())

    def decide_login(self, subject: Subject, client_id: str) -> Decision:
        """May this user sign in to this client? (the provider asks before issuing a code)."""
        return self.provider.decide_login(subject, client_id)

    def allowed_scopes(self, client_id: str, requested: Iterable[str]) -> tuple[str, ...]:
        """The requested scopes this client may be granted, in the order requested."""
        return self.provider.allowed_scopes(client_id, requested)
