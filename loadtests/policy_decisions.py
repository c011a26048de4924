"""Micro-benchmark of one policy decision (never run by the test suite).

    python loadtests/policy_decisions.py [--rules 50 200] [--apps 20] [--requests 20000]

Builds a synthetic city policy set (restricted and open apps; rules on OPD subtrees, roles,
methods, paths, scopes, CIDRs, time windows; report-only trials), then times ``decide`` over a mix
of requests. Prints CPU microseconds per decision (process time, best of 5 rounds: immune to other load on the
machine) for each rule count.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

import yaml

from policies import PolicySet, Request, SourceFile, build_policy_set

OPDS = ["dinkes", "dishub", "bappeda", "bpkad", "bkpsdm", "disdukcapil", "kec-ilir-barat-i", "kec-seberang-ulu-i"]
ROLES = ["asn", "kepala", "operator", "auditor", "perawat"]


def build_rules(count: int, apps: list[str], rng: random.Random) -> list[dict]:
    rules = []
    for index in range(count):
        match: dict = {"apps": [rng.choice(apps)] if rng.random() < 0.9 else ["*"]}
        if rng.random() < 0.6:
            match["subject"] = {"opds": rng.sample(OPDS, 2)} if rng.random() < 0.7 else {"roles": rng.sample(ROLES, 2)}
        if rng.random() < 0.4:
            match["methods"] = rng.sample(["GET", "POST", "PUT", "DELETE"], 2)
        if rng.random() < 0.4:
            match["paths"] = [rng.choice(["/api/", "/admin", "/export", "/api/*/laporan", "/reports/**.pdf"])]
        if rng.random() < 0.15:
            match["ips"] = ["10.0.0.0/8"]
        if rng.random() < 0.15:
            match["time"] = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "17:00"}]
        if rng.random() < 0.1:
            match["scopes"] = ["api.read"]
        effect = rng.choices(["allow", "deny", "report-only"], [0.7, 0.2, 0.1])[0]
        rule = {"id": f"rule-{index}", "effect": effect, "match": match}
        if effect == "report-only":
            rule["would"] = "deny"
        rules.append(rule)
    return rules


def build_set(rule_count: int, app_count: int, rng: random.Random) -> PolicySet:
    apps = [f"app-{i}" for i in range(app_count)]
    document = {
        "apps": [{"slug": slug, "restricted": i % 2 == 0} for i, slug in enumerate(apps)],
        "rules": build_rules(rule_count, apps, rng),
    }
    return build_policy_set([SourceFile("bench.yaml", yaml.safe_dump(document))])


def build_requests(count: int, app_count: int, rng: random.Random) -> list[Request]:
    start = datetime(2026, 1, 5, tzinfo=UTC)
    return [
        Request(
            app=f"app-{rng.randrange(app_count)}",
            method=rng.choice(["GET", "GET", "POST", "DELETE"]),
            path=rng.choice(["/", "/api/pasien/1", "/admin/users", "/export", "/api/v1/laporan"]),
            at=start + timedelta(minutes=rng.randrange(7 * 1440)),
            sub=f"u{rng.randrange(1000)}",
            roles=tuple(rng.sample(ROLES, 1)),
            opd_paths=(f"/kota-palembang/{rng.choice(OPDS)}/unit-{rng.randrange(5)}/",),
            scopes=frozenset({"openid", "api.read"}),
            acr=rng.choice(["1", "2"]),
            ip=rng.choice(["10.1.2.3", "203.0.113.7"]),
        )
        for _ in range(count)
    ]


def measure(policy: PolicySet, requests: list[Request]) -> float:
    decide = policy.decide
    best = float("inf")
    for _ in range(5):
        began = time.process_time()
        for request in requests:
            decide(request)
        best = min(best, time.process_time() - began)
    return best / len(requests) * 1e6


def calibrate(count: int = 200_000) -> float:
    """CPU nanoseconds of one no-op Python call here: a yardstick for how busy this machine is."""

    def noop(value: object) -> object:
        return value

    best = float("inf")
    for _ in range(5):
        began = time.process_time()
        for value in range(count):
            noop(value)
        best = min(best, time.process_time() - began)
    return best / count * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    print(f"yardstick: a no-op Python call costs {calibrate():.0f} ns of CPU here")
    rng = random.Random(7)
    requests = build_requests(args.requests, args.apps, rng)
    for count in args.rules:
        began = time.process_time()
        policy = build_set(count, args.apps, rng)
        load_ms = (time.process_time() - began) * 1000
        candidates = sum(len(policy.candidates(r)) for r in requests) / len(requests)
        print(
            f"{count:>4} rules, {args.apps} apps: {measure(policy, requests):6.2f} µs per decision "
            f"(avg {candidates:.1f} candidate rules; validate+compile {load_ms:.0f} ms)"
        )


if __name__ == "__main__":
    main()
