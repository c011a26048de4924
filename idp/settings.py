"""The provider's settings: one frozen, typed object built once at start.

Environment variables use the ``GERBANG_`` prefix; an optional TOML file supplies defaults: the file named by
``GERBANG_CONFIG``, else ``/etc/gerbang/gerbang.toml`` when present, else ``./gerbang.toml`` (``config_path``).
Every problem is reported at once (pydantic collects them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

DEFAULT_DATA_DIR = Path("gerbang-data")


class Settings(BaseSettings):
    """Everything the provider needs; the gateway extends this class with its own fields."""

    model_config = SettingsConfigDict(env_prefix="GERBANG_", frozen=True, extra="ignore")

    issuer: str = "http://127.0.0.1:8000"
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    database_pool_size: int = Field(default=20, ge=1, le=500)
    redis_url: str = ""
    redis_key_prefix: str = "gerbang"
    redis_socket_timeout: float = Field(default=0.25, gt=0, le=30)
    redis_connect_timeout: float = Field(default=0.25, gt=0, le=30)
    redis_max_connections: int = Field(default=64, ge=1, le=10_000)  # per process (per node in a cluster)
    # Rate limits: the rules come from the policy files; these are process settings (idp/throttle/).
    ratelimit_coalesce: bool = True  # one Redis round trip for the checks of one event-loop tick
    ratelimit_breaker_backoff: float = Field(default=0.5, gt=0, le=60)  # first pause after Redis fails
    ratelimit_breaker_max_backoff: float = Field(default=5.0, gt=0, le=300)
    policy_dir: Path | None = None

    # Secret used to derive the key that encrypts signing keys at rest and to sign
    # short-lived internal values (CSRF tokens, email links). Must be set in production.
    secret_key: str = ""

    signing_alg: Literal["ES256", "RS256"] = "ES256"
    access_token_ttl: int = Field(default=600, ge=30, le=86_400)
    id_token_ttl: int = Field(default=600, ge=30, le=86_400)
    refresh_token_ttl: int = Field(default=30 * 86_400, ge=300)
    code_ttl: int = Field(default=60, ge=10, le=600)
    session_ttl: int = Field(default=12 * 3600, ge=300)
    session_idle_ttl: int = Field(default=2 * 3600, ge=60)
    key_retire_after: int = Field(default=7 * 86_400, ge=0, description="seconds a rotated-out key keeps verifying")
    key_refresh_seconds: float = Field(default=30.0, gt=0, le=3600,
                                       description="how often each instance reloads signing keys from storage")

    default_locale: Literal["id", "en"] = "id"
    mail_outbox: Path | None = None
    smtp_url: str = ""
    mail_from: str = "Gerbang Kota Palembang <no-reply@palembang.go.id>"
    verify_link_ttl: int = Field(default=48 * 3600, ge=300, le=14 * 86_400, description="email verification link")
    reset_link_ttl: int = Field(default=3600, ge=300, le=86_400, description="password reset link")
    backchannel_logout_attempts: int = Field(default=4, ge=1, le=10)
    backchannel_logout_backoff: float = Field(default=1.0, gt=0, le=60, description="first retry delay, doubling")
    backchannel_logout_timeout: float = Field(default=5.0, gt=0, le=30)
    second_factor_ttl: int = Field(default=300, ge=60, le=3600, description="password accepted, second factor due")

    audit_checkpoint_every: int = Field(default=1000, ge=1, description="audit entries between signed checkpoints")
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    log_json: bool | None = Field(default=None, description="JSON log lines; unset: JSON unless stdout is a terminal")

    hash_concurrency: int = Field(default=4, ge=1, le=64, description="argon2id hashes at once (19 MiB each)")

    # Field validators (not a model validator) so every problem is reported in the same error.
    @field_validator("issuer")
    @classmethod
    def _issuer_is_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or "?" in value or "#" in value:
            raise ValueError("issuer must be an http(s) URL without query or fragment")
        if value.startswith("http://") and not _is_loopback_url(value):
            raise ValueError("issuer must use https unless it is a loopback address")
        return value.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _secret_is_strong(cls, value: str, info: ValidationInfo) -> str:
        if value and len(value) < 32:
            raise ValueError("secret_key must be at least 32 characters")
        issuer = info.data.get("issuer")
        if not value and issuer and not _is_loopback_url(issuer):
            raise ValueError("secret_key (GERBANG_SECRET_KEY) must be set when the issuer is not loopback")
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'gerbang.db'}"

    @property
    def effective_secret(self) -> bytes:
        # Loopback development without a configured secret: a per-data-dir random secret file.
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(os.urandom(32).hex())
        return path.read_text().strip().encode()

    @property
    def effective_mail_outbox(self) -> Path | None:
        """Without SMTP, mail goes to a file outbox (the demo's default: ``data_dir/outbox``)."""
        if self.smtp_url:
            return None
        return self.mail_outbox or self.data_dir / "outbox"

    @property
    def uses_tls(self) -> bool:
        return self.issuer.startswith("https://")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_path()))


SYSTEM_CONFIG = Path("/etc/gerbang/gerbang.toml")


def config_path() -> Path:
    """The configuration file the server and every CLI command read: ``GERBANG_CONFIG``, else
    ``/etc/gerbang/gerbang.toml`` when it exists, else ``./gerbang.toml`` (used when present)."""
    named = os.environ.get("GERBANG_CONFIG")
    if named:
        return Path(named)
    return SYSTEM_CONFIG if SYSTEM_CONFIG.exists() else Path("gerbang.toml")


def _is_loopback_url(url: str) -> bool:
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    return host in {"127.0.0.1", "localhost", "[::1]"}
