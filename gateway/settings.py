"""The hub's one settings object: the provider's settings plus the gateway's own."""

from __future__ import annotations

from pydantic import Field

from idp.settings import Settings as IdpSettings


class Settings(IdpSettings):
    """Built once at start (``load_settings``) and passed into ``create_app()``."""

    trusted_proxies: tuple[str, ...] = ()
    upstream_connect_timeout: float = Field(default=3.0, gt=0, le=60)
    upstream_read_timeout: float = Field(default=30.0, gt=0, le=3600)
    upstream_total_timeout: float = Field(default=60.0, gt=0, le=86_400)
    max_body_bytes: int = Field(default=1 << 30, ge=0)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    request_read_timeout: float = Field(default=10.0, gt=0, le=600)
    registry_refresh_seconds: float = Field(default=2.0, gt=0, le=300)
    # Rate limits (rules come from the policy files; these are process settings). See throttle/.
    ratelimit_coalesce: bool = True  # one Redis round trip for the checks of one event-loop tick
    ratelimit_breaker_backoff: float = Field(default=0.5, gt=0, le=60)  # first pause after Redis fails
    ratelimit_breaker_max_backoff: float = Field(default=5.0, gt=0, le=300)
    redis_max_connections: int = Field(default=64, ge=1, le=10_000)  # per process (per node in a cluster)
