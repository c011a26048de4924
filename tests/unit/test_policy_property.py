"""Property: the compiled, indexed engine decides exactly as a naive reference evaluator.

The reference below reads the rule documents directly, walks every rule for every request, and
computes Jakarta time as UTC+7 by hand; it shares no code with the engine beyond the YAML text.
"""

from __future__ import annotations

import ipaddress
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies import Decision, Request, SourceFile, build_policy_set, explain

LEVELS = ["1", "2", "3"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CIDRS = ["10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/24", "2001:db8::/32"]
PATHS = ["/x", "/x/", "/x/*", "/x/**", "/x/?/z", "/[xy]/z", "/[!x]/z", "/*/z"]
BOUNDARY_MINUTES = [0, 1, 359, 360, 361, 479, 480, 481, 749, 750, 751, 959, 960, 961, 1319, 1320, 1321, 1439]
WIB = timezone(timedelta(hours=7))
OPDS = ["o1", "o2", "p", "/k/o1/"]
TIMES = ["00:00", "06:00", "08:00", "12:30", "16:00", "22:00", "24:00"]


def subsets(values: list[str], max_size: int = 2) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), max_size=max_size, unique=True)


windows = st.builds(
    lambda days, start, end: {"days": days, "start": start, "end": end},
    st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True),
    st.sampled_from(TIMES[:-1]),
    st.sampled_from(TIMES),
).filter(lambda w: w["start"] != w["end"])


@st.composite
def rules(draw: st.DrawFn, index: int) -> dict[str, Any]:
    effect = draw(st.sampled_from(["allow", "deny", "report-only"]))
    match: dict[str, Any] = {
        "apps": draw(st.lists(st.sampled_from(["a", "b", "c", "*"]), min_size=1, max_size=2, unique=True))
    }
    optional = {
        "methods": ["GET", "POST", "DELETE"],
        "paths": PATHS,
        "clients": ["c1", "c2"],
        "scopes": ["s1", "s2", "s3"],
        "ips": CIDRS,
        "not_ips": CIDRS,
        "users": ["u1", "u2"],
        "roles": ["r1", "r2", "r3"],
        "opds": OPDS,
    }
    # few conditions per rule, so that rules match often enough to tell engines apart
    for key in draw(st.lists(st.sampled_from([*optional, "time"]), max_size=3, unique=True)):
        if key == "time":
            match["time"] = draw(st.lists(windows, min_size=1, max_size=2))
            continue
        value = draw(st.lists(st.sampled_from(optional[key]), min_size=1, max_size=2, unique=True))
        if key in ("users", "roles", "opds"):
            match.setdefault("subject", {})[key] = value
        else:
            match[key] = value
    if draw(st.booleans()):
        match["acr"] = draw(st.sampled_from(LEVELS))
    if draw(st.integers(0, 3)) == 0:
        match["acr_below"] = draw(st.sampled_from(LEVELS))
    rule = {"id": f"r{index}", "effect": effect, "match": match}
    if effect == "report-only":
        rule["would"] = draw(st.sampled_from(["allow", "deny"]))
    return rule


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    apps = [
        {
            "slug": slug,
            "restricted": draw(st.booleans()),
            "allow_anonymous": draw(st.booleans()),
            **({"require_acr": draw(st.sampled_from(LEVELS))} if draw(st.booleans()) else {}),
        }
        for slug in ("a", "b")
        if draw(st.booleans())
    ]
    count = draw(st.integers(min_value=0, max_value=12))
    return {"acr_levels": LEVELS, "apps": apps, "rules": [draw(rules(i)) for i in range(count)]}


requests = st.builds(
    Request,
    app=st.sampled_from(["a", "b", "c", "d"]),
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
    path=st.sampled_from(["/x", "/xz", "/x/", "/x/1", "/x/1/z", "/y/z", "/x/ab/z", "/z/z"]),
    # local WIB moments near window edges, written in any UTC offset
    at=st.builds(
        lambda day, minute, second, hours: (
            datetime(2026, 1, 5, tzinfo=WIB) + timedelta(days=day, minutes=minute, seconds=second)
        ).astimezone(timezone(timedelta(hours=hours))),
        st.integers(0, 13),
        st.sampled_from(BOUNDARY_MINUTES) | st.integers(0, 1439),
        st.sampled_from([0, 59]),
        st.integers(-12, 14),
    ),
    sub=st.sampled_from([None, "u1", "u2", "u3"]),
    client_id=st.sampled_from([None, "c1", "c2"]),
    roles=st.lists(st.sampled_from(["r1", "r2", "r3"]), max_size=2, unique=True).map(tuple),
    opd_paths=st.lists(st.sampled_from(["/k/", "/k/o1/", "/k/o1/p/", "/k/o2/", "/k/o3/"]), max_size=2, unique=True).map(
        tuple
    ),
    scopes=subsets(["s1", "s2", "s3"], 3).map(frozenset),
    acr=st.sampled_from([None, "1", "2", "3", "x"]),
    restricted=st.booleans(),
    ip=st.sampled_from([None, "10.1.2.3", "10.2.0.1", "192.168.0.5", "8.8.8.8", "2001:db8::5", "::1", "bad"]),
)


# ---- the naive reference evaluator ---------------------------------------------------------------


def naive_glob(pattern: str, path: str) -> bool:
    if not pattern:
        return not path
    if pattern.startswith("**"):
        return any(naive_glob(pattern[2:], path[i:]) for i in range(len(path) + 1))
    if pattern[0] == "*":
        return any(naive_glob(pattern[1:], path[i:]) for i in range(len(path) + 1) if "/" not in path[:i])
    if not path:
        return False
    if pattern[0] == "?":
        return path[0] != "/" and naive_glob(pattern[1:], path[1:])
    if pattern[0] == "[":
        close = pattern.index("]", 2)
        body, negate = (pattern[2:close], True) if pattern[1] == "!" else (pattern[1:close], False)
        hit = path[0] in body if not negate else (path[0] not in body and path[0] != "/")
        return hit and naive_glob(pattern[close + 1 :], path[1:])
    return pattern[0] == path[0] and naive_glob(pattern[1:], path[1:])


def naive_path(pattern: str, path: str) -> bool:
    if any(char in pattern for char in "*?["):
        return naive_glob(pattern, path)
    if pattern.endswith("/"):
        return path.startswith(pattern)
    return path == pattern or path.startswith(pattern + "/")


def minutes(text: str) -> int:
    return int(text[:2]) * 60 + int(text[3:])


def naive_in_window(window: dict[str, Any], at: datetime) -> bool:
    local = at.astimezone(UTC).replace(tzinfo=None) + timedelta(hours=7)  # WIB: UTC+7, no DST
    day, minute = DAYS[local.weekday()], local.hour * 60 + local.minute
    yesterday = DAYS[(local.weekday() - 1) % 7]
    start, end = minutes(window["start"]), minutes(window["end"])
    if start < end:
        return day in window["days"] and start <= minute < end
    return (day in window["days"] and minute >= start) or (yesterday in window["days"] and minute < end)


def naive_ip(request: Request) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(request.ip) if request.ip else None
    except ValueError:
        return None


def rank(acr: str | None) -> int:
    return LEVELS.index(acr) if acr in LEVELS else -1


def naive_conditions(match: dict[str, Any], request: Request) -> bool:
    """Everything but acr."""
    subject = match.get("subject", {})
    ip = naive_ip(request)
    checks = [
        "*" in match["apps"] or request.app in match["apps"],
        "methods" not in match or request.method in match["methods"],
        "paths" not in match or any(naive_path(p, request.path) for p in match["paths"]),
        "clients" not in match or request.client_id in match["clients"],
        "scopes" not in match or all(s in request.scopes for s in match["scopes"]),
        "ips" not in match or (ip is not None and any(ip in ipaddress.ip_network(c) for c in match["ips"])),
        "not_ips" not in match or ip is None or all(ip not in ipaddress.ip_network(c) for c in match["not_ips"]),
        "time" not in match or any(naive_in_window(w, request.at) for w in match["time"]),
        "users" not in subject or request.sub in subject["users"],
        "roles" not in subject or any(r in subject["roles"] for r in request.roles),
        "acr_below" not in match or rank(request.acr) < rank(match["acr_below"]),
        "opds" not in subject
        or any(
            (o.startswith("/") and p.startswith(o)) or f"/{o}/" in p for o in subject["opds"] for p in request.opd_paths
        ),
    ]
    return all(checks)


def naive_outcome(
    app: dict[str, Any], request: Request, denies: list[str], allows: list[str], hint: str | None
) -> Decision:
    if denies:
        return Decision(False, tuple(denies), required_acr=hint)
    if "require_acr" in app and request.sub is not None and rank(request.acr) < rank(app["require_acr"]):
        return Decision(False, (), required_acr=app["require_acr"])
    if allows:
        return Decision(True, tuple(allows))
    if app.get("restricted") or request.restricted:
        return Decision(False, (), required_acr=hint)
    anonymous = request.sub is None and request.client_id is None
    return Decision(not anonymous or app.get("allow_anonymous", False), ())


def naive_decide(document: dict[str, Any], request: Request) -> tuple[Decision, list[str]]:
    app = next((a for a in document["apps"] if a["slug"] == request.app), {})
    denies, allows, reported, matched, short = [], [], [], [], []
    for rule in document["rules"]:
        if not naive_conditions(rule["match"], request):
            continue
        if "acr" in rule["match"] and rank(request.acr) < rank(rule["match"]["acr"]):
            short.append(rule)
            continue
        matched.append(rule["id"])
        {"allow": allows, "deny": denies, "report-only": reported}[rule["effect"]].append(rule)
    hint = min((r["match"]["acr"] for r in short if r["effect"] == "allow"), key=rank, default=None)
    if denies:  # step-up lifts the denies only if each of them has an acr_below
        levels = [r["match"].get("acr_below") for r in denies]
        hint = None if None in levels else max(levels, key=rank)
    deny_ids, allow_ids = [r["id"] for r in denies], [r["id"] for r in allows]
    decision = naive_outcome(app, request, deny_ids, allow_ids, hint)
    if reported:
        would = naive_outcome(
            app,
            request,
            deny_ids + [r["id"] for r in reported if r["would"] == "deny"],
            allow_ids + [r["id"] for r in reported if r["would"] == "allow"],
            None,
        )
        decision = Decision(
            decision.allowed,
            decision.rule_ids,
            "",
            decision.required_acr,
            tuple(r["id"] for r in reported),
            would.allowed,
        )
    return decision, matched


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(), st.lists(requests, min_size=10, max_size=30))
def test_compiled_decisions_equal_the_naive_reference(document: dict[str, Any], batch: list[Request]) -> None:
    policy = build_policy_set([SourceFile("generated.yaml", yaml.safe_dump(document))])
    for request in batch:
        expected, matched = naive_decide(document, request)
        got = policy.decide(request)
        assert (got.allowed, got.rule_ids, got.required_acr, got.report_only, got.would_allow) == (
            expected.allowed,
            expected.rule_ids,
            expected.required_acr,
            expected.report_only,
            expected.would_allow,
        )
        traced = [trace.rule_id for trace in explain(policy, request).traces if trace.matched]
        assert traced == matched


def test_the_reference_itself_can_tell_a_wrong_answer() -> None:
    document = yaml.safe_load(
        textwrap.dedent("""
        acr_levels: ["1", "2", "3"]
        apps: [{slug: a, restricted: true}]
        rules:
          - id: r0
            effect: allow
            match: {apps: [a], subject: {opds: [o1]}, time: [{days: [fri], start: "22:00", end: "06:00"}]}
    """)
    )
    saturday_3am_wib = datetime(2026, 1, 9, 20, 0, tzinfo=UTC)
    inside = Request(app="a", method="GET", path="/", at=saturday_3am_wib, sub="u1", opd_paths=("/k/o1/p/",))
    assert naive_decide(document, inside)[0].allowed
    outside = Request(
        app="a", method="GET", path="/", at=saturday_3am_wib + timedelta(hours=4), sub="u1", opd_paths=("/k/o1/p/",)
    )
    assert not naive_decide(document, outside)[0].allowed
