"""The gateway's Prometheus metrics, one registry per application instance.

With several worker processes set ``PROMETHEUS_MULTIPROC_DIR``: ``/metrics`` then merges
every worker's files (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from gateway.traffic import TrafficRecorder
from gateway.upstreams import STATE_VALUES

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GatewayMetrics:
    def __init__(self, traffic: TrafficRecorder | None = None) -> None:
        # The console's per-minute counts (gateway.traffic), fed from the same observation point.
        self.traffic = traffic or TrafficRecorder()
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("gerbang_gateway_requests",
                                "Requests answered on the app path, by app and status (counted at the response head)",
                                ("app", "status"), registry=self.registry)
        self.latency = Histogram("gerbang_gateway_request_seconds", "Time to the response head, by app",
                                 ("app",), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.upstream_errors = Counter("gerbang_gateway_upstream_errors", "Upstream failures by app and kind",
                                       ("app", "kind"), registry=self.registry)
        self.circuit = Gauge("gerbang_gateway_circuit_state", "Circuit state per target: 0 closed, 1 half-open, 2 open",
                             ("app", "target"), registry=self.registry, multiprocess_mode="max")
        self.access_history_dropped = Counter(
            "gerbang_access_history_dropped",
            "Access-history records dropped because too many were waiting to be written",
            registry=self.registry)
        self.response_headers_dropped = Counter(
            "gerbang_gateway_response_headers_dropped",
            "App response headers the gateway refused to pass to the browser (gateway.app_responses), by reason",
            ("app", "reason"), registry=self.registry)
        self.children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def observe(self, app: str, status: int, seconds: float) -> None:
        # Label lookups cost more than the increments: keep the children (apps x statuses, a small set).
        children = self.children.get((app, status))
        if children is None:
            children = self.children[(app, status)] = (self.requests.labels(app, str(status)),
                                                       self.latency.labels(app))
        children[0].inc()
        children[1].observe(seconds)
        self.traffic.record(app, status, seconds)

    def response_header_dropped(self, app: str, reason: str) -> None:
        self.response_headers_dropped.labels(app, reason).inc()

    def upstream_error(self, app: str, kind: str) -> None:
        self.upstream_errors.labels(app, kind).inc()

    def circuit_state(self, app: str, target: str, state: str) -> None:
        self.circuit.labels(app, target).set(STATE_VALUES[state])

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            MultiProcessCollector(merged)
            return generate_latest(merged)
        # This app's own series, then the process-wide ones (policies, rate limits, tokens, process stats).
        return generate_latest(self.registry) + generate_latest(REGISTRY)
