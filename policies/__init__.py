"""Kominfo's access rules as files: validated, compiled, explained. Pure: no I/O beyond reading files.

policy_set = load_policy_dir(path)           # PolicyError lists every problem, with file and line
policy_set.decide(Request(...))              # Decision: allowed, rule ids, report-only hits
explain(policy_set, Request(...))            # Explanation: the decision and every rule's fate
policy_set.decide_login(Subject(...), cid)   # the provider: may this user sign in to this client?
policy_set.allowed_scopes(cid, requested)    # the provider: which scopes this client may get
policy_set.limits                            # LimitSpec declarations for the rate limiter
PolicyWatcher(path).poll()                   # hot reload; the gateway schedules the calls
run_policy_tests(path)                       # the cases in path/tests/*.yaml
"""

from policies.cases import CaseResult, run_policy_tests
from policies.engine import PolicySet
from policies.explain import explain
from policies.limits import LimitSpec
from policies.loader import DEFAULT_POLICY_DIR, build_policy_set, load_policy_dir
from policies.model import Decision, Explanation, Request, RuleTrace, Subject
from policies.problems import PolicyError, Problem
from policies.source import SourceFile
from policies.watcher import PolicyWatcher, PollResult, Reload

__all__ = [
    "DEFAULT_POLICY_DIR",
    "CaseResult",
    "Decision",
    "Explanation",
    "LimitSpec",
    "PolicyError",
    "PolicySet",
    "PolicyWatcher",
    "PollResult",
    "Problem",
    "Reload",
    "Request",
    "RuleTrace",
    "SourceFile",
    "Subject",
    "build_policy_set",
    "explain",
    "load_policy_dir",
    "run_policy_tests",
]
