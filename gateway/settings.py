"""The hub's one settings object: the provider's settings plus the gateway's own."""

from __future__ import annotations

from pydantic import Field, model_validator

from idp.settings import Settings as IdpSettings


class Settings(IdpSettings):
    """Built once at start (``load_settings``) and passed into ``create_app()``."""

    upstream_connect_timeout: float = Field(default=3.0, gt=0, le=60)
    upstream_read_timeout: float = Field(default=30.0, gt=0, le=3600)
    upstream_total_timeout: float = Field(default=60.0, gt=0, le=86_400)
    max_body_bytes: int = Field(default=1 << 30, ge=0)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    request_read_timeout: float = Field(default=10.0, gt=0, le=600)
    registry_refresh_seconds: float = Field(default=2.0, gt=0, le=300)
    policy_reload_seconds: float = Field(default=2.0, gt=0, le=300, description="how often the policy dir is polled")
    upstream_connections_per_host: int = Field(default=256, ge=1, le=10_000)
    # Below the usual upstream idle timeout (uvicorn: 5 s) so a pooled connection is not reused as it closes.
    upstream_keepalive_seconds: float = Field(default=4.0, gt=0, le=300)
    # https upstreams: certificates checked against the system's CAs, or this PEM bundle (a city's own CA).
    upstream_ca_file: str | None = None
    upstream_max_header_bytes: int = Field(
        default=64 * 1024, ge=1024, le=1 << 20, description="largest response head accepted from an upstream"
    )
    upstream_retries: int = Field(default=1, ge=0, le=5, description="extra tries for GET/HEAD/OPTIONS")
    upstream_cooloff_seconds: float = Field(default=2.0, ge=0, le=600)
    breaker_failure_threshold: int = Field(default=5, ge=1, le=1000)
    breaker_reset_seconds: float = Field(default=10.0, gt=0, le=3600)
    websocket_max_message_bytes: int = Field(default=1 << 20, ge=1024)
    request_head_timeout: float = Field(default=10.0, gt=0, le=600, description="deadline for the request head")
    # Every route (apps, provider forms, console): a body gets this long, plus 1 s per min-rate bytes sent.
    request_body_timeout: float = Field(default=20.0, gt=0, le=3600, description="body grace before the min rate")
    request_body_min_rate: int = Field(default=500, ge=1, le=1 << 30, description="bytes/s a body must keep up")
    # On SIGTERM: stop accepting, then give in-flight requests (streams too) this long before they are cut.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Who may read /metrics (the resolved client address, after trusted_proxies): private networks by default.
    metrics_networks: tuple[str, ...] = (
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
    )

    # The console's traffic view (gateway.traffic_store): each process adds its counts to the database this often.
    traffic_flush_seconds: float = Field(default=10.0, gt=0, le=300, description="traffic counts flush interval")
    # gerbang_database_up / gerbang_redis_up and their ping times (gateway.health_probe) are refreshed this often.
    health_probe_seconds: float = Field(default=15.0, gt=0, le=3600, description="database/Redis probe interval")

    # Bearer tokens (gateway.token_verifier) and the hub's keys (gateway.jwks).
    jwks_url: str = Field(default="", description="verify tokens against this JWKS; empty = the in-process key ring")
    token_leeway: int = Field(default=30, ge=0, le=300, description="clock skew allowed on exp/nbf/iat, seconds")
    token_cache_size: int = Field(default=10_000, ge=0, le=1_000_000)
    jwks_min_refresh_seconds: float = Field(default=10.0, ge=0.1, le=3600, description="unknown-kid refetch gate")
    jwks_max_age_seconds: float = Field(default=300.0, ge=1, le=86_400)
    subject_cache_ttl: int = Field(default=60, ge=1, le=3600, description="how long roles are served from memory")
    subject_cache_size: int = Field(default=50_000, ge=1, le=5_000_000)
    # Kominfo's console: an administrator signs in again after this long (OIDC max_age).
    admin_reauth_seconds: int = Field(default=900, ge=60, le=86_400, description="console re-authentication age")
    # X-Gerbang-Assertion (gateway.assertion_issuer).
    assertion_ttl: int = Field(default=30, ge=5, le=60)
    assertion_reuse_seconds: int = Field(default=20, ge=0, le=55)
    # Signed requests and receipts (gateway.integrity, docs/integrity.md).
    message_signature_ttl: int = Field(default=30, ge=5, le=60, description="RFC 9421 signature lifetime, seconds")
    integrity_buffer_bytes: int = Field(
        default=8 << 20, ge=0, le=1 << 30, description="a body without Content-Digest is buffered up to this; 413 past"
    )
    ledger_hold_bytes: int = Field(
        default=1 << 20,
        ge=0,
        le=1 << 30,
        description="responses up to this wait whole for their receipt (Gerbang-Receipt)",
    )
    ledger_max_batch: int = Field(default=256, ge=1, le=10_000, description="receipts per ledger transaction")
    ledger_linger_seconds: float = Field(default=0.002, ge=0, le=1, description="group-commit wait for a batch")
    # Access history from assertions (gateway.access_recorder / gateway.access_writer).
    access_history_window_seconds: int = Field(
        default=300, ge=1, le=86_400, description="one record per (user, app) per window"
    )
    access_history_flush_seconds: float = Field(default=5.0, gt=0, le=300, description="batch write interval")
    access_history_max_pending: int = Field(
        default=50_000, ge=1, le=5_000_000, description="records waiting in memory; past it new ones are dropped"
    )
    access_history_retention_days: int = Field(default=365, ge=1, le=3650, description="rows older are pruned")

    # The access log (gateway.access_log): one JSON line per request; a sample below 1 keeps that share of the
    # successful requests (every 4xx/5xx is still logged).
    access_log: bool = Field(default=True, description="one structured line per request, hub and apps")
    access_log_sample: float = Field(default=1.0, ge=0, le=1, description="share of successful requests logged")

    @model_validator(mode="after")
    def _assertion_reuse_below_ttl(self) -> Settings:
        if self.assertion_reuse_seconds >= self.assertion_ttl:
            raise ValueError("assertion_reuse_seconds must be shorter than assertion_ttl")
        return self
