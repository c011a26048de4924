"""The policies step of the request path: Kominfo's rules decide, every deny and report-only hit is logged.

The rules are data in ``GERBANG_POLICY_DIR``; each instance polls the directory and swaps a changed,
valid set in atomically (``policies.watcher``). An invalid change keeps the last good set and is
reported in the log, a metric and ``/readyz``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from prometheus_client.multiprocess import MultiProcessCollector

from gateway.model import Decision, Principal, RequestHead, Route
from idp.periodic import Periodic
from policies.model import Request
from policies.watcher import PolicyWatcher, Reload

log = logging.getLogger("gerbang.policy")
REPORT_ONLY = "report-only"

DECISIONS = Counter("gerbang_policy_decisions_total", "Policy outcomes that were not a plain allow", ["app", "outcome"])
RULE_HITS = Counter(
    "gerbang_policy_rule_hits_total",
    "Requests each policy rule decided (allow, deny) or would have changed (report-only)",
    ["rule", "effect"],
)
RELOADS = Counter("gerbang_policy_reloads_total", "Policy directory reloads", ["result"])
HEALTHY = Gauge("gerbang_policy_healthy", "1 while the policy directory on disk is the set in force")


class PolicyDecider:
    def __init__(self, watcher: PolicyWatcher) -> None:
        self._watcher = watcher
        # Label lookups cost more than the increments: keep the children (rules x effects, a small set).
        self._hits: dict[tuple[str, str], Any] = {}

    def decide(self, principal: Principal, route: Route, request: RequestHead, path: str) -> Decision:
        # Every app on its own origin: ``path`` is exactly the path forwarded upstream (canonicalised by the route
        # table; no prefix to strip: a path such as /apps/x/admin is the app's own and is matched as such).
        # The policies' own (memoised, frozen) decision is the gateway's: no copy per request.
        decision = self._watcher.current.decide(
            Request(
                app=route.slug,
                method=request.method,
                path=path,
                at=datetime.now(UTC),
                sub=principal.sub,
                client_id=principal.client_id,
                roles=principal.roles,
                opd_paths=principal.opd_paths,
                scopes=principal.scopes,
                acr=principal.acr,
                ip=request.client_ip,
                restricted=route.restricted,
                public=route.auth_mode == "none",
                case_insensitive_paths=route.case_insensitive_paths,
            )
        )
        if decision.rule_ids or decision.report_only:
            self._count_hits(decision)
        if not decision.allowed or decision.report_only:
            _log_decision(decision, route, request, principal)
        return decision

    def _count_hits(self, decision: Decision) -> None:
        """The rules that decided (``rule_ids``: deny rules when denied, allow rules when allowed) and the
        report-only rules that matched; a request counts once per rule."""
        effect = "allow" if decision.allowed else "deny"
        for rule, kind in [
            *((r, effect) for r in decision.rule_ids),
            *((r, REPORT_ONLY) for r in decision.report_only),
        ]:
            child = self._hits.get((rule, kind))
            if child is None:
                child = self._hits[(rule, kind)] = RULE_HITS.labels(rule, kind)
            child.inc()


def rule_hits() -> dict[tuple[str, str], int]:
    """(rule, effect) → hits so far, as ``/metrics`` reports them (merged across workers in multiprocess mode)."""
    registry: Any = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client: untyped
    hits: dict[tuple[str, str], int] = {}
    for family in registry.collect():
        if family.name != "gerbang_policy_rule_hits":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = (sample.labels["rule"], sample.labels["effect"])
                hits[key] = hits.get(key, 0) + int(sample.value)
    return hits


def _log_decision(decision: Decision, route: Route, request: RequestHead, principal: Principal) -> None:
    if not decision.allowed:
        DECISIONS.labels(route.slug, "deny").inc()
    if decision.report_only:
        DECISIONS.labels(route.slug, REPORT_ONLY).inc()
    log.info(
        "policy decision",
        extra={
            "request_id": request.request_id,
            "app": route.slug,
            "allowed": decision.allowed,
            "rule_ids": list(decision.rule_ids),
            "report_only": list(decision.report_only),
            "reason": decision.reason,
            "sub": principal.sub,
            "client_id": principal.client_id,
            "method": request.method,
            "path": request.path,
        },
    )


class PolicyReloader:
    """Polls the policy directory every few seconds on this instance."""

    def __init__(self, watcher: PolicyWatcher, every_seconds: float) -> None:
        self._watcher = watcher
        self._loop = Periodic(
            "policy-reload", self._poll_off_loop, every_seconds, on_failure="keeping the policies in force"
        )
        HEALTHY.set(1)

    async def check(self) -> str | None:
        """For /readyz: ``None`` while healthy, else what is wrong with the directory on disk."""
        return None if self._watcher.healthy else f"invalid policy change kept out: {self._watcher.error}"

    def poll(self) -> None:
        result = self._watcher.poll()
        if result.outcome is Reload.RELOADED:
            RELOADS.labels("reloaded").inc()
            log.info("policies reloaded", extra={"fingerprint": result.fingerprint})
        elif result.outcome is Reload.FAILED:
            RELOADS.labels("failed").inc()
            log.error("policy change refused; the last good set stays in force: %s", result.error)
        HEALTHY.set(1 if self._watcher.healthy else 0)

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _poll_off_loop(self) -> None:
        await asyncio.to_thread(self.poll)  # reading and compiling files is blocking work: off the event loop
