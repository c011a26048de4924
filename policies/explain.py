"""``explain``: the decision plus, for every rule, whether it matched and, if not, which condition failed.

It walks every rule (not only the indexed candidates) with the same compiled conditions the decision
uses, so an explanation can never disagree with ``decide``.
"""

from __future__ import annotations

from policies.conditions import Facts
from policies.engine import PolicySet
from policies.model import Explanation, Request, RuleTrace


def explain(policy_set: PolicySet, request: Request) -> Explanation:
    facts = Facts(request)
    traces: list[RuleTrace] = []
    for rule in policy_set.rules:
        failed = next((check for check in rule.conditions() if not check.test(request, facts)), None)
        if failed is None:
            traces.append(RuleTrace(rule.id, rule.effect, rule.would, True))
        else:
            traces.append(
                RuleTrace(rule.id, rule.effect, rule.would, False, failed.name, failed.why_not(request, facts))
            )
    app = policy_set.app(request.app)
    profile = policy_set.required_profile(request.app, request.restricted)
    return Explanation(
        policy_set.decide(request),
        tuple(traces),
        app.restricted or request.restricted,
        app.require_acr,
        profile.id if profile else None,
        profile.profile if profile else None,
    )
