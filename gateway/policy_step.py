"""The policies step of the request path: Kominfo's rules decide, every deny and report-only hit is logged.

The rules are data in ``GERBANG_POLICY_DIR``; each instance polls the directory and swaps a changed,
valid set in atomically (``policies.watcher``). An invalid change keeps the last good set and is
reported in the log, a metric and ``/readyz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge

from gateway.model import Decision, Principal, RequestHead, Route
from policies.model import Request
from policies.watcher import PolicyWatcher, Reload

log = logging.getLogger("gerbang.policy")

DECISIONS = Counter("gerbang_policy_decisions_total", "Policy outcomes that were not a plain allow",
                    ["app", "outcome"])
RELOADS = Counter("gerbang_policy_reloads_total", "Policy directory reloads", ["result"])
HEALTHY = Gauge("gerbang_policy_healthy", "1 while the policy directory on disk is the set in force")


class PolicyDecider:
    def __init__(self, watcher: PolicyWatcher) -> None:
        self._watcher = watcher

    def decide(self, principal: Principal, route: Route, request: RequestHead) -> Decision:
        prefix = f"/apps/{route.slug}"
        inner = request.path[len(prefix):] or "/" if request.path.startswith(prefix) else request.path
        outcome = self._watcher.current.decide(Request(
            app=route.slug, method=request.method, path=inner, at=datetime.now(UTC), sub=principal.sub,
            client_id=principal.client_id, roles=principal.roles, opd_paths=principal.opd_paths,
            scopes=principal.scopes, acr=principal.acr, ip=request.client_ip, restricted=route.restricted,
            public=route.auth_mode == "none"))
        decision = Decision(outcome.allowed, outcome.rule_ids, outcome.reason, outcome.required_acr,
                            outcome.report_only)
        if not decision.allowed or decision.report_only:
            _log_decision(decision, route, request, principal)
        return decision


def _log_decision(decision: Decision, route: Route, request: RequestHead, principal: Principal) -> None:
    if not decision.allowed:
        DECISIONS.labels(route.slug, "deny").inc()
    if decision.report_only:
        DECISIONS.labels(route.slug, "report-only").inc()
    log.info("policy decision", extra={
        "request_id": request.request_id, "app": route.slug, "allowed": decision.allowed,
        "rule_ids": list(decision.rule_ids), "report_only": list(decision.report_only), "reason": decision.reason,
        "sub": principal.sub, "client_id": principal.client_id, "method": request.method, "path": request.path})


class PolicyReloader:
    """Polls the policy directory every few seconds on this instance."""

    def __init__(self, watcher: PolicyWatcher, every_seconds: float) -> None:
        self._watcher = watcher
        self._every = every_seconds
        self._task: asyncio.Task[None] | None = None
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
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            # Reading and compiling files is blocking work: keep it off the event loop.
            await asyncio.to_thread(self.poll)
